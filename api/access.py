"""Who may do what: roles, scopes, and the rule of every route (pure; no I/O)."""

import re
from dataclasses import dataclass
from enum import StrEnum

from api.errors import Refusal, problem
from cases.loop import CLOCK_ACTIONS, Action
from cases.places import PLACE_SQL
from cases.rules import Level


class Role(StrEnum):
    """What a user is in the governance chain."""

    GRIDWORKER = "gridworker"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"
    DEPARTMENT = "department"
    COMMANDER = "commander"
    ADMIN = "admin"
    RESIDENT = "resident"  # asks for services (居民点单) in the community they live in
    VOLUNTEER = "volunteer"  # takes requests dispatched to them in their community (党员接单)
    OWNER = "owner"  # runs a special grid (专属网格: a park, a market…) and sees the cases inside it
    BUILDING_HEAD = "building_head"  # 楼栋长: reports at their buildings, sees their households masked


# Roles whose scope is an area code, and the length of that code (grid 15, community 12, street 9, district 6).
AREA_ROLES = {Role.GRIDWORKER: 15, Role.COMMUNITY: 12, Role.STREET: 9, Role.DISTRICT: 6}
# Residents and volunteers belong to a community but see only their own requests, not the area.
SCOPE_DIGITS = AREA_ROLES | {Role.RESIDENT: 12, Role.VOLUNTEER: 12}
SPECIAL_GRID = r"ZS\d{15}"
BUILDINGS = r"\d{18}(,\d{18}){0,19}"  # a building head's scope: 1 to 20 building codes, comma-separated
MAX_BUILDINGS = 20  # an owner's scope: the code of their special grid (geo.overlays)
SUPERVISORS = frozenset({Role.COMMUNITY, Role.STREET, Role.DISTRICT})
EVERYWHERE = "*"  # the scope of the commander and the admin
# What whoever holds a case may do: sign for it or return it, fix it, whistle it up, ask for more time.
# Intake, dispatch, verification and deciding on requests need a supervisor.
HANDLER_ACTIONS = frozenset(
    {Action.ACCEPT, Action.DECLINE, Action.RESOLVE, Action.ESCALATE, Action.EXTEND, Action.SUSPEND}
)
DECISIONS = frozenset({Action.APPROVE, Action.REFUSE_REQUEST, Action.RESUME})
# Who decides on an extension or suspension of a case at each level: the levels above it.
APPROVERS: dict[Level, frozenset[Role]] = {
    Level.GRID: frozenset({Role.COMMUNITY, Role.STREET, Role.DISTRICT}),
    Level.COMMUNITY: frozenset({Role.STREET, Role.DISTRICT}),
    Level.STREET: frozenset({Role.DISTRICT}),
    Level.DEPARTMENT: frozenset({Role.DISTRICT}),
}


def check_scope(role: Role, scope: str) -> str:
    """The scope, normalised; a 422 refusal says what a scope of this role must look like."""
    scope = scope.strip()
    if role in SCOPE_DIGITS:
        digits = SCOPE_DIGITS[role]
        if not re.fullmatch(rf"\d{{{digits}}}", scope):
            raise Refusal(
                "invalid_input.user",
                [problem("scope", "field.scope_area", role=role.value, digits=digits, scope=scope)],
            )
    elif role is Role.OWNER:
        if not re.fullmatch(SPECIAL_GRID, scope):
            raise Refusal("invalid_input.user", [problem("scope", "field.scope_owner", scope=scope)])
    elif role is Role.BUILDING_HEAD:
        scope = ",".join(sorted({code.strip() for code in scope.split(",")}))
        if not re.fullmatch(BUILDINGS, scope):
            raise Refusal("invalid_input.user", [problem("scope", "field.scope_buildings", most=MAX_BUILDINGS)])
    elif role is Role.DEPARTMENT:
        if not 1 <= len(scope) <= 64:
            raise Refusal("invalid_input.user", [problem("scope", "field.scope_department")])
    elif scope not in ("", EVERYWHERE):
        raise Refusal("invalid_input.user", [problem("scope", "field.scope_everything", role=role.value)])
    else:
        scope = EVERYWHERE
    return scope


