"""Roles, scopes and the rate limiter as pure functions."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from api.access import POLICY, Principal, Role, check_scope, unruled
from api.auth import issue_token, token_subject
from api.errors import Refusal
from api.ratelimit import RateLimiter
from cases.loop import Action

GRID = "321111001001001"
SECRET = "s" * 40


@pytest.mark.parametrize(
    ("role", "scope", "problem"),
    [
        (Role.GRIDWORKER, "321111001001", "15-digit"),
        (Role.COMMUNITY, "321111001", "12-digit"),
        (Role.STREET, "32111100A", "9-digit"),
        (Role.DISTRICT, "", "6-digit"),
        (Role.DEPARTMENT, "", "department"),
        (Role.COMMANDER, "321111", "sees everything"),
    ],
)
def test_a_scope_must_fit_the_role(role: Role, scope: str, problem: str) -> None:
    with pytest.raises(Refusal, match=problem):
        check_scope(role, scope)


def test_supervisors_see_their_subtree_only() -> None:
    street = Principal("s", Role.STREET, "321111001")
    assert street.sees_case(GRID, None)
    assert not street.sees_case("321111002001001", None)
    assert not street.sees_case(None, None)  # not located: only the commander
    assert Principal("c", Role.COMMANDER, "*").sees_case(None, None)
    assert not Principal("a", Role.ADMIN, "*").sees_case(GRID, None)
    department = Principal("d", Role.DEPARTMENT, "区城市管理局")
    assert department.sees_case(GRID, "区城市管理局") and not department.sees_case(GRID, "公安分局")
    assert not department.sees_area("321111")


def test_gridworkers_cannot_sign_off_their_own_work_and_the_commander_changes_nothing() -> None:
    worker = Principal("g", Role.GRIDWORKER, GRID)
    assert worker.may_take(Action.RESOLVE) and worker.may_take(Action.ESCALATE)
    assert not worker.may_take(Action.VERIFY) and not worker.may_take(Action.APPROVE)
    assert worker.may_take(Action.EXTEND) and worker.may_take(Action.SUSPEND)  # asking, not deciding
    assert not worker.may_take(Action.FILE) and not worker.may_take(Action.DISPATCH)
    # The reporter's grid verifies what someone else fixed there; never its own work, never another grid's.
    assert worker.may_verify(Action.VERIFY, GRID, "unit-1") and worker.may_verify(Action.REJECT_RESOLUTION, GRID, None)
    assert not worker.may_verify(Action.VERIFY, GRID, "g") and not worker.may_verify(
        Action.VERIFY, GRID[:-1] + "9", None
    )
    assert not worker.may_verify(Action.APPROVE, GRID, None)
    assert Principal("s", Role.COMMUNITY, GRID[:12]).may_take(Action.VERIFY)
    assert not any(Principal("c", Role.COMMANDER, "*").may_take(a) for a in Action)


def test_the_case_filter_matches_the_object_check() -> None:
    assert Principal("c", Role.COMMANDER, "*").case_filter() == ("true", {})
    assert Principal("a", Role.ADMIN, "*").case_filter() == ("false", {})
    sql, params = Principal("s", Role.STREET, "321111001").case_filter()
    assert "LIKE" in sql and params == {"scope_area": "321111001%"}


def test_every_rule_names_known_roles_and_a_missing_route_is_reported() -> None:
    assert all(set(roles) <= set(Role) for roles in POLICY.values())
    assert unruled([*POLICY, "GET /v1/new-thing"]) == ["GET /v1/new-thing"]
    assert unruled([k for k in POLICY if k != "GET /v1/cases"]) == ["GET /v1/cases"]


def test_tokens_expire_and_are_bound_to_the_secret() -> None:
    principal = Principal("g", Role.GRIDWORKER, GRID)
    token = issue_token(SECRET, principal, timedelta(minutes=5))
    assert token_subject(SECRET, token) == "g"
    with pytest.raises(Refusal, match="not valid"):
        token_subject("t" * 40, token)
    with pytest.raises(Refusal, match="not valid"):
        token_subject(SECRET, token[:-2] + ("AA" if token[-2:] != "AA" else "BB"))
    old = issue_token(SECRET, principal, timedelta(minutes=5), datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(Refusal, match="expired"):
        token_subject(SECRET, old)


def test_a_token_verified_once_is_still_refused_once_it_expires() -> None:
    token = issue_token(SECRET, Principal("h", Role.GRIDWORKER, GRID), timedelta(seconds=1))
    assert token_subject(SECRET, token) == "h"
    assert token_subject(SECRET, token) == "h"  # from memory
    time.sleep(1.1)
    with pytest.raises(Refusal, match="expired"):
        token_subject(SECRET, token)


def test_the_rate_limiter_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=3, clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)  # one a second: the next in 1 s
    assert limiter.take("b") == 0.0  # each user has their own bucket
    now[0] = 1.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    now[0] = 100.0
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to the burst, not beyond
    assert limiter.take("a") > 0
    assert RateLimiter(per_minute=0, burst=1).take("a") == 0.0  # 0 is no limit
