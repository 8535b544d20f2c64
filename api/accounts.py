"""Users in PostgreSQL: add, list, disable, and check a password (argon2id)."""

import asyncio
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError

from api.access import SCOPE_DIGITS, Principal, Role, check_scope
from api.errors import Refusal, problem
from db.cells import bad_character

log = logging.getLogger(__name__)
USERNAME = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
MIN_PASSWORD = 8
MAX_PASSWORD = 256
_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user")
_COLUMNS = "username, role, scope, disabled, display_name"  # a user as read (never the hash but to verify)
MAX_DISPLAY_NAME = 64


@dataclass(frozen=True)
class User:
    """A stored user, without the password hash."""

    username: str
    role: Role
    scope: str
    disabled: bool
    display_name: str = ""  # the name people read (张三); the login name when empty

    @property
    def principal(self) -> Principal:
        """The user as a caller of the API."""
        return Principal(self.username, self.role, self.scope)

    def as_json(self) -> dict[str, Any]:
        """Public fields."""
        public = {"username": self.username, "role": self.role.value, "scope": self.scope, "disabled": self.disabled}
        return public | {"display_name": self.display_name}


def check_new_user(username: str, password: str, role: Role, scope: str) -> str:
    """The normalised scope; ``UserError`` says what is wrong with the new user."""
    if not re.fullmatch(USERNAME, username):
        raise Refusal("invalid_input.user", [problem("username", "field.username")])
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Refusal(
            "invalid_input.user", [problem("password", "field.password", least=MIN_PASSWORD, most=MAX_PASSWORD)]
        )
    return check_scope(role, scope)


_AREA = "SELECT 1 FROM active_area WHERE code = :c"
_SPECIAL_GRID = (
    "SELECT 1 FROM overlay_area o JOIN boundary_generation g ON g.id = o.generation_id AND g.active"
    " WHERE o.code = :c AND o.layer = 'special'"
)


def check_reference(engine: Engine, role: Role, scope: str, units: set[str]) -> None:
    """The area, responsible unit (one of ``units``) or special grid a scope names exists, else a 422 on scope."""
    if role is Role.BUILDING_HEAD:
        with engine.connect() as conn:
            codes = scope.split(",")
            known = set(conn.execute(text("SELECT code FROM building WHERE code = ANY(:c)"), {"c": codes}).scalars())
        missing = [c for c in codes if c not in known]
        if missing:
            raise Refusal("invalid_input.user", [problem("scope", "field.scope_no_building", scope=",".join(missing))])
        return
    if role in SCOPE_DIGITS or role is Role.OWNER:
        with engine.connect() as conn:
            found = (
                conn.execute(text(_AREA if role in SCOPE_DIGITS else _SPECIAL_GRID), {"c": scope}).first() is not None
            )
    else:
        found = role is not Role.DEPARTMENT or scope in units
    if not found:
        key = "field.scope_unit" if role is Role.DEPARTMENT else "field.scope_unknown"
        raise Refusal("invalid_input.user", [problem("scope", key, scope=scope)])


def add_user(
    engine: Engine,
    username: str,
    password: str,
    role: Role,
    scope: str,
    *,
    replace: bool = False,
    display_name: str = "",
) -> User:
    """Store a new user (or, with ``replace``, set an existing one's password, role, scope and name and enable it)."""
    scope = check_new_user(username, password, role, scope)
    display_name = _display_name(display_name)
    conflict = (
        "DO UPDATE SET password_hash = excluded.password_hash, role = excluded.role, scope = excluded.scope,"
        " display_name = excluded.display_name, disabled = false"
        if replace
        else "DO NOTHING"
    )
    with engine.begin() as conn:
        added = conn.execute(
            text(
                "INSERT INTO app_user (username, password_hash, role, scope, display_name) VALUES (:u, :h, :r, :s, :n)"
                f" ON CONFLICT (username) {conflict} RETURNING username"
            ),
            {"u": username, "h": _hasher.hash(password), "r": role.value, "s": scope, "n": display_name or None},
        ).scalar_one_or_none()
    if added is None:
        raise Refusal("conflict.user_exists", user=username)
    return User(username, role, scope, False, display_name)


def _display_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_DISPLAY_NAME or bad_character(name):
        raise Refusal("invalid_input.user", [problem("display_name", "field.display_name", most=MAX_DISPLAY_NAME)])
    return name


def add_users(engine: Engine, users: list[tuple[str, Role, str, str]], password: str) -> int:
    """Add users (login, role, scope, display name) sharing one password (hashed once); how many were new."""
    rows = [
        {"u": name, "r": role.value, "s": check_new_user(name, password, role, scope), "n": _display_name(shown)}
        for name, role, scope, shown in users
    ]
    digest = _hasher.hash(password)
    with engine.begin() as conn:
        added = conn.execute(
            text(
                "INSERT INTO app_user (username, password_hash, role, scope, display_name)"
                " SELECT u, :h, r, s, NULLIF(n, '')"
                " FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS x(u text, r text, s text, n text)"
                " ON CONFLICT (username) DO NOTHING RETURNING username"
            ),
            {"rows": json.dumps(rows), "h": digest},
        ).all()
    return len(added)


