"""Every answer within a bound: a request whose answer has not begun in time gets a 503 with Retry-After.

A PostgreSQL server that is stopped (not down) keeps its connections open and answers
nothing: no client timeout fires, and the thread waiting on it waits until it resumes.
This middleware answers for it. The bound runs from the request's start or from the last
piece of its body received, whichever is later, so a phone uploading a photo slowly is
not cut off; an answer that has begun (a live feed, a large export) is not bounded. The
work left behind finishes or fails on its own when the server comes back: what it was
doing is what the 503's message says may still happen.
"""

import asyncio
import contextlib
import re
import time

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import Refusal, refusal_response

# The posts of events and requests: their bound is the post timeout, theirs the intake's own refusal.
POSTS = re.compile(r"^/(v1/events(/batch)?|v1/requests|open311/v2/requests\.(json|xml))$")


class Deadline:
    """Answers 503 when the answer has not begun ``posts_s`` (posts) or ``others_s`` after the request."""

    def __init__(self, app: ASGIApp, *, posts_s: float, others_s: float) -> None:
        self.app = app
        self.posts_s = posts_s
        self.others_s = others_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; answer for it if it is not answering in time."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        post = scope["method"] == "POST" and POSTS.match(scope["path"]) is not None
        bound = self.posts_s if post else self.others_s
        last = time.monotonic()  # the request's start, then each piece of its body
        begun = given_up = False

        async def receiving() -> Message:
            nonlocal last
            message = await receive()
            last = time.monotonic()
            return message

        async def sending(message: Message) -> None:
            nonlocal begun
            if given_up:
                return  # answered already: the late answer goes nowhere
            begun = begun or message["type"] == "http.response.start"
            await send(message)

        task = asyncio.ensure_future(self.app(scope, receiving, sending))
        while not begun and not task.done():
            left = last + bound - time.monotonic()
            if left <= 0:
                given_up = True
                task.cancel()
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await task
                seconds = f"{bound:g}"
                refusal = (
                    Refusal("unavailable.slow_post", seconds=seconds)
                    if post
                    else Refusal("unavailable.slow", seconds=seconds)
                )
                response = await refusal_response(Request(scope), refusal)
                await response(scope, receive, send)
                return
            await asyncio.wait({task}, timeout=left)
        await task
