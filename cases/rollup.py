"""The rolls (汇总): sums of ended cases per community and local day, so a year's indicators read thousands of rows.

A case that ended before today began (closed, refused, voided or merged) no longer changes,
except by an appeal's decision. The clock's ``rolled`` job adds each such case once to three
tables of sums per local day and area, at two grains (``GRAINS``: per community, the first
12 digits of where it lies, for readings by community and above; per grid, for readings by
grid), and marks it ``rolled``:

- ``case_roll``: its case figures, by the day it was received (role ``r``) and the day it is
  due (role ``d``), keyed as well by the local days it was closed, filed and extended, which
  decide what it counts as of a period's end;
- ``transition_roll``: the facts of its history (``TRANSITION_FACTS``): checks, failed checks,
  escalations, the first dispatch to its unit, a sign-in by the deadline;
- ``hours_roll``: its working hours to close, rounded (``HOURS_STEP``), with the exact sum.

Anything that changes a rolled case (a transition, an appeal's decision) first takes it out
again (``unroll``), so the sums hold exactly the rolled cases. The indicators add the sums to
the same figures read case by case from the cases not rolled, in one statement: a case counts
the same whether it is rolled or not, and the job only makes the reading faster.

A case is rolled only when every figure it adds can be told from those days: it ended before
today began, and if it is due anywhere it was closed after its last resolution (a report
filed and then merged or voided stays read case by case).
"""

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import Connection, Engine, text

from cases.places import PLACE_SQL
from cases.rules import Rules
from db.roll_tables import CASE_ROLL_COUNTS

GRAINS = (12, 15)  # the lengths of the area codes the rolls sum by: communities and grids

# Working hours to close, rounded to a tenth below 10 h, to the hour below 100 h and to ten hours beyond:
# the 90th percentile is read over these values, so a year of closes sums to a few hundred rows per community.
HOURS_STEP = "CASE WHEN {h} < 10 THEN round({h}::numeric, 1) WHEN {h} < 100 THEN round({h}::numeric) ELSE round({h}::numeric, -1) END::float8"  # noqa: E501

# The facts of a case's history that the indicators count, one row per fact: the transition ``t`` of the
# case ``c`` it belongs to (``at`` places it in a period; ``since``, when set, counts it only as of a later
# moment). A unit's dispatch counts once per case, at the first dispatch to it; a sign-in is on time when
# the first acceptance after that dispatch came by its sign-in deadline. <DRIVE> narrows the rows read.
_FIRST_DISPATCH = """t.action IN ('dispatch', 'auto_intake') AND t.to_state = 'dispatched' AND t.to_level = 'department'
  AND c.department IS NOT NULL AND NOT EXISTS (SELECT 1 FROM case_transition e WHERE e.case_id = t.case_id
    AND e.seq < t.seq AND e.action IN ('dispatch', 'auto_intake') AND e.to_state = 'dispatched'
    AND e.to_level = 'department')"""
