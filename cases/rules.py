"""SLA rules as data: deadlines per level, clock kind, departments; validated on load."""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from cases.calendar import DayOverrides, WorkCalendar
from cases.categories import Category, SlaClass, default_categories, former_codes
from cases.limits import Clock as Clock
from cases.limits import Level as Level
from cases.limits import Limit as Limit
from cases.limits import RulesError as RulesError
from cases.limits import Stage as Stage
from cases.limits import parse_limit as parse_limit

RULES_FILE = Path(__file__).with_name("data") / "sla_rules.yaml"


@dataclass(frozen=True)
class Deadlines:
    """Per level, how long a case may stay there; the other stages' limits; the clock; holiday duty.

    ``self_handle``: the finder handles it on the spot (自行处置), so intake is automatic.
    ``direct``: sent straight to the responsible unit when reported (直派).
    ``sign_in_breach``: a missed sign-in is flagged to the unit's supervisor (``supervisor``), or the
    case goes back, filed, to the level above the one that dispatched it (``next_level``).
    """

    clock: Clock
    per_level: dict[Level, Limit]
    holiday_duty: bool = False
    stages: dict[Stage, Limit] = field(default_factory=dict)
    self_handle: bool = False
    direct: bool = False
    sign_in_breach: str = "supervisor"  # a missed sign-in: "supervisor" (flagged to them) or "next_level"


@dataclass(frozen=True)
class ApprovalLimits:
    """How many extensions (or suspensions) a case may have, how long each may be, and who decides.

    ``approver``: ``level_above`` (the levels above the case's) or ``district`` (district only).
    """

    max_count: int
    max_length: timedelta
    approver: str = "level_above"

    def allows(self, length: Limit) -> bool:
        """Whether one request of ``length`` is within the limit (a working day counts as a day)."""
        return length.span + timedelta(days=length.workdays) <= self.max_length

    def most(self) -> dict[str, float | int]:
        """The limits as message values: ``days`` each request at most, ``count`` requests per case."""
        return {"days": self.max_length.total_seconds() / 86400, "count": self.max_count}


@dataclass(frozen=True)
class AppealRules:
    """Appeals against a timeout (超时申诉): how long after a late close one may be lodged, and who decides."""

    within: timedelta = timedelta(days=5)
    decider: str = "district"  # the level whose supervisors decide: street or district


