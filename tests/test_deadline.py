"""Every answer within a bound: the deadline middleware, and the probes /health and /metrics read through."""

import asyncio
import threading
import time
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient

from api.deadline import Deadline
from api.errors import install_handlers
from api.probes import Probe

release = threading.Event()


def _app(posts_s: float = 0.3, others_s: float = 0.5) -> FastAPI:
    app = FastAPI()
    install_handlers(app)

    @app.get("/hangs")
    def hangs() -> dict[str, bool]:  # a thread waiting on a server that answers nothing
        release.wait(10)
        return {"late": True}

    @app.post("/v1/events")
    def post() -> dict[str, bool]:
        release.wait(10)
        return {"late": True}

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        async def slowly() -> AsyncIterator[bytes]:
            for _ in range(4):
                await asyncio.sleep(0.3)
                yield b"x"

        return StreamingResponse(slowly())

    app.add_middleware(Deadline, posts_s=posts_s, others_s=others_s)
    return app


def test_a_request_that_hangs_gets_a_worded_503_with_retry_after_at_its_bound() -> None:
    release.clear()
    with TestClient(_app()) as client:
        start = time.monotonic()
        response = client.get("/hangs")
        took = time.monotonic() - start
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert 0.5 <= took < 1.0
        assert response.json()["key"] == "unavailable.slow"
        assert response.json()["message"].startswith("0.5 秒内未能答复")  # zh unless asked otherwise
        start = time.monotonic()
        response = client.post("/v1/events", headers={"Accept-Language": "en"})
        assert response.status_code == 503 and 0.3 <= time.monotonic() - start < 0.8  # a post's own bound
        assert "Send it again later with the same ids" in response.json()["message"]
    release.set()


def test_a_slow_upload_and_a_long_stream_are_not_cut_off() -> None:
    def chunks() -> object:
        for _ in range(4):
            time.sleep(0.3)  # 1.2 s in all, past the 0.5 s bound; never 0.5 s without a byte
            yield b"y" * 1000

    with TestClient(_app()) as client:
        response = client.post("/upload", content=chunks())  # type: ignore[arg-type]
        assert response.status_code == 200 and response.json() == {"bytes": 4000}
        response = client.get("/stream")  # begun at once: 1.2 s of body is not bounded
        assert response.status_code == 200 and response.content == b"xxxx"


def test_a_probe_whose_read_hangs_holds_one_thread_and_serves_the_last_value_with_its_age() -> None:
    gate = threading.Event()
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        if len(reads) > 1:
            gate.wait(10)
        return len(reads)

    probe: Probe[int] = Probe(read, "test")
    first = probe.read_now(1.0)
    assert first.fresh and first.value == 1 and first.age_s == 0.0
    start = time.monotonic()
    hung = probe.read_now(0.2)
    assert time.monotonic() - start < 0.5
    assert not hung.fresh and hung.value == 1 and hung.error == "no answer within 0.2 s"
    assert hung.age_s is not None and hung.age_s >= 0.2
    again = asyncio.run(probe.read(0.1))  # the hung read is still the one running: no second thread
    assert again.value == 1 and len(reads) == 2
    gate.set()
    time.sleep(0.1)
    assert probe.read_now(1.0).value == 3  # the hung read ended (2); this one is read now


def test_a_probe_whose_read_fails_says_why_and_has_nothing_before_a_first_value() -> None:
    def fails() -> int:
        raise ConnectionRefusedError

    reading = Probe(fails, "test").read_now(1.0)
    assert reading.value is None and reading.age_s is None and reading.error == "ConnectionRefusedError"
