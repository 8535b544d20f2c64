"""Register imports from the browser: checked or imported in the background, with progress and a report to download.

The report is kept by message key and worded in the reader's language when read.

The file is the request's body (``.csv`` or ``.xlsx``, at most 64 MiB), named by ``filename``; a clerk imports
only the buildings and people of their own area (rows outside it are bad rows). A dry run checks and reports;
an import with bad rows imports nothing. An import whose progress stops for two minutes (its API process
ended) reads as ``failed``.
"""

import csv
import io
import json
import logging
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy import Engine, text

from api.access import Principal, Role
from api.auth import PrincipalDep, authorize
from api.bodies import read_body
from api.deps import EngineDep, SettingsDep
from api.errors import Refusal, answer_language, responses
from cases.categories import component_classes
from db.cells import csv_value
from registers.importer import import_file
from registers.tabular import FileProblem
from web.messages import said, say

log = logging.getLogger(__name__)
router = APIRouter(
    prefix="/v1", tags=["registers"], dependencies=[Depends(authorize)], responses=responses(401, 403, 404, 422, 503)
)
MAX_UPLOAD_BYTES = 64 * 2**20
MAX_REPORT_ROWS = 5000  # problems kept with an import; the count of the rest is kept too
STALLED_S = 120  # no progress for this long: the import's process ended
PROGRESS_EVERY_S = 0.5
FILENAME = r"^[^/\\\x00-\x1f]{1,200}\.(csv|CSV|xlsx|XLSX|geojson|GEOJSON|json|JSON|gpkg|GPKG)$"
ImportId = Annotated[uuid.UUID, Path(description="The import's id")]


def _area(principal: Principal) -> str:
    return "" if principal.role is Role.ADMIN else principal.area or "-"  # an admin imports anywhere


@router.post("/register-imports", status_code=202, responses=responses(413))
async def start_import(
    request: Request,
    engine: EngineDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    kind: Annotated[
        Literal["people", "buildings", "components"], Query(description="What the file holds (components: 部件普查)")
    ],
    filename: Annotated[
        str, Query(pattern=FILENAME, description="The file's name (.csv or .xlsx; components also .geojson, .gpkg)")
    ],
    dry_run: Annotated[bool, Query(description="Check every row and report; import nothing")] = True,
) -> dict[str, Any]:
    """Check (``dry_run``) or import a register file sent as the body; its progress at ``GET …/{id}``."""
    body = await read_body(request, MAX_UPLOAD_BYTES)
    folder = FilePath(tempfile.mkdtemp(prefix="gridgov-import-"))
    path = folder / filename
    path.write_bytes(body)
    import_id = uuid.uuid4()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO register_import (id, actor, kind, filename, state)"
                " VALUES (:id, :actor, :kind, :file, :state)"
            ),
            {"id": import_id, "actor": principal.username, "kind": kind, "file": filename, "state": "running"},
        )
    job = threading.Thread(
        target=_run,
        args=(engine, import_id, path, kind, settings, dry_run, _area(principal)),
        name=f"import-{import_id}",
        daemon=True,
    )
    job.start()
    return {"id": str(import_id), "state": "running"}


