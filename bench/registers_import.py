"""Importing 100,000 people (registers.importer) against a bare COPY of the same rows into a plain table.

The import reads the CSV, checks every row (check digit, building, duplicates, tags), seals ID and
phone numbers, hashes the ID for search, upserts households and people by key and recounts the
households. The baseline copies the same file, unchecked and in plain text, into a table of text
columns. Both on the benchmark's own database, in the same run.
"""

import csv
import sys
import tempfile
import time
from pathlib import Path

import shapely
from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.settings import Settings  # noqa: E402
from bench.prepare import bench_settings, drop  # noqa: E402
from db.engine import make_engine  # noqa: E402
from registers.demo import DemoSize, demo_rows  # noqa: E402
from registers.importer import import_file  # noqa: E402
from registers.protect import Protector  # noqa: E402
from registers.store import import_buildings  # noqa: E402

PEOPLE = 100_000
HEADER = ["name", "id_number", "phone", "birth_date", "relation", "building", "unit", "room", "tags"]


def _files(engine: Engine, settings: Settings, folder: Path) -> Path:
    """The demo city's buildings in the register, and a people file of about PEOPLE rows for them."""
    with engine.connect() as conn:
        grids = [
            (code, geom)
            for code, geom in conn.execute(
                text("SELECT code, ST_AsBinary(geom) FROM active_area WHERE level = 'grid' ORDER BY code")
            ).all()
        ]
    shapes = [(code, shapely.from_wkb(bytes(geom))) for code, geom in grids]
    per_grid = PEOPLE / len(shapes)
    size = DemoSize(buildings=10, households=max(1, round(per_grid / 10 / 2.5)), members=(1, 4))
    buildings, people = demo_rows(shapes, settings.visit_rules(), size)
    with engine.begin() as conn:
        import_buildings(conn, buildings)
    path = folder / "people.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for p in people[:PEOPLE]:
            row = [p.name, p.id_number, p.phone, p.birth_date.isoformat(), p.relation, p.building, p.unit, p.room]
            writer.writerow([*row, ";".join(p.tags)])
    return path


def _bare_copy(engine: Engine, path: Path) -> float:
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE people_bare ({', '.join(f'{c} text' for c in HEADER)})"))
    start = time.perf_counter()
    with engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        statement = "COPY people_bare FROM STDIN WITH (FORMAT csv, HEADER)"
        with raw.cursor() as cursor, cursor.copy(statement) as copy, path.open("rb") as source:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
    return time.perf_counter() - start


def main() -> None:
    settings = bench_settings()
    engine = make_engine(settings.database.url)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = _files(engine, settings, Path(folder))
            copy_s = _bare_copy(engine, path)
            start = time.perf_counter()
            report = import_file(engine, path, "people", Protector(settings.registers.pii_key), settings.visit_rules())
            import_s = time.perf_counter() - start
        assert report.imported is not None and not report.problems, report.text()
        rows = report.rows
        print(
            f"registers import: {rows:,} people in {import_s:.2f} s ({import_s / rows * 1e6:.0f} µs/row, checked,"
            f" sealed, upserted); bare COPY of the same file {copy_s:.2f} s ({copy_s / rows * 1e6:.1f} µs/row);"
            f" import/COPY ×{import_s / copy_s:.1f}"
        )
    finally:
        engine.dispose()
        drop(settings)


if __name__ == "__main__":
    main()
