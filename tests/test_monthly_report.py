"""The monthly assessment report (绩效通报) of a street for November 2026, worked out by hand.

Two communities of the demo's first street, in a database of this module's own. Working hours
08:30–12:00 and 13:30–17:30; 暴露垃圾 (0102) is due 4 working hours after its report (a
report at 09:00 is due 14:30); 消防通道堵塞 (8301) goes to 消防救援大队, due 120 minutes later.

- C1 (first community): A Mon 2 Nov, resolved 10:00, on time. B Tue 3 Nov, resolved 16:00, late.
  R Fri 6 Nov 8602, refused. In October: D Mon 12 Oct, on time (C1 was 100 % in October).
- C2 (second community): C Wed 4 Nov, resolved 11:00, on time. U Thu 5 Nov 10:00 urgent,
  signed 10:05, resolved 10:30, on time. E Thu 5 Nov, resolved 15:00, late; appeal upheld.

November, the street: received 6 (A B R C U E), filed 5, due 5, closed 5 (结案率 100 %),
on time 4 (A C U E; E by appeal, so 3 raw), 按期结案率 4 ÷ 5 = 80 %, overdue 1 (B).
C1: due 2, on time 1 → 50 %, 不合格, −50 points from October. C2: due 3, on time 3 → 100 %,
优秀, no October figure. C2 ranks first. One gridworker (gw-test, grid of C1) reported all six:
filed 5 ÷ 6 = 83.33 %; patrols on 2 and 3 Nov of 21 working days: 2 ÷ 21 = 9.52 %;
minor reports A B C E all closed in the grid: 100 %.
"""

import dataclasses
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, text

from api.access import Principal, Role
from api.app import create_app
from api.auth import issue_token
from api.settings import Settings
from cases import appeals
from cases.clock import start_clocks
from cases.loop import Action
from cases.report import load_grades, monthly_report, parse_month, to_xlsx
from cases.rules import load_rules
from cases.store import transition
from cli.local.scratch import drop_database, fresh_database
from db.engine import make_engine
from geo.demo import load_demo
from tests.pipeline_fixtures import worker_env
from tests.test_sla_db import record
from web.templating import labels

TZ = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
LATER = datetime(2027, 6, 1, tzinfo=UTC)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TZ)


@dataclasses.dataclass
class Street:
    settings: Settings
    engine: Engine
    code: str
    c1: str
    c2: str
    late: str


