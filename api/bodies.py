"""Request bodies: read with a size limit; a write body takes no field it does not know (``WriteBody``)."""

import re
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import Refusal, answer_language, error_body


class WriteBody(BaseModel):
    """A body that changes something: a field it does not know is a 422 naming it, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class BodyLimit:
    """ASGI middleware: every request body is bounded by its route family's limit before anything parses it.

    A declared ``Content-Length`` over the limit is answered 413 at once; a body sent in chunks is counted
    as it arrives and refused (413) as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, default: int, families: list[tuple[str, int]]) -> None:
        self.app = app
        self.default = default
        self.families = [(re.compile(pattern), limit) for pattern, limit in families]

    def limit(self, path: str) -> int:
        """The body limit of the route family ``path`` belongs to."""
        return next((limit for pattern, limit in self.families if pattern.fullmatch(path)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer through the app, refusing a body over its limit."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            refused = Refusal("payload_too_large.declared", size=int(declared), limit=limit)
            message, _ = refused.worded(answer_language(Request(scope)))
            answer = JSONResponse(error_body(refused.kind, message, key=refused.key), status_code=413)
            await answer(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # an HTTP error: FastAPI passes it on where it would turn others into a 400
                raise HTTPException(413, str(limit))  # the limit, worded by api.errors
            return message

        await self.app(scope, counted, send)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    refuse_declared(request.headers.get("content-length"), limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refusal("payload_too_large.body", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def refuse_declared(declared: str | None, limit: int) -> None:
    """413 for a body whose declared length (``Content-Length``) passes ``limit``."""
    if declared and declared.isdigit() and int(declared) > limit:
        raise Refusal("payload_too_large.declared", size=declared, limit=limit)


async def receive_body(receive: Receive, limit: int) -> tuple[bytes, int]:
    """The body straight from the ASGI messages, refused (413) once past ``limit``; and the pieces it came in."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Refusal("payload_too_large.body", limit=limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), len(chunks)


def hoist_definitions(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the definitions of hand-read bodies (``json_body``) among its components.

    A model's own schema carries what it refers to in ``$defs``; the document must hold them under
    ``components.schemas``, where its ``$ref``s point.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                for name, definition in media.get("schema", {}).pop("$defs", {}).items():
                    schemas.setdefault(name, definition)
    return document


def json_body(model: type[BaseModel], example: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI for a JSON body read by hand (``read_body`` + ``model_validate_json``, strict types)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": model.model_json_schema(ref_template="#/components/schemas/{model}"),
                    "example": example,
                }
            },
        }
    }
