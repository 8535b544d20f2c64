"""Demo users of the demo city: one of each role, and a gridworker for every grid (``make run``)."""

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from sqlalchemy import Engine, text

from api.access import Role
from api.accounts import add_users
from api.settings import Settings
from geo.crs import CRS
from geo.demo import DEMO_DISTRICT
from geo.locator import load_index
from registers.cadence import VisitRules, period_of
from registers.demo import load_demo_registers
from streams.schema import Event, Kind, Location, Received
from streams.stages import Decoded, LocatedEvent, locate
from streams.writer import write_events

DEMO_PASSWORD = "gridgov-demo"
DEMO_DEPARTMENT = "区城市管理局"
DEMO_REGISTERED_DAYS_AGO = 200  # the demo households are on the register since before the last quarter
MISSED_EVERY = 12  # one demo household in twelve was not visited last period: overdue now
VISIT_CATEGORY = "9002"


SIMULATED = "sim-"  # the simulator's own users: it never acts as a person of the demo
SIM_SUPERVISOR = "sim-district"


def gridworker_name(grid: str) -> str:
    """The demo gridworker of a grid."""
    return f"gw-{grid}"


def sim_gridworker(grid: str) -> str:
    """The simulator's gridworker of a grid."""
    return f"{SIMULATED}gw-{grid}"


def sim_units(units: list[str]) -> dict[str, str]:
    """The simulator's user who answers for each responsible unit: ``sim-unit-1`` … in name order."""
    return {unit: f"{SIMULATED}{user}" for unit, user in unit_users(units).items()}


def unit_users(units: list[str]) -> dict[str, str]:
    """The demo user who answers for each responsible unit: ``unit-1``, ``unit-2`` … in name order."""
    return {unit: f"unit-{n}" for n, unit in enumerate(sorted(set(units)), start=1)}


# Names for the demo's people: a surname and a given name, picked by the order of their grid.
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = ("芳", "伟", "娜", "敏", "静", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀兰", "霞")


def demo_name(n: int) -> str:
    """The display name of the demo's ``n``-th person (张伟, 王芳 …): every grid's gridworker gets their own."""
    return _SURNAMES[n % len(_SURNAMES)] + _GIVEN[(n // len(_SURNAMES) + n) % len(_GIVEN)]


def demo_users(engine: Engine, units: list[str] | None = None) -> list[tuple[str, Role, str, str]]:
    """Who the demo city has (login, role, scope, the name people read).

    Admin, commander, supervisors of the district and its first street and community, a department, a
    resident and a volunteer of that community, the building head of the first grid's first building
    (the demo registers number their buildings from 001), a user for each responsible unit of the rules, and a
    gridworker per grid; then the simulator's own district supervisor, unit users and gridworkers.
    """
    with engine.connect() as conn:
        areas = conn.execute(
            text("SELECT a.level, a.code FROM active_area a WHERE a.code LIKE :prefix ORDER BY a.code"),
            {"prefix": DEMO_DISTRICT + "%"},
        ).all()
    first = {level: code for level, code in reversed(areas)}
    users = [
        ("admin", Role.ADMIN, "", "系统管理员"),
        ("commander", Role.COMMANDER, "", "指挥中心值班员"),
        ("district", Role.DISTRICT, DEMO_DISTRICT, "赵敏"),
        ("street", Role.STREET, first["street"], "钱磊"),
        ("community", Role.COMMUNITY, first["community"], "孙静"),
        ("department", Role.DEPARTMENT, DEMO_DEPARTMENT, "周强"),
        ("resident", Role.RESIDENT, first["community"], "吴秀兰"),
        ("volunteer", Role.VOLUNTEER, first["community"], "郑洋"),
        ("building-head", Role.BUILDING_HEAD, first["grid"] + "001", "李楼长"),  # the first synthetic building
    ]
    users += [(user, Role.DEPARTMENT, unit, unit) for unit, user in unit_users(units or []).items()]
    grids = [code for level, code in areas if level == "grid"]
    users += [(gridworker_name(code), Role.GRIDWORKER, code, demo_name(n)) for n, code in enumerate(grids)]
    # The simulator's staff, marked （模拟） in every name: what they do is never a demo person's doing.
    users.append((SIM_SUPERVISOR, Role.DISTRICT, DEMO_DISTRICT, "区指挥中心（模拟）"))
    users += [(user, Role.DEPARTMENT, unit, f"{unit}（模拟）") for unit, user in sim_units(units or []).items()]
    simulated = [
        (sim_gridworker(code), Role.GRIDWORKER, code, f"{demo_name(n)}（模拟）") for n, code in enumerate(grids)
    ]
    return users + simulated


def add_demo_users(engine: Engine, units: list[str] | None = None) -> int:
    """Create the demo users that are missing; how many were added."""
    return add_users(engine, demo_users(engine, units), DEMO_PASSWORD)


def add_demo_registers(engine: Engine, settings: Settings, today: date) -> int:
    """The demo city's synthetic registers and a season of past visits; the people added."""
    rules = settings.visit_rules()
    added = load_demo_registers(
        engine, settings.registers.protector(), rules, today - timedelta(days=DEMO_REGISTERED_DAYS_AGO)
    )
    if added.added:
        write_events(engine, _past_visits(engine, rules, today, settings.rules().calendar.tz))
    return added.added


def _past_visits(engine: Engine, rules: VisitRules, today: date, tz: tzinfo) -> list[LocatedEvent]:
    """A visit to each household in its last completed period, save one in ``MISSED_EVERY`` (left overdue)."""
    rng = random.Random(11)
    with engine.connect() as conn:
        households = conn.execute(
            text(
                "SELECT h.id, h.grid_code, h.tags, ST_X(ST_PointOnSurface(b.geom)), ST_Y(ST_PointOnSurface(b.geom))"
                " FROM household h JOIN building b ON b.code = h.building_code WHERE h.synthetic ORDER BY h.id"
            )
        ).all()
    received = []
    for n, (household, grid, tags, lon, lat) in enumerate(households):
        if n % MISSED_EVERY == 0:
            continue
        cadence = rules.cadence_of(tags)
        first, last = period_of(cadence, period_of(cadence, today)[0] - timedelta(days=1))
        day = first + timedelta(days=rng.randint(0, (last - first).days))
        at = datetime.combine(day, time(rng.randint(9, 17), rng.randint(0, 59)), tzinfo=tz).astimezone(UTC)
        event = Event(
            schema_version=2,  # SCHEMA_VERSION
            id=uuid.uuid5(uuid.NAMESPACE_URL, f"gridgov-demo-visit:{household}:{day}"),
            kind=Kind.VISIT,
            category=VISIT_CATEGORY,
            occurred_at=at,
            location=Location(lon=lon, lat=lat, crs=CRS.WGS84, accuracy_m=10.0),
            reporter=gridworker_name(grid),
            description="入户走访（模拟） simulated visit",
            household=household,
        )
        received.append(Decoded(Received.stamp(event, at), 0, 0))
    return locate(received, load_index(engine))
