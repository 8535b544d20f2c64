"""The synthetic demo city shipped in ``data/boundaries/runzhou``."""

from pathlib import Path

from sqlalchemy import Engine, text

from geo.boundaries import FieldMap, import_layer, read_layer
from geo.levels import Level

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "boundaries" / "runzhou"
DEMO_LAYERS = [
    ("district.geojson", Level.DISTRICT),
    ("streets.geojson", Level.STREET),
    ("communities.geojson", Level.COMMUNITY),
    ("grids.geojson", Level.GRID),
]
DEMO_DISTRICT = "321111"


def demo_loaded(engine: Engine) -> bool:
    """Whether the active generation already holds the demo city's grids."""
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM active_area a WHERE a.level = 'grid' AND a.code LIKE :prefix"),
            {"prefix": f"{DEMO_DISTRICT}%"},
        ).scalar_one()
    return bool(count)


def load_demo(engine: Engine) -> int:
    """Import the demo city level by level unless it is loaded; return the grid count."""
    if not demo_loaded(engine):
        for filename, level in DEMO_LAYERS:
            layer = read_layer(DEMO_DIR / filename, level, FieldMap())
            import_layer(engine, layer, level, source=f"demo:{filename}")
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM active_area a WHERE a.level = 'grid'")).scalar_one())
