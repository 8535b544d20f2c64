"""The registers in PostGIS: imports that update by key, and the reads the API and the CLI make."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import shapely
from sqlalchemy import Connection, text

from registers.ids import mask_id, mask_phone
from registers.protect import Protector
from registers.rows import BuildingRow, PersonRow

Progress = Callable[[int, int], None]
CHUNK = 5000
ID_COLUMN, PHONE_COLUMN = "id_number", "phone"  # what each sealed value is bound to


@dataclass(frozen=True)
class Imported:
    """How many rows were added and how many updated an existing record."""

    added: int
    updated: int


def copy_rows(conn: Connection, statement: str, rows: Sequence[tuple[Any, ...]], progress: Progress | None) -> None:
    """COPY ``rows`` by ``statement`` in chunks, telling ``progress`` after each."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        for start in range(0, len(rows), CHUNK):
            with cursor.copy(statement) as copy:
                for row in rows[start : start + CHUNK]:
                    copy.write_row(row)
            if progress:
                progress(min(start + CHUNK, len(rows)), len(rows))


def upsert_counted(conn: Connection, upsert: str, params: dict[str, Any] | None = None) -> Imported:
    """Run an upsert and count the rows it added and those it updated (``xmax = 0``: a new row)."""
    added, updated = conn.execute(
        text(
            f"WITH done AS ({upsert} RETURNING (xmax = 0) AS added)"
            " SELECT count(*) FILTER (WHERE added), count(*) FILTER (WHERE NOT added) FROM done"
        ),
        params or {},
    ).one()
    return Imported(added, updated)


def import_buildings(
    conn: Connection, rows: list[BuildingRow], synthetic: bool = False, progress: Progress | None = None
) -> Imported:
    """Add or update (by code) the buildings, in the caller's transaction."""
    conn.execute(text("CREATE TEMP TABLE building_in (LIKE building INCLUDING DEFAULTS) ON COMMIT DROP"))
    wkb = shapely.to_wkb(shapely.set_srid([r.geometry for r in rows], 4326), hex=True, include_srid=True)
    copy_rows(
        conn,
        "COPY building_in (code, grid_code, name, head, geom, synthetic) FROM STDIN",
        [(r.code, r.grid, r.name, r.head, g, synthetic) for r, g in zip(rows, wkb, strict=True)],
        progress,
    )
    done = upsert_counted(
        conn,
        "INSERT INTO building (code, grid_code, name, head, geom, synthetic)"
        " SELECT code, grid_code, name, head, geom, synthetic FROM building_in"
        " ON CONFLICT (code) DO UPDATE SET grid_code = EXCLUDED.grid_code, name = EXCLUDED.name,"
        " head = EXCLUDED.head, geom = EXCLUDED.geom, updated_at = now()",
    )
    conn.execute(
        text(
            "UPDATE household h SET grid_code = b.grid_code FROM building_in b"
            " WHERE h.building_code = b.code AND h.grid_code <> b.grid_code"
        )
    )
    return done


_PERSON_IN = """
CREATE TEMP TABLE person_in (
  household_id varchar(48), building_code varchar(18), unit varchar(8), room varchar(16), address text,
  name text, id_hash varchar(64), id_sealed bytea, id_masked varchar(18), phone_sealed bytea,
  phone_masked varchar(16), birth_date date, relation text, tags text[]
) ON COMMIT DROP
"""
_HOUSEHOLDS = """
INSERT INTO household (id, building_code, unit, room, address, grid_code, synthetic, registered_on)
SELECT DISTINCT ON (i.household_id) i.household_id, i.building_code, i.unit, i.room,
       coalesce(i.address, b.name || CASE WHEN i.unit = '' THEN '' ELSE i.unit || '单元' END || i.room || '室'),
       b.grid_code, :synthetic, coalesce(CAST(:registered_on AS date), current_date)
FROM person_in i JOIN building b ON b.code = i.building_code
ORDER BY i.household_id, i.address NULLS LAST
ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, updated_at = now()
"""
_PEOPLE = """
INSERT INTO person (household_id, name, id_hash, id_sealed, id_masked, phone_sealed, phone_masked, birth_date,
                    relation, tags, synthetic)
SELECT household_id, name, id_hash, id_sealed, id_masked, phone_sealed, phone_masked, birth_date, relation, tags,
       :synthetic
FROM person_in
ON CONFLICT (id_hash) DO UPDATE SET household_id = EXCLUDED.household_id, name = EXCLUDED.name,
  id_sealed = EXCLUDED.id_sealed, phone_sealed = EXCLUDED.phone_sealed, phone_masked = EXCLUDED.phone_masked,
  birth_date = EXCLUDED.birth_date, relation = EXCLUDED.relation, tags = EXCLUDED.tags, updated_at = now()
"""
# A household's members and tags follow its people (of the households an import or a deletion touched).
_RECOUNT = """
UPDATE household h SET members = x.members, tags = x.tags, updated_at = now()
FROM (
  SELECT h.id, count(DISTINCT p.id) AS members,
         coalesce(array_agg(DISTINCT t.tag ORDER BY t.tag) FILTER (WHERE t.tag IS NOT NULL), '{}') AS tags
  FROM household h LEFT JOIN person p ON p.household_id = h.id LEFT JOIN LATERAL unnest(p.tags) AS t(tag) ON true
  WHERE h.id IN (SELECT id FROM household_touched)
  GROUP BY h.id
) x
WHERE h.id = x.id
"""
# The households an import changes: those its people live in now, and those they move out of.
_TOUCHED = """
CREATE TEMP TABLE household_touched ON COMMIT DROP AS
SELECT p.household_id AS id FROM person p JOIN person_in i USING (id_hash)
UNION SELECT household_id FROM person_in
"""


