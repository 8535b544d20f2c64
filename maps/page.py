"""The command-centre map as a folium page, from data it is handed; every asset is local."""

import html
import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import folium
from folium.plugins import HeatMap

ASSETS = "/static"
LEAFLET_JS = f"{ASSETS}/leaflet/leaflet.js"
LEAFLET_CSS = f"{ASSETS}/leaflet/leaflet.css"
HEAT_JS = f"{ASSETS}/folium/leaflet_heat.min.js"
LIVE_JS = f"{ASSETS}/maps/live.js"
# Light to dark red: six classes of the selected metric.
PALETTE = ["#fff5f0", "#fdd0bc", "#fc9272", "#f44d38", "#c5161c", "#67000d"]

LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "网格化治理指挥中心",
        "heat": "事件热力",
        "grids": "网格",
        "streets": "街道",
        "communities": "社区",
        "escalations": "升级案件",
        "open_cases": "未结案件",
        "overdue_cases": "超期案件",
        "in_grid_closure_rate": "小微问题网格内结案率",
        "patrolled_today": "今日已巡查",
        "window": "时间范围",
        "hour": "近1小时",
        "today": "今天",
        "7d": "近7天",
        "level": "层级",
        "age": "已历时",
        "deadline": "期限",
        "category": "类别",
        "grid": "网格",
        "case": "案件",
        "live": "实时",
        "sign_out": "退出",
        "yes": "是",
        "no": "否",
    },
    "en": {
        "title": "Grid governance command centre",
        "heat": "Incident heat",
        "grids": "Grids",
        "streets": "Streets",
        "communities": "Communities",
        "escalations": "Escalated cases",
        "open_cases": "Open cases",
        "overdue_cases": "Overdue cases",
        "in_grid_closure_rate": "Minor cases closed in the grid",
        "patrolled_today": "Patrolled today",
        "window": "Window",
        "hour": "last hour",
        "today": "today",
        "7d": "7 days",
        "level": "Level",
        "age": "Age",
        "deadline": "Deadline",
        "category": "Category",
        "grid": "Grid",
        "case": "Case",
        "live": "live",
        "sign_out": "Sign out",
        "yes": "yes",
        "no": "no",
    },
}
Metric = Literal["open_cases", "overdue_cases", "in_grid_closure_rate", "patrolled_today"]
Window = Literal["hour", "today", "7d"]
METRICS: tuple[str, ...] = get_args(Metric)
WINDOWS: tuple[str, ...] = get_args(Window)


@dataclass
class MapData:
    """Everything the page shows, already aggregated and scoped by the caller."""

    area_name: str
    bounds: tuple[float, float, float, float]  # lon/lat min, max
    grids: dict[str, Any]  # FeatureCollection with properties.value (the metric)
    context: list[tuple[str, dict[str, Any]]]  # (label key, FeatureCollection) of streets/communities
    heat: list[tuple[float, float, float]]  # lat, lon, weight
    escalations: list[dict[str, Any]]
    metric: str = "open_cases"
    window: str = "today"
    lang: str = "zh"
    area: str | None = None
    tile_url: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _classes(values: list[float]) -> list[float]:
    top = max(values, default=0.0) or 1.0
    return [top * i / len(PALETTE) for i in range(1, len(PALETTE))]


def _colour(value: float | None, breaks: list[float]) -> str:
    if value is None:
        return "#cccccc"
    return PALETTE[sum(value > b for b in breaks)]


