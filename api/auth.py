"""Signing in: OAuth2 password flow to a signed JWT, read from the Authorization header (or a cookie for pages)."""

import asyncio
import hmac
import logging
import math
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import jwt
from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import Engine

from api.access import POLICY, Principal, Role, route_key
from api.accounts import UserCache, authenticate
from api.deps import EngineDep, SettingsDep, SignInThrottleDep
from api.errors import Refusal, responses
from api.metrics import SIGN_INS_FAILED
from api.ratelimit import SignInThrottle
from api.settings import Settings
from web.templating import labels
from web.templating import page as render_page

ALGORITHM = "HS256"
COOKIE = "gridgov_token"
CSRF_HEADER = "X-Gridgov-CSRF"  # a page's writes: the cookie, and this header with page_csrf() of it
LOGIN_COOKIE = "gridgov_login"  # the sign-in form's own token (sign-in CSRF), set by GET /login
log = logging.getLogger(__name__)
router = APIRouter(tags=["auth"], responses=responses(400, 422, 503))
# Pages (GET) may also carry the token in an HttpOnly cookie; anything that changes state needs the header,
# or the cookie with the page's CSRF header (page_csrf), so a cross-site form cannot act with a supervisor's cookie.
_bearer = OAuth2PasswordBearer(tokenUrl="/v1/token", auto_error=False)