@dataclass(frozen=True)
class Principal:
    """The signed-in caller."""

    username: str
    role: Role
    scope: str

    @property
    def area(self) -> str | None:
        """The area code prefix this caller sees ('' = all areas), or None when it sees no area."""
        if self.role in AREA_ROLES:
            return self.scope
        return "" if self.role is Role.COMMANDER else None

    def sees_area(self, code: str) -> bool:
        """Whether ``code`` lies inside this caller's area."""
        return self.area is not None and code.startswith(self.area)

    @property
    def buildings(self) -> tuple[str, ...] | None:
        """A building head's buildings; None for every other role."""
        return tuple(self.scope.split(",")) if self.role is Role.BUILDING_HEAD else None

    def sees_building(self, grid: str, building: str) -> bool:
        """Whether this caller sees the households of a building (of ``grid``) in the register."""
        return building in self.buildings if self.buildings is not None else self.sees_area(grid)

    def sees_case(self, area_code: str | None, department: str | None, special: str | None = None) -> bool:
        """Whether a case is seen: by its most precise code, the department it was whistled to, its special grid."""
        if self.role is Role.DEPARTMENT:
            return department == self.scope
        if self.role is Role.OWNER:
            return special is not None and special == self.scope
        return self.area == "" or (area_code is not None and self.sees_area(area_code))

    def sees_unmasked(self, grid: str) -> bool:
        """Whether this caller sees the ID and phone numbers of a grid's people: its gridworker, its community."""
        return (self.role is Role.GRIDWORKER and self.scope == grid) or (
            self.role is Role.COMMUNITY and grid.startswith(self.scope)
        )

    def may_take(self, action: Action) -> bool:
        """Whether this role may take ``action`` on a case it sees."""
        if self.role in SUPERVISORS:
            return action not in CLOCK_ACTIONS
        return self.role in (Role.GRIDWORKER, Role.DEPARTMENT) and action in HANDLER_ACTIONS

    def may_verify(self, action: Action, grid: str | None, assignee: str | None) -> bool:
        """Whether a gridworker may verify (or send back) a case: one of their grid that someone else fixed."""
        return (
            action in (Action.VERIFY, Action.REJECT_RESOLUTION)
            and self.role is Role.GRIDWORKER
            and grid == self.scope
            and assignee != self.username
        )

    def may_decide(self, level: Level, approver: str = "level_above") -> bool:
        """Whether this caller may decide on a request about a case held at ``level``.

        ``approver`` is the rules' choice: ``level_above`` (the levels above the case's) or ``district``.
        """
        if approver == "district":
            return self.role is Role.DISTRICT
        return self.role in APPROVERS[level]

    def owns_request(self, reporter: str, assignee: str | None) -> bool:
        """Whether a resident asked for this request, or a volunteer was given it."""
        if self.role is Role.RESIDENT:
            return reporter == self.username
        return self.role is Role.VOLUNTEER and assignee == self.username

    def request_filter(self) -> tuple[str, dict[str, str]]:
        """SQL condition (on ``"case" c`` joined with ``event e``) selecting the requests this caller sees."""
        if self.role is Role.RESIDENT:
            return "e.reporter = :me", {"me": self.username}
        if self.role is Role.VOLUNTEER:
            return "c.assignee = :me", {"me": self.username}
        return self.case_filter()

    def case_filter(self) -> tuple[str, dict[str, str]]:
        """SQL condition (on ``"case" c``) selecting the cases this caller sees."""
        if self.role is Role.DEPARTMENT:
            return "c.department = :scope_department", {"scope_department": self.scope}
        if self.role is Role.OWNER:
            return "c.special_code = :scope_special", {"scope_special": self.scope}
        if self.area is None:
            return "false", {}
        if self.area == "":
            return "true", {}
        return f"{PLACE_SQL} LIKE :scope_area", {"scope_area": self.area + "%"}


