"""Signing in, tokens, disabled users, the page cookie, the posting rate limit and user management."""

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from api.access import Role
from api.accounts import User, UserCache
from api.app import create_app
from api.auth import COOKIE, CSRF_HEADER, page_csrf
from api.ratelimit import SignInThrottle
from api.settings import Settings
from tests.conftest import TEST_PASSWORD, SignIn
from tests.pipeline_fixtures import ENGLISH, event_body, grid_point
from tests.test_sla_db import record


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    api = settings.api.model_copy(update={"event_posts_per_minute": 6.0, "event_post_burst": 3})
    with TestClient(create_app(dataclasses.replace(settings, api=api)), headers=ENGLISH) as client:
        yield client


def _token(client: TestClient, username: str, password: str = TEST_PASSWORD) -> str:
    response = client.post("/v1/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_the_password_flow_gives_a_token_that_says_who_you_are(client: TestClient, sign_in: SignIn) -> None:
    sign_in("auth-street", Role.STREET, "321111001")
    response = client.post("/v1/token", data={"username": "auth-street", "password": TEST_PASSWORD})
    body = response.json()
    assert body["token_type"] == "bearer" and body["role"] == "street" and body["expires_in"] == 480 * 60
    me = client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"username": "auth-street", "role": "street", "scope": "321111001"}


@pytest.mark.parametrize(
    ("username", "password"), [("auth-street", "wrong-password"), ("nobody-here", TEST_PASSWORD), ("a\x00b", "x")]
)
def test_wrong_credentials_are_401_without_saying_which_part(
    client: TestClient, sign_in: SignIn, username: str, password: str
) -> None:
    sign_in("auth-street", Role.STREET, "321111001")
    response = client.post("/v1/token", data={"username": username, "password": password})
    assert response.status_code == 401
    assert response.json()["message"] == "wrong username or password, or the user is disabled"


