"""SLA rules as data: deadlines per level, clock kind, departments; validated on load."""

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from cases.calendar import DayOverrides, WorkCalendar
from cases.categories import Category, SlaClass, default_categories

RULES_FILE = Path(__file__).with_name("data") / "sla_rules.yaml"
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|h|d)$")


class Level(StrEnum):
    """Who holds a case, in escalation order."""

    GRID = "grid"
    COMMUNITY = "community"
    STREET = "street"
    DEPARTMENT = "department"

    @property
    def next(self) -> "Level | None":
        """The level a breach escalates to, None at the top."""
        order = list(Level)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class Clock(StrEnum):
    """Whether a deadline counts all hours or office hours on working days."""

    CALENDAR = "calendar"
    WORKING = "working"


class RulesError(ValueError):
    """The rules file is wrong; the message says where and how."""


@dataclass(frozen=True)
class Limit:
    """How long a stage may take: a span of time on the clock, or a number of whole working days."""

    span: timedelta = timedelta()
    workdays: int = 0

    def words(self, clock: Clock) -> str:
        """The limit as a person reads it: ``4 working hours``, ``2 working days``, ``30 calendar minutes``."""
        if self.workdays:
            return f"{self.workdays} working day{'s' if self.workdays > 1 else ''}"
        minutes = self.span.total_seconds() / 60
        amount, unit = (
            (minutes / 1440, "day")
            if minutes % 1440 == 0 and clock is Clock.CALENDAR
            else ((minutes / 60, "hour") if minutes % 60 == 0 else (minutes, "minute"))
        )
        kind = "working" if clock is Clock.WORKING else "calendar"
        return f"{amount:g} {kind} {unit}{'s' if amount != 1 else ''}"


@dataclass(frozen=True)
class Deadlines:
    """Per level, how long a case may stay there, which clock counts, and whether holidays are on duty."""

    clock: Clock
    per_level: dict[Level, Limit]
    holiday_duty: bool = False


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

    def deadlines(self, category: str) -> Deadlines:
        """The deadlines of a category (its own, else its class's)."""
        return self.categories.get(category) or self.classes[self.known[category].sla_class]

    def deadline(self, category: str, level: Level, start: datetime) -> datetime:
        """When a case of ``category`` arriving at ``level`` at ``start`` is due."""
        rule = self.deadlines(category)
        limit = rule.per_level[level]
        if rule.clock is Clock.CALENDAR:
            return start + limit.span
        if limit.workdays:
            return self.calendar.add_workdays(start, limit.workdays)
        return self.calendar.add(start, limit.span, duty=rule.holiday_duty)

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
        """A category's limits in words, for people checking a rules file."""
        known = self.known[category]
        rule = self.deadlines(category)
        levels = ", ".join(f"{level.value} {rule.per_level[level].words(rule.clock)}" for level in Level)
        duty = "; on duty over holidays" if rule.holiday_duty else ""
        own = "" if category in self.categories else f" (class {known.sla_class.value})"
        return f"{category} {known.name}{own}: {levels}{duty}; whistled to {self.department(category)}"

    def needs_after_photo(self, category: str) -> bool:
        """Whether resolving a case of ``category`` needs an "after" photo."""
        return category in self.after_photo

    def department(self, category: str) -> str:
        """The department a category is whistled to."""
        return self.departments.get(category) or self.departments.get(
            "group:" + self.known[category].group, self.departments["default"]
        )


def parse_limit(value: object, clock: Clock, where: str) -> Limit:
    """``30m``, ``4h``, ``2d`` on ``clock``; on the working clock ``d`` is whole working days (工作日).

    Negative, zero or malformed values are refused, and so are fractions of a working day.
    """
    match = _DURATION.match(str(value).strip())
    if not match:
        raise RulesError(f"{where}: {value!r} is not a duration like 30m, 4h or 2d (and must not be negative)")
    number, unit = float(match.group(1)), match.group(2)
    if number <= 0:
        raise RulesError(f"{where}: a deadline must be longer than zero")
    if unit == "d" and clock is Clock.WORKING:
        if not number.is_integer():
            raise RulesError(f"{where}: {value!r}: working days are whole days; give hours (e.g. 4h) instead")
        return Limit(workdays=int(number))
    return Limit(timedelta(minutes=number) if unit == "m" else timedelta(hours=number * (24 if unit == "d" else 1)))


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
    duty = data.get("holiday_duty", base.holiday_duty if base else False)
    if not isinstance(duty, bool):
        raise RulesError(f"{where}: holiday_duty must be true or false, not {duty!r}")
    return Deadlines(clock, per_level, duty)


def _time(value: object, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError as exc:
        raise RulesError(f"{where}: {value!r} is not a time like 18:00") from exc


def load_rules(path: Path = RULES_FILE, workdays_file: Path | None = None) -> Rules:
    """Read and check a rules file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RulesError(f"cannot read SLA rules {path}: {exc}") from exc
    known = default_categories()
    classes_data = data.get("classes") or {}
    classes: dict[SlaClass, Deadlines] = {}
    for sla_class in SlaClass:
        if sla_class.value not in classes_data:
            raise RulesError(f"{path}: classes.{sla_class.value} is missing")
        classes[sla_class] = _deadlines(classes_data[sla_class.value], f"classes.{sla_class.value}", None)
    categories: dict[str, Deadlines] = {}
    for code, item in (data.get("categories") or {}).items():
        code = str(code)
        if code not in known:
            raise RulesError(f"categories.{code}: unknown category (see cases/data/categories.yaml)")
        categories[code] = _deadlines(item or {}, f"categories.{code}", classes[known[code].sla_class])
    departments_data = data.get("departments") or {}
    departments = {"default": str(departments_data.get("default", "district"))}
    departments |= {f"group:{g}": str(d) for g, d in (departments_data.get("groups") or {}).items()}
    for code, department in (departments_data.get("categories") or {}).items():
        if str(code) not in known:
            raise RulesError(f"departments.categories.{code}: unknown category")
        departments[str(code)] = str(department)
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
        _after_photo(data.get("after_photo_required") or {}, known),
    )


def _after_photo(data: dict[str, Any], known: dict[str, Category]) -> frozenset[str]:
    groups = {str(g) for g in data.get("groups") or []}
    unknown_groups = groups - {c.group for c in known.values()}
    if unknown_groups:
        raise RulesError(f"after_photo_required.groups: unknown group(s) {sorted(unknown_groups)}")
    codes = {str(c) for c in data.get("categories") or []}
    if codes - set(known):
        raise RulesError(f"after_photo_required.categories: unknown category(s) {sorted(codes - set(known))}")
    return frozenset(codes | {c.code for c in known.values() if c.group in groups})