def _legend(title: str, breaks: list[float], metric: str, labels: dict[str, str]) -> str:
    rate = metric == "in_grid_closure_rate"
    if metric == "patrolled_today":
        rows = [(PALETTE[0], labels["yes"]), (PALETTE[-1], labels["no"])]
    else:
        edges = [0.0, *breaks]
        rows = [(PALETTE[i], f"≥ {e:.0%}" if rate else f"≥ {e:.1f}") for i, e in enumerate(edges)]
    items = "".join(
        f'<div><span style="background:{c};width:14px;height:14px;display:inline-block;'
        f'border:1px solid #999;margin-right:4px"></span>{html.escape(t)}</div>'
        for c, t in rows
    )
    return (
        '<div id="gridgov-legend" style="position:fixed;bottom:30px;right:12px;z-index:1000;background:#fff;'
        f'padding:8px 10px;border:1px solid #999;font:12px sans-serif"><b>{html.escape(title)}</b>{items}</div>'
    )


def _title(data: MapData, labels: dict[str, str]) -> str:
    links = " · ".join(
        f'<a href="?{_query(data, window=w)}">{html.escape(labels[w])}</a>'
        if w != data.window
        else f"<b>{html.escape(labels[w])}</b>"
        for w in WINDOWS
    )
    metrics = " · ".join(
        f'<a href="?{_query(data, metric=m)}">{html.escape(labels[m])}</a>'
        if m != data.metric
        else f"<b>{html.escape(labels[m])}</b>"
        for m in METRICS
    )
    other = "en" if data.lang == "zh" else "zh"
    return (
        '<div id="gridgov-title" style="position:fixed;top:10px;left:60px;z-index:1000;background:#fff;'
        'padding:6px 12px;border:1px solid #999;font:13px sans-serif">'
        f'<div style="font-size:18px"><b>{html.escape(data.area_name)} · {html.escape(labels["title"])}</b>'
        f' <span id="gridgov-live" style="color:#888">● {html.escape(labels["live"])}</span></div>'
        f"<div>{html.escape(labels['window'])}: {links}</div><div>{metrics}</div>"
        f'<div><a href="?{_query(data, lang=other)}">{"English" if other == "en" else "中文"}</a>'
        f' · <form method="post" action="/logout" style="display:inline"><button type="submit">'
        f"{html.escape(labels['sign_out'])}</button></form></div></div>"
    )


def _query(data: MapData, **changes: str) -> str:
    params = {"metric": data.metric, "window": data.window, "lang": data.lang} | changes
    if data.area:
        params["area"] = data.area
    return html.escape("&".join(f"{k}={v}" for k, v in params.items()))


def _popup(case: dict[str, Any], labels: dict[str, str]) -> str:
    rows = [
        (labels["category"], case["category_name"]),
        (labels["grid"], case["grid"]),
        (labels["level"], case["level"]),
        (labels["age"], case["age"]),
        (labels["deadline"], case["deadline"]),
    ]
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    link = f'<a href="/v1/cases/{html.escape(case["id"])}" target="_blank">{html.escape(labels["case"])} JSON</a>'
    return f"<table>{body}</table>{link}"


