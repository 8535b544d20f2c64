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
            categories[code] = Category(code, item["name"], item["name_en"], sla_class, group["code"], group["name"])
    return categories


@cache
def default_categories() -> dict[str, Category]:
    """The taxonomy shipped with the platform."""
    return load_categories()