TRANSITION_FACTS = f"""
SELECT {PLACE_SQL} AS place, t.at, f.kind, f.unit, f.since
FROM case_transition t JOIN "case" c ON c.id = t.case_id
CROSS JOIN LATERAL (
  SELECT 'check' AS kind, NULL::text AS unit, NULL::timestamptz AS since
  WHERE t.action IN ('verify', 'reject_resolution')
  UNION ALL SELECT 'failed', NULL, NULL WHERE t.action = 'reject_resolution'
  UNION ALL SELECT 'esc:' || t.to_level, NULL, NULL WHERE t.action IN ('escalate', 'auto_escalate')
  UNION ALL SELECT 'unit_check', c.department, NULL
  WHERE t.from_level = 'department' AND t.action IN ('verify', 'reject_resolution') AND c.department IS NOT NULL
  UNION ALL SELECT 'unit_failed', c.department, NULL
  WHERE t.from_level = 'department' AND t.action = 'reject_resolution' AND c.department IS NOT NULL
  UNION ALL SELECT 'dispatched', c.department, NULL WHERE {_FIRST_DISPATCH}
  UNION ALL SELECT 'signed', c.department, s.at
  FROM (SELECT min(a.at) AS at FROM case_transition a
        WHERE a.case_id = t.case_id AND a.seq > t.seq AND a.action = 'accept') s
  WHERE {_FIRST_DISPATCH} AND s.at <= t.deadline
) f
WHERE t.action IN ('verify', 'reject_resolution', 'escalate', 'auto_escalate', 'dispatch', 'auto_intake')
  AND <DRIVE>
"""
# One row per case and role (r: as received; d: as due, when it is due anywhere), its figures as 0 or 1.
_ON_TIME = "(coalesce(c.resolved_at <= c.due_at, false) OR coalesce(a.upheld, false))"
_CASE_ROWS = f"""
SELECT CAST(:grain AS smallint) AS grain, left({PLACE_SQL}, :grain) AS area, k.role,
       (CASE WHEN k.role = 'r' THEN c.opened_at ELSE c.counted_at END AT TIME ZONE :tz)::date AS day,
       (c.closed_at AT TIME ZONE :tz)::date AS closed_day,
       CASE WHEN k.role = 'r' THEN (c.filed_at AT TIME ZONE :tz)::date END AS filed_day,
       CASE WHEN k.role = 'd' THEN (c.extended_at AT TIME ZONE :tz)::date END AS extended_day,
       1 AS n, (c.state = 'closed')::int AS closed, (c.state = 'closed' AND {_ON_TIME})::int AS on_time,
       (c.state = 'closed' AND coalesce(c.resolved_at <= c.due_at, false))::int AS raw_on_time,
       (c.state = 'closed' AND coalesce(a.upheld, false))::int AS upheld,
       (c.sla_class = 'urgent')::int AS urgent,
       (c.sla_class = 'urgent' AND c.state = 'closed' AND {_ON_TIME})::int AS urgent_on_time,
       (c.state = 'refused')::int AS refused, (c.state = 'voided')::int AS voided,
       (c.state = 'merged')::int AS merged, (c.grid_code IS NULL)::int AS outside,
       (c.sla_class = 'minor')::int AS minor,
       (c.sla_class = 'minor' AND c.state = 'closed' AND c.level = 'grid' AND c.escalations = 0)::int AS minor_in_grid
FROM "case" c LEFT JOIN appeal a ON a.case_id = c.id CROSS JOIN (VALUES ('r'), ('d')) AS k(role)
WHERE c.id = ANY(:ids) AND (k.role = 'r' OR c.counted_at IS NOT NULL)
"""
_CASE_KEY = ("grain", "area", "role", "day", "closed_day", "filed_day", "extended_day")
_ADD_CASES = f"""
INSERT INTO case_roll AS r ({", ".join(_CASE_KEY + CASE_ROLL_COUNTS)})
SELECT {", ".join(_CASE_KEY)}, {", ".join(f":sign * sum({n})" for n in CASE_ROLL_COUNTS)}
FROM ({_CASE_ROWS}) x
GROUP BY {", ".join(_CASE_KEY)} ORDER BY {", ".join(_CASE_KEY)}
ON CONFLICT ({", ".join(_CASE_KEY)}) DO UPDATE SET {", ".join(f"{n} = r.{n} + EXCLUDED.{n}" for n in CASE_ROLL_COUNTS)}
"""
_ADD_TRANSITIONS = f"""
INSERT INTO transition_roll AS r (grain, area, day, kind, unit, since_day, n)
SELECT :grain, left(place, :grain), (at AT TIME ZONE :tz)::date, kind, unit, (since AT TIME ZONE :tz)::date,
       :sign * count(*)
FROM ({TRANSITION_FACTS.replace("<DRIVE>", "c.id = ANY(:ids)")}) x
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (grain, area, day, kind, unit, since_day) DO UPDATE SET n = r.n + EXCLUDED.n
"""
_ADD_HOURS = f"""
INSERT INTO hours_roll AS r (grain, area, day, hours, n, total)
SELECT :grain, left({PLACE_SQL}, :grain), (c.closed_at AT TIME ZONE :tz)::date,
       {HOURS_STEP.format(h="c.hours_to_close")}, :sign * count(*), :sign * sum(c.hours_to_close)
FROM "case" c WHERE c.id = ANY(:ids) AND c.state = 'closed' AND c.hours_to_close IS NOT NULL
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
ON CONFLICT (grain, area, day, hours) DO UPDATE SET n = r.n + EXCLUDED.n, total = r.total + EXCLUDED.total
"""
# Ended before today began; if due anywhere, closed after its last resolution (see the module's note).
ROLLABLE = """c.closed_at < :cut AND (c.counted_at IS NULL OR (c.state = 'closed' AND c.resolved_at <= c.closed_at))"""
_PICK = f"""
SELECT c.id FROM "case" c WHERE NOT c.rolled AND c.closed_at IS NOT NULL AND {ROLLABLE}
ORDER BY c.closed_at LIMIT :limit FOR UPDATE SKIP LOCKED
"""


def day_start(rules: Rules, now: datetime) -> datetime:
    """The moment the local day of ``now`` began (in the city's zone)."""
    tz = rules.calendar.tz
    return datetime.combine(now.astimezone(tz).date(), time.min, tz)


def _add(conn: Connection, ids: list[uuid.UUID], sign: int, rules: Rules) -> None:
    for grain in GRAINS:
        params: dict[str, Any] = {"ids": ids, "sign": sign, "tz": str(rules.calendar.tz), "grain": grain}
        for sql in (_ADD_CASES, _ADD_TRANSITIONS, _ADD_HOURS):
            conn.execute(text(sql), params)


def roll(conn: Connection, rules: Rules, now: datetime, limit: int = 5000) -> int:
    """Add up to ``limit`` ended cases to the rolls (the oldest first); how many were added."""
    ids = list(conn.execute(text(_PICK), {"cut": day_start(rules, now), "limit": limit}).scalars())
    if ids:
        _add(conn, ids, 1, rules)
        conn.execute(text('UPDATE "case" SET rolled = true WHERE id = ANY(:ids)'), {"ids": ids})
    return len(ids)


def roll_ended(engine: Engine, rules: Rules, now: datetime, limit: int = 5000) -> int:
    """The clock's job: roll a batch of ended cases in one transaction; how many."""
    with engine.begin() as conn:
        return roll(conn, rules, now, limit)


def unroll(conn: Connection, case_id: uuid.UUID, rules: Rules, rolled: bool | None = None) -> None:
    """Take a case out of the rolls before it changes (the caller holds its row lock; ``rolled``, if read)."""
    if rolled is None:
        rolled = bool(conn.execute(text('SELECT rolled FROM "case" WHERE id = :id'), {"id": case_id}).scalar())
    if rolled:
        _add(conn, [case_id], -1, rules)
        conn.execute(text('UPDATE "case" SET rolled = false WHERE id = :id'), {"id": case_id})


def percentile(counts: list[tuple[float, int]], q: float) -> float | None:
    """The ``q`` quantile of values given with their counts, as PostgreSQL's ``percentile_cont`` gives it."""
    ordered = sorted((value, n) for value, n in counts if n > 0)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    position = q * (total - 1)
    below, fraction = int(position), position - int(position)

    def at(index: int) -> float:
        seen = 0
        for value, n in ordered:
            seen += n
            if index < seen:
                return value
        return ordered[-1][0]

    low = at(below)
    return low if fraction == 0 else low + fraction * (at(below + 1) - low)