@dataclass(frozen=True)
class DuplicateWindow:
    """Reports of one category this near and this close in time are proposed as duplicates (重复)."""

    distance_m: float = 100.0
    within: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Rules:
    """Everything the SLA engine needs to know about deadlines."""

    classes: dict[SlaClass, Deadlines]
    categories: dict[str, Deadlines]
    departments: dict[str, str]
    patrol_cutoff: time
    calendar: WorkCalendar
    known: dict[str, Category] = field(default_factory=default_categories)
    after_photo: frozenset[str] = frozenset()  # categories whose resolution needs an "after" photo
    approvals: dict[str, ApprovalLimits] = field(
        default_factory=lambda: {
            "extension": ApprovalLimits(2, timedelta(days=10)),
            "suspension": ApprovalLimits(1, timedelta(days=30)),
        }
    )
    duplicates: DuplicateWindow = field(default_factory=DuplicateWindow)
    appeals: AppealRules = field(default_factory=AppealRules)
    fingerprint: str = ""  # of the rules file and the working-days file: a change recomputes open deadlines
    renamed: dict[str, str] = field(default_factory=dict)  # codes of the file that are now others: old → new

    # A case is known to the rules by its category and, where it has one, its filing condition: "BJ0116/2"
    # (cases.categories.rule_key). Every method below takes such a key where it says ``category``.

    def deadlines(self, category: str) -> Deadlines:
        """The deadlines of a category's filing condition, else the category's own, else its class's."""
        code = category.partition("/")[0]
        return self.categories.get(category) or self.categories.get(code) or self.classes[self.known[code].sla_class]

    def deadline(self, category: str, level: Level, start: datetime) -> datetime:
        """When a case of ``category`` arriving at ``level`` at ``start`` is due."""
        return self.after(category, start, self.deadlines(category).per_level[level])

    def stage_deadline(self, category: str, stage: Stage, start: datetime) -> datetime:
        """When the intake, sign-in or verification of a case of ``category`` begun at ``start`` is due."""
        return self.after(category, start, self.deadlines(category).stages[stage])

    def after(self, category: str, start: datetime, limit: Limit) -> datetime:
        """``limit`` after ``start`` on the clock of ``category`` (an extension is one such limit)."""
        rule = self.deadlines(category)
        if rule.clock is Clock.CALENDAR:
            return start + limit.span + timedelta(days=limit.workdays)
        if limit.workdays:
            return self.calendar.add_workdays(start, limit.workdays)
        return self.calendar.add(start, limit.span, duty=rule.holiday_duty)

    def parse_length(self, category: str, value: str) -> Limit:
        """A requested extension or suspension (``4h``, ``2d``) on the clock of ``category``."""
        return parse_limit(value, self.deadlines(category).clock, "length")

    def self_handle(self, category: str) -> bool:
        """Whether the finder may handle a report of ``category`` on the spot (intake is automatic)."""
        return self.deadlines(category).self_handle

    def direct(self, category: str) -> bool:
        """Whether a report of ``category`` goes straight to its responsible unit."""
        return self.deadlines(category).direct

    def limits_of(self, kind: str) -> ApprovalLimits:
        """The limits of extensions or suspensions."""
        return self.approvals[kind]

    def elapsed(self, category: str, start: datetime, end: datetime) -> timedelta:
        """Time between ``start`` and ``end`` on the category's clock (to shift a paused deadline)."""
        rule = self.deadlines(category)
        if rule.clock is Clock.CALENDAR:
            return max(end - start, timedelta())
        return self.calendar.between(start, end, duty=rule.holiday_duty)

    def shift(self, category: str, deadline: datetime, by: timedelta) -> datetime:
        """``deadline`` moved later by ``by`` on the category's clock."""
        rule = self.deadlines(category)
        if rule.clock is Clock.CALENDAR:
            return deadline + by
        return self.calendar.add(deadline, by, duty=rule.holiday_duty)

    def describe(self, category: str) -> str:
        """A category's (or filing condition's) limits in words, for people checking a rules file."""
        code, _, number = category.partition("/")
        known = self.known[code]
        rule = self.deadlines(category)
        stages = ", ".join(f"{stage.value} {rule.stages[stage].words(rule.clock)}" for stage in rule.stages)
        levels = ", ".join(f"{level.value} {rule.per_level[level].words(rule.clock)}" for level in Level)
        intake = "handled on the spot" if rule.self_handle else ("sent straight to its unit" if rule.direct else "")
        returned = "a missed sign-in goes back above the dispatcher" if rule.sign_in_breach == "next_level" else ""
        duty = "on duty over holidays" if rule.holiday_duty else ""
        flags = "".join(f"; {text}" for text in (intake, returned, duty) if text)
        own = "" if category in self.categories else f" (class {known.sla_class.value})"
        unit = self.department(category)
        condition = known.condition(number) if number else None
        name = (
            f"{known.name} 立案条件{number} {condition.text} (结案: {condition.closing})" if condition else known.name
        )
        return f"{category} {name}{own}: {stages}; fix at {levels}{flags}; responsible unit {unit}"

    def needs_after_photo(self, category: str) -> bool:
        """Whether resolving a case of ``category`` needs an "after" photo."""
        return category.partition("/")[0] in self.after_photo

    def department(self, category: str) -> str:
        """The unit a category (its filing condition's, where it has one) is whistled to."""
        code = category.partition("/")[0]
        return (
            self.departments.get(category)
            or self.departments.get(code)
            or self.departments.get("group:" + self.known[code].group, self.departments["default"])
        )


