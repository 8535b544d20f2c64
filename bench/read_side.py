"""The read side at a year of a big district: each read route a person or a screen uses, cold and warm.

Builds (with ``INSERT … SELECT generate_series``, in the shape the writer and the store write) a year of
cases (default 1,000,000, their reports and ~3.8 transitions each, every working day's patrols, from
``bench/indicators.py``), registers of as many people (1,000,000 in 400,000 households), a visit to every
household each quarter, and as many access-log rows; then times every route below on the API (TestClient, a
district supervisor): **cold** — the first call after PostgreSQL and the API are restarted — and
**warm**, the median of ``--runs``. A route slower than its target prints its own queries' plans
(``auto_explain`` on the bench database logs every statement over 100 ms; the lines logged during the
route's calls are printed). Targets (issue "the read side at a year of data"): every list, page and
map route ≤ 150 ms warm and ≤ 1 s cold; the register search ≤ 100 ms; page 500 of a queue costs what page
1 costs.

    python bench/read_side.py [--cases N] [--runs K] [--keep] [--plans ROUTE ...]

``--plans "search: words"`` prints that route's plans too (every statement is logged then: slower).

The ended cases are rolled first, as the clock's job keeps them. Then every route once more with the
platform's own indexes on the year's tables dropped (keys and unique constraints kept) and the case rolls
emptied (every case read one by one), its time beside the warm one and whether it gives the same answer.
A fifth of the cases carry two photos (400,000 rows). The live feed has no catch-up to time: a screen
that connects reads the map routes timed here, then hears what comes after (it starts at the topics' ends).
"""

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.access import Role  # noqa: E402
from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.indicators import build, roll_year  # noqa: E402
from bench.prepare import bench_headers, bench_settings, drop, timed, year_arguments  # noqa: E402
from cases.places import PLACE_SQL  # noqa: E402
from cases.reads import LIST_ORDER, list_key  # noqa: E402
from cli.local import postgres  # noqa: E402
from db.engine import make_engine  # noqa: E402
from geo.demo import DEMO_DISTRICT  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
BUILDING_SIZE = 30  # households per building; as many people as cases, 2.5 a household, as many access-log rows
LIST_TARGET, SEARCH_TARGET, COLD_TARGET = 0.150, 0.100, 1.0
SLOW_MS = 100  # auto_explain logs statements slower than this
# The year's tables: their own indexes (not the keys and unique constraints, which hold the data together)
# are dropped for the baseline; what the answers leave out of the comparison changes by the moment it is read.
YEAR_TABLES = ["case", "event", "case_transition", "household", "person", "building", "pii_access"]
MOMENTARY = {"remaining_s", "computed_at", "at"}

