"""The demo city's registers: synthetic buildings, households and people (labelled so in every record).

Every name carries （模拟）, every record ``synthetic = true``. ID numbers pass the GB 11643 check
digit but begin 99, which no province has, so none can be anyone's; phone numbers use 170 0000 xxxx.
"""

import random
from dataclasses import dataclass
from datetime import date, timedelta

import geopandas as gpd
import shapely
from sqlalchemy import Engine, text

from registers.cadence import Cadence, VisitRules
from registers.ids import check_digit
from registers.protect import Protector
from registers.rows import BuildingRow, PersonRow
from registers.store import Imported, import_buildings, import_people

REGION = "990100"  # no such province: made-up numbers can never be a real person's
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
RELATIONS = ("户主", "配偶", "子女", "父母")
TAGGED_SHARE = 0.2  # households with a vulnerable member, as a grid of older housing has


@dataclass(frozen=True)
class DemoSize:
    """How many of each per grid (the real standard is about 300 households; the demo keeps it small)."""

    buildings: int = 3
    households: int = 6  # per building
    members: tuple[int, int] = (1, 4)


def synthetic_id(born: date, serial: int) -> str:
    """A made-up ID number with a valid check digit."""
    first17 = f"{REGION}{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + check_digit(first17)


def _inside(rng: random.Random, area: shapely.Geometry) -> shapely.Point:
    """A uniform point inside ``area``, well clear of its edge."""
    inner = area.buffer(-0.0003) if not area.buffer(-0.0003).is_empty else area
    xmin, ymin, xmax, ymax = inner.bounds
    while True:
        point = shapely.Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
        if inner.contains(point):
            return point


def demo_rows(
    grids: list[tuple[str, shapely.Geometry]], rules: VisitRules, size: DemoSize = DemoSize(), seed: int = 7
) -> tuple[list[BuildingRow], list[PersonRow]]:
    """Synthetic buildings inside each grid and the people of their households."""
    rng = random.Random(seed)
    monthly = sorted(t.name for t in rules.tags.values() if t.cadence is Cadence.MONTHLY)
    buildings: list[BuildingRow] = []
    people: list[PersonRow] = []
    serial = 0
    used: set[str] = set()
    for grid, area in grids:
        for b in range(1, size.buildings + 1):
            point = _inside(rng, area)
            code = f"{grid}{b:03d}"
            buildings.append(
                BuildingRow(0, code, grid, f"模拟小区{b}号楼（模拟）", f"{rng.choice(SURNAMES)}楼长（模拟）", point)
            )
            for h in range(size.households):
                tags = (rng.choice(monthly),) if monthly and rng.random() < TAGGED_SHARE else ()
                for m in range(rng.randint(*size.members)):
                    born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 80 * 365))
                    serial += 1
                    while synthetic_id(born, serial) in used:  # one person, one number
                        serial += 1
                    used.add(synthetic_id(born, serial))
                    people.append(
                        PersonRow(
                            0,
                            f"{rng.choice(SURNAMES)}{rng.choice(GIVEN)}（模拟）",
                            synthetic_id(born, serial),
                            f"1700000{serial % 10000:04d}",
                            born,
                            RELATIONS[min(m, len(RELATIONS) - 1)],
                            code,
                            str(h // 3 + 1),
                            f"{h % 3 + 1:02d}01",
                            None,
                            tags if m == 0 else (),
                        )
                    )
    return buildings, people


def load_demo_registers(
    engine: Engine, protector: Protector, rules: VisitRules, registered_on: date, size: DemoSize = DemoSize()
) -> Imported:
    """Add the demo registers unless there are any already; the people added (and updated)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT EXISTS (SELECT 1 FROM building WHERE synthetic)")).scalar_one():
            return Imported(0, 0)
        grids = gpd.read_postgis(
            "SELECT code, geom FROM active_area WHERE level = 'grid' ORDER BY code", conn, geom_col="geom"
        )
    buildings, people = demo_rows(list(zip(grids.code, grids.geom, strict=True)), rules, size)
    with engine.begin() as conn:
        import_buildings(conn, buildings, synthetic=True)
        return import_people(conn, people, protector, synthetic=True, registered_on=registered_on)
