"""The gridworker's phone app at ``/app/``: its shell, service worker, manifest and libraries, from this machine.

The data it keeps for working offline (the user's own grid and cases) comes from ``api.me``.
"""

import hashlib
import json
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.deps import RulesDep
from api.errors import Refusal, responses
from api.pages.maps import LEAFLET_DIR
from streams.schema import MAX_ATTACHMENTS, MAX_DESCRIPTION, SCHEMA_VERSION
from web.templating import LANGUAGES, NODE_MODULES, STATIC, labels, page

STATIC_DIR = STATIC / "app"
WORKBOX_MODULES = ("core", "precaching", "routing", "strategies")
# The npm files the app loads, by the name it asks for (Workbox's loader asks for workbox-<module>.prod.js).
LIBS: dict[str, str] = {
    "dexie.min.js": "dexie/dist/dexie.min.js",
    "compressor.min.js": "compressorjs/dist/compressor.min.js",
    "pointInPolygon.min.js": "point-in-polygon-hao/dist/pointInPolygon.min.js",
    "workbox-sw.js": "workbox-sw/build/workbox-sw.js",
    # The live feed's parser (an ES module the app imports; its own imports resolve beside it).
    "eventsource-parser.js": "eventsource-parser/dist/index.js",
    "parse.js": "eventsource-parser/dist/parse.js",
    "errors.js": "eventsource-parser/dist/errors.js",
    **{f"workbox-{m}.prod.js": f"workbox-{m}/build/workbox-{m}.prod.js" for m in WORKBOX_MODULES},
}
LIB_NAME = "^(" + "|".join(name.replace(".", r"\.") for name in LIBS) + ")$"
LEAFLET = ("leaflet.js", "leaflet.css", *(f"images/marker-{n}.png" for n in ("icon", "icon-2x", "shadow")))
SHELL_FILES = (
    "words.js", "outbox-rules.js", "outbox.js", "register.js", "app.js", "app.css", "icon-192.png", "icon-512.png"
)  # fmt: skip
APP_LABELS = "app_"  # the catalogues' keys of the phone app, handed to it without the prefix
# The page may load and reach nothing but this site (Leaflet sets inline styles; photos are shown as blobs).
SHELL_POLICY = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; frame-ancestors 'none'"
}

public = APIRouter(tags=["app"])  # the shell loads before signing in, and from the phone's cache


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


@cache
def shell(tz: str) -> str:
    """The app's one page, the same for every user of the city (``tz``: its zone), so the service worker keeps it.

    It carries the app's labels in every language, so the app reads them offline.
    """
    words = {
        lang: {
            key.removeprefix(APP_LABELS): text
            for key, text in labels(lang).items()
            if key.startswith((APP_LABELS, "act_", "actor_"))  # and the words of a case's history
        }
        for lang in LANGUAGES
    }
    return page(
        "app/index.html",
        schema_version=SCHEMA_VERSION,
        max_photos=MAX_ATTACHMENTS,
        max_description=MAX_DESCRIPTION,
        tz=tz,
        words=words,
    )


@cache
def precache(tz: str) -> list[dict[str, str]]:
    """What the service worker keeps for working offline, each with a revision (a digest of its content)."""
    files = {f"/app/static/{name}": STATIC_DIR / name for name in SHELL_FILES}
    files |= {f"/static/leaflet/{name}": LEAFLET_DIR / name for name in LEAFLET}
    files |= {f"/app/lib/{name}": NODE_MODULES / path for name, path in LIBS.items() if name != "workbox-sw.js"}
    entries = [{"url": url, "revision": _digest(path.read_bytes())} for url, path in files.items()]
    entries.append({"url": "/app/", "revision": _digest(shell(tz).encode())})
    entries.append({"url": "/app/manifest.webmanifest", "revision": _digest(json.dumps(MANIFEST).encode())})
    return entries


MANIFEST: dict[str, Any] = {
    "name": "gridgov 网格员",
    "short_name": "网格员",
    "description": "巡查、上报、案件处置，离线可用 · Patrols, reports and cases, offline first",
    "lang": "zh-CN",
    "start_url": "/app/",
    "scope": "/app/",
    "display": "standalone",
    "orientation": "portrait",
    "background_color": "#ffffff",
    "theme_color": "#0b5cad",
    "icons": [
        {"src": "/app/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/app/static/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
    ],
}


def mount_shell(app: FastAPI) -> None:
    """Serve the app's own scripts, styles and icons."""
    app.include_router(public)
    app.mount("/app/static", StaticFiles(directory=STATIC_DIR), name="app")


@public.get("/app", response_class=RedirectResponse, status_code=307)
def app_root() -> RedirectResponse:
    """The app lives at ``/app/`` (the service worker's scope)."""
    return RedirectResponse("/app/", status_code=307)


@public.get("/app/", response_class=Response, responses={200: {"content": {"text/html": {}}}})
def app_page(rules: RulesDep) -> Response:
    """The phone app's page (signing in happens inside it)."""
    return Response(
        shell(str(rules.calendar.tz)), media_type="text/html", headers={"Cache-Control": "no-cache", **SHELL_POLICY}
    )


@public.get("/app/sw.js", response_class=Response, responses={200: {"content": {"text/javascript": {}}}})
def service_worker(rules: RulesDep) -> Response:
    """The service worker: Workbox precaching of the shell, and the user's data network-first."""
    script = page("app/sw.js", precache=json.dumps(precache(str(rules.calendar.tz))))
    return Response(script, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@public.get(
    "/app/manifest.webmanifest",
    response_class=Response,
    responses={200: {"content": {"application/manifest+json": {}}}},
)
def manifest() -> Response:
    """The web app manifest (name, icons, start URL): what makes the app installable."""
    return Response(json.dumps(MANIFEST, ensure_ascii=False), media_type="application/manifest+json")


@public.get(
    "/app/lib/{name}",
    response_class=FileResponse,
    responses={200: {"content": {"text/javascript": {}}}, **responses(404, 422)},
)
def library(name: Annotated[str, PathParam(pattern=LIB_NAME)]) -> FileResponse:
    """A library of the app from the npm registry, as installed by ``make install`` (Dexie, Workbox…)."""
    path = NODE_MODULES / LIBS[name]
    if not path.is_file():
        raise Refusal("not_found.library", name=name)
    return FileResponse(path, media_type="text/javascript")