@pytest.fixture(scope="module")
def street(settings: Settings) -> Iterator[Street]:
    own = fresh_database(settings, "gridgov_report")
    engine = make_engine(own.database.url)
    load_demo(engine)
    with engine.connect() as conn:
        codes = list(conn.execute(text("SELECT code FROM active_area WHERE level = 'grid' ORDER BY code")).scalars())
    c1 = codes[0][:12]
    c2 = next(c[:12] for c in codes if c[:12] != c1)
    g1, g2 = (
        codes.index(next(c for c in codes if c.startswith(c1))),
        codes.index(next(c for c in codes if c.startswith(c2))),
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app_user (username, password_hash, role, scope) VALUES ('gw-test', 'x', 'gridworker', :g)"
            ),
            {"u": "gw-test", "g": codes[g1]},
        )

    def act(case: str, action: Action, when: datetime, actor: str = "gw-test") -> None:
        note = "不属于网格事项" if action is Action.REFUSE else ""
        transition(engine, uuid.UUID(case), action, actor, note, when, RULES)

    def fixed(grid: int, category: str, opened: datetime, resolved: datetime) -> str:
        case = record(engine, "incident", category, opened, grid)
        start_clocks(engine, RULES)
        if category == "8301":
            act(case, Action.ACCEPT, opened + timedelta(minutes=5), actor="fire")
        act(case, Action.RESOLVE, resolved)
        act(case, Action.VERIFY, resolved + timedelta(minutes=10), actor="sup")
        return case

    fixed(g1, "0102", at(2026, 10, 12, 9, 0), at(2026, 10, 12, 10, 0))  # D, October
    fixed(g1, "0102", at(2026, 11, 2, 9, 0), at(2026, 11, 2, 10, 0))  # A
    late = fixed(g1, "0102", at(2026, 11, 3, 9, 0), at(2026, 11, 3, 16, 0))  # B
    refused = record(engine, "incident", "8602", at(2026, 11, 6, 9, 0), g1)  # R
    start_clocks(engine, RULES)
    act(refused, Action.REFUSE, at(2026, 11, 6, 9, 30), actor="sup")
    fixed(g2, "0102", at(2026, 11, 4, 9, 0), at(2026, 11, 4, 11, 0))  # C
    fixed(g2, "8301", at(2026, 11, 5, 10, 0), at(2026, 11, 5, 10, 30))  # U
    excused = fixed(g2, "0102", at(2026, 11, 5, 9, 0), at(2026, 11, 5, 15, 0))  # E
    appeals.ask(engine, uuid.UUID(excused), "gw-test", "停水，无法冲洗", "", None, at(2026, 11, 5, 16, 0), RULES)
    appeals.decide(engine, uuid.UUID(excused), "district-1", "district", True, "属实", at(2026, 11, 6, 9, 0), RULES)
    for day in (2, 3):
        record(engine, "patrol", "9001", at(2026, 11, day, 8, 40), g1)
    yield Street(dataclasses.replace(settings, database=own.database), engine, c1[:9], c1, c2, late)
    engine.dispose()
    drop_database(own)


def report(street: Street, now: datetime = LATER) -> dict[str, Any]:
    with street.engine.connect() as conn:
        return monthly_report(conn, street.code, parse_month("2026-11"), RULES, now, load_grades())


def test_the_months_figures_ranking_grades_and_change_by_hand(street: Street) -> None:
    r = report(street)
    t = r["total"]
    assert (t["received"], t["filed"], t["due"], t["closed"], t["closed_on_time"], t["overdue"]) == (6, 5, 5, 5, 4, 1)
    assert (t["closure_rate"], t["on_time_closure_rate"], t["appeals_upheld"]) == (1.0, 0.8, 1)
    first, second = r["children"][:2]
    assert (first["code"], first["rank"], first["on_time_closure_rate"], first["grade"]) == (street.c2, 1, 1.0, "优秀")
    assert (second["code"], second["rank"], second["on_time_closure_rate"]) == (street.c1, 2, 0.5)
    assert (second["grade"], second["colour"], second["change"]["on_time_closure_rate"]) == ("不合格", "red", -50.0)
    assert first["change"]["on_time_closure_rate"] is None  # C2 had nothing due in October
    assert [c["rank"] for c in r["children"]] == list(range(1, len(r["children"]) + 1))
    units = {u["unit"]: u for u in r["units"]}
    fire = units["消防救援大队"]
    assert (fire["due"], fire["closed_on_time"], fire["sign_in_on_time_rate"]) == (1, 1, 1.0)
    (gw,) = r["gridworkers"]
    assert (gw["gridworker"], gw["reports"], gw["filed"], gw["report_accuracy"]) == ("gw-test", 6, 5, 0.8333)
    assert (gw["patrol_coverage"], gw["in_grid_closure_rate_minor"]) == (round(2 / 21, 4), 1.0)
    assert [c["id"] for c in r["overdue_cases"]] == [street.late]
    assert len(r["appeals_upheld"]) == 1 and r["complete"] is True
    assert report(street, LATER + timedelta(days=365)) | {"computed_at": None} == r | {"computed_at": None}


