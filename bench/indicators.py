"""The indicator routes at a year of a big district, against a plain scan of the same cases in the same run.

Builds one year of cases (default 1,000,000, up to now) in the demo district with
``INSERT … SELECT generate_series`` in the shape the store writes (due moment, last
resolution, counted moment, ~3.8 transitions a case), then times each route (warm, median of
``--runs``) and computes the same figures by a plain scan (every case of the area read and
counted in Python) to check that both give equal numbers. Targets (issue: numbers a centre
can publish): every indicator route ≤ 300 ms for a district-month and the screen's today,
≤ 1 s for a district-year, the monthly report of a district ≤ 5 s.

    python bench/indicators.py [--cases N] [--runs K]
"""

import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from bench.prepare import bench_headers, bench_settings, drop, timed, year_arguments  # noqa: E402
from cases.rollup import roll_ended  # noqa: E402
from cases.rules import load_rules  # noqa: E402
from db.engine import make_engine  # noqa: E402
from db.partitions import MONTHLY, make_months, month_of, months  # noqa: E402
from geo.demo import DEMO_DISTRICT  # noqa: E402

TZ_NAME = "Asia/Shanghai"
# One year of cases: 60 % minor (handled on the spot, 4 h), 30 % general (filed, 8 h), 10 % urgent (2 h, to its unit);
# about one in eight resolved late, one in fifty refused, one in thirty extended; the last week partly open.
CASES_SQL = """
INSERT INTO "case" (id, category, sla_class, state, level, grid_code, community_code, street_code, district_code,
                    opened_at, event_occurred_at, deadline, closed_at, closed_on_time, department, kind,
                    filed_at, escalations, reworks, extensions, due_at, resolved_at, counted_at, extended_at,
                    hours_to_close, number)
SELECT id, category, sla_class, state, 'grid', grid, left(grid, 12), left(grid, 9), left(grid, 6),
       opened, opened, due, CASE WHEN state IN ('closed', 'refused') THEN closed END,
       CASE WHEN state = 'closed' THEN resolved <= due END,
       CASE WHEN sla_class = 'urgent' THEN '消防救援大队' ELSE '区城市管理局' END, 'incident',
       CASE WHEN state <> 'refused' THEN opened END, (late AND i % 3 = 0)::int, (i % 11 = 0)::int,
       (i % 30 = 0)::int, CASE WHEN state <> 'refused' THEN due END,
       CASE WHEN state = 'closed' THEN resolved END,
       CASE WHEN state = 'closed' THEN least(closed, due) WHEN state = 'in_progress' THEN due END,
       CASE WHEN i % 30 = 0 AND state <> 'refused' THEN opened + interval '1 hour' END,
       CASE WHEN state = 'closed' THEN extract(epoch FROM closed - opened) / 3600 END,
       left(grid, 6) || '-' || to_char(opened AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || '-' || lpad(i::text, 7, '0')
FROM (
  SELECT i, gen_random_uuid() AS id, g.code AS grid,
         :start + (i * :span / :n) AS opened,
         CASE WHEN i % 10 < 6 THEN '0102' WHEN i % 10 < 9 THEN '8602' ELSE '8301' END AS category,
         CASE WHEN i % 10 < 6 THEN 'minor' WHEN i % 10 < 9 THEN 'general' ELSE 'urgent' END AS sla_class,
         CASE WHEN i % 50 = 0 THEN 'refused'
              WHEN :start + (i * :span / :n) > :now - interval '7 days' AND i % 4 = 0 THEN 'in_progress'
              ELSE 'closed' END AS state,
         i % 8 = 0 AS late,
         :start + (i * :span / :n)
           + CASE WHEN i % 10 < 6 THEN interval '4 hours' WHEN i % 10 < 9 THEN interval '8 hours'
                  ELSE interval '2 hours' END AS due,
         :start + (i * :span / :n) + CASE WHEN i % 8 = 0 THEN interval '10 hours' ELSE interval '1 hour' END
           AS resolved,
         :start + (i * :span / :n) + CASE WHEN i % 8 = 0 THEN interval '11 hours' ELSE interval '2 hours' END
           AS closed
  FROM generate_series(1, :n) AS i
  JOIN (SELECT code, row_number() OVER (ORDER BY code) - 1 AS k FROM active_area WHERE level = 'grid') g
    ON g.k = i % :grids
) x
"""
# Each case's history: taken in (or filed, or refused), signed for, resolved, verified — 3.8 a case on average.
TRANSITIONS_SQL = """
INSERT INTO case_transition (case_id, case_opened_at, seq, action, actor, at, from_state, to_state, from_level,
                             to_level, deadline, published, escalation_published)
SELECT c.id, c.opened_at, s.seq, s.action, 'bench', c.opened_at + s.seq * interval '30 minutes', 'reported', s.to_state,
       'grid', 'grid', c.due_at, true, NULL
FROM "case" c
CROSS JOIN LATERAL (VALUES (1, CASE WHEN c.state = 'refused' THEN 'refuse' WHEN c.sla_class = 'minor'
                                    THEN 'auto_intake' ELSE 'file' END, 'filed'),
                           (2, 'accept', 'in_progress'), (3, 'resolve', 'resolved'), (4, 'verify', 'closed'),
                           (5, 'reject_resolution', 'in_progress')) AS s(seq, action, to_state)
WHERE (s.seq = 1) OR (c.state <> 'refused' AND s.seq = 2 AND c.sla_class <> 'minor')
   OR (c.state = 'closed' AND s.seq IN (3, 4)) OR (c.state = 'closed' AND s.seq = 5 AND c.reworks > 0)
"""
PATROLS_SQL = """
INSERT INTO event (id, kind, category, occurred_at, received_at, reporter, description, attachments, crs,
                   lon_reported, lat_reported, accuracy_m, geom, grid_code, community_code, street_code, district_code,
                   locate_method, content_hash)
SELECT gen_random_uuid(), 'patrol', '9001', d + interval '1 hour', d + interval '1 hour', 'gw-' || a.code, '',
       '[]', 'wgs84', ST_X(ST_PointOnSurface(a.geom)), ST_Y(ST_PointOnSurface(a.geom)), 5,
       ST_PointOnSurface(a.geom), a.code, left(a.code, 12), left(a.code, 9), left(a.code, 6), 'bench', ''
FROM active_area a, generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz), interval '1 day') AS d
WHERE a.level = 'grid' AND extract(isodow FROM d) < 6
"""
KEYS = ("received", "filed", "due", "closed", "closed_on_time", "overdue")


