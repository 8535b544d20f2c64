"""Simulated gridworkers walking their grids and posting through the HTTP API."""

import logging
import random
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import shapely
from shapely.geometry import shape

from cases.categories import REQUEST_GROUP, ROUTINE_GROUP, SlaClass, default_categories
from cli.casework import Casework, Habits
from cli.demo import SIM_SUPERVISOR, sim_gridworker
from geo.crs import from_wgs84
from streams.schema import SCHEMA_VERSION

log = logging.getLogger(__name__)
KIND_MIX = {"patrol": 0.55, "incident": 0.35, "visit": 0.10}
CLASS_WEIGHT = {SlaClass.MINOR: 6.0, SlaClass.GENERAL: 3.0, SlaClass.MAJOR: 1.0, SlaClass.URGENT: 0.5}
CRS_MIX = {"wgs84": 0.75, "gcj02": 0.2, "bd09": 0.05}
RETRY_SHARE = 0.05
NEGLECTED_EVERY = 15  # one household in fifteen is never visited: the due lists show some overdue
INVALID_SHARE = 0.01


@dataclass
class Stats:
    """What the simulator posted and how the API answered."""

    accepted: int = 0
    retried: int = 0
    rejected: int = 0
    unavailable: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass
class Gridworker:
    """One simulated gridworker, the grid they patrol, and the households they are to visit next."""

    reporter: str
    grid: str
    area: shapely.Geometry
    to_visit: list[str] = field(default_factory=list)  # soonest due first, from GET /v1/visits/due


def households_to_visit(due: dict[str, Any]) -> list[str]:
    """The households of a due list in the order to visit them, leaving out the ones this gridworker neglects."""
    listed = [h["household"] for status in ("overdue", "this_week", "later") for h in due[status]]
    return [h for h in listed if zlib.crc32(h.encode()) % NEGLECTED_EVERY]


def fetch_grids(client: httpx.Client, district: str, headers: dict[str, str]) -> list[tuple[str, shapely.Geometry]]:
    """Every grid under ``district`` with its shape, through the areas API."""
    codes = [district]
    for _ in range(3):
        children: list[dict[str, Any]] = []
        for code in codes:
            response = client.get(f"/v1/areas/{code}/children", headers=headers)
            response.raise_for_status()
            children += response.json()["features"]
        codes = [f["properties"]["code"] for f in children]
    return [(f["properties"]["code"], shape(f["geometry"])) for f in children]


def random_point(rng: random.Random, area: shapely.Geometry) -> tuple[float, float]:
    """A uniform point inside ``area``."""
    xmin, ymin, xmax, ymax = area.bounds
    while True:
        x, y = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        if shapely.contains_xy(area, x, y):
            return x, y


def make_event(rng: random.Random, worker: Gridworker) -> dict[str, Any]:
    """A plausible event from ``worker`` now."""
    kind = rng.choices(list(KIND_MIX), weights=list(KIND_MIX.values()))[0]
    if kind == "incident":
        categories = [c for c in default_categories().values() if c.group not in (ROUTINE_GROUP, REQUEST_GROUP)]
        chosen = rng.choices(categories, weights=[CLASS_WEIGHT[c.sla_class] for c in categories])[0]
        category = chosen.code
        condition = rng.choice(chosen.conditions).number if chosen.conditions else None  # named, as a phone does
    else:
        category, condition = ("9001" if kind == "patrol" else "9002"), None
    lon, lat = random_point(rng, worker.area)
    crs = rng.choices(list(CRS_MIX), weights=list(CRS_MIX.values()))[0]
    if category.startswith("BJ"):  # a component: where the phone's GPS put it, to pick the component there
        crs = "wgs84"
    lon, lat = from_wgs84(lon, lat, crs)
    event: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        # A fresh id, as a phone makes one: a seeded id would repeat the last run's ids, and the API
        # refuses those with 409 once the database holds them with other content.
        "id": str(uuid.uuid4()),
        "kind": kind,
        "category": category,
        "occurred_at": datetime.now(UTC).isoformat(),
        "location": {"lon": lon, "lat": lat, "crs": crs, "accuracy_m": round(rng.uniform(3, 30), 1)},
        "reporter": worker.reporter,
        "description": "模拟事件",
    }
    if kind == "incident" and condition:
        event["condition"] = condition
    if kind == "visit":
        if not worker.to_visit:  # nobody on the register to visit: a patrol instead
            return event | {"kind": "patrol", "category": "9001"}
        event["household"] = worker.to_visit.pop(0)
    return event