# Each case's report, as the writer records an incident (the case's id is its event's).
EVENTS_SQL = """
INSERT INTO event (id, kind, category, occurred_at, received_at, reporter, description, attachments, crs,
                   lon_reported, lat_reported, accuracy_m, geom, grid_code, community_code, street_code, district_code,
                   locate_method, content_hash)
SELECT c.id, 'incident', c.category, c.opened_at, c.opened_at, 'gw-' || c.grid_code,
       (ARRAY['路面有垃圾', '井盖破损', '占道经营', '路灯不亮', '违章停车'])[1 + abs(hashtext(c.id::text)) % 5]
         || '，' || c.number, '[]', 'wgs84', ST_X(p.geom), ST_Y(p.geom), 5, p.geom,
       c.grid_code, c.community_code, c.street_code, c.district_code, 'bench', ''
FROM "case" c JOIN (SELECT code, ST_PointOnSurface(geom) AS geom FROM active_area WHERE level = 'grid') p
  ON p.code = c.grid_code
"""
BUILDINGS_SQL = """
INSERT INTO building (code, grid_code, name, geom, synthetic)
SELECT g.code || lpad(b::text, 3, '0'), g.code, '基准小区' || b || '号楼', ST_PointOnSurface(g.geom), true
FROM active_area g, generate_series(1, :per_grid) AS b WHERE g.level = 'grid'
"""
HOUSEHOLDS_SQL = """
INSERT INTO household (id, building_code, unit, room, address, grid_code, members, tags, registered_on, synthetic)
SELECT b.code || '-1-' || lpad(r::text, 4, '0'), b.code, '1', lpad(r::text, 4, '0'), b.name || '1单元' || r || '室',
       b.grid_code, 0, '{}', current_date - 400, true
FROM building b, generate_series(1, :per_building) AS r
"""
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
PEOPLE_SQL = f"""
INSERT INTO person (household_id, name, id_hash, id_sealed, id_masked, birth_date, relation, tags, synthetic)
SELECT h.id, substr('{SURNAMES}', 1 + i % 20, 1) || substr('{GIVEN}', 1 + (i / 20) % 25, 1)
         || substr('{GIVEN}', 1 + (i / 500) % 25, 1),
       md5('bench' || i), decode(md5('sealed' || i), 'hex'), '990100********' || lpad((i % 10000)::text, 4, '0'),
       date '1940-01-01' + (i % 25000), CASE WHEN i % 3 = 0 THEN '户主' ELSE '家属' END,
       CASE WHEN i % 17 = 0 THEN ARRAY['独居老人'] ELSE '{{}}' END, true
FROM generate_series(0, :people - 1) AS i
JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM household) h ON h.k = i % :households
"""
RECOUNT_SQL = """
UPDATE household h SET members = x.n, tags = x.tags
FROM (SELECT household_id, count(*) AS n,
             coalesce(array_agg(DISTINCT t) FILTER (WHERE t IS NOT NULL), '{}') AS tags
      FROM person LEFT JOIN LATERAL unnest(tags) AS t ON true GROUP BY household_id) x
WHERE h.id = x.household_id
"""
VISITS_SQL = """
INSERT INTO event (id, kind, category, occurred_at, received_at, reporter, description, attachments, crs,
                   lon_reported, lat_reported, accuracy_m, geom, grid_code, community_code, street_code, district_code,
                   locate_method, content_hash, household)
SELECT gen_random_uuid(), 'visit', '9002', q + (abs(hashtext(h.id)) % 80) * interval '1 day',
       q + (abs(hashtext(h.id)) % 80) * interval '1 day', 'gw-' || h.grid_code, '', '[]', 'wgs84',
       ST_X(b.geom), ST_Y(b.geom), 5, b.geom, h.grid_code, left(h.grid_code, 12), left(h.grid_code, 9),
       left(h.grid_code, 6), 'bench', '', h.id
FROM household h JOIN building b ON b.code = h.building_code,
     generate_series(CAST(:first AS timestamptz), CAST(:last AS timestamptz), interval '3 months') AS q
"""
# What the writer keeps with each visit it records: the household's latest.
LAST_VISIT_SQL = """
UPDATE household h SET last_visit_at = v.last, last_visit_on = CAST(v.last AT TIME ZONE :tz AS date)
FROM (SELECT household, max(occurred_at) AS last FROM event WHERE kind = 'visit' GROUP BY household) v
WHERE h.id = v.household
"""
ACCESS_SQL = """
INSERT INTO pii_access (at, actor, role, action, person_id, purpose, rows)
SELECT CAST(:first AS timestamptz) + i * interval '31 seconds', 'gw-bench-' || i % 300, 'gridworker', 'read',
       1 + i % :people, '走访服务 (visit)', 1
FROM generate_series(1, :n) AS i
"""
# A fifth of the cases have a photo before and one after (a small stand-in for the picture itself).
PHOTOS_SQL = """
INSERT INTO photo (event_id, event_occurred_at, sha256, stage, media_type, bytes, width, height, taken_at, lon, lat,
                   distance_m, flags, uploaded_by, uploaded_at, content)
SELECT c.id, c.opened_at, encode(sha256(convert_to(c.id::text || s.stage, 'UTF8')), 'hex'), s.stage, 'image/jpeg', 200,
       1280, 960, c.opened_at + s.after, 119.43, 32.2, 4.0, '{}', 'bench', c.opened_at + s.after, :content
FROM "case" c CROSS JOIN (VALUES ('before', interval '0 hours'), ('after', interval '2 hours')) AS s(stage, after)
WHERE abs(hashtext(c.id::text)) % 5 = 0
"""