def _deadlines(data: dict[str, Any], where: str, base: Deadlines | None) -> Deadlines:
    clock_value = data.get("clock", base.clock.value if base else None)
    try:
        clock = Clock(str(clock_value))
    except ValueError as exc:
        raise RulesError(f"{where}: clock must be 'calendar' or 'working', not {clock_value!r}") from exc
    given = data.get("deadlines") or {}
    unknown = set(given) - {level.value for level in Level}
    if unknown:
        raise RulesError(f"{where}: unknown level(s) {sorted(unknown)}; levels are grid, community, street, department")
    per_level = dict(base.per_level) if base else {}
    for level in Level:
        if level.value in given:
            per_level[level] = parse_limit(given[level.value], clock, f"{where}.deadlines.{level.value}")
        elif level not in per_level:
            raise RulesError(f"{where}: missing the deadline for level {level.value}")
    flags = {}
    for name in ("holiday_duty", "self_handle", "direct"):
        value = data.get(name, getattr(base, name) if base else False)
        if not isinstance(value, bool):
            raise RulesError(f"{where}: {name} must be true or false, not {value!r}")
        flags[name] = value
    if flags["self_handle"] and flags["direct"]:
        raise RulesError(f"{where}: self_handle (on the spot) and direct (straight to the unit) exclude each other")
    given_stages = data.get("stages") or {}
    unknown = set(given_stages) - {s.value for s in Stage if s is not Stage.FIX}
    if unknown:
        raise RulesError(
            f"{where}.stages: unknown stage(s) {sorted(unknown)}; stages are intake, sign_in, verify (fix is per level)"
        )
    stages = dict(base.stages) if base else {}
    for stage in (Stage.INTAKE, Stage.SIGN_IN, Stage.VERIFY):
        if stage.value in given_stages:
            stages[stage] = parse_limit(given_stages[stage.value], clock, f"{where}.stages.{stage.value}")
        elif stage not in stages:
            raise RulesError(f"{where}: missing the {stage.value} limit under stages")
    breach = data.get("sign_in_breach", base.sign_in_breach if base else "supervisor")
    if breach not in SIGN_IN_BREACHES:
        raise RulesError(f"{where}.sign_in_breach: {breach!r}; use one of {', '.join(SIGN_IN_BREACHES)}")
    return Deadlines(
        clock, per_level, flags["holiday_duty"], stages, flags["self_handle"], flags["direct"], str(breach)
    )