PUBLIC: frozenset[Role] = frozenset()  # no sign-in needed
ANYONE = frozenset(Role)
REPORTERS = frozenset({Role.GRIDWORKER}) | SUPERVISORS
CASE_ACTORS = REPORTERS | {Role.DEPARTMENT}
CASE_READERS = CASE_ACTORS | {Role.COMMANDER, Role.OWNER}
MAP_READERS = REPORTERS | {Role.COMMANDER}
ADMINS = frozenset({Role.ADMIN})
REQUEST_READERS = SUPERVISORS | {Role.COMMANDER, Role.RESIDENT, Role.VOLUNTEER}
PHOTO_TAKERS = CASE_ACTORS | {Role.RESIDENT, Role.VOLUNTEER}
WORKBENCH = SUPERVISORS | {Role.DEPARTMENT}  # who works cases at a desk: queues, case pages, the inbox
IMPORTERS = SUPERVISORS | ADMINS  # register files from the browser: a supervisor's area, an admin's anywhere
REGISTER_EDITORS = frozenset({Role.GRIDWORKER, Role.COMMUNITY})  # a gridworker proposes, the community decides
REGISTER_READERS = REPORTERS | {Role.BUILDING_HEAD}  # the grid's people in one's area; a 楼栋长's buildings, masked

