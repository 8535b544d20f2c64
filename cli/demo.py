"""Demo users of the demo city: one of each role, and a gridworker for every grid (``make run``)."""

from sqlalchemy import Engine, text

from api.access import Role
from api.accounts import add_users
from geo.demo import DEMO_DISTRICT

DEMO_PASSWORD = "gridgov-demo"
DEMO_DEPARTMENT = "区城市管理局"


def gridworker_name(grid: str) -> str:
    """The demo gridworker of a grid."""
    return f"gw-{grid}"


def unit_users(units: list[str]) -> dict[str, str]:
    """The demo user who answers for each responsible unit: ``unit-1``, ``unit-2`` … in name order."""
    return {unit: f"unit-{n}" for n, unit in enumerate(sorted(set(units)), start=1)}


def demo_users(engine: Engine, units: list[str] | None = None) -> list[tuple[str, Role, str]]:
    """Who the demo city has.

    Admin, commander, supervisors of the district and its first street and community, a department, a
    resident and a volunteer of that community, a user for each responsible unit of the rules, and a
    gridworker per grid.
    """
    with engine.connect() as conn:
        areas = conn.execute(
            text("SELECT a.level, a.code FROM active_area a WHERE a.code LIKE :prefix ORDER BY a.code"),
            {"prefix": DEMO_DISTRICT + "%"},
        ).all()
    first = {level: code for level, code in reversed(areas)}
    users = [
        ("admin", Role.ADMIN, ""),
        ("commander", Role.COMMANDER, ""),
        ("district", Role.DISTRICT, DEMO_DISTRICT),
        ("street", Role.STREET, first["street"]),
        ("community", Role.COMMUNITY, first["community"]),
        ("department", Role.DEPARTMENT, DEMO_DEPARTMENT),
        ("resident", Role.RESIDENT, first["community"]),
        ("volunteer", Role.VOLUNTEER, first["community"]),
    ]
    users += [(user, Role.DEPARTMENT, unit) for unit, user in unit_users(units or []).items()]
    return users + [(gridworker_name(code), Role.GRIDWORKER, code) for level, code in areas if level == "grid"]


def add_demo_users(engine: Engine, units: list[str] | None = None) -> int:
    """Create the demo users that are missing; how many were added."""
    return add_users(engine, demo_users(engine, units), DEMO_PASSWORD)
