"""A case's own words as written: its description and notes with personal numbers unmasked, for its grid's staff.

Everyone reads a case's text with ID, phone and plate numbers masked (registers.free_text); the
grid's gridworker and its community's supervisors may ask for it as written, with a purpose.
Each such read is a row of the personal-data access log, naming the case.
"""

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends
from sqlalchemy import Engine, text

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.cases import case_in_scope
from api.deps import CaseIdDep, EngineDep, ProtectorDep
from api.errors import Refusal, responses
from api.registers import Purpose
from registers.free_text import SEALED_TEXT
from registers.protect import Protector
from registers.store import log_access

router = APIRouter(prefix="/v1", tags=["cases"], dependencies=[Depends(authorize)], responses=responses(401, 503))

_TEXT = """
SELECT 0 AS seq, e.description AS shown, s.sealed FROM event e
  LEFT JOIN sealed_text s ON s.source = 'description' AND s.ref = e.id::text
WHERE e.id = :id
UNION ALL
SELECT t.seq, t.note, s.sealed FROM case_transition t
  LEFT JOIN sealed_text s ON s.source = 'note' AND s.ref = t.case_id::text || ':' || t.seq
WHERE t.case_id = :id AND t.note <> ''
ORDER BY seq
"""


@router.get("/cases/{case_id}/text", responses=responses(403, 404))
def get_case_text(
    case_id: CaseIdDep,
    engine: EngineDep,
    principal: PrincipalDep,
    protector: ProtectorDep,
    purpose: Purpose = "核实 (check)",
) -> dict[str, Any]:
    """The case's description and its notes as written (its grid's gridworker and community only; logged)."""
    row = case_in_scope(engine, case_id, principal)
    if not row.grid_code or not principal.sees_unmasked(row.grid_code):
        raise Refusal("forbidden.unmasked")
    return _read(engine, case_id, principal, protector, purpose)


def _read(engine: Engine, case_id: UUID, principal: Principal, protector: Protector, purpose: str) -> dict[str, Any]:
    with engine.begin() as conn:
        rows = conn.execute(text(_TEXT), {"id": case_id}).all()
        log_access(conn, principal.username, principal.role.value, "read_text", purpose, case_id=case_id)
    texts = [(r.seq, protector.open(bytes(r.sealed), SEALED_TEXT) if r.sealed else r.shown) for r in rows]
    return {
        "id": str(case_id),
        "description": next((t for seq, t in texts if seq == 0), ""),
        "notes": [{"seq": seq, "note": t} for seq, t in texts if seq],
    }