def test_the_workbook_opens_with_each_table(street: Street) -> None:
    r = report(street)
    book = load_workbook(BytesIO(to_xlsx(r, TZ, labels("zh"))))
    assert book.sheetnames == ["汇总", "下级排名", "责任单位", "网格员", "超期案件"]
    summary = {row[0]: row[1] for row in book["汇总"].iter_rows(values_only=True) if row and row[0]}
    assert (summary["应结案数"], summary["按期结案数"], summary["按期结案率"]) == (5, 4, "80.00%")
    ranking = list(book["下级排名"].iter_rows(values_only=True))
    assert ranking[0][:3] == ("名次", "编码", "名称") and ranking[1][:2] == (1, street.c2)
    assert ranking[2][-1] == "不合格"
    overdue = list(book["超期案件"].iter_rows(values_only=True))
    (late,) = [c["number"] for c in r["overdue_cases"] if c["id"] == street.late]
    assert overdue[1][0] == late and overdue[1][5] == "2026-11-03 14:30"  # due at 14:30, city time
    level = report(street)["overdue_cases"][0]["level"]
    assert overdue[0][3] == "层级" and overdue[1][3] == labels("zh")[f"lv_{level}"] != level  # in words
    english = load_workbook(BytesIO(to_xlsx(report(street), TZ, labels("en"))))
    assert english.sheetnames == ["Summary", "Ranking", "Responsible units", "Gridworkers", "Overdue cases"]


def _headers(street: Street, role: Role, scope: str) -> dict[str, str]:
    with street.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO app_user (username, password_hash, role, scope) VALUES (:u, :h, :r, :s)"
                " ON CONFLICT (username) DO NOTHING"
            ),
            {"u": f"report-{role.value}", "h": PasswordHasher().hash("x"), "r": role.value, "s": scope},
        )
    token = issue_token(
        street.settings.api.secret_key, Principal(f"report-{role.value}", role, scope), timedelta(hours=1)
    )
    return {"Authorization": f"Bearer {token}"}


def test_the_route_the_page_and_the_indicators_agree(street: Street) -> None:
    with TestClient(create_app(street.settings)) as client:
        client.headers.update(_headers(street, Role.STREET, street.code))
        month = {"area": street.code, "month": "2026-11"}
        body = client.get("/v1/reports/monthly", params=month).json()
        same = client.get("/v1/indicators", params={"area": street.code, "from": "2026-11-01", "to": "2026-11-30"})
        xlsx = client.get("/v1/reports/monthly", params=month | {"format": "xlsx"})
        page = client.get("/work/reports/monthly", params=month)
        bad = client.get("/v1/reports/monthly", params={"area": street.code, "month": "2026-13"})
        other = client.get("/v1/reports/monthly", params={"area": "321111002", "month": "2026-11"})
    assert {k: body["total"][k] for k in ("due", "closed", "closed_on_time", "overdue")} == {
        k: same.json()[k] for k in ("due", "closed", "closed_on_time", "overdue")
    }
    assert xlsx.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert load_workbook(BytesIO(xlsx.content)).sheetnames[0] == "汇总"
    assert page.status_code == 200 and "@page{size:A4" in page.text and "绩效通报" in page.text
    assert "80.00%" in page.text and "不合格" in page.text and "2026-11-03 14:30" in page.text
    assert bad.status_code == 422 and "YYYY-MM" in bad.json()["message"]
    assert other.status_code == 404


def test_the_command_writes_the_workbook_and_says_so_in_chinese(street: Street, tmp_path: Path) -> None:
    out = tmp_path / "report.xlsx"
    env = worker_env(street.settings)
    args = [sys.executable, "-m", "cli.main", "report", "monthly", "--area", street.code]
    done = subprocess.run([*args, "--month", "2026-11", "--out", str(out)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "按期结案率 80.00%" in done.stdout and load_workbook(out).sheetnames[0] == "汇总"
    wrong = subprocess.run([*args, "--month", "11/2026"], env=env, capture_output=True, text=True)
    assert wrong.returncode == 2 and "YYYY-MM" in wrong.stdout and "Traceback" not in wrong.stdout + wrong.stderr
