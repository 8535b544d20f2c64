"""The command centre's wall screen: the page; its script draws the numbers the API gives it."""

from typing import Any

from web.templating import labels, page

# The tiles, in order; each is a field of GET /v1/indicators for the area and today, or of
# GET /v1/indicators/backlog (the reports not taken in yet): screen.js reads them.
TILES = (
    "received_today",
    "awaiting_intake",
    "intake_overdue",
    "open",
    "overdue",
    "closure_rate",
    "on_time_closure_rate",
    "in_grid_closure_rate_minor",
    "patrol_coverage",
)

SCRIPT_LABELS = ("received", "closed", "overdue", "on_time_closure_rate", "new_report", "escalated", "offline")
BACKLOG_TILES = ("awaiting_intake", "intake_overdue")  # from GET /v1/indicators/backlog


def screen_page(
    area: str,
    area_name: str,
    bounds: tuple[float, float, float, float],
    tz: str,
    categories: dict[str, str],
    areas: dict[str, str],
    lang: str,
) -> str:
    """The 1920×1080 dark screen of ``area``; ``categories`` and ``areas`` name the codes in the ticker."""
    text = labels(lang)
    config: dict[str, Any] = {
        "area": area,
        "bounds": bounds,
        "tz": tz,
        "categories": categories,
        "areas": areas,
        "levels": {key.removeprefix("lv_"): word for key, word in text.items() if key.startswith("lv_")},
        "labels": {k: text[k] for k in (*SCRIPT_LABELS, "rest_day")},
    }
    return page("screen.html", area=area, area_name=area_name, lang=lang, labels=text, tiles=TILES, config=config)
