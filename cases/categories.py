"""The classification of events (事件) and components (部件), loaded from data (after GB/T 30428.2)."""

from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import yaml

CATEGORIES_FILE = Path(__file__).with_name("data") / "classification.yaml"
COMPONENT_PREFIX = "BJ"  # a component class's code: "BJ" + 大类 + 小类 (the event codes overlap)
KINDS = {"event": "sj", "component": "bj"}  # a 大类's group code: sj01 (事件 市容环境), bj01 (部件 公用设施)
EXTENSION_MINORS = range(51, 100)  # a city's own 小类 inside a standard 大类


class SlaClass(StrEnum):
    """How urgent a category is; the SLA rules give each class its deadlines."""

    MINOR = "minor"
    GENERAL = "general"
    MAJOR = "major"
    URGENT = "urgent"


@dataclass(frozen=True)
class Condition:
    """A filing condition (立案条件) of a 小类: its number, unit, limits and closing condition (结案条件).

    ``clock`` is ``calendar`` (round the clock) or ``working``; ``fix`` is the 处置时限 at whichever level
    holds the case ("Nd" on the working clock: N working days); ``stages`` optional intake/sign_in/verify.
    """

    number: str
    text: str
    unit: str
    clock: str
    fix: str
    closing: str
    stages: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Category:
    """One 小类 a report can be filed under."""

    code: str
    name: str
    name_en: str
    sla_class: SlaClass
    group: str  # the 大类: sj01 … (events), bj01 … (components)
    group_name: str
    was: str | None = None  # the code of schema_version 1
    kind: str = "event"  # event (事件) or component (部件)
    extension: bool = False  # not in the standard: a city extension
    formerly: str | None = None  # the platform's code before this classification, /its condition if it meant one
    conditions: tuple[Condition, ...] = ()

    @property
    def standard_code(self) -> str:
        """The four digits of the standard (大类 + 小类), without the component prefix."""
        return self.code.removeprefix(COMPONENT_PREFIX)

    def condition(self, number: str | None) -> Condition | None:
        """The filing condition ``number`` (the only one when there is one and none is named)."""
        if number is None:
            return self.conditions[0] if len(self.conditions) == 1 else None
        return next((c for c in self.conditions if c.number == number), None)


def _condition(item: dict[str, Any], number: int, where: str) -> Condition:
    missing = [k for k in ("text", "unit", "clock", "fix", "closing") if not item.get(k)]
    if missing:
        raise ValueError(f"{where}: condition {number} lacks {', '.join(missing)}")
    if item["clock"] not in ("calendar", "working"):
        raise ValueError(f"{where}: condition {number} has clock {item['clock']!r}; use calendar or working")
    stages: dict[str, str] = {k: str(item[k]) for k in ("intake", "sign_in", "verify") if k in item}
    return Condition(str(number), item["text"], item["unit"], item["clock"], str(item["fix"]), item["closing"], stages)


def _category(item: dict[str, Any], kind: str, major: dict[str, Any], path: Path) -> Category:
    digits = str(item["code"])
    where = f"{path}: {kind} {digits}"
    if len(digits) != 4 or not digits.isdigit() or digits[:2] != str(major["code"]):
        raise ValueError(f"{where}: a 小类 code is its 大类's two digits and two more")
    extension = bool(item.get("extension") or major.get("extension"))
    if int(digits[2:]) in EXTENSION_MINORS and not extension:
        raise ValueError(f"{where}: 小类 51-99 are city extensions; mark it extension: true")
    try:
        sla_class = SlaClass(item["sla_class"])
    except ValueError as exc:
        raise ValueError(f"{where} has unknown sla_class {item['sla_class']!r}") from exc
    conditions = tuple(_condition(c, n, where) for n, c in enumerate(item.get("conditions") or [], start=1))
    return Category(
        code=(COMPONENT_PREFIX if kind == "component" else "") + digits,
        name=item["name"],
        name_en=item["name_en"],
        sla_class=sla_class,
        group=KINDS[kind] + str(major["code"]),
        group_name=major["name"],
        was=str(item["was"]) if "was" in item else None,
        kind=kind,
        extension=extension,
        formerly=str(item["formerly"]) if "formerly" in item else None,
        conditions=conditions,
    )


def load_categories(path: Path = CATEGORIES_FILE) -> dict[str, Category]:
    """Read the classification; raises ValueError naming what is wrong."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    categories: dict[str, Category] = {}
    for kind in KINDS:
        for major in data.get(kind) or []:
            for item in major["categories"]:
                category = _category(item, kind, major, path)
                if category.code in categories:
                    raise ValueError(f"{path}: category {category.code} appears twice")
                categories[category.code] = category
    formerly = [c.formerly.partition("/")[0] for c in categories.values() if c.formerly]
    if len(set(formerly)) != len(formerly) or set(formerly) & set(categories):
        raise ValueError(f"{path}: a former code is given twice or is still a code")
    return categories


@cache
def default_categories() -> dict[str, Category]:
    """The classification shipped with the platform."""
    return load_categories()


@cache
def renamed_codes() -> dict[str, Category]:
    """The category each code of schema_version 1 became."""
    return {c.was: c for c in default_categories().values() if c.was is not None}


@cache
def former_codes() -> dict[str, tuple[Category, str | None]]:
    """What each platform code of before the national classification became: 8202 → (路灯 BJ0116, condition 1)."""
    found: dict[str, tuple[Category, str | None]] = {}
    for c in default_categories().values():
        if c.formerly is not None:
            old, _, condition = c.formerly.partition("/")
            found[old] = (c, condition or None)
    return found


def rule_key(category: str, condition: str | None) -> str:
    """What the SLA rules know a case by: its category, with its filing condition where it has one (BJ0116/1)."""
    return f"{category}/{condition}" if condition else category


REQUEST_GROUP = "sj91"  # the categories of resident requests (居民点单)
ROUTINE_GROUP = "sj90"  # patrol check-ins and household visits (日常工作)


@cache
def component_classes() -> dict[str, str]:
    """Each component class (部件小类, BJ0116) and its name."""
    return {c.code: c.name for c in default_categories().values() if c.kind == "component"}


def category_names(lang: str) -> dict[str, str]:
    """Each category code's name in ``lang`` (``zh``, else English)."""
    return {c.code: (c.name if lang == "zh" else c.name_en) for c in default_categories().values()}