# Every route of the API and who may call it; the app refuses to start with a route missing here.
# Object-level checks (an object outside the caller's scope is 404) are made in the routes.
POLICY: dict[str, frozenset[Role]] = {
    "GET /health": PUBLIC,
    "GET /metrics": PUBLIC,  # counts only, no personal data; scraped by Prometheus
    "POST /v1/token": PUBLIC,
    "GET /login": PUBLIC,
    "GET /favicon.ico": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PUBLIC,
    "GET /v1/me": ANYONE,
    "GET /app": PUBLIC,  # the phone app's shell: the same for everyone, kept offline by its service worker
    "GET /app/": PUBLIC,
    "GET /app/sw.js": PUBLIC,
    "GET /app/manifest.webmanifest": PUBLIC,
    "GET /app/lib/{name}": PUBLIC,
    "GET /v1/me/grid": frozenset({Role.GRIDWORKER}),
    "GET /v1/me/reports": frozenset({Role.GRIDWORKER, Role.BUILDING_HEAD}),
    "GET /v1/me/cases": frozenset({Role.GRIDWORKER}),
    "GET /v1/categories": ANYONE,
    "GET /v1/areas/{code}": ANYONE,
    "GET /v1/areas/{code}/children": ANYONE,
    "GET /v1/locate": ANYONE,
    "POST /v1/events": REPORTERS | {Role.BUILDING_HEAD},
    "POST /v1/events/batch": REPORTERS | {Role.BUILDING_HEAD},
    "GET /v1/events/{event_id}": CASE_READERS,
    "GET /v1/cases": CASE_READERS,
    "GET /v1/cases/{case_id}": CASE_READERS,
    "GET /v1/cases/{case_id}/duplicates": SUPERVISORS,
    "GET /v1/cases/{case_id}/actions": CASE_READERS,
    "GET /v1/cases/{case_id}/text": frozenset({Role.GRIDWORKER, Role.COMMUNITY}),  # numbers as written: the grid's
    "POST /v1/cases/{case_id}/transitions": CASE_ACTORS,
    "POST /v1/cases/{case_id}/appeal": frozenset({Role.GRIDWORKER, Role.DEPARTMENT}),
    "POST /v1/cases/{case_id}/appeal/decision": frozenset({Role.STREET, Role.DISTRICT}),
    "GET /v1/appeals": SUPERVISORS | {Role.COMMANDER},
    "GET /v1/indicators": MAP_READERS,
    "GET /v1/indicators/daily": MAP_READERS,
    "GET /v1/indicators/backlog": MAP_READERS,
    "GET /v1/indicators/categories": MAP_READERS,
    "GET /v1/reports/monthly": SUPERVISORS | {Role.COMMANDER},
    "GET /v1/exchange/cases": SUPERVISORS | {Role.COMMANDER},
    "GET /work/reports/monthly": SUPERVISORS | {Role.COMMANDER},
    "GET /screen": MAP_READERS,
    "GET /work": WORKBENCH,
    "GET /work/cases/{case_id}": WORKBENCH,
    "GET /v1/work/queue": WORKBENCH,
    "GET /v1/work/search": WORKBENCH,
    "GET /map": MAP_READERS,
    "GET /escalations": MAP_READERS,
    "GET /v1/map/grids": MAP_READERS,
    "GET /v1/map/values": MAP_READERS,
    "GET /v1/map/tiles/{z}/{x}/{y}.mvt": MAP_READERS,
    "GET /v1/map/components/{z}/{x}/{y}.mvt": MAP_READERS,
    "GET /v1/components/near": REPORTERS | WORKBENCH,
    "POST /v1/cases/{case_id}/unit": SUPERVISORS,
    "GET /v1/map/overlays/{layer}": MAP_READERS,
    "GET /v1/map/heat": MAP_READERS,
    "GET /v1/map/escalations": MAP_READERS,
    "GET /v1/live": MAP_READERS,
    "GET /v1/work/live": WORKBENCH,
    "POST /v1/requests": frozenset({Role.RESIDENT}),
    "GET /v1/requests": REQUEST_READERS,
    "GET /v1/requests/{request_id}": REQUEST_READERS,
    "POST /v1/requests/{request_id}/transitions": SUPERVISORS | {Role.VOLUNTEER},
    "POST /v1/requests/{request_id}/rating": SUPERVISORS | {Role.RESIDENT},
    "GET /v1/communities/{code}/volunteers": SUPERVISORS | {Role.COMMANDER, Role.VOLUNTEER},
    "POST /v1/events/{event_id}/photos": PHOTO_TAKERS,
    "GET /v1/events/{event_id}/photos": CASE_READERS | PHOTO_TAKERS,
    "GET /v1/events/{event_id}/photos/{sha256}": CASE_READERS | PHOTO_TAKERS,
    # Open311 GeoReport v2: reading is public (no contact details); posting checks the client's api_key.
    "GET /open311/v2/discovery.{fmt}": PUBLIC,
    "GET /open311/v2/services.{fmt}": PUBLIC,
    "GET /open311/v2/services/{service_code}.{fmt}": PUBLIC,
    "POST /open311/v2/requests.{fmt}": PUBLIC,
    "GET /open311/v2/requests.{fmt}": PUBLIC,
    "GET /open311/v2/requests/{service_request_id}.{fmt}": PUBLIC,
    "GET /v1/grids/{grid}/buildings": REGISTER_READERS,
    "GET /v1/buildings/{code}": REGISTER_READERS,
    "GET /v1/households/{household_id}": REGISTER_READERS,
    "GET /v1/people/{person_id}": REGISTER_READERS,
    "POST /v1/people/search": REGISTER_READERS,
    "POST /v1/households/{household_id}/people": REGISTER_EDITORS,
    "POST /v1/people/{person_id}/move": REGISTER_EDITORS,
    "POST /v1/people/{person_id}/leave": REGISTER_EDITORS,
    "PUT /v1/people/{person_id}/tags": REGISTER_EDITORS,
    "POST /v1/households/{household_id}/split": REGISTER_EDITORS,
    "POST /v1/households/{household_id}/merge": REGISTER_EDITORS,
    "GET /v1/register-changes": REPORTERS,
    "POST /v1/register-changes/{change_id}/decision": frozenset({Role.COMMUNITY}),
    "GET /work/registers": REPORTERS,
    "GET /work/registers/buildings/{code}": REPORTERS,
    "GET /work/registers/households/{household_id}": REPORTERS,
    "GET /work/registers/people/{person_id}": REPORTERS,
    "GET /work/registers/changes": REPORTERS,
    "GET /work/registers/import": IMPORTERS,
    "POST /v1/register-imports": IMPORTERS,
    "GET /v1/register-imports/{import_id}": IMPORTERS,
    "GET /v1/register-imports/{import_id}/report.csv": IMPORTERS,
    "GET /v1/pii-access": ADMINS,
    "GET /v1/visits/due": REPORTERS,
    "GET /v1/visits/coverage": MAP_READERS,
    "GET /v1/worklogs/{username}/{day}": REPORTERS,
    "PUT /v1/worklogs/{username}/{day}/note": frozenset({Role.GRIDWORKER}),
    "GET /v1/closeouts/{community}/{week}": SUPERVISORS | {Role.COMMANDER},
    "GET /v1/users": ADMINS,
    "POST /v1/users": ADMINS,
    "POST /v1/users/{username}/disable": ADMINS,
}
# FastAPI's own documentation routes.
DOCS = frozenset({"GET /openapi.json", "GET /docs", "GET /docs/oauth2-redirect", "GET /redoc"})


def route_key(method: str, path: str) -> str:
    """The POLICY key of a route."""
    return f"{method} {path}"


def unruled(routes: list[str]) -> list[str]:
    """Routes the app has that POLICY does not rule, and POLICY entries for routes that no longer exist."""
    have = set(routes) - DOCS
    return sorted(have ^ set(POLICY))
