"""JSON answers: with an ETag, so a phone can keep its copy and ask only whether it changed (304); long ones at once."""

import hashlib
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import Request, Response

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the copy named by If-None-Match is current"}
}


def etag_of(payload: Any) -> str:
    """A strong ETag of the canonical JSON of ``payload``."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def etagged(request: Request, payload: Any, cache_control: str = "private, no-cache") -> Response:
    """``payload`` as JSON with its ETag; 304 with no body when the caller's If-None-Match names it."""

    def body() -> bytes:
        return json.dumps(payload, ensure_ascii=False, default=str).encode()

    return tagged(request, etag_of(payload), body, "application/json", cache_control)


def tagged(
    request: Request, tag: str, body: Callable[[], bytes], media_type: str, cache_control: str = "private, no-cache"
) -> Response:
    """The answer named by ``tag``: 304 when If-None-Match names it (``body`` is then not built), else ``body()``."""
    headers = {"ETag": tag, "Cache-Control": cache_control}
    sent = {t.strip() for t in request.headers.get("if-none-match", "").split(",")}
    if tag in sent or "*" in sent:
        return Response(status_code=304, headers=headers)
    return Response(body(), media_type=media_type, headers=headers)


def json_answer(payload: Any) -> Response:
    """``payload`` as FastAPI answers a returned dict, without its encoder's walk of every value first.

    Dates and times are written in ISO 8601, as that encoder writes them. A close-out of ~1,000 cases
    spent ~30 ms in the walk and takes ~6 ms here. For payloads of JSON's own types, dates and times.
    """
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_iso)
    return Response(body.encode(), media_type="application/json")


def _iso(value: object) -> str:
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not written as JSON here")
