"""The workbench pages of supervisors and departments: the queues and one case (rendered as handed over)."""

from datetime import datetime
from typing import Any

from maps.layers import COMPONENT_STYLE
from web.templating import labels, page

# What each action is called on the buttons (labels act_<action>), in the order the case page offers them.
ACTION_ORDER = (
    "file", "dispatch", "merge", "refuse", "void", "accept", "decline", "resolve", "verify",
    "reject_resolution", "escalate", "extend", "suspend", "approve", "refuse_request", "resume",
)  # fmt: skip


def work_page(
    user: tuple[str, str],
    role: str,
    csrf: str,
    tabs: tuple[str, ...],
    groups: list[tuple[str, str]],
    categories: dict[str, str],
    staff: list[dict[str, Any]],
    tz: str,
    lang: str,
) -> str:
    """The queues: tabs with counts, filters, the list (soonest deadline first), several cases dispatched at once.

    ``staff``: whom the batch dispatch may name (``api.cases.dispatch_choices``).
    """
    text = labels(lang)
    config = {
        "tz": tz,  # deadlines are shown in the city's zone
        "lang": lang,  # sent as Accept-Language: the API's refusals in the page's language
        "csrf": csrf,  # sent as X-Gridgov-CSRF with the cookie: the page holds no token
        "role": role,
        "labels": {k: v for k, v in text.items() if k.startswith(("st_", "lv_", "w_", "role_"))},
        "categories": categories,
    }
    username, shown = user  # the login, and the name people read
    return page(
        "work/index.html",
        lang=lang,
        labels=text,
        username=username,
        shown=shown,
        tabs=tabs,
        groups=groups,
        config=config,
        staff=staff,
    )


def case_page(
    case: dict[str, Any],
    grid: dict[str, Any] | None,
    category_name: str,
    photos: list[dict[str, Any]],
    actions: list[dict[str, Any]],
    staff: list[dict[str, Any]],
    csrf: str,
    lang: str,
    components: str | None = None,
    component_statuses: tuple[str, ...] = (),
    units: list[str] | None = None,
) -> str:
    """One case: a small map with its grid, photos, description, stage deadlines, history, and its actions.

    ``staff``: whom a dispatch may name (``api.cases.dispatch_choices``), the suggested first;
    ``components``: the URL of the component tiles around it, for those who may read the map;
    ``component_statuses``: the states a verification may give the case's component; ``units``: where a
    supervisor may send it instead (改派), none for others.
    """
    text = labels(lang)
    offered = sorted(actions, key=lambda a: ACTION_ORDER.index(a["action"]) if a["action"] in ACTION_ORDER else 99)
    config = {
        "lang": lang,
        "csrf": csrf,
        "case": {"id": case["id"], "lon": case["lon"], "lat": case["lat"]},
        "grid": grid,
        "labels": {k: v for k, v in text.items() if k.startswith("w_")},
        "components": components and {"url": components, **COMPONENT_STYLE},
    }
    return page(
        "work/case.html",
        lang=lang,
        labels=text,
        case=case,
        category_name=category_name,
        photos=photos,
        actions=offered,
        staff=staff,
        config=config,
        component_statuses=component_statuses,
        units=units or [],
    )


RATE_KEYS = frozenset({"closure_rate", "on_time_closure_rate", "rework_rate", "extension_rate", "rate"})


def report_page(report: dict[str, Any], tz: Any, lang: str) -> str:
    """The monthly assessment report as a page to print on A4 (times in the city's zone, rates in per cent)."""

    def show(value: Any, key: str) -> str:
        if value is None:
            return "—"
        return f"{value * 100:.2f}%" if key in RATE_KEYS else str(value)

    def when(value: datetime | None) -> str:
        return "—" if value is None else value.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    def points(value: float | None) -> str:
        return "—" if value is None else f"{value:+.2f}"

    return page(
        "work/reports/monthly.html", lang=lang, labels=labels(lang), r=report, show=show, when=when, points=points
    )