def _user(row: Any) -> User:
    return User(row.username, Role(row.role), row.scope, row.disabled, row.display_name or "")


def get_user(engine: Engine, username: str) -> User | None:
    """The user, or None."""
    with engine.connect() as conn:
        row = conn.execute(text(f"SELECT {_COLUMNS} FROM app_user WHERE username = :u"), {"u": username}).one_or_none()
    return None if row is None else _user(row)


def list_users(engine: Engine) -> list[User]:
    """All users, by name."""
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {_COLUMNS} FROM app_user ORDER BY username")).all()
    return [_user(r) for r in rows]


def set_disabled(engine: Engine, username: str, disabled: bool = True) -> User:
    """Disable (or enable) a user; their tokens stop working within the user cache time."""
    with engine.begin() as conn:
        row = conn.execute(
            text(f"UPDATE app_user SET disabled = :d WHERE username = :u RETURNING {_COLUMNS}"),
            {"u": username, "d": disabled},
        ).one_or_none()
    if row is None:
        raise Refusal("not_found.user", user=username)
    return _user(row)


PHONE = r"1\d{10}"  # a mainland mobile number: where a notice goes by SMS


def set_phone(engine: Engine, username: str, phone: str) -> None:
    """Set (or with "" clear) the mobile number a user's notices go to (streams.notices)."""
    phone = phone.replace(" ", "").replace("-", "")
    if phone and not re.fullmatch(PHONE, phone):
        raise Refusal("invalid_input.phone", [problem("phone", "field.phone")], phone=phone)
    with engine.begin() as conn:
        found = conn.execute(
            text("UPDATE app_user SET phone = :p WHERE username = :u RETURNING username"),
            {"u": username, "p": phone or None},
        ).one_or_none()
    if found is None:
        raise Refusal("not_found.user", user=username)


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The enabled user with this password, or None."""
    row = None
    if re.fullmatch(USERNAME, username):  # anything else names nobody (and may not even be valid text for SQL)
        with engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT {_COLUMNS}, password_hash FROM app_user WHERE username = :u"),
                {"u": username},
            ).one_or_none()
    try:
        _hasher.verify(_DUMMY_HASH if row is None else row.password_hash, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if row is None or row.disabled:
        return None
    return _user(row)


class UserCache:
    """Users looked up by name, remembered for ``ttl`` seconds (a disabled user is locked out within it)."""

    def __init__(self, engine: Engine, ttl: float) -> None:
        self._engine = engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._users: dict[str, tuple[float, User | None]] = {}
        self._asking: dict[str, asyncio.Future[User | None]] = {}  # lookups under way, by name (event loop only)

    async def lookup(self, username: str) -> User | None:
        """``get`` off the event loop; the requests that find the user stale together share one lookup.

        A phone sending its saved reports, or a screen's many requests, all find the entry expired at
        once: each asked the database in a thread of its own (up to 64 here, the pool overflowing into
        new connections) where one answer serves them all.
        """
        asking = self._asking.get(username)
        if asking is None:
            asking = self._asking[username] = asyncio.ensure_future(run_in_threadpool(self.get, username))
            asking.add_done_callback(lambda done: self._asked(username, done))
        return await asyncio.shield(asking)  # one request given up on (its deadline) ends no other's wait

    def fresh(self, username: str) -> tuple[bool, User | None]:
        """Whether the user was looked up within ``ttl`` seconds, and as what (no database call)."""
        hit = self._last_seen(username)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return True, hit[1]
        return False, None

    def _asked(self, username: str, done: "asyncio.Future[User | None]") -> None:
        del self._asking[username]
        if not done.cancelled():
            done.exception()  # its waiters have it; read here too, for when every one of them gave up

    def _last_seen(self, username: str) -> tuple[float, User | None] | None:
        with self._lock:
            return self._users.get(username)

    def get(self, username: str) -> User | None:
        """The user as stored at most ``ttl`` seconds ago; while the database is away, as last seen.

        Gridworkers keep posting while PostgreSQL is down (events wait in Kafka), so a known user
        stays signed in; an unknown one gets the database's own error.
        """
        known, user = self.fresh(username)
        if known:
            return user
        now = time.monotonic()
        try:
            user = get_user(self._engine, username)
        except (OperationalError, InterfaceError):
            hit = self._last_seen(username)
            if hit is None:
                raise
            log.warning("database unavailable: %s signed in as last seen", username)
            return hit[1]
        with self._lock:
            if len(self._users) > 10_000:
                self._users.clear()
            self._users[username] = (now, user)
        return user
