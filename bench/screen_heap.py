"""The wall screen through a working day in small: does its memory stay bounded?

    python bench/screen_heap.py [--minutes 30] [--rate 5] [--every 3]

The simulator posts events and works the cases of the demo city through the API (a worker records
them) for ``--minutes``, while headless Chromium shows ``/screen`` of the district. Every ``--every``
minutes, after a garbage collection, it prints the page's JS heap and DOM nodes, with the heap as a
ratio of the first sample (the baseline, taken in the same run once the screen has drawn).
"""

import argparse
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.accounts import add_users  # noqa: E402
from api.app import create_app  # noqa: E402
from bench.prepare import bench_settings, drop  # noqa: E402
from cli.casework import Habits  # noqa: E402
from cli.demo import demo_users, sim_units  # noqa: E402
from cli.simulate import run as simulate  # noqa: E402
from db.engine import make_engine  # noqa: E402
from geo.demo import DEMO_DISTRICT  # noqa: E402
from geo.locator import Locator  # noqa: E402
from streams.worker import open_worker  # noqa: E402
from tests.server import serve  # noqa: E402
from tests.test_map_browser import ARGS, CHROMIUM  # noqa: E402

PASSWORD = "bench-password"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=5, help="events a second from the simulator")
    parser.add_argument("--every", type=float, default=3, help="minutes between two samples")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or args.every <= 0:
        parser.error("--minutes, --rate and --every must be positive")
    from playwright.sync_api import sync_playwright

    settings = bench_settings()
    engine = make_engine(settings.database.url)
    units = sim_units(list(settings.rules().departments.values()))
    add_users(engine, demo_users(engine, list(units)), PASSWORD)
    stop = threading.Event()
    worker = open_worker(settings.kafka, engine, Locator(engine), group_id="screen-bench")
    threading.Thread(target=worker.run, args=(stop,), daemon=True).start()
    try:
        with serve(create_app(settings)) as base, sync_playwright() as p:
            threading.Thread(
                target=simulate,
                args=(base, 50, args.rate, stop, PASSWORD),
                kwargs={"units": units, "habits": Habits()},
                daemon=True,
            ).start()
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.goto(f"{base}/screen?area={DEMO_DISTRICT}")
            page.fill("input[name=username]", "district")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_function("window.gridgovScreen && window.gridgovScreen.refreshed >= 1", timeout=60_000)
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            start = time.monotonic()
            baseline = None
            columns = ("minute", "JS heap MB", "× first", "DOM nodes", "ticker lines", "refreshes")
            print(" ".join(f"{c:>{w}}" for c, w in zip(columns, (7, 11, 8, 10, 13, 10), strict=True)))
            while True:
                cdp.send("HeapProfiler.collectGarbage")
                metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                heap = metrics["JSHeapUsedSize"] / 1e6
                baseline = baseline or heap
                screen = page.evaluate("window.gridgovScreen")
                minute = (time.monotonic() - start) / 60
                print(
                    f"{minute:7.1f} {heap:11.2f} {heap / baseline:8.2f} {metrics['Nodes']:10.0f}"
                    f" {screen['ticker']:13d} {screen['refreshed']:10d}",
                    flush=True,
                )
                if minute >= args.minutes:
                    break
                page.wait_for_timeout(min(args.every, args.minutes - minute) * 60_000)
            browser.close()
    finally:
        stop.set()
        engine.dispose()
        drop(settings)


if __name__ == "__main__":
    main()