def build_rest(engine: Engine, now: datetime, people: int) -> float:
    """Reports for the cases, ``people`` in the registers, a year of visits and of access-log rows; seconds."""
    started = time.perf_counter()
    with engine.begin() as conn:
        grids = conn.execute(text("SELECT count(*) FROM active_area WHERE level = 'grid'")).scalar_one()
        conn.execute(text(EVENTS_SQL))
        conn.execute(  # each grid's gridworker, who reported its cases and keeps its work log
            text(
                "INSERT INTO app_user (username, password_hash, role, scope) SELECT 'gw-' || code, 'x', 'gridworker',"
                " code FROM active_area WHERE level = 'grid' ON CONFLICT (username) DO NOTHING"
            )
        )
        per_grid = -(-int(people / 2.5) // (grids * BUILDING_SIZE))
        conn.execute(text(BUILDINGS_SQL), {"per_grid": per_grid})
        conn.execute(text(HOUSEHOLDS_SQL), {"per_building": BUILDING_SIZE})
        households = conn.execute(text("SELECT count(*) FROM household")).scalar_one()
        conn.execute(text(PEOPLE_SQL), {"people": people, "households": households})
        conn.execute(text(RECOUNT_SQL))
        first = now - timedelta(days=365)
        conn.execute(text(VISITS_SQL), {"first": first, "last": now - timedelta(days=90)})
        conn.execute(text(LAST_VISIT_SQL), {"tz": str(TZ)})
        conn.execute(text(ACCESS_SQL), {"first": first, "n": people, "people": people})
        conn.execute(text(PHOTOS_SQL), {"content": bytes(200)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("event", "building", "household", "household_visit_roll", "person", "pii_access", "photo"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - started


def routes(engine: Engine, now: datetime) -> list[tuple[str, str, dict[str, Any], float]]:
    """Each route to time: its name, path, query, warm target (seconds)."""
    with engine.connect() as conn:
        community = conn.execute(
            text("SELECT min(code) FROM active_area WHERE level = 'community' AND code LIKE :d"),
            {"d": DEMO_DISTRICT + "%"},
        ).scalar_one()
        grid = conn.execute(text("SELECT min(code) FROM active_area WHERE level = 'grid'")).scalar_one()
        long_case = conn.execute(
            text("SELECT case_id FROM case_transition GROUP BY case_id ORDER BY count(*) DESC LIMIT 1")
        ).scalar_one()
        household = conn.execute(text("SELECT id FROM household ORDER BY id LIMIT 1 OFFSET 1000")).scalar_one()
        pictured = conn.execute(text("SELECT event_id FROM photo ORDER BY event_id LIMIT 1 OFFSET 1000")).scalar_one()
        person = conn.execute(text("SELECT id FROM person ORDER BY id LIMIT 1 OFFSET 5000")).scalar_one()
        # Where page 500 of the district's closed cases starts: the key of the 49,900th (what page 499's next is).
        last_of_499 = conn.execute(
            text(
                f"SELECT c.closed_at, c.deadline, c.id FROM \"case\" c WHERE c.state = 'closed' AND {PLACE_SQL} LIKE :d"
                f" ORDER BY {LIST_ORDER} OFFSET {499 * 100 - 1} LIMIT 1"
            ),
            {"d": DEMO_DISTRICT + "%"},
        ).one()
    page_500 = list_key(last_of_499)
    today = now.astimezone(TZ).date()
    monday = today - timedelta(days=today.weekday() + 7)
    week = f"{monday.isocalendar().year}-W{monday.isocalendar().week:02d}"
    listed: list[tuple[str, str, dict[str, Any]]] = [
        ("queue in_hand, page 1", "/v1/work/queue", {"tab": "in_hand"}),
        ("queue in_hand, page 500", "/v1/work/queue", {"tab": "in_hand", "offset": 499 * 50}),
        ("queue overdue, page 1", "/v1/work/queue", {"tab": "overdue"}),
        ("closed cases, page 1", "/v1/cases", {"area": DEMO_DISTRICT, "state": "closed"}),
        (
            "closed cases, page 500",
            "/v1/cases",
            {"area": DEMO_DISTRICT, "state": "closed", "after": page_500},
        ),
        ("cases of a community", "/v1/cases", {"area": community}),
        ("case page (longest history)", f"/v1/cases/{long_case}", {}),
        ("a case's photos", f"/v1/events/{pictured}/photos", {}),
        ("search: words", "/v1/work/search", {"q": "井盖破损"}),
        ("close-out, a community week", f"/v1/closeouts/{community}/{week}", {}),
        ("work log, a gridworker day", f"/v1/worklogs/gw-{grid}/{(today - timedelta(days=3)).isoformat()}", {}),
        ("visits due, a grid (1,200 households)", "/v1/visits/due", {"area": grid}),
        ("visit coverage, the district", "/v1/visits/coverage", {"area": DEMO_DISTRICT}),
        ("household", f"/v1/households/{household}", {}),
        ("person", f"/v1/people/{person}", {}),
        ("access log, a reader's latest 200", "/v1/pii-access", {"actor": "gw-bench-7"}),
        ("access log, a person", "/v1/pii-access", {"person": person}),
    ]
    listed += [
        (f"map values: {metric}", "/v1/map/values", {"area": DEMO_DISTRICT, "metric": metric})
        for metric in ("open_cases", "overdue_cases", "overdue_visits", "patrolled_today", "in_grid_closure_rate")
    ]
    return [(name, path, params, LIST_TARGET) for name, path, params in listed]


def main() -> None:
    show = {"action": "append", "default": [], "metavar": "ROUTE", "help": "print this route's plans as well"}
    args = year_arguments(__doc__.splitlines()[0], ("--plans", show))
    settings = bench_settings()
    engine = make_engine(settings.database.url)
    now = datetime.now(UTC)
    try:
        took = build(engine, args.cases, now) + build_rest(engine, now, args.cases)
        with engine.connect() as conn:
            sizes = conn.execute(
                text(
                    'SELECT (SELECT count(*) FROM "case"), (SELECT count(*) FROM case_transition),'
                    " (SELECT count(*) FROM event), (SELECT count(*) FROM person), (SELECT count(*) FROM household),"
                    " (SELECT count(*) FROM pii_access), (SELECT count(*) FROM photo),"
                    " (SELECT count(*) FROM pg_inherits WHERE inhparent = 'case_transition'::regclass)"
                )
            ).one()
        print("built {:,} cases, {:,} transitions, {:,} events, {:,} people in {:,} households, {:,} access rows,"
              " {:,} photos ({} partitions of case history) in {:.0f} s".format(*sizes, took))  # fmt: skip
        roll_year(engine, now)  # what the clock's job keeps rolled: the cases that ended before today
        database = engine.url.database
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"ALTER DATABASE {database} SET session_preload_libraries = 'auto_explain'"))
            slow = 0 if args.plans else SLOW_MS  # asked for plans: every statement's
            conn.execute(text(f"ALTER DATABASE {database} SET auto_explain.log_min_duration = {slow}"))
        engine.dispose()
        log = postgres.log_file(settings)
        checks = routes(engine, now)
        headers = bench_headers(settings)
        admin = bench_headers(settings, "admin-bench", Role.ADMIN, "")  # the access log is the admin's
        search = ("register search: a name", "/v1/people/search", {"name": "王伟"}, SEARCH_TARGET)
        postgres.down(settings)  # cold: a restarted database and a new API process
        postgres.up(settings)
        results: list[tuple[str, float, float, float, str]] = []
        answers: dict[str, Any] = {}
        with TestClient(create_app(settings)) as client:
            client.headers.update(headers)
            for name, path, params, target in [*checks, search]:
                call = _caller(client, path, params, admin if path == "/v1/pii-access" else {})
                mark = log.stat().st_size if log.exists() else 0
                started = time.perf_counter()
                answer = call()
                cold = time.perf_counter() - started
                if answer.status_code != 200:
                    print(f"{name}: {answer.status_code} {answer.text[:300]}")
                    results.append((name, float("nan"), float("nan"), target, ""))
                    continue
                warm, _ = timed(call, args.runs)
                asked = name in args.plans
                plans = _since(log, mark) if warm > target or cold > COLD_TARGET or asked else ""
                results.append((name, cold, warm, target, plans))
                answers[name] = _steady(call().json())
        failed = _report(results)
        if failed:
            print(f"{failed} routes over their targets (their plans above)")
        _baseline(settings, [*checks, search], headers, admin, results, answers)
    finally:
        engine.dispose()
        if not args.keep:
            drop(settings)


def _baseline(
    settings: Settings,
    checks: list[tuple[str, str, dict[str, Any], float]],
    headers: dict[str, str],
    admin: dict[str, str],
    results: list[tuple[str, float, float, float, str]],
    answers: dict[str, Any],
) -> None:
    """Each route again with the year's tables' own indexes and the case rolls dropped (every case read one by one,
    as if never rolled): its time beside the warm one, and whether it gives the same answer."""
    engine = make_engine(settings.database.url)
    with engine.begin() as conn:
        names = (
            conn.execute(
                text(
                    "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
                    " JOIN pg_class t ON t.oid = x.indrelid WHERE t.relname = ANY(:tables)"
                    " AND NOT x.indisprimary AND NOT x.indisunique"
                ),
                {"tables": YEAR_TABLES},
            )
            .scalars()
            .all()
        )
        for name in names:
            conn.execute(text(f'DROP INDEX "{name}"'))
        conn.execute(text('TRUNCATE case_roll, transition_roll, hours_roll; UPDATE "case" SET rolled = false'))
    engine.dispose()
    print(f"\nthe same routes with the {len(names)} indexes of {', '.join(YEAR_TABLES)} and the case rolls dropped:")
    print(f"{'route':36} {'warm ms':>9} {'no index ms':>12} {'ratio':>7}  equal")
    warm_of = {name: warm for name, _, warm, _, _ in results}
    with TestClient(create_app(settings)) as client:
        client.headers.update(headers)
        for name, path, params, _ in checks:
            call = _caller(client, path, params, admin if path == "/v1/pii-access" else {})
            started = time.perf_counter()
            answer = call()
            took = time.perf_counter() - started
            equal = answer.status_code == 200 and _steady(answer.json()) == answers.get(name)
            warm = warm_of[name]
            print(f"{name:36} {warm * 1000:9.1f} {took * 1000:12.1f} {took / warm:6.0f}×  {'yes' if equal else 'NO'}")


def _steady(answer: Any) -> Any:
    """``answer`` less what changes with the moment it is read (time left, when computed)."""
    if isinstance(answer, dict):
        return {k: _steady(v) for k, v in answer.items() if k not in MOMENTARY}
    if isinstance(answer, list):
        return [_steady(v) for v in answer]
    return answer


def _caller(client: TestClient, path: str, params: dict[str, Any], headers: dict[str, str]) -> Callable[[], Any]:
    if path == "/v1/people/search":
        return lambda: client.post(path, json=params)
    return lambda: client.get(path, params=params, headers=headers)


def _since(log: Path, mark: int) -> str:
    """What the database logged after byte ``mark`` (auto_explain's plans of the slow statements)."""
    if not log.exists():
        return ""
    with log.open("rb") as f:
        f.seek(mark)
        return f.read().decode("utf-8", "replace")


def _report(results: list[tuple[str, float, float, float, str]]) -> int:
    """The table (and the plans of the routes over target); how many are over."""
    print(f"{'route':36} {'cold ms':>9} {'warm ms':>9} {'target':>7}  met")
    over = 0
    for name, cold, warm, target, _ in results:
        met = warm <= target and cold <= COLD_TARGET
        over += not met
        print(f"{name:36} {cold * 1000:9.1f} {warm * 1000:9.1f} {target * 1000:7.0f}  {'yes' if met else 'NO'}")
    for name, cold, warm, target, plans in results:
        if plans or warm > target or cold > COLD_TARGET:
            shown = plans.strip()[:6000] or f"(no statement took over {SLOW_MS} ms: the time is spent outside them)"
            print(f"\n== plans of {name}\n{shown}")
    first = next((r for r in results if r[0].endswith("page 1") and "in_hand" in r[0]), None)
    deep = next((r for r in results if r[0].endswith("page 500") and "in_hand" in r[0]), None)
    if first and deep:
        print(f"\nqueue in_hand: page 500 / page 1 = {deep[2] / first[2]:.1f}× (keyset paging: about 1×)")
    return over


if __name__ == "__main__":
    main()
