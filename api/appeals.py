"""Appeals against a timeout (超时申诉): lodged by whoever held a late case, decided by the rules' level."""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from api.auth import PrincipalDep, authorize
from api.bodies import WriteBody
from api.cases import case_in_scope
from api.deps import CaseIdDep, EngineDep, RulesDep
from api.errors import Refusal, responses
from cases import appeals
from geo.levels import AREA_CODE
from registers.free_text import masked
from streams.schema import FreeText

router = APIRouter(
    prefix="/v1", tags=["appeals"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503)
)
MAX_LISTED = 500


class AppealIn(WriteBody):
    """Why the lateness was not the appellant's doing, and the evidence: a note, or a photo of the case."""

    reason: Annotated[str, Field(min_length=1, max_length=500), *FreeText]
    evidence: Annotated[str, Field(max_length=2000), *FreeText] = ""
    photo: Annotated[str | None, Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of a photo of the case")] = None


class DecisionIn(WriteBody):
    """Uphold the appeal (the case counts as on time) or refuse it, with the reason."""

    upheld: bool
    note: Annotated[str, Field(min_length=1, max_length=500), *FreeText]


@router.post("/cases/{case_id}/appeal", status_code=201, responses=responses(400, 404, 409))
async def post_appeal(
    case_id: CaseIdDep, body: AppealIn, engine: EngineDep, rules: RulesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Appeal a case of yours that closed late, once, within the rules' limit after its close (409 otherwise)."""
    await run_in_threadpool(case_in_scope, engine, case_id, principal)
    return await run_in_threadpool(
        appeals.ask,
        engine,
        case_id,
        principal.username,
        masked(body.reason),  # an appeal keeps personal numbers masked only (registers.free_text)
        masked(body.evidence),
        body.photo,
        datetime.now(UTC),
        rules,
    )


@router.post("/cases/{case_id}/appeal/decision", responses=responses(400, 404, 409))
async def post_decision(
    case_id: CaseIdDep, body: DecisionIn, engine: EngineDep, rules: RulesDep, principal: PrincipalDep
) -> dict[str, Any]:
    """Decide a pending appeal: supervisors of the level the rules name, never the appellant (409 otherwise)."""
    await run_in_threadpool(case_in_scope, engine, case_id, principal)
    return await run_in_threadpool(
        appeals.decide,
        engine,
        case_id,
        principal.username,
        principal.role.value,
        body.upheld,
        masked(body.note),
        datetime.now(UTC),
        rules,
    )


@router.get("/appeals", responses=responses(404))
def get_appeals(
    engine: EngineDep,
    principal: PrincipalDep,
    area: Annotated[str, Query(pattern=AREA_CODE, description="Area code")],
    pending: Annotated[bool | None, Query(description="Only undecided (true) or decided (false) appeals")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LISTED)] = 100,
) -> dict[str, Any]:
    """Appeals on cases of an area in your scope, oldest first."""
    if not principal.sees_area(area):
        raise Refusal("not_found.area_yours", code=area)
    with engine.connect() as conn:
        return {"area": area, "appeals": appeals.listed(conn, area, pending, limit)}
