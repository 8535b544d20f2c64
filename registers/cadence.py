"""Visit cadence: which households are due for a visit when, and the share visited on time (pure).

A household with cadence *monthly* is to be visited at least once in every calendar month, one with
*quarterly* once in every calendar quarter. Its first due period is the first that begins on or after
the day it was registered. A visit in a period covers that period, so the next is due by the end of
the period after it. Status on a day: ``overdue`` when that date has passed, ``this_week`` when it
falls by the Sunday of the day's week, ``later`` otherwise.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path

import yaml

VISIT_RULES_FILE = Path(__file__).with_name("data") / "visit_rules.yaml"


class Cadence(StrEnum):
    """How often a household is visited: once in every calendar month or quarter."""

    MONTHLY = "monthly"
    QUARTERLY = "quarterly"

    @property
    def months(self) -> int:
        """The length of one period in months."""
        return 1 if self is Cadence.MONTHLY else 3


class VisitRulesError(ValueError):
    """The visit rules file is not valid; the message says where."""


@dataclass(frozen=True)
class Tag:
    """A tag a person may carry, and the cadence it asks of their household."""

    name: str
    name_en: str
    cadence: Cadence


@dataclass(frozen=True)
class VisitRules:
    """The tags a city uses and the cadence of each; ``default`` for households with none of them."""

    tags: dict[str, Tag]
    default: Cadence

    def cadence_of(self, tags: Iterable[str]) -> Cadence:
        """A household's cadence: the tightest of its members' tags (unknown tags ask nothing)."""
        months = [self.tags[t].cadence.months for t in tags if t in self.tags]
        return Cadence.MONTHLY if min(months, default=self.default.months) == 1 else Cadence.QUARTERLY


def load_visit_rules(path: Path = VISIT_RULES_FILE) -> VisitRules:
    """The rules of ``path``; ``VisitRulesError`` names the first thing wrong."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise VisitRulesError(f"{path}: cannot be read as YAML ({exc})") from exc
    choices = ", ".join(c.value for c in Cadence)

    def cadence(value: object, where: str) -> Cadence:
        try:
            return Cadence(str(value))
        except ValueError:
            raise VisitRulesError(f"{path}: {where}: cadence {value!r} is not one of {choices}") from None

    if not isinstance(data, dict) or not isinstance(data.get("tags"), dict):
        raise VisitRulesError(f"{path}: needs `default:` ({choices}) and a `tags:` mapping of tag: {{cadence: …}}")
    tags = {}
    for name, spec in data["tags"].items():
        if not isinstance(spec, dict) or "cadence" not in spec:
            raise VisitRulesError(f"{path}: tag {name}: write {{name_en: …, cadence: monthly|quarterly}}")
        tags[str(name)] = Tag(str(name), str(spec.get("name_en", name)), cadence(spec["cadence"], f"tag {name}"))
    return VisitRules(tags, cadence(data.get("default", "quarterly"), "default"))


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period_of(cadence: Cadence, day: date) -> tuple[date, date]:
    """The first and last day of the calendar month or quarter that holds ``day``."""
    start_month = day.month - (day.month - 1) % cadence.months
    first = date(day.year, start_month, 1)
    return first, _add_months(first, cadence.months) - timedelta(days=1)


def first_due_period(cadence: Cadence, registered_on: date) -> tuple[date, date]:
    """The first period that begins on or after the registration day."""
    first, last = period_of(cadence, registered_on)
    return (first, last) if first == registered_on else period_of(cadence, last + timedelta(days=1))


def due_by(cadence: Cadence, registered_on: date, last_visit: date | None) -> date:
    """The day by which the household's next visit is due."""
    if last_visit is None:
        return first_due_period(cadence, registered_on)[1]
    return period_of(cadence, period_of(cadence, last_visit)[1] + timedelta(days=1))[1]


def status(due: date, today: date) -> str:
    """``overdue``, ``this_week`` (due by this Sunday) or ``later``."""
    if due < today:
        return "overdue"
    return "this_week" if due <= today + timedelta(days=6 - today.weekday()) else "later"


@dataclass(frozen=True)
class Coverage:
    """Of the households due in a period, how many were visited in it."""

    period_first: date
    period_last: date
    due: int
    visited: int

    @property
    def rate(self) -> float | None:
        """Visited ÷ due, to 4 places; None when nothing is due."""
        return round(self.visited / self.due, 4) if self.due else None


def coverage(households: Iterable[tuple[Cadence, date, bool, int]], cadence: Cadence, day: date) -> Coverage:
    """Coverage of the period of ``cadence`` that holds ``day``.

    ``households`` are groups of them: (cadence, registered_on, visited in that period, how many); those
    of another cadence, and those whose first due period is later, are not due.
    """
    first, last = period_of(cadence, day)
    due = visited = 0
    for kind, registered_on, seen, n in households:
        if kind is cadence and first_due_period(kind, registered_on)[0] <= first:
            due += n
            visited += n * seen
    return Coverage(first, last, due, visited)
