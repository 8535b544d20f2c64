"""Importing a register file: read, check every row, and (unless a row is bad) add or update by key.

A dry run checks and reports only. With bad rows nothing is imported, unless the caller asks to
import the good rows and skip the bad (``skip_bad_rows``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from geo.locator import load_index
from registers.cadence import VisitRules
from registers.components import check_components, import_components
from registers.protect import Protector
from registers.rows import COLUMNS, Problem, beyond_header, check_buildings, check_people, columns
from registers.store import Imported, building_codes, import_buildings, import_people
from registers.tabular import read_table

KINDS = ("buildings", "people", "components")
Progress = Callable[[str, int, int], None]  # stage, done, total


@dataclass
class ImportReport:
    """What an import found and did, for a person to read (``messages``, worded by the catalogue)."""

    kind: str
    path: Path
    rows: int = 0
    good: int = 0
    problems: list[Problem] = field(default_factory=list)
    imported: Imported | None = None
    dry_run: bool = False

    @property
    def bad_lines(self) -> list[int]:
        """The lines with at least one problem."""
        return sorted({p.line for p in self.problems})

    def column(self, field: str) -> dict[str, Any]:
        """A column as the report names it (a message: its Chinese title and its English name, or its number)."""
        if field.startswith("#"):  # a cell beyond the header's columns
            return {"key": "column_at", "values": {"n": field[1:]}}
        return {"key": "column", "values": {"title": COLUMNS.get(self.kind, {}).get(field, field), "name": field}}

    def problem_lines(self) -> list[dict[str, Any]]:
        """Each problem as a table row: line, column (a message), what is wrong and what to write (a message)."""
        return [
            {"line": p.line, "column": self.column(p.field), "problem": {"key": p.key, "values": p.values}}
            for p in self.problems
        ]

    def summary(self) -> dict[str, Any]:
        """What happened, as one message."""
        counts = {"file": self.path.name, "rows": self.rows, "kind": self.kind, "good": self.good}
        counts["bad"] = len(self.bad_lines)
        if self.imported is not None:
            done = {"added": self.imported.added, "updated": self.imported.updated}
            key = "report.imported_skipped" if self.bad_lines else "report.imported"
            return {"key": key, "values": counts | done}
        return {"key": "report.dry_run" if self.dry_run else "report.refused", "values": counts}

    def messages(self, shown: int = 200) -> list[dict[str, Any]]:
        """The report as messages (the catalogue words each): every problem (up to ``shown``), then what happened."""
        lines = [
            {"key": "report.problem", "values": {"line": r["line"], "field": r["column"], "problem": r["problem"]}}
            for r in self.problem_lines()[:shown]
        ]
        if len(self.problems) > shown:
            lines.append({"key": "report.more", "values": {"n": len(self.problems) - shown}})
        return [*lines, self.summary()]


def import_file(
    engine: Engine,
    path: Path,
    kind: str,
    protector: Protector,
    rules: VisitRules,
    *,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    synthetic: bool = False,
    registered_on: date | None = None,
    progress: Progress | None = None,
    area: str = "",
    classes: dict[str, str] | None = None,
) -> ImportReport:
    """Check ``path`` as a ``kind`` file and import it; ``FileProblem`` when it is no table at all.

    ``area``: the code prefix of the importer's area; a building (or a person's building) outside it is a bad row.
    ``classes``: for components, each component class of the classification (BJ0116) and its name.
    """
    header, records = read_table(path)
    at, problems = columns(kind, header)
    report = ImportReport(kind, path, dry_run=dry_run, problems=problems)
    if problems:
        return report
    width = max((n + 1 for n, title in enumerate(header) if title), default=0)  # a workbook pads the header
    rows, beyond = beyond_header(records, width)
    report.rows = len(rows) + len(beyond)
    if progress:
        progress("checking", 0, len(rows))
    if kind == "buildings":
        good_buildings, found = check_buildings(rows, at, load_index(engine))
        found += [Problem(b.line, "grid", "field.outside_your_area", {"area": area}) for b in good_buildings
                  if not b.grid.startswith(area)]  # fmt: skip
        good_buildings = [b for b in good_buildings if b.grid.startswith(area)]
        report.good = len(good_buildings)
    elif kind == "components":
        good_components, found = check_components(rows, at, load_index(engine), classes or {})
        found += [Problem(c.line, "code", "field.outside_your_area", {"area": area}) for c in good_components
                  if not c.grid.startswith(area)]  # fmt: skip
        good_components = [c for c in good_components if c.grid.startswith(area)]
        report.good = len(good_components)
    else:
        with engine.connect() as conn:
            known = building_codes(conn)
        good_people, found = check_people(rows, at, known, set(rules.tags))
        found += [Problem(p.line, "building", "field.outside_your_area", {"area": area}) for p in good_people
                  if not p.building.startswith(area)]  # fmt: skip
        good_people = [p for p in good_people if p.building.startswith(area)]
        report.good = len(good_people)
    report.problems = sorted(beyond + found, key=lambda p: p.line)
    if progress:
        progress("checking", len(rows), len(rows))
    if dry_run or (report.problems and not skip_bad_rows):
        return report

    def copied(done: int, total: int) -> None:
        if progress:
            progress("importing", done, total)

    with engine.begin() as conn:
        if kind == "buildings":
            report.imported = import_buildings(conn, good_buildings, synthetic, copied)
        elif kind == "components":
            report.imported = import_components(conn, good_components, synthetic, copied)
        else:
            report.imported = import_people(
                conn, good_people, protector, synthetic=synthetic, registered_on=registered_on, progress=copied
            )
    return report
