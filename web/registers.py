"""The register's pages on the workbench: search, buildings, households, people, changes to decide, imports.

A person's page is masked; their grid's staff open it for a purpose chosen from a list (``PURPOSES``).
"""

from datetime import datetime
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from web.templating import labels, page

# Why a person's record is opened: the page offers these (labels purpose_<key>), the access log keeps the choice.
Purpose = Literal["visit", "verify", "case", "assist", "safety"]
PURPOSES: tuple[str, ...] = get_args(Purpose)


def purpose_text(key: str) -> str:
    """What the access log keeps for a purpose chosen on a page: its Chinese name and its key."""
    return f"{labels('zh')['purpose_' + key]} ({key})"


def _config(lang: str, csrf: str, **more: Any) -> dict[str, Any]:
    text = labels(lang)
    return {
        "lang": lang,
        "csrf": csrf,
        "labels": {k: v for k, v in text.items() if k.startswith(("reg_", "w_err"))},
    } | more


def register_page(
    view: str, lang: str, csrf: str, tz: ZoneInfo, title: str, data: dict[str, Any], **config: Any
) -> str:
    """One of the register's pages (``view``: index, building, household, person, changes, import)."""

    def when(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    return page(
        f"work/registers/{view}.html",
        lang=lang,
        labels=labels(lang),
        title=title,
        d=data,
        when=when,
        purposes=PURPOSES,
        config=_config(lang, csrf, **config),
    )