def import_people(
    conn: Connection,
    rows: list[PersonRow],
    protector: Protector,
    *,
    synthetic: bool = False,
    registered_on: date | None = None,
    progress: Progress | None = None,
) -> Imported:
    """Add or update (by ID number) the people and their households, in the caller's transaction."""
    conn.execute(text(_PERSON_IN))
    sealed = [
        (
            r.household_id,
            r.building,
            r.unit,
            r.room,
            r.address,
            r.name,
            protector.search_hash(r.id_number),
            protector.seal(r.id_number, ID_COLUMN),
            mask_id(r.id_number),
            protector.seal(r.phone, PHONE_COLUMN) if r.phone else None,
            mask_phone(r.phone) if r.phone else None,
            r.birth_date,
            r.relation,
            list(r.tags),
        )
        for r in rows
    ]
    copy_rows(
        conn,
        "COPY person_in (household_id, building_code, unit, room, address, name, id_hash, id_sealed, id_masked,"
        " phone_sealed, phone_masked, birth_date, relation, tags) FROM STDIN",
        sealed,
        progress,
    )
    conn.execute(text("ANALYZE person_in"))
    conn.execute(text(_TOUCHED))
    params = {"synthetic": synthetic, "registered_on": registered_on}
    conn.execute(text(_HOUSEHOLDS), params)
    done = upsert_counted(conn, _PEOPLE, params)
    conn.execute(text(_RECOUNT))
    return done


def household_grids(conn: Connection, ids: Sequence[str]) -> dict[str, str]:
    """The grid of each of these households that exists."""
    rows = conn.execute(text("SELECT id, grid_code FROM household WHERE id = ANY(:ids)"), {"ids": list(ids)})
    return {household: grid for household, grid in rows.all()}


def building_distances(
    conn: Connection, codes: Sequence[str], lon: Sequence[float], lat: Sequence[float]
) -> list[float]:
    """How far (metres) each point lies from the nearest of these buildings (their footprints or points)."""
    rows = conn.execute(
        text(
            "SELECT min(ST_Distance(b.geom::geography, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326)::geography))"
            " FROM unnest(CAST(:lon AS float8[]), CAST(:lat AS float8[])) WITH ORDINALITY AS p(lon, lat, n)"
            " JOIN building b ON b.code = ANY(:codes) GROUP BY p.n ORDER BY p.n"
        ),
        {"lon": list(lon), "lat": list(lat), "codes": list(codes)},
    )
    found = [float(d) for d in rows.scalars()]
    return found if len(found) == len(lon) else [float("inf")] * len(lon)  # none of the buildings is registered


def building_codes(conn: Connection) -> set[str]:
    """Every building code in the register."""
    return set(conn.execute(text("SELECT code FROM building")).scalars())


def delete_person(conn: Connection, person_id: int) -> str | None:
    """Remove a person (their household keeps its other members); their household's id, None if there was none."""
    household = conn.execute(
        text("DELETE FROM person WHERE id = :id RETURNING household_id"), {"id": person_id}
    ).scalar_one_or_none()
    if household is not None:
        recount(conn, [household])
    return household


def recount(conn: Connection, households: Sequence[str]) -> None:
    """Set these households' member counts and tags from their people (an emptied household: 0 and none)."""
    conn.execute(
        text("CREATE TEMP TABLE household_touched ON COMMIT DROP AS SELECT unnest(CAST(:ids AS text[])) AS id"),
        {"ids": list(households)},
    )
    conn.execute(text(_RECOUNT))
    conn.execute(text("DROP TABLE household_touched"))


def log_access(
    conn: Connection,
    actor: str,
    role: str,
    action: str,
    purpose: str,
    person_ids: Sequence[int | None] = (None,),
    household_id: str | None = None,
    rows: int = 1,
    case_id: Any = None,
) -> None:
    """One row per person read unmasked (or one for a search, an export, a deletion, a case's text)."""
    conn.execute(
        text(
            "INSERT INTO pii_access (actor, role, action, person_id, household_id, purpose, rows, case_id)"
            " VALUES (:actor, :role, :action, :person, :household, :purpose, :rows, :case)"
        ),
        [
            {
                "actor": actor,
                "role": role,
                "action": action,
                "person": p,
                "household": household_id,
                "purpose": purpose,
                "rows": rows,
                "case": case_id,
            }
            for p in person_ids
        ],
    )