def _run(
    engine: Engine, import_id: uuid.UUID, path: FilePath, kind: str, settings: Any, dry_run: bool, area: str
) -> None:
    """Run the import and keep its progress and its report (messages by key, worded when read)."""
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_S and done < total:
            return
        last[0] = now
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE register_import SET stage = :s, done = :d, total = :t, updated_at = now() WHERE id = :id"),
                {"s": stage, "d": done, "t": total, "id": import_id},
            )

    state = "done"
    kept: dict[str, Any]
    try:
        report = import_file(
            engine,
            path,
            kind,
            settings.registers.protector(),
            settings.visit_rules(),
            dry_run=dry_run,
            progress=progress,
            area=area,
            classes=component_classes(),
        )
        problems = report.problem_lines()
        kept = {"summary": report.summary(), "problems": problems[:MAX_REPORT_ROWS]}
        kept |= {"more": max(0, len(problems) - MAX_REPORT_ROWS), "bad": len(report.bad_lines), "dry_run": dry_run}
        kept["imported"] = report.imported is not None
    except FileProblem as exc:
        state, kept = "failed", {"summary": {"key": exc.key, "values": exc.values}, "problems": [], "more": 0}
    except Exception:  # the database went away, a bug: the clerk is told it failed, the log says why
        log.exception("register import %s failed", import_id)
        state, kept = "failed", {"summary": {"key": "report.failed", "values": {}}, "problems": [], "more": 0}
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE register_import SET state = :state, report = CAST(:report AS jsonb), finished_at = now(),"
                " updated_at = now() WHERE id = :id"
            ),
            {"state": state, "report": json.dumps(kept, ensure_ascii=False, default=str), "id": import_id},
        )


_READ = (
    "SELECT id, actor, kind, filename, stage, done, total, report, started_at, finished_at,"
    f" CASE WHEN state = 'running' AND updated_at < now() - interval '{STALLED_S} seconds' THEN 'failed'"
    " ELSE state END AS state FROM register_import"
)


def recent_imports(engine: Engine, principal: Principal, limit: int = 20) -> list[dict[str, Any]]:
    """The caller's latest imports (an admin: everyone's), newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"{_READ} WHERE :all OR actor = :me ORDER BY started_at DESC LIMIT :n"),
            {"all": principal.role is Role.ADMIN, "me": principal.username, "n": limit},
        )
        return [dict(r._mapping) for r in rows]


def _one(engine: Engine, import_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(text(f"{_READ} WHERE id = :id"), {"id": import_id}).one_or_none()
    if row is None or (row.actor != principal.username and principal.role is not Role.ADMIN):
        raise Refusal("not_found.register_import", id=str(import_id))
    return dict(row._mapping)


def worded(found: dict[str, Any], lang: str) -> dict[str, Any]:
    """An import as its reader reads it: the summary and each problem (line, column, what to do) in ``lang``."""
    report = found["report"] or {}
    rows = [
        {"line": p["line"], "column": said(p["column"], lang), "problem": said(p["problem"], lang)}
        for p in report.get("problems", [])
    ]
    if found["state"] == "failed" and not report:
        report = {"summary": {"key": "report.stalled", "values": {}}}
    shown = {k: found[k] for k in ("id", "kind", "filename", "state", "stage", "done", "total", "started_at")}
    shown["stage_words"] = (
        said({"key": "cli.import_stage", "values": {"kind": found["kind"], "stage": found["stage"]}}, lang)
        if found["stage"]
        else ""
    )
    return shown | {
        "summary": said(report["summary"], lang) if report.get("summary") else None,
        "problems": rows,
        "more": report.get("more", 0),
        "bad": report.get("bad", 0),
        "imported": report.get("imported", False),
    }


@router.get("/register-imports/{import_id}")
def get_import(import_id: ImportId, request: Request, engine: EngineDep, principal: PrincipalDep) -> dict[str, Any]:
    """An import's progress, then its report: what is wrong on which line and column, worded in your language."""
    return worded(_one(engine, import_id, principal), answer_language(request))


@router.get("/register-imports/{import_id}/report.csv", response_class=Response)
def get_import_report(import_id: ImportId, request: Request, engine: EngineDep, principal: PrincipalDep) -> Response:
    """The import's report as a CSV file (UTF-8 with BOM, so a spreadsheet opens it in Chinese)."""
    lang = answer_language(request)
    shown = worded(_one(engine, import_id, principal), lang)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([say(f"report.header_{column}", lang) for column in ("line", "column", "problem")])
    for row in shown["problems"]:
        writer.writerow([row["line"], csv_value(row["column"]), csv_value(row["problem"])])
    writer.writerow(["", "", csv_value(shown["summary"] or "")])
    name = f"import-report-{import_id}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
