"""Finding cases: one box for a number, an address, a description, a reporter, a grid or community name.

Each kind of match is an indexed lookup of its own (trigram indexes on numbers and on reports'
descriptions, the reporter index, the areas and buildings by name, the spatial indexes), their ids
united, then narrowed to the caller's scope. An address matches the buildings of the register by
name: a case is found by a building within ``NEAR_M`` of it, and shows its nearest one as its place.
"""

from typing import Any

from sqlalchemy import Connection, Engine, text

from cases.numbers import NUMBER_RE
from cases.reads import CASE_FIELDS, COUNT_CAP
from db.partitions import case_report

MIN_CHARS, MAX_CHARS = 2, 60  # what the box takes
NEAR_M = 100  # how near a building a case lies to be found by its name (metres)
_NEAR_DEG = 0.0015  # a box around NEAR_M at the latitudes of China, for the spatial index; metres decide
REPORTS = "kind IN ('incident', 'request')"  # the events that open cases (the partial indexes' condition)

# The ids of the cases the words find, each kind of match by its own index; the reports' words first.
_WORDS = f"SELECT id FROM event WHERE {REPORTS} AND description ILIKE :like"
_OTHERS = f"""SELECT id FROM "case" WHERE number LIKE :like
  UNION SELECT id FROM event WHERE {REPORTS} AND reporter IN (
    SELECT username FROM app_user WHERE username ILIKE :like OR display_name ILIKE :like)
  UNION SELECT id FROM "case" WHERE grid_code IN (  -- a grid or community by name or code: a street is a filter
    SELECT g.code FROM active_area m JOIN active_area g ON g.level = 'grid' AND g.code LIKE m.code || '%'
    WHERE m.level IN ('grid', 'community') AND (m.name ILIKE :like OR m.code = :q))
  UNION SELECT e.id FROM building b JOIN event e ON e.kind IN ('incident', 'request')
    AND ST_DWithin(e.geom, b.geom, {_NEAR_DEG}) AND ST_DWithin(e.geom::geography, b.geom::geography, {NEAR_M})
    WHERE b.name ILIKE :like"""
_HITS = f"({_WORDS} UNION {_OTHERS})"
FOUND = f'"case" c JOIN {_HITS} hit ON hit.id = c.id'  # the cases found, as a query's source
_BY_NUMBER = '"case" c'  # a whole number: the one case of it, by its unique index
TRIGRAM = 3  # words shorter than this have no trigram: the index cannot narrow them
# Words in more reports of the scope than this are common: the newest of them are found by walking the cases
# newest first (a tenth of a year's reports took 1.7 s to read whole), and they are counted up to COUNT_CAP.
COMMON = 2_000
_WORDS_AND = f" AND e.{REPORTS} AND e.description ILIKE :like"
_IN_WORDS = f'"case" c {case_report(where=_WORDS_AND)}'  # walked newest case first, each report by its key
# Counted from the words' side: each report found by the trigram indexes, then its case by its key.
_COUNTED = f'"case" c JOIN event e ON e.id = c.id{_WORDS_AND}'

# What a list row shows beside the case's own columns: its report's words, who made it (by name and role), its
# grid's name, its nearest building and the first photo of the report.
_DETAILS = f"""
SELECT c.id, e.description, e.reporter, u.display_name AS reporter_name, u.role AS reporter_role, g.name AS grid_name,
       p.name AS place, p.metres AS place_m, ph.sha256 AS photo
FROM "case" c {case_report()}
LEFT JOIN app_user u ON u.username = e.reporter
LEFT JOIN active_area g ON g.code = c.grid_code
LEFT JOIN LATERAL (
  SELECT b.name, round(ST_Distance(b.geom::geography, e.geom::geography)) AS metres FROM building b
  WHERE ST_DWithin(b.geom, e.geom, {_NEAR_DEG}) ORDER BY b.geom <-> e.geom LIMIT 1
) p ON p.metres <= {NEAR_M}
LEFT JOIN LATERAL (
  SELECT sha256 FROM photo WHERE event_id = c.id AND stage = 'before' ORDER BY uploaded_at LIMIT 1
) ph ON true
WHERE c.id = ANY(:ids)
"""