class Token(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: Role
    scope: str


def issue_token(secret: str, principal: Principal, ttl: timedelta, now: datetime | None = None) -> str:
    """A signed token naming the user, valid for ``ttl``."""
    now = now or datetime.now(UTC)
    claims = {"sub": principal.username, "role": principal.role.value, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


VERIFIED_TOKENS = 10_000  # tokens remembered as verified; past this the memory starts again
_verified: dict[tuple[str, str], tuple[str, float]] = {}  # (secret, token) -> (subject, expiry)


def token_subject(secret: str, token: str) -> str:
    """The user a valid, unexpired token names; ``Unauthorized`` otherwise.

    A token's signature is checked once: until it expires, the same token is answered
    from memory (a phone posting all day sends the same one each time).
    """
    known = _verified.get((secret, token))
    if known is not None and known[1] > time.time():
        return known[0]
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp", "iat"]})
    except jwt.ExpiredSignatureError as exc:
        raise Refusal("unauthorized.expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Refusal("unauthorized.invalid") from exc
    if len(_verified) >= VERIFIED_TOKENS:
        _verified.clear()
    _verified[(secret, token)] = (str(claims["sub"]), float(claims["exp"]))
    return str(claims["sub"])


def page_csrf(secret: str, cookie_token: str) -> str:
    """The value a page sends as ``X-Gridgov-CSRF`` to write with its cookie: bound to that session, no token."""
    return hmac.new(secret.encode(), b"page-csrf|" + cookie_token.encode(), "sha256").hexdigest()[:32]


def _token(request: Request, header: str | None, secret: str) -> str | None:
    """The bearer header's token; else the page cookie's, for reading, or for writing with the page's CSRF value.

    The cookie is HttpOnly and SameSite=Strict, and another site cannot set a header on a request to this one:
    a write from a page needs both the cookie and the value the page was served with.
    """
    if header:
        return header
    cookie = request.cookies.get(COOKIE)
    if not cookie or request.method in ("GET", "HEAD"):
        return cookie
    sent = request.headers.get(CSRF_HEADER, "")
    return cookie if sent and hmac.compare_digest(sent, page_csrf(secret, cookie)) else None


async def current_principal(request: Request, header: Annotated[str | None, Depends(_bearer)]) -> Principal:
    """The signed-in caller; 401 without a valid token or for a disabled user.

    Settings and the user cache are read from ``app.state`` here, not injected: this runs
    on every request, and each injected dependency costs the hot path as much as a check.
    """
    settings: Settings = request.app.state.settings
    users: UserCache = request.app.state.users
    token = _token(request, header, settings.api.secret_key)
    if not token:
        raise Refusal("unauthorized.none")
    username = token_subject(settings.api.secret_key, token)
    known, user = users.fresh(username)
    if not known:  # the database is asked off the event loop
        user = await users.lookup(username)
    if user is None or user.disabled:
        raise Refusal("unauthorized.gone")
    return user.principal


async def authorize(request: Request, principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """The caller, if the route's rule in ``api.access.POLICY`` admits its role; 403 otherwise."""
    return admitted(principal, "GET" if request.method == "HEAD" else request.method, request.scope["route"].path)


def admitted(principal: Principal, method: str, path: str) -> Principal:
    """``principal``, if the rule of the route ``method path`` admits its role; 403 otherwise."""
    if principal.role not in POLICY[route_key(method, path)]:
        raise Refusal("forbidden.route", role=principal.role.value, method=method, path=path)
    return principal


async def caller(request: Request) -> Principal:
    """The signed-in caller of a request served outside FastAPI's dependencies (api.event_lane)."""
    return await current_principal(request, await _bearer(request))


PrincipalDep = Annotated[Principal, Depends(authorize)]


async def _sign_in(
    throttle: SignInThrottle, request: Request, engine: Engine, settings: Settings, username: str, password: str
) -> Token:
    address = request.client.host if request.client else "unknown"
    wait = throttle.wait(address, username)
    if wait:
        SIGN_INS_FAILED.labels("throttled").inc()
        seconds = math.ceil(wait)
        raise Refusal("rate_limited.sign_in", headers={"Retry-After": str(seconds)}, user=username, seconds=seconds)
    if delay := throttle.delay(username):
        await asyncio.sleep(delay)  # many recent failures on this username, from anywhere: slow them down
    user = await run_in_threadpool(authenticate, engine, username, password)
    if user is None:
        throttle.failed(address, username)
        SIGN_INS_FAILED.labels("wrong_password").inc()
        log.warning("sign-in failed for %r from %s", username, address)
        raise Refusal("unauthorized.wrong")
    ttl = timedelta(minutes=settings.api.token_ttl_minutes)
    token = issue_token(settings.api.secret_key, user.principal, ttl)
    return Token(access_token=token, expires_in=int(ttl.total_seconds()), role=user.role, scope=user.scope)


@router.post("/v1/token", response_model=Token, responses=responses(401, 429))
async def post_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    engine: EngineDep,
    settings: SettingsDep,
    throttle: SignInThrottleDep,
    request: Request,
) -> Token:
    """OAuth2 password flow: username and password (form fields) for a bearer token.

    At most 10 failed attempts a minute for one username from one address, and 60 from one
    address (429 with Retry-After beyond); many failures on a username from anywhere only
    slow its answers down (up to 2 s), so a right password still signs in.
    """
    return await _sign_in(throttle, request, engine, settings, form.username, form.password)


@router.get("/v1/me")
async def get_me(principal: PrincipalDep) -> dict[str, Any]:
    """Who the token belongs to: username, role and scope."""
    return {"username": principal.username, "role": principal.role.value, "scope": principal.scope}


def _safe_next(next_: str) -> str:
    """Only paths on this site (no scheme, no //host) are followed after signing in."""
    return next_ if next_.startswith("/") and not next_.startswith("//") and "\\" not in next_ else "/map"


@router.get("/login", response_class=HTMLResponse)
def get_login(
    request: Request,
    settings: SettingsDep,
    next: str = "/map",
    error: str = "",
    lang: Literal["zh", "en"] = "zh",
) -> HTMLResponse:
    """The sign-in form for the map pages, with a token bound to a cookie of its own (sign-in CSRF)."""
    token = secrets.token_urlsafe(32)
    shown = error if error in ("1", "form") else ""
    other = urlencode(
        {"next": _safe_next(next), "lang": "en" if lang == "zh" else "zh"} | ({"error": shown} if shown else {})
    )
    context = {"next_path": _safe_next(next), "error": shown, "csrf": token, "lang": lang, "other_query": other}
    page = HTMLResponse(render_page("login.html", labels=labels(lang), **context))
    page.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=settings.api.env == "production",
    )
    return page


@router.post("/login", response_class=RedirectResponse, status_code=303)
async def post_login(
    engine: EngineDep,
    settings: SettingsDep,
    throttle: SignInThrottleDep,
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
    next: Annotated[str, Form(max_length=512)] = "/map",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> RedirectResponse:
    """Sign in from this site's form: the token goes in an HttpOnly, SameSite=Strict cookie.

    The form's ``csrf`` must equal the sign-in cookie that ``GET /login`` set (SameSite=Strict:
    a form posted from another site arrives without it), so no other site can replace a
    signed-in user's session with another account's; such a post changes nothing.
    """
    target = _safe_next(next)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not csrf or not expected or not hmac.compare_digest(csrf, expected):
        log.warning("sign-in form without this site's token, for %r: refused", username)
        return RedirectResponse("/login?" + urlencode({"next": target, "error": "form"}), status_code=303)
    try:
        token = await _sign_in(throttle, request, engine, settings, username, password)
    except Refusal:
        return RedirectResponse("/login?" + urlencode({"next": target, "error": 1}), status_code=303)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        token.access_token,
        max_age=token.expires_in,
        httponly=True,
        samesite="strict",
        secure=settings.api.env == "production",
    )
    return response


@router.post("/logout", response_class=RedirectResponse, status_code=303)
def post_logout() -> RedirectResponse:
    """Forget the page cookie."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response