def name_component(client: httpx.Client, tokens: "Tokens", event: dict[str, Any]) -> None:
    """A component report names the nearest component of its class within 200 m, as the phone offers it."""
    place = event["location"]
    query = {"lon": place["lon"], "lat": place["lat"], "category": event["category"], "within_m": 200}
    try:
        response = client.get("/v1/components/near", params=query, headers=tokens.headers(event["reporter"]))
    except httpx.HTTPError:
        return
    found = response.json()["components"] if response.status_code == 200 else []
    if found:
        event["component"] = found[0]["code"]


def fetch_due(client: httpx.Client, tokens: "Tokens", worker: Gridworker) -> list[str]:
    """The gridworker's households to visit, from their due list (none if the API cannot say now)."""
    try:
        response = client.get("/v1/visits/due", headers=tokens.headers(worker.reporter))
    except httpx.HTTPError:
        return []
    return households_to_visit(response.json()) if response.status_code == 200 else []


class Tokens:
    """Each simulated gridworker signs in once (again when the token expires)."""

    def __init__(self, client: httpx.Client, password: str) -> None:
        self._client = client
        self._password = password
        self._tokens: dict[str, str] = {}

    def headers(self, username: str, renew: bool = False) -> dict[str, str]:
        """The Authorization header of ``username``."""
        if renew or username not in self._tokens:
            response = self._client.post("/v1/token", data={"username": username, "password": self._password})
            response.raise_for_status()
            self._tokens[username] = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[username]}"}


def post(client: httpx.Client, tokens: Tokens, event: dict[str, Any], stats: Stats, stop: threading.Event) -> None:
    """Post like a phone: on 503, 429 or a network error wait and send the same event again."""
    delay = 1.0
    renew = False
    while not stop.is_set():
        try:
            response = client.post("/v1/events", json=event, headers=tokens.headers(event["reporter"], renew))
        except httpx.HTTPError:
            stats.unavailable += 1
            stop.wait(delay)
            delay = min(delay * 2, 30)
            continue
        stats.statuses[response.status_code] = stats.statuses.get(response.status_code, 0) + 1
        if response.status_code == 401 and not renew:  # the token expired: sign in again
            renew = True
            continue
        renew = False
        if response.status_code in (429, 503):
            stats.unavailable += 1
            stop.wait(float(response.headers.get("retry-after", delay)))
            continue
        if response.status_code == 202:
            stats.accepted += 1
        else:
            stats.rejected += 1
        return


def run(
    base_url: str,
    gridworkers: int,
    rate: float,
    stop: threading.Event,
    password: str,
    *,
    district: str = "321111",
    viewer: str = SIM_SUPERVISOR,
    seed: int = 1,
    limit: int | None = None,
    units: dict[str, str] | None = None,
    habits: Habits | None = None,
) -> Stats:
    """Post about ``rate`` events/s from ``gridworkers`` simulated gridworkers until ``stop``.

    The gridworkers are the simulator's own users ``sim-gw-<grid>`` with ``password``; ``viewer`` (same
    password) reads the grids and works the district's cases (``Casework``) beside them, with the ``units``
    users (same password) signing for what is sent to their unit. ``habits=None`` posts events only.
    """
    rng = random.Random(seed)
    stats = Stats()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        tokens = Tokens(client, password)
        if habits is not None:
            staff = Casework(
                httpx.Client(base_url=base_url, timeout=30),
                tokens.headers,
                random.Random(seed + 1),
                district=district,
                supervisor=viewer,
                units=units or {},
                habits=habits,
            )
            threading.Thread(target=staff.run, args=(stop,), name="gridgov-casework", daemon=True).start()
        grids = fetch_grids(client, district, tokens.headers(viewer))
        workers = [
            Gridworker(sim_gridworker(code), code, area)
            for code, area in (grids[i * len(grids) // gridworkers % len(grids)] for i in range(gridworkers))
        ]
        interval = 1.0 / rate
        next_at = time.monotonic()
        sent = 0
        while not stop.is_set() and (limit is None or sent < limit):
            worker = rng.choice(workers)
            if not worker.to_visit:
                worker.to_visit = fetch_due(client, tokens, worker)
            event = make_event(rng, worker)
            if event["category"].startswith("BJ"):
                name_component(client, tokens, event)
            if rng.random() < INVALID_SHARE:
                event["location"]["lat"] = 123.0  # a broken GPS fix: the API must answer 422
            post(client, tokens, event, stats, stop)
            if rng.random() < RETRY_SHARE:  # the phone lost the answer and sends again
                stats.retried += 1
                post(client, tokens, event, stats, stop)
            sent += 1
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))
            if sent % 100 == 0:
                log.info("simulator: %s", stats)
    return stats
