"""``POST /v1/events`` answered ahead of FastAPI's routing, dependencies and middleware.

Single posts are most of the API's traffic. Through the whole stack (seven middleware
layers, the router, the dependency solver) a post cost about five times what the same
validation costs on a bare FastAPI route; here it takes the steps the stack would and no
others, in the same order, with the same answers:

- the body is bounded as ``api.bodies.BodyLimit`` bounds it (413),
- the answer begins within the post timeout from the last piece of the body, as
  ``api.deadline.Deadline`` holds it (503),
- the caller and the route's rule as ``api.auth.authorize`` checks them (401, 403),
- then ``api.events.take_event``: the same function the documented route runs,
- each refusal worded by ``api.errors`` in the caller's language, and timed and
  counted in ``/metrics`` under the route's template as ``api.metrics.MetricsMiddleware`` does.

Anything else passes to the app untouched. An unexpected error goes on to Starlette's
outermost handler (500), as it would from the route.
"""

import asyncio
import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import admitted, caller
from api.errors import Refusal, handled, refusal_response
from api.events import take_event
from api.metrics import observe

PATH = "/v1/events"


class EventLane:
    """ASGI middleware serving ``POST /v1/events`` itself, within ``post_s`` (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, post_s: float) -> None:
        self.app = app
        self.post_s = post_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a post of one event; pass anything else on."""
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        try:
            response = await self._answer(scope, receive)
            status = response.status_code
            await response(scope, receive, send)
        finally:
            observe("POST", PATH, status, start)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.post_s) as deadline:

                async def receiving() -> Message:
                    message = await receive()
                    deadline.reschedule(loop.time() + self.post_s)  # the bound runs from the last piece
                    return message

                request = Request(scope, receiving)
                try:
                    return await take_event(request, admitted(await caller(request), "POST", PATH))
                except Exception as exc:
                    answer = await handled(request, exc)
                    if answer is None:
                        raise
                    return answer
        except TimeoutError:
            if not deadline.expired():
                raise
        return await refusal_response(Request(scope), Refusal("unavailable.slow_post", seconds=f"{self.post_s:g}"))
