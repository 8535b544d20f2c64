"""The category taxonomy, loaded from data."""

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path

import yaml

CATEGORIES_FILE = Path(__file__).with_name("data") / "categories.yaml"


class SlaClass(StrEnum):
    """How urgent a category is; the SLA rules give each class its deadlines."""

    MINOR = "minor"
    GENERAL = "general"
    MAJOR = "major"
    URGENT = "urgent"


@dataclass(frozen=True)
class Category:
    """One kind of problem a gridworker can report."""

    code: str
    name: str
    name_en: str
    sla_class: SlaClass
    group: str
    group_name: str
    was: str | None = None  # the code before schema_version 2
    standard: str | None = None  # the standard whose code this is (CJ/T 214), or None for the platform's own


def load_categories(path: Path = CATEGORIES_FILE) -> dict[str, Category]:
    """Read the taxonomy; raises ValueError naming what is wrong."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    categories: dict[str, Category] = {}
    for group in data["groups"]:
        for item in group["categories"]:
            code = str(item["code"])
            if code in categories:
                raise ValueError(f"{path}: category {code} appears twice")
            try:
                sla_class = SlaClass(item["sla_class"])
            except ValueError as exc:
                raise ValueError(f"{path}: category {code} has unknown sla_class {item['sla_class']!r}") from exc
            was = str(item["was"]) if "was" in item else None
            categories[code] = Category(
                code, item["name"], item["name_en"], sla_class, group["code"], group["name"], was, item.get("standard")
            )
    return categories


@cache
def default_categories() -> dict[str, Category]:
    """The taxonomy shipped with the platform."""
    return load_categories()


@cache
def renamed_codes() -> dict[str, Category]:
    """The category each code of schema_version 1 became."""
    return {c.was: c for c in default_categories().values() if c.was is not None}


REQUEST_GROUP = "resident_services"  # the categories of resident requests (居民点单)


def category_names(lang: str) -> dict[str, str]:
    """Each category code's name in ``lang`` (``zh``, else English)."""
    return {c.code: (c.name if lang == "zh" else c.name_en) for c in default_categories().values()}
