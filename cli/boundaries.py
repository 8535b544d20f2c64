"""``gridgov boundaries``: import, validate, load the demo city."""

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine

from api.settings import Settings
from cli.wording import fail, tell
from db.engine import make_engine
from geo.boundaries import (
    BoundaryError,
    FieldMap,
    ImportRejected,
    ImportResult,
    import_layer,
    import_overlay,
    read_layer,
    read_overlay_layer,
    revalidate_active,
)
from geo.demo import load_demo
from geo.levels import Level
from geo.overlays import Layer, OverlayFields
from geo.validate import Finding

app = typer.Typer(help="Boundary sets: import, validate, demo city.", no_args_is_help=True)


class LayerChoice(StrEnum):
    """``--layer``: the management grid with its levels (the default), or an overlay layer."""

    MANAGEMENT = "management"
    PARTY = "party"
    SPECIAL = "special"


class CoverageChoice(StrEnum):
    """``--coverage``: whether the imported layer covers its parents whole (the default) or in part."""

    COMPLETE = "complete"
    PARTIAL = "partial"


console = Console()


def print_findings(findings: list[Finding], as_json: bool) -> None:
    """Findings as a table, or as JSON on stdout."""
    if as_json:
        print(json.dumps([f.as_json() for f in findings], ensure_ascii=False, indent=2))
        return
    if not findings:
        console.print(f"[green]{escape(tell('cli.no_findings'))}[/]")
        return
    table = Table(*(tell(f"cli.findings_{c}") for c in ("severity", "check", "codes", "area", "where", "message")))
    for f in findings:
        colour = {"error": "red", "warning": "yellow", "info": "blue"}[f.severity]
        table.add_row(
            f"[{colour}]{tell('cli.severity_' + f.severity)}{tell('cli.existing') if f.existing else ''}[/]",
            f.check,
            " ".join(f.codes),
            "" if f.area_m2 is None else f"{f.area_m2:,.1f}",
            f.where or "",
            f.message,
        )
    console.print(table)


def _report(result: ImportResult, as_json: bool) -> None:
    for fix in result.fixes:
        console.print(
            tell("cli.fixed", code=fix.code, why=fix.reason, before=fix.area_before_m2, after=fix.area_after_m2),
            highlight=False,
        )
    print_findings(result.findings, as_json)


@app.command("import")
def import_command(
    path: Path,
    level: Annotated[Level | None, typer.Option(help="Level of the areas in the file (management layer)")] = None,
    layer: Annotated[
        LayerChoice, typer.Option(help="management (综治, with --level), party (党建) or special (专属) grids")
    ] = LayerChoice.MANAGEMENT,
    code_field: str = "code",
    name_field: str = "name",
    name_en_field: str = "name_en",
    parent_field: Annotated[str | None, typer.Option(help="Default: the code without its last 3 digits")] = None,
    households_field: str = "households",
    spans_field: Annotated[str, typer.Option(help="Overlays: the management grid codes each spans")] = "spans",
    kind_field: Annotated[str, typer.Option(help="Special grids: park, market, business, campus or office")] = "kind",
    owner_field: Annotated[str, typer.Option(help="Special grids: the unit that runs it")] = "owner",
    source_crs: Annotated[
        str | None, typer.Option(help="EPSG:4490, EPSG:4326, gcj02, bd09…; default: the file's own")
    ] = None,
    fix: Annotated[bool, typer.Option(help="Repair invalid geometries with make_valid")] = False,
    allow_errors: Annotated[
        bool, typer.Option(help="Import even when validation finds errors this import introduces")
    ] = False,
    tolerance_m2: Annotated[float, typer.Option(help="Overlaps and gaps below this are ignored")] = 1.0,
    coverage: Annotated[
        CoverageChoice, typer.Option(help="complete: the layer covers its parents whole; partial: a pilot's part")
    ] = CoverageChoice.COMPLETE,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON")] = False,
) -> None:
    """Import one level from GeoJSON, GeoPackage or Shapefile as a new, active generation.

    It is judged by what it changes: errors it introduces refuse it; errors the active set
    already had are listed as existing and do not block. An overlay layer (``--layer party``
    or ``special``) names in each grid the management grids it spans.
    """
    if (layer is LayerChoice.MANAGEMENT) == (level is None):
        if level is None:
            fail("cli.level_needed", 2)
        fail("cli.level_unwanted", 2, layer=str(layer))
    settings = Settings()
    engine = make_engine(settings.database.url)
    try:
        if level is None:
            fields = OverlayFields(code_field, name_field, name_en_field, spans_field, kind_field, owner_field)
            kind: Layer = "party" if layer is LayerChoice.PARTY else "special"
            overlays = read_overlay_layer(path, kind, fields, source_crs)
            result = import_overlay(
                engine, overlays, kind, source=str(path), allow_errors=allow_errors, tolerance_m2=tolerance_m2
            )
        else:
            result = _import_level(
                path,
                level,
                FieldMap(code_field, name_field, name_en_field, parent_field, households_field),
                source_crs,
                engine,
                fix,
                allow_errors,
                tolerance_m2,
                coverage,
            )
    except ImportRejected as exc:
        print_findings(exc.findings, as_json)
        fail("cli.rejected", why=str(exc))
    except BoundaryError as exc:
        fail("cli.refused", message=str(exc))
    finally:
        engine.dispose()
    _report(result, as_json)
    console.print(tell("cli.generation", generation=result.generation_id, n=result.areas), highlight=False)


def _import_level(
    path: Path,
    level: Level,
    fields: FieldMap,
    source_crs: str | None,
    engine: Engine,
    fix: bool,
    allow_errors: bool,
    tolerance_m2: float,
    coverage: CoverageChoice,
) -> ImportResult:
    layer = read_layer(path, level, fields, source_crs)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"importing {len(layer)} {level.value} areas", total=len(layer))
        return import_layer(
            engine,
            layer,
            level,
            source=str(path),
            fix=fix,
            allow_errors=allow_errors,
            tolerance_m2=tolerance_m2,
            coverage=coverage.value,
            progress=lambda done, total: progress.update(task, completed=done),
        )


@app.command("validate")
def validate_command(
    fix: Annotated[bool, typer.Option(help="Repair invalid geometries as a new generation")] = False,
    tolerance_m2: float = 1.0,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON")] = False,
) -> None:
    """Validate the active boundary set; exit 1 when it has errors."""
    engine = make_engine(Settings().database.url)
    try:
        result = revalidate_active(engine, fix=fix, tolerance_m2=tolerance_m2)
    except ImportRejected as exc:
        print_findings(exc.findings, as_json)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    _report(result, as_json)
    if any(f.severity == "error" for f in result.findings):
        raise typer.Exit(1)


@app.command("demo")
def demo_command() -> None:
    """Load the synthetic demo city (Runzhou) unless it is loaded."""
    engine = make_engine(Settings().database.url)
    try:
        grids = load_demo(engine)
    finally:
        engine.dispose()
    console.print(tell("cli.demo_loaded", n=grids), highlight=False)
