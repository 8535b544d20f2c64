"""The workbench's search at a year of a big district, next to the same search unindexed, in the same run.

Builds one year of reports and their cases (default 1,000,000) in the demo district, with
descriptions from a vocabulary (a few words rare), 2,000 reporters with names and a building
register (20 buildings a grid), then times ``GET /v1/work/search`` for a district supervisor
(warm, median of ``--runs``) beside the same query with index and bitmap scans turned off
(PostgreSQL's plain ``ILIKE`` over every row), and checks both find the same cases.

    python bench/search.py [--cases N] [--runs K] [--keep]
"""

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from bench.prepare import bench_headers, bench_settings, drop, timed, year_arguments  # noqa: E402
from cases.search import FOUND, like_pattern  # noqa: E402
from db.engine import make_engine  # noqa: E402
from geo.demo import DEMO_DISTRICT  # noqa: E402

PLACES = "东门口 南侧 小区内 十字路口 商铺前 公交站旁 河边 学校门口 菜场 停车场"
THINGS = "积存垃圾 井盖破损 路灯不亮 占道经营 违规停车 乱贴广告 树木倒伏 污水外溢 噪音扰民 绿地损毁"
RARE = "有人私搭电线"  # one report in 10,000
REPORTERS = 2000
SURNAMES, GIVEN = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "欧阳", "司马"], list("伟芳娜敏静丽强磊军洋")

USERS_SQL = """
INSERT INTO app_user (username, password_hash, role, scope, display_name)
SELECT 'gw-' || i, 'x', 'gridworker', g.code,
       (CAST(:surnames AS text[]))[1 + i % 10] || (CAST(:given AS text[]))[1 + (i / 10) % 10] || i
FROM generate_series(0, :n - 1) i
JOIN (SELECT code, row_number() OVER (ORDER BY code) - 1 AS k FROM active_area WHERE level = 'grid') g
  ON g.k = i % (SELECT count(*) FROM active_area WHERE level = 'grid')
"""
BUILDINGS_SQL = """
INSERT INTO building (code, grid_code, name, geom)
SELECT a.code || lpad(b::text, 3, '0'), a.code,
       (ARRAY['翠竹苑','金桂园','锦绣花城','阳光新村','润州小区'])[1 + b % 5] || a.code || '-' || b || '栋',
       ST_Translate(ST_PointOnSurface(a.geom), (b % 5) * 0.0004, (b / 5) * 0.0004)
FROM active_area a, generate_series(0, 19) b WHERE a.level = 'grid'
"""
# Reports of a year: a place and a thing, one in 10,000 the rare words; each case numbered as the writer does.
EVENTS_SQL = """
INSERT INTO event (id, kind, category, occurred_at, received_at, reporter, description, attachments, crs,
                   lon_reported, lat_reported, accuracy_m, geom, grid_code, community_code, street_code, district_code,
                   locate_method, content_hash)
SELECT id, 'incident', '0102', opened, opened, 'gw-' || (i % :reporters), description, '[]', 'wgs84',
       ST_X(p), ST_Y(p), 5, p, grid, left(grid, 12), left(grid, 9), left(grid, 6), 'bench', ''
FROM (
  SELECT i, gen_random_uuid() AS id, g.code AS grid, :start + (i * :span / :n) AS opened,
         ST_Translate(g.centre, ((i / 7) % 11) * 0.0002, ((i / 3) % 13) * 0.0002) AS p,
         CASE WHEN i % 10000 = 0 THEN :rare
              ELSE (string_to_array(:places, ' '))[1 + i % 10] || (string_to_array(:things, ' '))[1 + (i / 10) % 10] END
           AS description
  FROM generate_series(1, :n) AS i
  JOIN (SELECT code, ST_PointOnSurface(geom) AS centre, row_number() OVER (ORDER BY code) - 1 AS k
        FROM active_area WHERE level = 'grid') g ON g.k = i % :grids
) x
"""
CASES_SQL = """
INSERT INTO "case" (id, category, sla_class, state, level, grid_code, community_code, street_code, district_code,
                    opened_at, event_occurred_at, deadline, closed_at, kind, number)
SELECT e.id, '0102', 'minor', CASE WHEN e.occurred_at < :now - interval '7 days' THEN 'closed' ELSE 'in_progress' END,
       'grid', e.grid_code, e.community_code, e.street_code, e.district_code, e.occurred_at,
       e.occurred_at, e.occurred_at + interval '4 hours',
       CASE WHEN e.occurred_at < :now - interval '7 days' THEN e.occurred_at + interval '3 hours' END, 'incident',
       e.district_code || '-' || to_char(e.occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || '-'
       || lpad((row_number() OVER (PARTITION BY (e.occurred_at AT TIME ZONE 'Asia/Shanghai')::date
                                  ORDER BY e.occurred_at, e.id))::text, 4, '0')
FROM event e WHERE e.kind = 'incident' AND e.locate_method = 'bench'
"""