def build(engine: Engine, n: int, now: datetime) -> float:
    """A year of ``n`` cases up to ``now``, their transitions and every working day's patrols; seconds taken."""
    started = time.perf_counter()
    start = now - timedelta(days=365)
    with engine.begin() as conn:  # the months a year of the clock's jobs would have made
        for table in MONTHLY:
            make_months(conn, table, months(month_of(start), month_of(now)))
        grids = conn.execute(text("SELECT count(*) FROM active_area WHERE level = 'grid'")).scalar_one()
        conn.execute(
            text(CASES_SQL),
            {"start": start, "span": timedelta(days=365) - timedelta(hours=12), "n": n, "now": now, "grids": grids},
        )
        conn.execute(text(TRANSITIONS_SQL))
        conn.execute(text(PATROLS_SQL), {"first": start, "last": now})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text('VACUUM ANALYZE "case"'))
        conn.execute(text("VACUUM ANALYZE case_transition"))
        conn.execute(text("VACUUM ANALYZE event"))
    return time.perf_counter() - started


def plain_scan(engine: Engine, area: str, first: date, last: date, now: datetime) -> dict[str, int]:
    """The period's figures by reading every case of the area and counting in Python (no index helps)."""
    tz = ZoneInfo(TZ_NAME)
    start = datetime.combine(first, datetime.min.time(), tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    asof = min(end, now)
    figures = dict.fromkeys(KEYS, 0)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.opened_at, c.filed_at, c.state, c.closed_at, c.due_at, c.resolved_at, c.counted_at,"
                ' a.upheld FROM "case" c LEFT JOIN appeal a ON a.case_id = c.id WHERE c.grid_code LIKE :p'
            ),
            {"p": area + "%"},
        )
        for opened, filed, state, closed_at, due, resolved, counted, upheld in rows:
            if start <= opened < end:
                figures["received"] += 1
                figures["filed"] += filed is not None and filed < asof
            if counted is None or not start <= counted < end:
                continue
            figures["due"] += 1
            closed = state == "closed" and closed_at < asof
            on_time = closed and (resolved <= due or bool(upheld))
            figures["closed"] += closed
            figures["closed_on_time"] += on_time
            figures["overdue"] += not on_time and due <= asof
    return figures


