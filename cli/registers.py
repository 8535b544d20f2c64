"""``gridgov registers``: import and export the buildings and people of the grids, delete a person, the demo."""

import getpass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import text

from api.settings import Settings
from cases.categories import component_classes
from cli.wording import fail, tell, told
from db.engine import make_engine
from registers.components import area_shape, import_areas
from registers.importer import import_file
from registers.rekey import BATCH, rekey
from registers.store import ID_COLUMN, PHONE_COLUMN, delete_person, log_access
from registers.tabular import FileProblem, read_table, write_table

app = typer.Typer(help="Registers: buildings, households and people (实有房屋、实有人口).", no_args_is_help=True)
console = Console()
CLI_ROLE = "cli"  # how the access log names a reader at the server's command line


class Kind(StrEnum):
    """What a file holds."""

    BUILDINGS = "buildings"
    PEOPLE = "people"
    COMPONENTS = "components"


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


@app.command("import")
def import_command(
    path: Path,
    kind: Annotated[
        Kind, typer.Option(help="buildings (楼栋) first, then people (人口) living in them; components (部件普查)")
    ],
    dry_run: Annotated[bool, typer.Option(help="Check every row and report; import nothing")] = False,
    skip_bad_rows: Annotated[bool, typer.Option(help="Import the good rows even if some are bad")] = False,
) -> None:
    """Import a register file (.csv, .xlsx; components also GeoJSON, GeoPackage, Shapefile).

    A re-import updates by key: building code, ID number, component identifier.
    """
    settings = Settings()
    engine = make_engine(settings.database.url)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(tell("cli.import_reading", kind=kind.value, file=path.name), total=None)

            def show(stage: str, done: int, total: int) -> None:
                shown = tell("cli.import_stage", kind=kind.value, stage=stage)
                progress.update(task, description=shown, completed=done, total=total)

            report = import_file(
                engine,
                path,
                kind.value,
                settings.registers.protector(),
                settings.visit_rules(),
                dry_run=dry_run,
                skip_bad_rows=skip_bad_rows,
                progress=show,
                classes=component_classes(),
            )
    except FileProblem as exc:
        fail(exc.key, **exc.values)
    finally:
        engine.dispose()
    console.print("\n".join(told(m) for m in report.messages()), markup=False, highlight=False)
    if report.problems and (report.imported is None or not skip_bad_rows):
        raise typer.Exit(1)


_EXPORT = """
SELECT p.name, p.id_sealed, p.phone_sealed, p.birth_date, p.relation, h.building_code, h.unit, h.room, h.address,
       array_to_string(p.tags, ';') AS tags, p.id
FROM person p JOIN household h ON h.id = p.household_id
WHERE h.grid_code LIKE :prefix ORDER BY h.id, p.birth_date, p.id
"""


@app.command("export")
def export_command(
    out: Path,
    area: Annotated[str, typer.Option(help="Grid, community, street or district code")],
    reason: Annotated[str, typer.Option(help="What the export is for; kept in the access log")],
    actor: Annotated[str | None, typer.Option(help="Who exports (default: your login name)")] = None,
) -> None:
    """Export the people of an area unmasked, in the import format (.csv or .xlsx); logged with its reason."""
    if not area.isdigit() or len(area) not in (6, 9, 12, 15):
        fail("cli.area", 2, area=area)
    if len(reason.strip()) < 4:
        fail("cli.reason", 2)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        fail("file.suffix", 2, file=out.name)
    settings = Settings()
    protector = settings.registers.protector()
    engine = make_engine(settings.database.url)
    header = ["name", "id_number", "phone", "birth_date", "relation", "building", "unit", "room", "address", "tags"]
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(_EXPORT), {"prefix": area + "%"}).all()
            table = [
                [
                    r.name,
                    protector.open(r.id_sealed, ID_COLUMN),
                    protector.open(r.phone_sealed, PHONE_COLUMN) if r.phone_sealed else "",
                    r.birth_date.isoformat(),
                    r.relation,
                    r.building_code,
                    r.unit,
                    r.room,
                    r.address,
                    r.tags,
                ]
                for r in rows
            ]
        try:
            write_table(out, header, table)  # whole or not at all
        except OSError as exc:
            fail("cli.cannot_write", file=str(out), why=str(exc.strerror))
        try:  # the access log records what was written, once it is written
            with engine.begin() as conn:
                purpose = f"{reason.strip()} ({area} → {out.name})"
                log_access(conn, _actor(actor), CLI_ROLE, "export", purpose, rows=len(table))
        except Exception:
            out.unlink(missing_ok=True)  # an unlogged export is not left lying around
            raise
    finally:
        engine.dispose()
    console.print(tell("cli.exported", n=len(table), area=area, file=str(out)), markup=False, highlight=False)