def render(data: MapData, max_live_points: int = 5000) -> str:
    """The complete HTML page."""
    labels = LABELS[data.lang]
    xmin, ymin, xmax, ymax = data.bounds
    m = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    # Only local assets: Leaflet from the npm registry, the heat plugin from folium's wheel.
    m.default_js = [("leaflet", LEAFLET_JS)]
    m.default_css = [("leaflet_css", LEAFLET_CSS)]
    if data.tile_url:
        folium.TileLayer(data.tile_url, attr="tiles", name="base").add_to(m)
    m.fit_bounds([[ymin, xmin], [ymax, xmax]])

    values = [f["properties"]["value"] for f in data.grids["features"] if f["properties"]["value"] is not None]
    breaks = [0.5] if data.metric == "patrolled_today" else _classes(values)
    for feature in data.grids["features"]:
        value = feature["properties"]["value"]
        if data.metric == "patrolled_today":  # a grid nobody patrolled is the alarm
            feature["properties"]["colour"] = PALETTE[0] if value else PALETTE[-1]
        else:
            feature["properties"]["colour"] = _colour(value, breaks)
    folium.GeoJson(
        data.grids,
        name=labels["grids"],
        style_function=lambda f: {
            "fillColor": f["properties"]["colour"],
            "color": "#777",
            "weight": 0.5,
            "fillOpacity": 0.65,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["name", "code", "value"], aliases=[labels["grid"], "", labels[data.metric]]
        ),
    ).add_to(m)
    for key, collection in data.context:
        folium.GeoJson(
            collection,
            name=labels[key],
            style_function=lambda f, w=2.5 if key == "streets" else 1.2: {"fill": False, "color": "#333", "weight": w},
        ).add_to(m)
    points = [list(p) for p in data.heat]
    heat = HeatMap(points, name=labels["heat"], radius=14, blur=18, min_opacity=0.3)  # type: ignore[no-untyped-call]
    heat.default_js = [("leaflet-heat.js", HEAT_JS)]
    heat.add_to(m)
    # Markers are drawn by live.js (as live ones are): folium's HTML popups would need jQuery from a CDN.
    escalated = folium.FeatureGroup(name=labels["escalations"]).add_to(m)
    markers = [{"id": c["id"], "lat": c["lat"], "lon": c["lon"], "popup": _popup(c, labels)} for c in data.escalations]
    folium.LayerControl(collapsed=False).add_to(m)
    root: Any = m.get_root()
    root.html.add_child(folium.Element(_title(data, labels)))
    root.html.add_child(folium.Element(_legend(labels[data.metric], breaks, data.metric, labels)))
    config = {
        "map": m.get_name(),
        "heat": heat.get_name(),
        "escalations": escalated.get_name(),
        "area": data.area or "",
        "base": points,
        "markers": markers,
        "maxPoints": max_live_points,
        "lang": data.lang,
    }
    root.html.add_child(
        folium.Element(f'<script>window.GRIDGOV = {json.dumps(config)};</script><script src="{LIVE_JS}"></script>')
    )
    rendered: str = root.render()
    return rendered


def escalations_page(area_name: str, cases: list[dict[str, Any]], lang: str = "zh") -> str:
    """A supervisor's list of open escalated and overdue cases, soonest deadline first."""
    labels = LABELS[lang]
    head = ["case", "category", "grid", "level", "deadline", "age"]
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td><a href="/v1/cases/{html.escape(c["id"])}">{html.escape(c["id"][:8])}</a></td>'
            if k == "case"
            else f"<td>{html.escape(str(c['category_name'] if k == 'category' else c[k]))}</td>"
            for k in head
        )
        + "</tr>"
        for c in cases
    )
    headers = "".join(f"<th>{html.escape(labels[k])}</th>" for k in head)
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(area_name)} · '
        f"{html.escape(labels['escalations'])}</title><style>body{{font:14px sans-serif;margin:16px}}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>"
        f"</head><body><h1>{html.escape(area_name)} · {html.escape(labels['escalations'])} ({len(cases)})</h1>"
        f"<table><thead><tr>{headers}</tr></thead><tbody>{rows}</tbody></table></body></html>"
    )


def login_page(next_path: str, error: str = "") -> str:
    """The sign-in form of the map pages (bilingual)."""
    failed = '<p style="color:#b00">用户名或密码错误 · Wrong username or password</p>' if error else ""
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>gridgov · 登录 Sign in</title>'
        "<style>body{font:15px sans-serif;margin:40px auto;max-width:320px}label,input,button{display:block;"
        "width:100%;margin:6px 0}input{padding:6px}button{padding:8px}</style></head><body>"
        f"<h1>gridgov · 登录 Sign in</h1>{failed}"
        '<form method="post" action="/login">'
        f'<input type="hidden" name="next" value="{html.escape(next_path)}">'
        '<label>用户名 Username<input name="username" autocomplete="username" required maxlength="64"></label>'
        '<label>密码 Password<input name="password" type="password" autocomplete="current-password" required'
        ' maxlength="256"></label><button type="submit">登录 Sign in</button></form></body></html>'
    )
