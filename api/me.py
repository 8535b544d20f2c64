"""What the phone app keeps for working offline: the user's own grid and the open cases given to them."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import Connection, text

from api.auth import PrincipalDep, authorize
from api.deps import EngineDep, SettingsDep
from api.errors import Refusal, responses
from api.etags import NOT_MODIFIED, etagged
from cases.reads import CASE_FIELDS, case_histories, case_json
from db.partitions import case_report
from geo.areas import area_feature, area_info

MY_CASES = 200  # at most this many open cases are sent to the phone, soonest deadline first
MY_REPORTS = 50  # the newest of your own reports the phone shows with what became of them
# The last reason given for a case's end without a fix (refused, voided, merged) and for its last rework.
_REASONS = """
(SELECT t.note FROM case_transition t WHERE t.case_id = c.id AND t.action IN ('refuse', 'void', 'merge')
  ORDER BY t.seq DESC LIMIT 1) AS end_reason,
(SELECT t.note FROM case_transition t WHERE t.case_id = c.id AND t.action = 'reject_resolution'
  ORDER BY t.seq DESC LIMIT 1) AS rework_reason
"""
router = APIRouter(tags=["app"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503))


@router.get("/v1/me/grid", response_model=dict[str, Any], responses={**responses(404), **NOT_MODIFIED})
def my_grid(request: Request, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep) -> Response:
    """Your own grid as a GeoJSON Feature (outline, name, community), with an ETag.

    ``tolerance_m`` is how far outside it an event is still taken as yours.
    """
    with engine.connect() as conn:
        grid = area_feature(conn, principal.scope)
        community = area_info(conn, grid["properties"]["parent_code"]) if grid else None
    if grid is None:
        raise Refusal("not_found.own_grid", grid=principal.scope)
    grid["properties"]["community_name"] = community[0] if community else None
    grid["properties"]["tolerance_m"] = settings.locate.locate_tolerance_m
    return etagged(request, grid)


@router.get("/v1/me/cases")
def my_cases(engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """The open cases given to you (to sign for, in hand, waiting for verification), soonest deadline first.

    Each has the report's description and place, its history and the reason of its last rework. At most 200.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {CASE_FIELDS}, e.description, ST_X(e.geom) AS lon, ST_Y(e.geom) AS lat, {_REASONS}"
                f' FROM "case" c {case_report()}'
                " WHERE c.assignee = :me AND c.closed_at IS NULL"
                " AND c.state IN ('dispatched', 'in_progress', 'resolved')"
                " ORDER BY c.deadline NULLS LAST, c.id LIMIT :limit"
            ),
            {"me": principal.username, "limit": MY_CASES},
        ).all()
        return {"cases": _with_histories(conn, rows)}


@router.get("/v1/me/reports")
def my_reports(engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """What became of your own reports, newest first (at most 50).

    Each case's state and number, the reason it was refused, voided or merged (and the case it was merged
    into), the last rework's reason, the after photo of its fix, and its history.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {CASE_FIELDS}, e.description, e.received_at, {_REASONS},"
                ' (SELECT m.number FROM "case" m WHERE m.id = c.merged_into) AS merged_into_number,'
                " (SELECT p.sha256 FROM photo p WHERE p.event_id = c.id AND p.stage = 'after'"
                "   ORDER BY p.uploaded_at DESC LIMIT 1) AS after_photo"
                ' FROM event e JOIN "case" c ON c.id = e.id'
                " WHERE e.reporter = :me AND e.kind IN ('incident', 'request')"
                " ORDER BY e.received_at DESC, e.id LIMIT :limit"
            ),
            {"me": principal.username, "limit": MY_REPORTS},
        ).all()
        return {"reports": _with_histories(conn, rows)}


def _with_histories(conn: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The cases as the API sends them, each with its history (read in one query)."""
    histories = case_histories(conn, [r.id for r in rows])
    now = datetime.now(UTC)
    return [case_json(r, now) | {"history": histories.get(str(r.id), [])} for r in rows]