def test_missing_bad_and_foreign_tokens_are_401(client: TestClient) -> None:
    assert client.get("/v1/cases").status_code == 401
    assert client.get("/v1/cases").headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/cases", headers={"Authorization": "Bearer not.a.token"}).status_code == 401
    import jwt

    forged = jwt.encode({"sub": "commander", "iat": 0, "exp": 2**40}, "another-secret-of-enough-length-0000")
    response = client.get("/v1/cases", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and "not valid" in response.json()["message"]


def test_a_disabled_user_is_locked_out(client: TestClient, sign_in: SignIn) -> None:
    admin = sign_in("auth-admin", Role.ADMIN)
    name = f"auth-{uuid.uuid4().hex[:8]}"
    created = client.post(
        "/v1/users",
        headers=admin,
        json={"username": name, "password": "long-enough", "role": "community", "scope": "321111001001"},
    )
    assert created.status_code == 201, created.text
    token = _token(client, name, "long-enough")
    assert client.get("/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.post(f"/v1/users/{name}/disable", headers=admin).json()["disabled"] is True
    assert client.get("/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/v1/token", data={"username": name, "password": "long-enough"}).status_code == 401
    assert name in {u["username"] for u in client.get("/v1/users", headers=admin).json()}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "x y", "password": "long-enough", "role": "street", "scope": "321111001"}, "username"),
        ({"username": "short-pw", "password": "short", "role": "street", "scope": "321111001"}, "password"),
        ({"username": "bad-scope", "password": "long-enough", "role": "gridworker", "scope": "321111"}, "scope"),
        ({"username": "bad-role", "password": "long-enough", "role": "mayor", "scope": ""}, "role"),
        ({"username": "no-grid", "password": "long-enough", "role": "gridworker", "scope": "321111999999999"}, "scope"),
        ({"username": "no-unit", "password": "long-enough", "role": "department", "scope": "不存在的局"}, "scope"),
        ({"username": "no-park", "password": "long-enough", "role": "owner", "scope": "ZS321111999999999"}, "scope"),
    ],
)
def test_a_bad_new_user_is_422_naming_the_field(
    client: TestClient, sign_in: SignIn, body: dict[str, str], field: str
) -> None:
    response = client.post("/v1/users", headers=sign_in("auth-admin", Role.ADMIN), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field


def form_token(client: TestClient) -> str:
    """The sign-in form's token, as a browser gets it with the page (its cookie stays in the client)."""
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert found, "the sign-in form carries its token"
    return found[1]


def test_a_sign_in_form_from_another_site_replaces_no_session(client: TestClient, sign_in: SignIn) -> None:
    sign_in("csrf-victim", Role.DISTRICT, "321111")
    sign_in("csrf-attacker", Role.GRIDWORKER, "321111001001001")
    victim = {"username": "csrf-victim", "password": TEST_PASSWORD, "csrf": form_token(client)}
    assert client.post("/login", data=victim, follow_redirects=False).status_code == 303
    session = client.cookies.get("gridgov_token")
    assert session
    # Another site's auto-submitted form: no sign-in cookie of ours comes with it (SameSite=Strict), so no token.
    client.cookies.delete("gridgov_login", path="/login")
    forged = {"username": "csrf-attacker", "password": TEST_PASSWORD, "next": "/work"}
    answer = client.post("/login", data=forged | {"csrf": "guessed"}, follow_redirects=False)
    assert answer.status_code == 303 and "error=form" in answer.headers["location"]
    assert "set-cookie" not in answer.headers and client.cookies.get("gridgov_token") == session
    assert client.get("/v1/me").json()["username"] == "csrf-victim"  # still the victim's own session
    assert "请从本站登录页登录" in client.get("/login?error=form").text
    client.cookies.clear()  # the module's other tests start signed out


def test_the_page_cookie_reads_but_never_changes_anything(client: TestClient, sign_in: SignIn) -> None:
    sign_in("auth-street", Role.STREET, "321111001")
    page = client.get("/map", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fmap"
    signed = client.post(
        "/login",
        data={
            "username": "auth-street",
            "password": TEST_PASSWORD,
            "next": "//evil.example/",
            "csrf": form_token(client),
        },
        follow_redirects=False,
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/map"  # no open redirect
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/map").status_code == 200  # the cookie is sent
    case = client.get("/v1/cases").json()
    assert client.post(f"/v1/cases/{uuid.uuid4()}/transitions", json={"action": "accept"}).status_code == 401
    client.post("/logout")
    assert client.get("/v1/cases").status_code == 401
    assert "cases" in case
    client.cookies.clear()


def test_posting_is_rate_limited_per_user_with_retry_after(
    client: TestClient, sign_in: SignIn, demo_city: Engine
) -> None:
    grid, lon, lat = grid_point(demo_city, 2)
    fast = sign_in("auth-fast", Role.GRIDWORKER, grid)
    answers = [
        client.post("/v1/events", json=event_body(lon, lat, reporter="auth-fast"), headers=fast) for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]  # a burst of 3, then 6 a minute
    assert 1 <= int(answers[3].headers["retry-after"]) <= 10
    assert "auth-fast" in answers[3].json()["message"]
    other = sign_in("auth-other", Role.GRIDWORKER, grid)
    assert client.post("/v1/events", json=event_body(lon, lat, reporter="auth-other"), headers=other).status_code == 202


def test_a_gridworker_posts_only_as_themselves(client: TestClient, sign_in: SignIn, demo_city: Engine) -> None:
    _, lon, lat = grid_point(demo_city, 2)
    headers = sign_in("auth-gw", Role.GRIDWORKER, "321111001001001")
    response = client.post("/v1/events", json=event_body(lon, lat, reporter="someone-else"), headers=headers)
    assert response.status_code == 403
    assert "reporter must be 'auth-gw'" in response.json()["message"]


def test_users_cli_adds_lists_sets_a_phone_and_disables(settings: Settings, demo_city: Engine) -> None:
    env = os.environ | {
        "GRIDGOV_DATABASE_URL": settings.database.url,
        "GRIDGOV_NEW_PASSWORD": "cli-password",
        "GRIDGOV_LANG": "en",
    }
    name = f"cli-{uuid.uuid4().hex[:6]}"

    def gridgov(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", "users", *args], env=env, capture_output=True, text=True
        )

    added = gridgov("add", name, "--role", "community", "--scope", "321111001001")
    assert added.returncode == 0, added.stderr
    assert name in gridgov("list").stdout
    bad = gridgov("add", "cli-bad", "--role", "gridworker", "--scope", "3211")
    assert bad.returncode == 1 and "15-digit" in bad.stdout
    in_chinese = subprocess.run(
        [sys.executable, "-m", "cli.main", "users", "add", "cli-bad", "--role", "gridworker", "--scope", "3211"],
        env=env | {"GRIDGOV_LANG": "zh"},
        capture_output=True,
        text=True,
    )
    assert in_chinese.stdout.strip() == "错误：无法添加用户：scope: 网格员的管辖范围是 15 位区域编码，而不是「3211」"
    assert "notices go to this number" in gridgov("phone", name, "170 0000 0182").stdout
    wrong = gridgov("phone", name, "12345")
    assert wrong.returncode == 1 and wrong.stdout.count("\n") == 1 and "11-digit" in wrong.stdout
    with demo_city.connect() as conn:
        phone = conn.execute(text("SELECT phone FROM app_user WHERE username = :u"), {"u": name}).scalar_one()
    assert phone == "17000000182"  # spaces taken out
    assert "disabled" in gridgov("disable", name).stdout


def test_sign_in_attempts_are_limited_per_username(client: TestClient) -> None:
    answers = [client.post("/v1/token", data={"username": "guessed", "password": f"try-{i}"}) for i in range(11)]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert int(answers[-1].headers["retry-after"]) >= 1


def test_200_wrong_passwords_from_one_address_do_not_lock_the_owner_out(settings: Settings, sign_in: SignIn) -> None:
    sign_in("sup-guessed", Role.DISTRICT, "321111")
    app = create_app(settings)
    with TestClient(app, client=("203.0.113.7", 40000), headers=ENGLISH) as attacker:
        owner = TestClient(app, client=("10.1.2.3", 40001), headers=ENGLISH)  # another address, the same running app
        answers = [
            attacker.post("/v1/token", data={"username": "sup-guessed", "password": f"guess-{i}"}).status_code
            for i in range(200)
        ]
        assert answers[:10] == [401] * 10 and set(answers[10:]) == {429}  # the guessing address is stopped
        right = attacker.post("/v1/token", data={"username": "sup-guessed", "password": TEST_PASSWORD})
        assert right.status_code == 429  # ... even with the right password, from there
        mine = owner.post("/v1/token", data={"username": "sup-guessed", "password": TEST_PASSWORD})
        assert mine.status_code == 200, mine.text  # the owner, elsewhere, signs in
        form = {"username": "sup-guessed", "password": TEST_PASSWORD, "next": "/work", "csrf": form_token(owner)}
        page = owner.post("/login", data=form)
        assert page.url.path == "/work" and owner.cookies.get("gridgov_token")  # the form too
        metrics = owner.get("/metrics").text
    assert 'gridgov_sign_ins_failed_total{reason="wrong_password"}' in metrics
    assert 'gridgov_sign_ins_failed_total{reason="throttled"}' in metrics


def test_the_throttle_slows_a_username_under_attack_from_everywhere_but_never_walls_it() -> None:
    now = [0.0]
    throttle = SignInThrottle(clock=lambda: now[0])
    for n in range(40):  # 40 failures from 40 addresses: no wall for any of them
        assert throttle.wait(f"198.51.100.{n}", "target") == 0
        throttle.failed(f"198.51.100.{n}", "target")
    assert throttle.delay("target") == 2.0  # 0.1 s a failure past 9: 3.1 s, held at the 2 s cap
    assert throttle.delay("someone-else") == 0
    now[0] += 120  # two minutes: the recent count halves twice, 40 → 10
    assert throttle.delay("target") == pytest.approx(0.1)
    for _ in range(10):
        throttle.failed("192.0.2.1", "target")
    assert throttle.wait("192.0.2.1", "target") == pytest.approx(6.0)  # the pair's wall: 10 a minute
    assert throttle.wait("192.0.2.2", "target") == 0


def test_pages_hold_no_token_and_write_with_the_cookie_and_their_csrf_value(
    client: TestClient, sign_in: SignIn, demo_city: Engine
) -> None:
    case = record(demo_city, "incident", "8602", datetime.now(UTC), 3)
    sign_in("auth-community", Role.COMMUNITY, grid_point(demo_city, 3)[0][:12])
    signed = client.post(
        "/login",
        data={"username": "auth-community", "password": TEST_PASSWORD, "next": "/work", "csrf": form_token(client)},
        follow_redirects=False,
    )
    token = client.cookies.get(COOKIE)
    assert signed.status_code == 303 and token
    pages = [client.get(path) for path in ("/work", "/map", "/screen", "/escalations")]
    assert all(p.status_code == 200 for p in pages)
    assert not any(token in p.text or re.search(r"eyJ[\w-]+\.[\w-]+\.", p.text) for p in pages)  # no JWT at all
    csrf = re.search(r'"csrf":\s*"([0-9a-f]{32})"', pages[0].text)
    assert csrf
    action = {"action": "refuse", "note": "重复上报"}
    for headers in ({}, {CSRF_HEADER: "0" * 32}, {CSRF_HEADER: page_csrf("another secret", token)}):
        assert client.post(f"/v1/cases/{case}/transitions", json=action, headers=headers).status_code == 401
    done = client.post(f"/v1/cases/{case}/transitions", json=action, headers={CSRF_HEADER: csrf.group(1)})
    assert done.status_code == 200, done.text
    client.post("/logout")
    client.cookies.clear()


def test_requests_finding_a_user_stale_together_share_one_lookup(demo_city: Engine, sign_in: SignIn) -> None:
    """A phone's saved reports sent at once ask the database once, not once each; a waiter given up on ends no other."""
    sign_in("auth-burst", Role.STREET, "321111001")

    class Counting(UserCache):
        asked = 0

        def get(self, username: str) -> User | None:
            self.asked += 1
            return super().get(username)

    cache = Counting(demo_city, ttl=0.3)

    async def burst() -> list[User | None]:
        waiting = [asyncio.ensure_future(cache.lookup("auth-burst")) for _ in range(40)]
        await asyncio.sleep(0)  # all waiting on the one lookup
        waiting[0].cancel()  # its request's deadline passed
        return await asyncio.gather(*waiting[1:])

    first = asyncio.run(burst())
    assert cache.asked == 1
    time.sleep(0.35)  # expired: the next burst asks again, once
    second = asyncio.run(burst())
    assert cache.asked == 2
    assert {u.principal.username if u else None for u in first + second} == {"auth-burst"}
