"""分拨: which unit a case goes to, and why, written in its history; a supervisor may override it with a reason.

In order: the owner (权属单位) of the component it is about; else its filing condition's unit (or the unit
the rules file names for its category); else the unit whose area of responsibility (责任区) holds its
place; else the department the rules give its 大类 (or the default). A decision by component, filing
condition or area is written in the case's history as ``routed`` with its reason ("路灯 3205080116000001
权属：区路灯管理所"); the rules' own units leave no row. ``unit`` on the case keeps the decision: whoever
holds it at department level is that unit.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, text

from cases.rules import Rules
from db.partitions import CASE_REPORT

ROUTED = "routed"  # the decision at intake
REROUTED = "rerouted"  # a supervisor's override


@dataclass(frozen=True)
class Route:
    """The unit decided for a case and the reason, as its history says it (``why`` None: the rules' default)."""

    unit: str
    why: str | None


def route(rule: str, rules: Rules, component: "Component | None", area: "Area | None") -> Route:
    """The unit of a case known to the rules as ``rule`` (BJ0116/1), pure.

    ``component``: its component (code, name, owner) or None; ``area``: the area of responsibility
    holding its place (unit, name) or None.
    """
    code, _, number = rule.partition("/")
    category, departments = rules.known[code], rules.departments
    if component is not None and component.owner:
        return Route(component.owner, f"{component.name} {component.code} 权属：{component.owner}")
    if number and rule in departments:
        return Route(departments[rule], f"{category.name} 立案条件{number}：{departments[rule]}")
    if code in departments:  # the rules file's own unit for the category: the rules' default, no row
        return Route(departments[code], None)
    if area is not None:
        return Route(area.unit, f"责任区 {area.name}：{area.unit}")
    return Route(departments.get("group:" + category.group, departments["default"]), None)


# The case's component and the smallest area of responsibility holding its report's place.
_FACTS = f"""
SELECT k.code, k.name, k.owner, a.unit, a.name AS area_name
FROM "case" c
LEFT JOIN component k ON k.code = c.component
LEFT JOIN LATERAL (SELECT u.unit, u.name FROM unit_area u JOIN event e ON ST_Covers(u.geom, e.geom)
                   WHERE {CASE_REPORT} ORDER BY ST_Area(u.geom) LIMIT 1) a ON true
WHERE c.id = :id
"""


@dataclass(frozen=True)
class Component:
    """A component as the decision reads it."""

    code: str
    name: str
    owner: str


@dataclass(frozen=True)
class Area:
    """An area of responsibility as the decision reads it."""

    unit: str
    name: str


def facts(conn: Connection, case_id: uuid.UUID) -> tuple[Component | None, Area | None]:
    """What the decision reads of a case: its component and the smallest area of responsibility holding it."""
    row = conn.execute(text(_FACTS), {"id": case_id}).one()
    component = Component(row.code, row.name, row.owner) if row.code else None
    return component, Area(row.unit, row.area_name) if row.unit else None


# The components' owners by a skip scan of their index (one probe an owner, not a read of every component).
_UNITS = """
WITH RECURSIVE owners AS (
  SELECT min(owner) AS owner FROM component
  UNION ALL
  SELECT (SELECT min(k.owner) FROM component k WHERE k.owner > o.owner) FROM owners o WHERE o.owner IS NOT NULL
)
SELECT owner FROM owners WHERE owner IS NOT NULL UNION SELECT unit FROM unit_area
"""


def known_units(conn: Connection, rules: Rules) -> list[str]:
    """Every unit a case may be routed to: the rules' units, components' owners, areas' units."""
    found = {str(u) for u in conn.execute(text(_UNITS)).scalars()} | set(rules.departments.values())
    return sorted(found)
