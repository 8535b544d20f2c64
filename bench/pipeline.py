"""The recording pipeline end to end, with its baselines measured in the same run.

    python bench/pipeline.py [--events 60000]

Prints: sustained events/s from the raw topic to committed rows with 1 and 2
worker processes; the bare COPY rate of the same rows into the same table; the
raw kafka-python consume rate; a naive peer (one ST_Contains query and one
INSERT per event); HTTP ingest events/s, single and batch posts, against the
same app answering 202 without Kafka; POST-to-row latency p50/p99 at 1,000
events/s offered; single posts per API process beside the previous method (one
receipt and one produce per post) and a bare FastAPI endpoint, and their p99 at
1,000 posts/s on ``--workers 2``.

    python bench/pipeline.py --single-posts    # only the single-post figures
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app  # noqa: E402
from api.intake import Accepted, Intake  # noqa: E402
from api.settings import Settings  # noqa: E402
from bench.prepare import (  # noqa: E402
    CpuMeter,
    bench_headers,
    bench_settings,
    demo_points,
    drop,
    event_dict,
    received_bytes,
    serve,
    worker_env,
)
from db.engine import make_engine  # noqa: E402
from geo.locator import Locator  # noqa: E402
from streams import stages  # noqa: E402
from streams.kafka import consumer, producer  # noqa: E402
from streams.producer import EventProducer, Message  # noqa: E402
from streams.schema import Event  # noqa: E402
from streams.topics import Topics  # noqa: E402
from streams.writer import EVENT_COLUMNS, EVENT_TYPES, event_row  # noqa: E402


class NullProducer(EventProducer):
    """Accepts at once: the no-Kafka baseline of the ingest benchmark."""

    def publish(self, records: list[Message]) -> None:
        return None

    async def deliver(self, records: list[Message]) -> None:
        return None

    def prepare(self, topics: list[str]) -> None:
        return None


def conninfo(settings: Settings) -> str:
    return settings.database.url.replace("postgresql+psycopg://", "postgresql://")


def count_rows(settings: Settings, reporter: str = "gw-bench") -> int:
    with psycopg.connect(conninfo(settings)) as conn:
        row = conn.execute("SELECT count(*) FROM event WHERE reporter = %s", (reporter,)).fetchone()
        return int(row[0]) if row else 0


def fill_raw(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    client = producer(settings.kafka, linger_ms=20, batch_size=512 * 1024)
    topic = Topics.from_prefix(settings.kafka.topic_prefix).raw
    for key, value in messages:
        client.send(topic, key=key, value=value)
    client.flush()
    client.close()


def workers_rate(n_workers: int, messages: list[tuple[bytes, bytes]]) -> tuple[float, dict[str, float]]:
    """Events/s from the first committed row to the last, raw topic filled beforehand; and the CPU
    microseconds an event took meanwhile in the worker processes, PostgreSQL and the broker."""
    settings = bench_settings()
    try:
        fill_raw(settings, messages)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker", "--batch-size", "5000"],
                env=worker_env(settings),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(n_workers)
        ]
        meter = CpuMeter(settings, [p.pid for p in procs])
        try:
            while (first := count_rows(settings)) == 0:
                time.sleep(0.02)
            start, cpu_start = time.perf_counter(), meter.read()
            # Counting scans the table: every 0.2 s, or the benchmark itself loads the database.
            while (done := count_rows(settings)) < len(messages):
                time.sleep(0.2)
            elapsed, cpu_end = time.perf_counter() - start, meter.read()
            per_event = {k: v / (done - first) * 1e6 for k, v in meter.used(cpu_start, cpu_end).items()}
            return (done - first) / elapsed, per_event
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait()
    finally:
        drop(settings)


def bare_copy_rate(settings: Settings, messages: list[tuple[bytes, bytes]]) -> float:
    """Rows/s of binary COPY into ``event``, the rows encoded beforehand: the database's own limit."""
    engine = make_engine(settings.database.url)
    decoded, _ = stages.decode([stages.RawRecord("t", 0, i, k, v) for i, (k, v) in enumerate(messages)])
    located = stages.locate(decoded, Locator(engine).index())
    engine.dispose()
    columns = ", ".join(EVENT_COLUMNS)
    statement = f"COPY event ({columns}) FROM STDIN (FORMAT BINARY)"
    with psycopg.connect(conninfo(settings)) as conn:
        # What a COPY client would send, encoded by the server before the clock starts.
        conn.execute("CREATE TEMP TABLE staged (LIKE event INCLUDING DEFAULTS)")
        with conn.cursor().copy(f"COPY staged ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(EVENT_TYPES))
            for item in located:
                copy.write_row(event_row(item))
        chunks = []
        for i in range(0, len(located), 5000):
            query = f"COPY (SELECT {columns} FROM staged WHERE source_offset >= {i} AND source_offset < {i + 5000})"
            with conn.cursor().copy(query + " TO STDOUT (FORMAT BINARY)") as copy:
                chunks.append(b"".join(bytes(block) for block in copy))
        start = time.perf_counter()
        for chunk in chunks:
            with conn.cursor().copy(statement) as copy:
                copy.write(chunk)
            conn.commit()
        rate = len(located) / (time.perf_counter() - start)
        conn.execute("DELETE FROM event")
        conn.commit()
    return rate


def consume_rate(settings: Settings, n: int) -> float:
    client = consumer(
        settings.kafka,
        f"bench-{uuid.uuid4().hex[:6]}",
        Topics.from_prefix(settings.kafka.topic_prefix).raw,
        max_poll_records=5000,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    got = 0
    while got == 0:
        got += sum(len(r) for r in client.poll(timeout_ms=500).values())
    start = time.perf_counter()
    first = got
    while got < n:
        got += sum(len(r) for r in client.poll(timeout_ms=500).values())
    rate = (got - first) / (time.perf_counter() - start)
    client.close()
    return rate


def naive_rate(settings: Settings, messages: list[tuple[bytes, bytes]]) -> float:
    """One ST_Contains lookup and one INSERT (own transaction) per event."""
    decoded, _ = stages.decode([stages.RawRecord("t", 0, i, k, v) for i, (k, v) in enumerate(messages)])
    lookup = (
        "SELECT a.code FROM active_area a"
        " WHERE a.level = 'grid' AND ST_Contains(a.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) LIMIT 1"
    )
    columns = ", ".join(EVENT_COLUMNS)
    values = [
        "%s::jsonb" if c == "attachments" else "ST_GeomFromEWKB(%s)" if c == "geom" else "%s" for c in EVENT_COLUMNS
    ]
    attachments = EVENT_COLUMNS.index("attachments")
    insert = f"INSERT INTO event ({columns}) VALUES ({', '.join(values)}) ON CONFLICT DO NOTHING"
    with psycopg.connect(conninfo(settings), autocommit=True) as conn:
        start = time.perf_counter()
        for d in decoded:
            loc = d.received.event.location
            row = conn.execute(lookup, (loc.lon, loc.lat), prepare=True).fetchone()
            grid = row[0] if row else None
            item = stages.LocatedEvent(d, loc.lon, loc.lat, grid, "inside" if grid else "none", 0)
            params = list(event_row(item))
            params[attachments] = Jsonb(d.received.event.attachments)
            conn.execute(insert, params, prepare=True)
        rate = len(decoded) / (time.perf_counter() - start)
        conn.execute("DELETE FROM event")
    return rate


def kafka_app() -> object:
    """The real app (``uvicorn --factory``), settings from the environment."""
    return create_app(Settings())


class OnePostAtATime(Intake):
    """The method before grouping: each post's receipt and produce on their own, in the threadpool."""

    async def accept(self, events: list[Event]) -> Accepted:
        return await run_in_threadpool(self.accept_now, events)


def per_post_app() -> object:
    """The real app taking posts one at a time (the previous method), with the same durable receipts."""
    app = create_app(Settings())
    startup = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with startup(app):
            intake = app.state.intake
            app.state.intake = OnePostAtATime(intake.engine, intake.producer, intake.topics, durable=intake.durable)
            yield

    app.router.lifespan_context = lifespan
    return app


def bare_app() -> object:
    """FastAPI's own limit: the same model and route shape, no auth, database or Kafka."""
    app = FastAPI()

    @app.post("/v1/events", status_code=202)
    async def post_event(request: Request) -> Accepted:
        event = Event.model_validate_json(await request.body(), context={"now": datetime.now(UTC)})
        return Accepted(accepted=[event.id], received_at=datetime.now(UTC))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def null_app() -> object:
    """The same app answering 202 without Kafka."""
    settings = Settings()
    return create_app(settings, producer=NullProducer(settings.kafka))


class Poster:
    """A lean HTTP/1.1 client on keep-alive connections: the load generator must not eat the
    cores the platform runs on (httpx took ~0.6 of a core at 1,000 posts/s on this machine)."""

    def __init__(self, port: int, headers: dict[str, str], connections: int) -> None:
        self.port = port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        self.size = connections
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def __aenter__(self) -> "Poster":
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        while not self.idle.empty():
            self.idle.get_nowait()[1].close()

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Status and body of one POST of JSON ``body``."""
        reader, writer = await self.idle.get()
        writer.write(
            b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (path.encode(), self.head, len(body))
            + body
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        answer = await reader.readexactly(length)
        self.idle.put_nowait((reader, writer))
        return status, answer


async def _load(
    port: int, bodies: list[bytes], batch: int, concurrency: int, seconds: float, headers: dict[str, str]
) -> float:
    sent = 0
    stop_at = time.perf_counter() + seconds
    path = "/v1/events" if batch == 1 else "/v1/events/batch"

    async def client_loop(poster: Poster, offset: int) -> None:
        nonlocal sent
        i = offset
        while time.perf_counter() < stop_at:
            if batch == 1:
                body = bodies[i % len(bodies)]
            else:
                body = b'{"events":[' + b",".join(bodies[(i * batch + j) % len(bodies)] for j in range(batch)) + b"]}"
            status, answer = await poster.post(path, body)
            assert status == 202, answer
            sent += batch
            i += concurrency

    async with Poster(port, headers, concurrency) as poster:
        start = time.perf_counter()
        await asyncio.gather(*(client_loop(poster, k) for k in range(concurrency)))
        return sent / (time.perf_counter() - start)


SINGLE_ROUNDS = 6  # rounds of single posts; each round loads every app once, in turn
SINGLE_SECONDS = 3  # each app's load in a round


def single_rates(settings: Settings, points: list[tuple[float, float]]) -> dict[str, float]:
    """Single posts against the real app, without Kafka, the previous one-at-a-time method and a bare
    FastAPI endpoint: the median of ``SINGLE_ROUNDS`` rounds, the apps loaded in turn within each round.

    This machine's speed drifts by tens of percent over a minute, so the real app and the bare endpoint
    are loaded back to back, in turns (ABBA: neither is always the one after the other), and ``"x bare"``
    is the median of those pairs' ratios; ``"x bare range"`` their lowest and highest.
    """
    rng = random.Random(6)
    headers = bench_headers(settings)
    apps = {"grouped": "kafka_app", "no Kafka": "null_app", "one at a time": "per_post_app", "bare FastAPI": "bare_app"}
    ports = {name: 18_767 + n for n, name in enumerate(apps)}
    servers = [serve(f"bench.pipeline:{factory}", settings, ports[name]) for name, factory in apps.items()]
    rounds: dict[str, list[float]] = {name: [] for name in apps}
    try:
        for name in apps:  # warm up: connections, caches, the first calls' paths
            bodies = [json.dumps(event_dict(rng, points)).encode() for _ in range(2_000)]
            asyncio.run(_load(ports[name], bodies, 1, 64, 1, headers))
        for n in range(SINGLE_ROUNDS):
            pair = ["grouped", "bare FastAPI"][:: 1 if n % 2 == 0 else -1]
            for name in [*pair, "no Kafka", "one at a time"]:
                bodies = [json.dumps(event_dict(rng, points)).encode() for _ in range(20_000)]
                rounds[name].append(asyncio.run(_load(ports[name], bodies, 1, 64, SINGLE_SECONDS, headers)))
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    results = {name: statistics.median(rates) for name, rates in rounds.items()}
    ratios = [mine / bare for mine, bare in zip(rounds["grouped"], rounds["bare FastAPI"], strict=True)]
    return results | {"x bare": statistics.median(ratios), "x bare low": min(ratios), "x bare high": max(ratios)}


def ingest_rates(settings: Settings, points: list[tuple[float, float]]) -> dict[str, float]:
    """Single and batch posts against the real app and the no-Kafka app, each in its own process."""
    rng = random.Random(5)
    results = {}
    headers = bench_headers(settings)
    for name, factory in (("kafka", "kafka_app"), ("no-kafka", "null_app")):
        server = serve(f"bench.pipeline:{factory}", settings, 18_765)
        try:
            bodies = [json.dumps(event_dict(rng, points)).encode() for _ in range(20_000)]
            results[f"{name} single"] = asyncio.run(_load(18_765, bodies, 1, 16, 6, headers))
            bodies = [json.dumps(event_dict(rng, points)).encode() for _ in range(20_000)]
            results[f"{name} batch"] = asyncio.run(_load(18_765, bodies, 100, 4, 6, headers))
        finally:
            server.terminate()
            server.wait()
    return results


def latency(
    points: list[tuple[float, float]], rate: float, batch: int = 1, seconds: float = 15, api_workers: int = 1
) -> tuple[float, float]:
    """p50/p99 from POST to committed row at ``rate`` events/s offered in posts of ``batch`` events
    (API and one worker running). Every post starts on schedule, whether earlier ones were answered or not."""
    settings = bench_settings()
    headers = bench_headers(settings)
    env = worker_env(settings) | {"GRIDGOV_API_PORT": "18766"}
    api = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "api", "--workers", str(api_workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "worker", "--batch-size", "2000"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sent_at: dict[str, float] = {}
    answered: dict[str, float] = {}
    rng = random.Random(9)
    try:
        while True:
            try:
                if httpx.get("http://127.0.0.1:18766/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(8)  # let the worker join its group

        posts = [[event_dict(rng, points) for _ in range(batch)] for _ in range(int(rate * seconds / batch))]

        async def timed_post(poster: Poster, events: list[dict[str, object]]) -> tuple[int, bytes]:
            if batch == 1:
                path, encoded = "/v1/events", json.dumps(events[0]).encode()
            else:
                path, encoded = "/v1/events/batch", json.dumps({"events": events}).encode()
            start = time.time()
            for event in events:
                sent_at[str(event["id"])] = start
            answer = await poster.post(path, encoded)
            answered[str(events[0]["id"])] = time.time() - start
            return answer

        async def offer() -> None:
            async with Poster(18_766, headers, 200) as poster:
                tasks = []
                start = time.perf_counter()
                for i, events in enumerate(posts):
                    await asyncio.sleep(max(0.0, start + i * batch / rate - time.perf_counter()))
                    tasks.append(asyncio.create_task(timed_post(poster, events)))
                offered = len(posts) * batch / (time.perf_counter() - start)
                answers = await asyncio.gather(*tasks)
                served = len(posts) * batch / (time.perf_counter() - start)
                refused = [a for a in answers if a[0] != 202]
                assert not refused, f"{len(refused)} posts refused, first: {refused[0]}"
                print(f"  (offered {offered:,.0f} events/s for {seconds:.0f} s; all answered at {served:,.0f}/s)")

        asyncio.run(offer())
        deadline = time.monotonic() + 300
        while count_rows(settings) < len(sent_at):
            assert time.monotonic() < deadline, f"only {count_rows(settings)} of {len(sent_at)} rows recorded"
            time.sleep(0.2)
        with psycopg.connect(conninfo(settings)) as conn:
            # The commit's own time where the server tracks it; else the transaction's start (a little earlier).
            exact = conn.execute("SHOW track_commit_timestamp").fetchone() == ("on",)
            at = "pg_xact_commit_timestamp(xmin)" if exact else "recorded_at"
            rows = conn.execute(f"SELECT id::text, extract(epoch FROM {at}) FROM event").fetchall()
        print(f"  (row time: {'commit timestamp' if exact else 'transaction start, commit timestamps are off'})")
        delays = sorted(float(at) - sent_at[i] for i, at in rows if i in sent_at)
        answers = sorted(answered.values())
        p99_answer = answers[int(len(answers) * 0.99)]
        print(f"  (202 answered: p50 {statistics.median(answers) * 1000:.0f} ms, p99 {p99_answer * 1000:.0f} ms)")
        return statistics.median(delays), delays[int(len(delays) * 0.99)]
    finally:
        for proc in (api, worker):
            proc.terminate()
            proc.wait()
        drop(settings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--no-http", action="store_true", help="only the worker and its baselines (no API runs)")
    parser.add_argument("--single-posts", action="store_true", help="only the single-post figures and their latency")
    args = parser.parse_args()
    if args.single_posts:
        single_posts()
        return
    base = bench_settings()
    points = demo_points(base)
    messages = received_bytes(random.Random(1), points, args.events)
    print(f"{args.events:,} events of ~{len(messages[0][1])} bytes, demo city, 6 partitions", flush=True)
    try:
        fill_raw(base, messages)
        consumed = consume_rate(base, args.events)
        print(f"raw kafka-python consume      {consumed:>10,.0f} events/s", flush=True)
        copy = bare_copy_rate(base, messages)
        print(f"bare COPY into event          {copy:>10,.0f} rows/s", flush=True)
        naive = naive_rate(base, messages[:2000])
        print(f"naive peer (1 query+1 insert) {naive:>10,.0f} events/s", flush=True)
        ingest = {} if args.no_http else ingest_rates(base, points)
        for kind in ("single", "batch") if ingest else ():
            k, n = ingest[f"kafka {kind}"], ingest[f"no-kafka {kind}"]
            print(
                f"HTTP ingest {kind:<6}            {k:>10,.0f} events/s   no-Kafka app {n:,.0f}/s, ratio x{k / n:.2f}",
                flush=True,
            )
    finally:
        drop(base)
    one, cpu = workers_rate(1, messages)
    print(
        f"pipeline, 1 worker            {one:>10,.0f} events/s   x{one / copy:.2f} of COPY, x{one / naive:.0f} of"
        f" naive, x{one / consumed:.2f} of consume",
        flush=True,
    )
    # Where the machine's time went: the worker's Python runs on one core at a time (the GIL),
    # and its total with the database's and the broker's bounds what 2 cores can do.
    total, cores = sum(cpu.values()), os.cpu_count() or 1
    print(
        "  CPU per event: " + ", ".join(f"{k} {v:.0f} µs" for k, v in cpu.items()) + f"; {total:.0f} µs in all",
        flush=True,
    )
    print(
        f"  at most {1e6 / cpu['worker']:,.0f}/s on the worker's one core, {cores} cores"
        f" {cores * 1e6 / total:,.0f}/s; the targets x0.5 of COPY and x20 of naive"
        f" are {copy / 2:,.0f}/s and {naive * 20:,.0f}/s",
        flush=True,
    )
    two, _ = workers_rate(2, messages)
    print(f"pipeline, 2 workers           {two:>10,.0f} events/s   x{two / one:.2f} of 1 worker", flush=True)
    if args.no_http:
        return
    # 1,000 events/s as phones syncing (posts of 20), then single posts at a rate one API process
    # answers here; then the single-post figures and 1,000 single posts/s on two API processes.
    for rate, batch, seconds in ((1000, 20, 15), (100, 1, 15)):
        p50, p99 = latency(points, rate, batch, seconds)
        print(
            f"latency POST -> row at {rate:,} events/s in posts of {batch}: p50 {p50 * 1000:,.0f} ms,"
            f" p99 {p99 * 1000:,.0f} ms",
            flush=True,
        )
    single_posts()


def single_posts() -> None:
    """Single posts per API process, beside the previous method and bare FastAPI; p99 at 1,000/s on 2 processes."""
    base = bench_settings()
    points = demo_points(base)
    try:
        rates = single_rates(base, points)
    finally:
        drop(base)
    grouped, before, bare = rates["grouped"], rates["one at a time"], rates["bare FastAPI"]
    print(
        f"single posts, 1 API process     {grouped:>8,.0f}/s   one at a time (previous) {before:,.0f}/s"
        f" x{grouped / before:.2f}; bare FastAPI {bare:,.0f}/s x{rates['x bare']:.2f}"
        f" (pairs x{rates['x bare low']:.2f}-x{rates['x bare high']:.2f})   (targets x3 and x0.5)",
        flush=True,
    )
    print(
        f"single posts without Kafka      {rates['no Kafka']:>8,.0f}/s"
        f"   x{rates['no Kafka'] / bare:.2f} of bare FastAPI"
        "   (the same app, the broker's ack replaced)",
        flush=True,
    )
    p50, p99 = latency(points, 1000, 1, 10, api_workers=2)
    print(
        f"latency POST -> row at 1,000 single posts/s, --workers 2: p50 {p50 * 1000:,.0f} ms, p99 {p99 * 1000:,.0f} ms"
    )


if __name__ == "__main__":
    main()
