"""The one Jinja2 environment of every page, the label catalogues (one YAML per language), and where files live.

``templates/`` mirrors the URLs (``work/case.html`` is ``/work/cases/{id}``); ``static/`` holds this
project's scripts, styles and icons (``static/maps`` is served at ``/static/maps``, ``static/app`` at
``/app/static``); ``assets/`` the npm manifest and what ``npm install`` put in ``node_modules``.
"""

import json
import secrets
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
TRANSLATIONS = HERE / "translations"
STATIC = HERE / "static"
NODE_MODULES = HERE / "assets" / "node_modules"  # every front-end package from the npm registry
LANGUAGES = ("zh", "en")
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), undefined=StrictUndefined
)
# The page being answered may run only its own inline scripts: those carrying this nonce (see ``policy``).
_NONCE: ContextVar[str] = ContextVar("csp_nonce", default="")


def new_nonce() -> str:
    """A fresh nonce for the page about to be rendered (in this request's context)."""
    value = secrets.token_urlsafe(16)
    _NONCE.set(value)
    return value


def nonce() -> str:
    """The nonce of the page being rendered; a template writes it on each inline script it runs."""
    return _NONCE.get()


def with_nonce(html: str) -> str:
    """Every inline ``<script>`` of ``html`` (a page another library built, folium's) given the page's nonce."""
    return html.replace("<script>", f'<script nonce="{nonce()}">')


def policy(page_nonce: str, images: tuple[str, ...] = ()) -> str:
    """The Content-Security-Policy of a page: this site alone, and inline scripts only with the page's nonce.

    ``images``: other origins a page may load images from (a base map's tile server). Leaflet and
    ECharts set inline styles, and photos are shown as blobs.
    """
    img_src = " ".join(("'self'", "data:", "blob:", *images))
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{page_nonce}'; style-src 'self' 'unsafe-inline';"
        f" img-src {img_src};"
        " connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self';"
        " frame-ancestors 'none'"
    )


@cache
def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang`` from its catalogue."""
    if lang not in LANGUAGES:
        raise ValueError(f"no labels for language {lang!r}; known: {', '.join(LANGUAGES)}")
    loaded: dict[str, str] = yaml.safe_load((TRANSLATIONS / f"{lang}.yaml").read_text(encoding="utf-8"))
    return loaded


def page(template: str, **context: Any) -> str:
    """``template`` rendered with ``context`` (HTML templates HTML-escaped)."""
    return _ENV.get_template(template).render(nonce=nonce, **context)


def script_data(value: Any) -> str:
    """``value`` as a JavaScript expression for an inline script: ``JSON.parse`` of a string.

    The browser reads that faster than an object literal of the same size; ``<``, ``>`` and ``&`` are
    escaped so that no text in it can end the script.
    """
    literal = json.dumps(json.dumps(value, ensure_ascii=False, separators=(",", ":")), ensure_ascii=False)
    return "JSON.parse(" + literal.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + ")"
