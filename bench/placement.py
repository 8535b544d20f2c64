"""The gridworker's own-grid check (api.placement): µs per event in a batch of 500 against one post at a time.

Pure and in-process (no services): 300 square grids, points inside the worker's grid.
Prints both figures and their ratio, measured in the same run.
"""

import json
import time

from shapely.geometry import box

from api.access import Principal, Role
from api.placement import in_own_grid
from geo.grid_index import GridIndex
from streams.schema import Event, example_event

CODES = [f"321111001001{i:03d}" for i in range(300)]
GRIDS = [
    box(119.4 + 0.01 * (i % 20), 32.2 + 0.01 * (i // 20), 119.41 + 0.01 * (i % 20), 32.21 + 0.01 * (i // 20))
    for i in range(300)
]


def per_event_us(index: GridIndex, events: list[Event], worker: Principal, rounds: int) -> float:
    """Mean µs per event over ``rounds`` checks of the whole list."""
    start = time.perf_counter()
    for _ in range(rounds):
        in_own_grid(index, events, worker, batch=True)
    return (time.perf_counter() - start) / (rounds * len(events)) * 1e6


def main() -> None:
    index = GridIndex(1, CODES, GRIDS)
    worker = Principal("gw", Role.GRIDWORKER, CODES[0])
    body = example_event() | {"reporter": "gw", "location": {"lon": 119.405, "lat": 32.205, "crs": "wgs84"}}
    event = Event.model_validate_json(json.dumps(body, default=str))
    batch = per_event_us(index, [event] * 500, worker, 20)
    single = per_event_us(index, [event], worker, 5000)
    print(
        f"own-grid check: {batch:.1f} µs/event in a batch of 500, {single:.1f} µs a single post (×{single / batch:.0f})"
    )


if __name__ == "__main__":
    main()