def _time(value: object, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise RulesError(f"{where}: {value!r} is not a time like 18:00") from exc


def load_rules(path: Path = RULES_FILE, workdays_file: Path | None = None) -> Rules:
    """Read and check a rules file."""
    try:
        raw = path.read_bytes()
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read SLA rules {path}: {exc}") from exc
    digest = hashlib.sha256(raw)
    if workdays_file is not None and workdays_file.exists():
        digest.update(workdays_file.read_bytes())
    known = default_categories()
    classes_data = data.get("classes") or {}
    classes: dict[SlaClass, Deadlines] = {}
    for sla_class in SlaClass:
        if sla_class.value not in classes_data:
            raise RulesError(f"{path}: classes.{sla_class.value} is missing")
        classes[sla_class] = _deadlines(classes_data[sla_class.value], f"classes.{sla_class.value}", None)
    renamed: dict[str, str] = {}

    def code_of(value: object, where: str) -> str:
        code = str(value)
        if code in former_codes():  # a platform code of before the national classification: read as its new one
            renamed[code] = code = former_codes()[code][0].code
        if code not in known:
            raise RulesError(f"{where}.{value}: unknown category (see cases/data/classification.yaml)")
        return code

    categories: dict[str, Deadlines] = {}
    for value, item in (data.get("categories") or {}).items():
        code = code_of(value, "categories")
        categories[code] = _deadlines(item or {}, f"categories.{value}", classes[known[code].sla_class])
    departments_data = data.get("departments") or {}
    departments = {"default": str(departments_data.get("default", "district"))}
    groups = {c.group for c in known.values()}
    for group, department in (departments_data.get("groups") or {}).items():
        if group not in groups:
            raise RulesError(f"departments.groups.{group}: unknown group; groups are {', '.join(sorted(groups))}")
        departments[f"group:{group}"] = str(department)
    for value, department in (departments_data.get("categories") or {}).items():
        departments[code_of(value, "departments.categories")] = str(department)
    condition_limits = data.get("filing_condition_limits", True)
    if not isinstance(condition_limits, bool):
        raise RulesError(f"filing_condition_limits must be true or false, not {condition_limits!r}")
    for code, category in known.items():  # each filing condition: its own limits and unit (the classification's)
        for condition in category.conditions:
            key = f"{code}/{condition.number}"
            departments[key] = condition.unit
            if condition_limits:
                given = {
                    "clock": condition.clock,
                    "deadlines": dict.fromkeys((lv.value for lv in Level), condition.fix),
                }
                base = categories.get(code) or classes[category.sla_class]
                categories[key] = _deadlines(given | {"stages": condition.stages}, f"classification {key}", base)
    hours = tuple(
        (_time(a, "working_hours"), _time(b, "working_hours"))
        for a, b in data.get("working_hours", [["08:30", "12:00"], ["13:30", "17:30"]])
    )
    if any(end <= start for start, end in hours):
        raise RulesError("working_hours: each period must end after it starts")
    from cases.calendar import load_overrides

    calendar = WorkCalendar(
        ZoneInfo(str(data.get("timezone", "Asia/Shanghai"))),
        hours,
        load_overrides(workdays_file) if workdays_file else DayOverrides(),
    )
    return Rules(
        classes,
        categories,
        departments,
        _time(data.get("patrol_cutoff", "18:00"), "patrol_cutoff"),
        calendar,
        known,
        _after_photo(data.get("after_photo_required") or {}, known, code_of),
        _approvals(data.get("approvals") or {}),
        _duplicates(data.get("duplicates") or {}),
        _appeals(data.get("appeals") or {}),
        digest.hexdigest(),
        renamed,
    )


def _duplicates(data: dict[str, Any]) -> DuplicateWindow:
    distance = data.get("distance_m", 100)
    if not isinstance(distance, int | float) or not 0 < distance <= 5000:
        raise RulesError(f"duplicates.distance_m: {distance!r} is not a distance in metres between 0 and 5000")
    within = parse_limit(data.get("within", "24h"), Clock.CALENDAR, "duplicates.within").span
    return DuplicateWindow(float(distance), within)


DECIDERS = ("street", "district")


def _appeals(data: dict[str, Any]) -> AppealRules:
    unknown = set(data) - {"within", "decider"}
    if unknown:
        raise RulesError(f"appeals: unknown key(s) {sorted(unknown)}; keys are within, decider")
    within = parse_limit(data.get("within", "5d"), Clock.CALENDAR, "appeals.within").span
    decider = data.get("decider", "district")
    if decider not in DECIDERS:
        raise RulesError(f"appeals.decider: {decider!r}; use one of {', '.join(DECIDERS)}")
    return AppealRules(within, str(decider))


APPROVERS = ("level_above", "district")
SIGN_IN_BREACHES = ("supervisor", "next_level")


def _approvals(data: dict[str, Any]) -> dict[str, ApprovalLimits]:
    defaults = {"extension": (2, "10d"), "suspension": (1, "30d")}
    unknown = set(data) - set(defaults)
    if unknown:
        raise RulesError(f"approvals: unknown kind(s) {sorted(unknown)}; kinds are extension, suspension")
    limits = {}
    for kind, (count, length) in defaults.items():
        item = data.get(kind) or {}
        max_count = item.get("max_count", count)
        if not isinstance(max_count, int) or max_count < 0:
            raise RulesError(f"approvals.{kind}.max_count: {max_count!r} is not a whole number ≥ 0")
        span = parse_limit(item.get("max_length", length), Clock.CALENDAR, f"approvals.{kind}.max_length").span
        approver = item.get("approver", "level_above")
        if approver not in APPROVERS:
            raise RulesError(f"approvals.{kind}.approver: {approver!r}; use one of {', '.join(APPROVERS)}")
        limits[kind] = ApprovalLimits(max_count, span, approver)
    return limits


def _after_photo(
    data: dict[str, Any], known: dict[str, Category], code_of: Callable[[object, str], str]
) -> frozenset[str]:
    groups = {str(g) for g in data.get("groups") or []}
    unknown_groups = groups - {c.group for c in known.values()}
    if unknown_groups:
        raise RulesError(f"after_photo_required.groups: unknown group(s) {sorted(unknown_groups)}")
    codes = {code_of(c, "after_photo_required.categories") for c in data.get("categories") or []}
    return frozenset(codes | {c.code for c in known.values() if c.group in groups})