def like_pattern(words: str) -> str:
    """``words`` anywhere in a text, as a LIKE pattern (its own percent signs, underscores, backslashes literal)."""
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def find_cases(
    engine: Engine, words: str, scope: tuple[str, dict[str, Any]], limit: int, offset: int
) -> tuple[int, bool, list[Any]]:
    """How many cases of ``scope`` (SQL on ``"case" c`` and its parameters) the words find, and a page of them.

    Newest first: (count, whether it is exact, the page). A whole case number is looked up by its
    unique index alone. Words shorter than a trigram are matched by reading the tables (the trigram
    index would be read whole, and slower). Common words (in more than ``COMMON`` reports of the scope)
    are counted up to ``COUNT_CAP`` ("at least", not exact) and their newest reports found by walking
    the cases newest first; the other kinds of match are few and are read whole.
    """
    scope_sql, scope_params = scope
    params = scope_params | {"q": words, "like": like_pattern(words), "limit": limit, "offset": offset}
    if NUMBER_RE.fullmatch(words):
        source, where = _BY_NUMBER, f"{scope_sql} AND c.number = :q"
    else:
        source, where = FOUND, scope_sql
    order = "ORDER BY c.opened_at DESC, c.id LIMIT :limit OFFSET :offset"
    with engine.begin() as conn:
        if len(words) < TRIGRAM:
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        elif source is FOUND:
            in_words = _count_in_words(conn, where, params)
            if in_words > COMMON:
                conn.execute(text("SET LOCAL enable_bitmapscan = off"))  # walk the newest cases, not the index
                newest = (
                    conn.execute(
                        text(f"SELECT c.id FROM {_IN_WORDS} WHERE {where} ORDER BY c.opened_at DESC, c.id LIMIT :k"),
                        params | {"k": offset + limit},
                    )
                    .scalars()
                    .all()
                )
                conn.execute(text("SET LOCAL enable_bitmapscan = on"))  # the other matches by their indexes
                hits = f"(SELECT unnest(CAST(:newest AS uuid[])) AS id UNION {_OTHERS})"
                rows = conn.execute(
                    text(f'SELECT {CASE_FIELDS} FROM "case" c JOIN {hits} hit ON hit.id = c.id WHERE {where} {order}'),
                    params | {"newest": list(newest)},
                ).all()
                return min(in_words, COUNT_CAP), False, list(rows)
        rows = conn.execute(  # the count with the page: the matches are read once
            text(f"SELECT {CASE_FIELDS}, count(*) OVER () AS total FROM {source} WHERE {where} {order}"), params
        ).all()
        if rows:
            return int(rows[0].total), True, list(rows)
        total = conn.execute(text(f"SELECT count(*) FROM {source} WHERE {where}"), params).scalar_one()
    return int(total), True, []  # past the last page: how many there are


def _count_in_words(conn: Connection, where: str, params: dict[str, Any]) -> int:
    """How many reports of the scope hold the words, up to ``COUNT_CAP`` + 1.

    Each report is found by the trigram index and its case by its key (not every case of the scope hashed).
    """
    conn.execute(text("SET LOCAL enable_hashjoin = off"))
    conn.execute(text("SET LOCAL enable_mergejoin = off"))
    found = conn.execute(
        text(f"SELECT count(*) FROM (SELECT 1 FROM {_COUNTED} WHERE {where} LIMIT {COUNT_CAP + 1}) n"), params
    ).scalar_one()
    conn.execute(text("SET LOCAL enable_hashjoin = on"))
    conn.execute(text("SET LOCAL enable_mergejoin = on"))
    return int(found)


def row_details(conn: Connection, ids: list[Any]) -> dict[str, dict[str, Any]]:
    """What each listed case's row shows besides its columns, by id."""
    rows = conn.execute(text(_DETAILS), {"ids": ids}).mappings().all()
    return {str(r["id"]): {k: v for k, v in r.items() if k != "id"} for r in rows}
