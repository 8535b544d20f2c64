"""Reading households and people: masked by default, opened only for those who may see the numbers."""

from datetime import date
from typing import Any

from sqlalchemy import Connection, Row, text

from registers.ids import age_band
from registers.protect import Protector
from registers.store import ID_COLUMN, PHONE_COLUMN

_PERSON = (
    "SELECT p.id, p.household_id, p.name, p.id_masked, p.id_sealed, p.phone_masked, p.phone_sealed, p.birth_date,"
    " p.relation, p.tags, p.synthetic, h.grid_code, h.building_code"
    " FROM person p JOIN household h ON h.id = p.household_id"
)
_HOUSEHOLD = (
    "SELECT h.id, h.building_code, b.name AS building_name, b.head AS building_head, h.unit, h.room, h.address,"
    " h.grid_code, h.members, h.tags, h.registered_on, h.synthetic, ST_X(ST_PointOnSurface(b.geom)) AS lon,"
    " ST_Y(ST_PointOnSurface(b.geom)) AS lat FROM household h JOIN building b ON b.code = h.building_code"
)


def household(conn: Connection, household_id: str) -> Row[Any] | None:
    """A household with its building, or None."""
    return conn.execute(text(f"{_HOUSEHOLD} WHERE h.id = :id"), {"id": household_id}).one_or_none()


def members(conn: Connection, household_id: str) -> list[Row[Any]]:
    """The people of a household, oldest first."""
    return list(
        conn.execute(text(f"{_PERSON} WHERE p.household_id = :id ORDER BY p.birth_date, p.id"), {"id": household_id})
    )


def person(conn: Connection, person_id: int) -> Row[Any] | None:
    """One person with their household's grid, or None."""
    return conn.execute(text(f"{_PERSON} WHERE p.id = :id"), {"id": person_id}).one_or_none()


def find(conn: Connection, id_hashes: list[str]) -> Row[Any] | None:
    """The person whose ID number has one of these keyed hashes (one per key of a rotation), or None."""
    return conn.execute(text(f"{_PERSON} WHERE p.id_hash = ANY(:h) LIMIT 1"), {"h": id_hashes}).one_or_none()


def buildings(conn: Connection, grid: str, only: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """A grid's buildings (``only`` these, for a building head) with their households and people, by code."""
    rows = conn.execute(
        text(
            "SELECT b.code, b.name, b.head, b.synthetic, count(h.id) AS households,"
            " coalesce(sum(h.members), 0) AS people FROM building b LEFT JOIN household h ON h.building_code = b.code"
            " WHERE b.grid_code = :grid AND (CAST(:only AS text[]) IS NULL OR b.code = ANY(:only))"
            " GROUP BY b.code ORDER BY b.code"
        ),
        {"grid": grid, "only": list(only) if only is not None else None},
    )
    return [dict(r._mapping) for r in rows]


def building(conn: Connection, code: str) -> Row[Any] | None:
    """A building with its grid, or None."""
    return conn.execute(
        text("SELECT code, grid_code, name, head, synthetic FROM building WHERE code = :code"), {"code": code}
    ).one_or_none()


def households_of(conn: Connection, code: str) -> list[dict[str, Any]]:
    """A building's households by unit and room, each with its last visit."""
    rows = conn.execute(
        text(
            "SELECT h.id, h.unit, h.room, h.address, h.members, h.tags,"
            " (SELECT max(e.occurred_at) FROM event e WHERE e.kind = 'visit' AND e.household = h.id) AS last_visit"
            " FROM household h WHERE h.building_code = :code ORDER BY h.unit, h.room"
        ),
        {"code": code},
    )
    return [dict(r._mapping) for r in rows]


def visits_of(conn: Connection, household_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """A household's latest visits: when, by whom (login and name), what was noted."""
    rows = conn.execute(
        text(
            "SELECT e.occurred_at AS at, e.reporter, coalesce(u.display_name, e.reporter) AS by_name, e.description"
            " FROM event e LEFT JOIN app_user u ON u.username = e.reporter"
            " WHERE e.kind = 'visit' AND e.household = :id ORDER BY e.occurred_at DESC LIMIT :limit"
        ),
        {"id": household_id, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


def by_name(
    conn: Connection, pattern: str, prefix: str, buildings: tuple[str, ...] | None, limit: int
) -> list[Row[Any]]:
    """People whose name matches the LIKE ``pattern``, under the area ``prefix`` (or in ``buildings``), by name."""
    return list(
        conn.execute(
            text(
                f"{_PERSON} WHERE p.name LIKE :pattern AND h.grid_code LIKE :prefix"
                " AND (CAST(:buildings AS text[]) IS NULL OR h.building_code = ANY(:buildings))"
                " ORDER BY p.name, p.id LIMIT :limit"
            ),
            {
                "pattern": pattern,
                "prefix": prefix + "%",
                "buildings": list(buildings) if buildings else None,
                "limit": limit,
            },
        )
    )


def person_json(row: Row[Any], protector: Protector, unmasked: bool, today: date) -> dict[str, Any]:
    """A person as the API shows them: ``masked`` says whether the numbers are masked.

    Masked, nothing derived from the hidden digits is shown: the birth date (digits 7-14 of
    the ID number) gives way to an age band, so no field or combination rebuilds the number.
    """
    shown = {
        "id": row.id,
        "household": row.household_id,
        "building": row.building_code,
        "grid": row.grid_code,
        "name": row.name,
        "id_number": protector.open(row.id_sealed, ID_COLUMN) if unmasked else row.id_masked,
        "phone": (protector.open(row.phone_sealed, PHONE_COLUMN) if unmasked else row.phone_masked)
        if row.phone_sealed
        else None,
        "masked": not unmasked,
        "age_band": age_band(row.birth_date, today),
        "relation": row.relation,
        "tags": list(row.tags),
        "synthetic": row.synthetic,
    }
    if unmasked:
        shown["birth_date"] = row.birth_date
    return shown
