"""The vocabulary of deadlines: levels, stages, clocks, and a limit as a rules file writes it (30m, 4h, 2d)."""

import re
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

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


class Stage(StrEnum):
    """The stages a case's deadlines are set for; the fix stage's limit is per level."""

    INTAKE = "intake"
    SIGN_IN = "sign_in"
    FIX = "fix"
    VERIFY = "verify"


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
