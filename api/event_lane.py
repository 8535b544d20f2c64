"""``POST /v1/events`` answered ahead of FastAPI's middleware, routing and dependencies.

Single posts are most of the API's traffic. Through the whole stack (FastAPI's own and
the platform's middleware, the router, the dependency solver) a post cost about five
times what the same validation costs on a bare FastAPI route. ``LanedAPI`` hands these
posts to ``EventLane``, which takes the steps the stack would and no others, in the same
order, with the same answers (``tests/test_event_lane.py`` compares them request by request):

- a declared length over the limit first, as ``api.bodies.BodyLimit`` refuses it (413),
- the caller and the route's rule as ``api.auth.authorize`` checks them (401, 403),
- the caller's posting rate (429), then the body, counted as it comes (413),
- then ``api.events.take_event``: what the documented route runs,
- the answer begun within the post timeout from the last piece of the body, as
  ``api.deadline.Deadline`` holds it (503),
- each refusal worded by ``api.errors`` in the caller's language, and every answer timed
  and counted in ``/metrics`` under the route's template as ``api.metrics.MetricsMiddleware`` does;
  an unexpected error is a 500 and goes on to the server's log, as from Starlette's outermost layer.
"""

import asyncio
import time

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from api.auth import admitted, caller
from api.bodies import receive_body, refuse_declared
from api.errors import Refusal, handled, refusal_response
from api.events import admit, take_event
from api.metrics import observe

PATH = "/v1/events"
JSON_HEAD = b"application/json"


class EventLane:
    """Serves ``POST /v1/events`` for the app in ``scope["app"]``, within ``post_s`` (see the module's docstring)."""

    def __init__(self, post_s: float) -> None:
        self.post_s = post_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one post of an event."""
        start = time.perf_counter()
        status = 500
        try:
            status, body = await self._answer(scope, receive)
        except Exception:
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
        finally:
            observe("POST", PATH, status, start)
        if isinstance(body, Response):
            await body(scope, receive, send)
        else:
            head = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON_HEAD)]
            await send({"type": "http.response.start", "status": status, "headers": head})
            await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, bytes | Response]:
        """The status and the body (a 202's JSON) or the refusal's response."""
        request = Request(scope, receive)
        state = scope["app"].state
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.post_s) as deadline:
                try:
                    limit = state.settings.api.max_event_bytes
                    refuse_declared(request.headers.get("content-length"), limit)  # first, as api.bodies.BodyLimit
                    principal = admitted(await caller(request), "POST", PATH)
                    admit(state.limiter, principal)
                    body, pieces = await receive_body(receive, limit)
                    if pieces > 1:  # a body that came in pieces: the bound runs from the last one
                        deadline.reschedule(loop.time() + self.post_s)
                    accepted = await take_event(state, principal, body)
                    return 202, accepted.model_dump_json().encode()
                except Exception as exc:
                    answer = await handled(request, exc)
                    if answer is None:
                        raise
                    return answer.status_code, answer
        except TimeoutError:
            if not deadline.expired():
                raise
        answer = await refusal_response(request, Refusal("unavailable.slow_post", seconds=f"{self.post_s:g}"))
        return answer.status_code, answer


class LanedAPI(FastAPI):
    """FastAPI, with ``POST /v1/events`` served by ``lane`` before its own stack (when one is set)."""

    lane: EventLane | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand a post of one event to the lane; anything else to FastAPI."""
        if self.lane is not None and scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "POST":
            scope["app"] = self
            await self.lane(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)