def roll_year(engine: Engine, now: datetime) -> None:
    """Roll every case that ended before today, as the clock's job does a batch a tick, and say how long it took."""
    started, rolled = time.perf_counter(), 0
    while batch := roll_ended(engine, load_rules(), now, limit=50_000):
        rolled += batch
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("case_roll", "transition_roll", "hours_roll", '"case"'):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
        sums = conn.execute(text("SELECT (SELECT count(*) FROM case_roll), (SELECT count(*) FROM transition_roll)"))
        case_rows, transition_rows = sums.one()
    print(
        f"rolled {rolled:,} ended cases in {time.perf_counter() - started:.0f} s"
        f" into {case_rows:,} + {transition_rows:,} rows"
    )


def main() -> None:
    args = year_arguments(__doc__.splitlines()[0])
    settings = bench_settings()
    engine = make_engine(settings.database.url)
    now = datetime.now(UTC)
    try:
        took = build(engine, args.cases, now)
        with engine.connect() as conn:
            counted = 'SELECT (SELECT count(*) FROM "case"), (SELECT count(*) FROM case_transition)'
            n, t = conn.execute(text(counted)).one()
            community = conn.execute(
                text("SELECT min(code) FROM active_area WHERE level = 'community' AND code LIKE :d"),
                {"d": DEMO_DISTRICT + "%"},
            ).scalar_one()
        print(f"built {n:,} cases, {t:,} transitions in {took:.0f} s")
        roll_year(engine, now)
        today = now.astimezone(ZoneInfo(TZ_NAME)).date()
        month_first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # the last whole month
        month_last = today.replace(day=1) - timedelta(days=1)
        year_first = today - timedelta(days=364)
        month = month_first.strftime("%Y-%m")
        cases = [
            ("district, month", "/v1/indicators", DEMO_DISTRICT, month_first, month_last, 0.3),
            ("district, today (screen)", "/v1/indicators", DEMO_DISTRICT, today, today, 0.3),
            ("community, month", "/v1/indicators", community, month_first, month_last, 0.3),
            ("district, year", "/v1/indicators", DEMO_DISTRICT, year_first, today, 1.0),
            ("district, 30 days daily", "/v1/indicators/daily", DEMO_DISTRICT, today - timedelta(days=29), today, 0.3),
            ("district, monthly report", "/v1/reports/monthly", DEMO_DISTRICT, month_first, month_last, 5.0),
        ]
        headers = bench_headers(settings)
        print(f"{'route':28} {'median':>9} {'plain scan':>11} {'ratio':>7} {'target':>7}  met  equal")
        failed = False
        with TestClient(create_app(settings)) as client:
            client.headers.update(headers)
            for name, path, area, first, last, target in cases:
                params: dict[str, Any] = {"area": area, "from": first.isoformat(), "to": last.isoformat()}
                if path == "/v1/reports/monthly":
                    params = {"area": area, "month": month}
                median, answer = timed(lambda p=path, q=params: client.get(p, params=q), args.runs)
                assert answer.status_code == 200, answer.text[:300]
                started = time.perf_counter()
                scanned = plain_scan(engine, area, first, last, now)
                scan = time.perf_counter() - started
                body = answer.json()
                figures = body.get("total", body)
                equal = "—" if path.endswith("daily") else str(all(figures[k] == scanned[k] for k in KEYS))
                failed |= equal == "False"
                met = "yes" if median <= target else "NO"
                print(
                    f"{name:28} {median * 1000:>7.0f}ms {scan * 1000:>9.0f}ms {median / scan:>7.3f} "
                    f"{target * 1000:>5.0f}ms  {met:>3}  {equal}"
                )
                if equal == "False":
                    print(f"   route {dict((k, figures[k]) for k in KEYS)} != scan {scanned}")
        if failed:
            raise SystemExit("the routes and the plain scan disagree")
    finally:
        engine.dispose()
        if not args.keep:
            drop(settings)


if __name__ == "__main__":
    main()
