"""Stored Open311 requests as GeoReport v2 shows them: status, agency, deadline; never contact details."""

from datetime import datetime
from typing import Any

from cases.categories import default_categories
from db.partitions import case_report

LEVEL_NAMES = {"grid": "网格", "community": "社区", "street": "街道"}


REQUESTS = f"""
SELECT o.id::text AS id, o.service_code, o.description, o.lat, o.lon, o.address, o.media_url, o.requested_at,
       c.state, c.level, c.department, c.deadline, c.closed_at, c.opened_at,
       c.grid_code, c.community_code, c.street_code, c.district_code,
       (SELECT t.note FROM case_transition t WHERE t.case_id = o.id AND t.note <> '' ORDER BY t.seq DESC LIMIT 1)
         AS last_note,
       (SELECT max(t.at) FROM case_transition t WHERE t.case_id = o.id) AS last_change
FROM open311_request o LEFT JOIN "case" c ON c.id = o.id {case_report(outer=True)}
"""


def _agency(row: Any) -> str:
    if row.state is None:
        return "网格化服务管理中心 (intake)"
    if row.level == "department":
        return str(row.department)
    code = {"grid": row.grid_code, "community": row.community_code, "street": row.street_code}[row.level]
    if code is None:  # a coverage gap: the district's intake holds it
        return f"区 {row.district_code} (网格外 · outside every grid)"
    return f"{LEVEL_NAMES[row.level]} {code}"


def request_json(row: Any, tz: Any) -> dict[str, Any]:
    """One request as GeoReport v2 shows it (no contact details)."""

    def w3c(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(tz).isoformat(timespec="seconds")

    category = default_categories()[row.service_code]
    return {
        "service_request_id": row.id,
        "status": "closed" if row.closed_at is not None else "open",
        "status_notes": row.last_note or "",
        "service_name": category.name,
        "service_code": row.service_code,
        "description": row.description,
        "agency_responsible": _agency(row),
        "service_notice": "",
        "requested_datetime": w3c(row.requested_at),
        "updated_datetime": w3c(row.last_change or row.opened_at or row.requested_at),
        "expected_datetime": w3c(row.deadline),
        "address": row.address or "",
        "address_id": "",
        "zipcode": "",
        "lat": row.lat,
        "long": row.lon,
        "media_url": row.media_url or "",
    }
