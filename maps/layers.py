"""What draws the command-centre map: its layers (grids from vector tiles, context outlines, heat) and their colours.

The browser side of the grid painter and of the live and heat layers is ``web/static/maps`` (gridtiles.js,
live.js); the page around them is ``web.city_map``.
"""

import math
from typing import Any, Literal, get_args

import folium
from folium.template import Template

NO_VALUE = "#cccccc"
# Light to dark red: six classes of the selected metric.
PALETTE = ["#fff5f0", "#fdd0bc", "#fc9272", "#f44d38", "#c5161c", "#67000d"]

Metric = Literal["open_cases", "overdue_cases", "in_grid_closure_rate", "patrolled_today", "overdue_visits"]
Window = Literal["hour", "today", "7d"]
METRICS: tuple[str, ...] = get_args(Metric)
WINDOWS: tuple[str, ...] = get_args(Window)


# How the context layers are drawn: outlines of the levels above the grids; overlay grids (党建, 专属) over them.
CONTEXT_STYLES: dict[str, dict[str, Any]] = {
    "streets": {"fill": False, "color": "#333", "weight": 2.5},
    "communities": {"fill": False, "color": "#333", "weight": 1.2},
    "party_grids": {"fill": False, "color": "#c0392b", "weight": 2, "dashArray": "6 4"},
    "special_grids": {"fillColor": "#1f78b4", "fillOpacity": 0.25, "color": "#1f78b4", "weight": 2},
}
OVERLAYS = ("party_grids", "special_grids")


def latlng(bounds: tuple[float, float, float, float]) -> list[list[float]]:
    """Bounds (lon/lat min, max) as Leaflet takes them: [[south, west], [north, east]]."""
    xmin, ymin, xmax, ymax = bounds
    return [[ymin, xmin], [ymax, xmax]]


def _classes(values: list[float]) -> list[float]:
    top = max(values, default=0.0) or 1.0
    return [top * i / len(PALETTE) for i in range(1, len(PALETTE))]


class GridTiles(folium.map.Layer):
    """The grid layer from vector tiles, coloured by value in the browser (gridtiles.js)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = gridgovGrids(
                Object.assign({{ this.options|tojson }}, {values: {{ this.values }}}));
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, name: str, options: dict[str, Any], values: str) -> None:
        """``values``: a value per grid, as a script expression (the page's largest part)."""
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "GridTiles"
        self.options = options
        self.values = values


class ComponentTiles(folium.map.Layer):
    """The components (部件) from vector tiles, a dot per component coloured by class (components.js)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = gridgovComponents({{ this.options|tojson }});
            {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        """``options``: url, bounds and COMPONENT_STYLE."""
        super().__init__(name=name, overlay=True, control=True, show=True)
        self._name = "ComponentTiles"
        self.options = options


# Lamps yellow, covers grey-blue, bins green, everything else purple; an open case rings its component red.
COMPONENT_STYLE = {
    "colours": {
        "BJ0116": "#f2b705", "BJ0101": "#4a6fa5", "BJ0102": "#6b5b95", "BJ0103": "#4a6fa5", "BJ0104": "#7f8c8d",
        "BJ0304": "#2e8b57",
    },
    "other": "#8e44ad",
    "open": "#d7191c",
}  # fmt: skip


def grid_style(metric: str, values: dict[str, float]) -> dict[str, Any]:
    """Breaks and colours of the metric: six classes up to the largest value; a grid not patrolled is dark."""
    if metric == "patrolled_today":  # a grid nobody patrolled is the alarm
        return {"breaks": [0.5], "classes": [PALETTE[-1], PALETTE[0]], "none": NO_VALUE}
    breaks = _classes(list(values.values()))
    if metric != "in_grid_closure_rate":  # a count: classes start at whole numbers (≥ 1, never ≥ 0.3)
        breaks = sorted({math.ceil(b) for b in breaks})
    return {"breaks": breaks, "classes": PALETTE, "none": NO_VALUE}
