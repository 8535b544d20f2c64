"""Notices: a case dispatched to a person, or sent back for rework, reaches them by SMS (a fake gateway on
loopback) or the log; a failure is tried again, a person with no phone is set aside with the reason."""

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from api.access import Role
from api.settings import Settings
from cases.loop import Action
from cases.store import transition
from cli.wording import notice_text
from streams.notices import NO_PHONE, LogSender, NoticeSettings, send_notices
from tests.conftest import SignIn
from tests.pipeline_fixtures import event_body, grid_point
from tests.registers_fixtures import write_event
from web.reading import minute

GRID = 136  # a demo grid used by no other test
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Gateway(BaseHTTPRequestHandler):
    """A fake SMS gateway: answers the statuses it is given in turn (then 200), keeps what it was sent."""

    statuses: list[int] = []
    received: list[tuple[dict[str, Any], str]] = []

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.received.append((body, self.headers.get("Authorization", "")))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), Gateway)
    Gateway.statuses, Gateway.received = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/sms"
    finally:
        server.shutdown()


def _unsent(engine: Engine) -> None:
    with engine.begin() as conn:  # other tests' notices are not this test's to send
        conn.execute(text("UPDATE notice SET sent_at = now() WHERE sent_at IS NULL"))


def _dispatched(engine: Engine, settings: Settings, assignee: str, rework: bool = False) -> uuid.UUID:
    _, lon, lat = grid_point(engine, GRID)
    rules, now = settings.rules(), datetime.now(UTC)
    case = write_event(engine, event_body(lon, lat, category="0151", reporter="notice-gw"), now)
    steps = [Action.FILE, Action.DISPATCH] + (
        [Action.ACCEPT, Action.RESOLVE, Action.REJECT_RESOLUTION] if rework else []
    )
    for action in steps:
        actor = assignee if action in (Action.ACCEPT, Action.RESOLVE) else "notice-community"
        transition(engine, case, action, actor, "仍有积水" if action is Action.REJECT_RESOLUTION else "", now, rules,
                   assignee=assignee)  # fmt: skip
    return case


def test_a_person_is_told_by_sms_and_a_failure_is_tried_again(
    demo_city: Engine, settings: Settings, sign_in: SignIn, gateway: str
) -> None:
    grid = grid_point(demo_city, GRID)[0]
    sign_in("notice-gw", Role.GRIDWORKER, grid)
    with demo_city.begin() as conn:
        conn.execute(text("UPDATE app_user SET phone = '17000000136' WHERE username = 'notice-gw'"))
    _unsent(demo_city)
    case = _dispatched(demo_city, settings, "notice-gw", rework=True)
    with demo_city.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM notice WHERE case_id = :c ORDER BY id"), {"c": case}).scalars()
        number, deadline = conn.execute(text('SELECT number, deadline FROM "case" WHERE id = :c'), {"c": case}).one()
        assert list(kinds) == ["dispatched", "rework"]  # the dispatch to them, and the work sent back
    sender = NoticeSettings(sms_gateway_url=gateway, sms_gateway_token="t0ken").sender()
    words = partial(notice_text, tz=SHANGHAI)
    Gateway.statuses = [503]  # the gateway fails once: that notice waits for the next tick
    assert send_notices(demo_city, sender, words) == 1
    with demo_city.connect() as conn:
        waiting = conn.execute(text("SELECT attempts, error FROM notice WHERE sent_at IS NULL")).one()
    assert waiting.attempts == 1 and "503" in waiting.error
    assert send_notices(demo_city, sender, words) == 1
    assert send_notices(demo_city, sender, words) == 0  # each once
    due = minute(deadline, "Asia/Shanghai")  # the case's deadline now, in the city's time
    assert [body for body, _ in Gateway.received] == [  # the rework first: the dispatch's first try failed
        {
            "to": "17000000136",
            "text": f"【网格化服务管理】您办结的案件 {number}（道路破损）核查未通过，已退回返工，请在 {due} 前处置。",
        },
        {"to": "17000000136", "text": f"【网格化服务管理】案件 {number}（道路破损）已派给您，请在 {due} 前签收。"},
    ]
    assert {auth for _, auth in Gateway.received} == {"Bearer t0ken"}


def test_no_phone_is_set_aside_with_the_reason_and_the_log_tells_everyone(
    demo_city: Engine, settings: Settings, sign_in: SignIn, gateway: str, caplog: pytest.LogCaptureFixture
) -> None:
    grid = grid_point(demo_city, GRID)[0]
    sign_in("notice-nophone", Role.GRIDWORKER, grid)
    _unsent(demo_city)
    _dispatched(demo_city, settings, "notice-nophone")
    sms = NoticeSettings(sms_gateway_url=gateway).sender()
    assert send_notices(demo_city, sms, partial(notice_text, tz=SHANGHAI), attempts=5) == 0
    with demo_city.connect() as conn:
        row = conn.execute(text("SELECT attempts, error, sent_at FROM notice WHERE username = 'notice-nophone'")).one()
    assert (row.attempts, row.error, row.sent_at) == (5, NO_PHONE, None) and Gateway.received == []
    _unsent(demo_city)
    _dispatched(demo_city, settings, "notice-nophone")
    with caplog.at_level(logging.INFO, logger="streams.notices"):
        assert send_notices(demo_city, LogSender(), partial(notice_text, tz=SHANGHAI)) == 1
    assert any("notice to notice-nophone: 【网格化服务管理】案件" in r.getMessage() for r in caplog.records)
    assert isinstance(NoticeSettings().sender(), LogSender)  # no gateway set: the log