def reporter_name(i: int) -> str:
    """The display name ``USERS_SQL`` gives reporter ``gw-<i>``."""
    return f"{SURNAMES[i % 10]}{GIVEN[(i // 10) % 10]}{i}"


def build(engine: Engine, n: int, now: datetime) -> float:
    """A year of ``n`` reports and their cases up to ``now``, reporters, buildings; seconds taken."""
    started = time.perf_counter()
    with engine.begin() as conn:
        grids = conn.execute(text("SELECT count(*) FROM active_area WHERE level = 'grid'")).scalar_one()
        conn.execute(text(USERS_SQL), {"n": REPORTERS, "surnames": SURNAMES, "given": GIVEN})
        conn.execute(text(BUILDINGS_SQL))
        conn.execute(
            text(EVENTS_SQL),
            {
                "start": now - timedelta(days=365),
                "span": timedelta(days=365) - timedelta(hours=1),
                "n": n,
                "grids": grids,
                "reporters": REPORTERS,
                "places": PLACES,
                "things": THINGS,
                "rare": RARE,
            },
        )
        conn.execute(text(CASES_SQL), {"now": now})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ('"case"', "event", "building", "app_user"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    return time.perf_counter() - started


def unindexed(engine: Engine, words: str) -> tuple[int, list[str]]:
    """The same search with index and bitmap scans off: every row read and matched by ``ILIKE``."""
    sql = f"SELECT c.id::text FROM {FOUND} WHERE c.district_code = :d ORDER BY c.opened_at DESC, c.id"
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL enable_indexscan = off"))
        conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        ids = conn.execute(text(sql), {"q": words, "like": like_pattern(words), "d": DEMO_DISTRICT}).scalars().all()
    return len(ids), list(ids[:50])


def main() -> None:
    args = year_arguments(__doc__.splitlines()[0])
    settings = bench_settings()
    engine = make_engine(settings.database.url)
    now = datetime.now(UTC)
    try:
        took = build(engine, args.cases, now)
        with engine.connect() as conn:
            n = conn.execute(text('SELECT count(*) FROM "case"')).scalar_one()
            number = conn.execute(text('SELECT number FROM "case" ORDER BY opened_at OFFSET :k LIMIT 1'), {"k": n // 2})
            some_number = str(number.scalar_one())
        print(f"built {n:,} cases with their reports in {took:.0f} s")
        searches = [
            ("a whole number", some_number),
            ("part of a number", some_number[-9:]),
            ("rare words (4 characters)", RARE[-4:]),
            ("common words (4 characters)", "井盖破损"),
            ("two characters", "电线"),
            ("a reporter's name", reporter_name(1218)),
            ("a building (address)", "翠竹苑321111001001001"),
        ]
        print(f"{'search':30} {'found':>8} {'median':>9} {'unindexed':>10} {'ratio':>7}  equal")
        failed = False
        with TestClient(create_app(settings)) as client:
            client.headers.update(bench_headers(settings))
            for name, words in searches:
                median, answer = timed(lambda w=words: client.get("/v1/work/search", params={"q": w}), args.runs)
                assert answer.status_code == 200, answer.text[:300]
                body = answer.json()
                plain, (total, first_page) = timed(lambda w=words: unindexed(engine, w), 1)
                equal = total == body["total"] and first_page == [c["id"] for c in body["cases"]]
                failed |= not equal
                print(
                    f"{name:30} {body['total']:>8,} {median * 1000:>7.0f}ms {plain * 1000:>8.0f}ms"
                    f" {median / plain:>7.3f}  {equal}"
                )
        if failed:
            raise SystemExit("the indexed and the unindexed search disagree")
    finally:
        engine.dispose()
        if not args.keep:
            drop(settings)


if __name__ == "__main__":
    main()