@app.command("delete-person")
def delete_command(
    person_id: int,
    reason: Annotated[str, typer.Option(help="Why (moved away, deceased, asked to be removed); logged")],
    actor: Annotated[str | None, typer.Option(help="Who deletes (default: your login name)")] = None,
) -> None:
    """Delete a person from the register (PIPL: on request, or when no longer needed); logged."""
    engine = make_engine(Settings().database.url)
    try:
        with engine.begin() as conn:
            household = delete_person(conn, person_id)
            if household is None:
                fail("cli.no_person", person=person_id)
            log_access(conn, _actor(actor), CLI_ROLE, "delete", reason, [person_id], household)
    finally:
        engine.dispose()
    console.print(tell("cli.deleted", person=person_id, household=household), markup=False, highlight=False)


@app.command("rekey")
def rekey_command(
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="Rows re-sealed per transaction")] = BATCH,
) -> None:
    """Re-seal every ID and phone number and sealed text under GRIDGOV_PII_KEY (the old key in GRIDGOV_PII_OLD_KEYS).

    Run it while the platform serves: reads open either key. Stopped, it is run again; it goes on.
    """
    settings = Settings()
    if not settings.registers.old_keys():
        fail("cli.no_old_keys", 2)
    engine = make_engine(settings.database.url)
    try:
        done = rekey(
            engine,
            settings.registers.protector(),
            batch,
            lambda what, seen: console.print(tell("cli.rekey_progress", what=what, n=seen), highlight=False),
        )
    finally:
        engine.dispose()
    console.print(tell("cli.rekeyed", resealed=done.resealed, current=done.current), highlight=False)


@app.command("areas")
def areas_command(
    path: Path,
    buffer_m: Annotated[
        float, typer.Option(min=1, max=500, help="A road's area: this far either side of its line")
    ] = 30,
) -> None:
    """Import units' areas of responsibility (责任区) from a map file.

    Each feature: a unit (单位), a name (名称) and a polygon (a park) or a line (a road). A case no component
    or filing condition routes goes to the unit whose area holds it. A re-import replaces the areas of the
    units it names.
    """
    try:
        header, records = read_table(path)
    except FileProblem as exc:
        fail(exc.key, **exc.values)
    at = {name: header.index(name) for name in ("unit", "单位", "name", "名称", "shape") if name in header}
    unit_at, name_at = at.get("unit", at.get("单位")), at.get("name", at.get("名称"))
    if unit_at is None or name_at is None or "shape" not in at:
        fail("cli.areas_columns", file=path.name, columns="、".join(header))
    rows = [(row[unit_at], row[name_at], row[at["shape"]]) for _, row in records]
    missing = [n for n, (unit, name, shape) in enumerate(rows, start=2) if not (unit and name and shape)]
    if missing:
        fail("cli.areas_empty", file=path.name, line=missing[0])
    unshaped = [n for n, (_, _, shape) in enumerate(rows, start=2) if not area_shape(shape)]
    if unshaped:
        fail("cli.areas_shape", file=path.name, line=unshaped[0])
    engine = make_engine(Settings().database.url)
    try:
        with engine.begin() as conn:
            stored = import_areas(conn, rows, buffer_m)
    finally:
        engine.dispose()
    console.print(tell("cli.areas_imported", n=stored, units=len({r[0] for r in rows})), highlight=False)
