"""The map pages' Jinja2 templates and their label catalogues (one YAML per language)."""

import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
TRANSLATIONS = HERE / "translations"
LANGUAGES = ("zh", "en")
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), undefined=StrictUndefined
)


@cache
def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang`` from its catalogue."""
    if lang not in LANGUAGES:
        raise ValueError(f"no labels for language {lang!r}; known: {', '.join(LANGUAGES)}")
    loaded: dict[str, str] = yaml.safe_load((TRANSLATIONS / f"{lang}.yaml").read_text(encoding="utf-8"))
    return loaded


def page(template: str, **context: Any) -> str:
    """``template`` rendered with ``context`` (HTML-escaped)."""
    return _ENV.get_template(template).render(**context)


def script_data(value: Any) -> str:
    """``value`` as a JavaScript expression for an inline script: ``JSON.parse`` of a string.

    The browser reads that faster than an object literal of the same size; ``<``, ``>`` and ``&`` are
    escaped so that no text in it can end the script.
    """
    literal = json.dumps(json.dumps(value, ensure_ascii=False, separators=(",", ":")), ensure_ascii=False)
    return "JSON.parse(" + literal.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") + ")"
