"""Every refusal the API gives on purpose: one table of kinds with their HTTP status, and the catalogue's words.

A refusal is a message key and its values (``Refusal("not_found.case", case=…)``). The key's first
part is its kind, which gives the status; the catalogue of the caller's language (``Accept-Language``,
``?lang=``, default zh) words the message. The case domain's errors carry keys of the same kinds.
"""

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.open311.format import error_response
from cases.errors import CaseError
from db.cells import FREE_TEXT, ONE_LINE
from streams.producer import BrokerDown
from streams.schema import message
from web.messages import language, say

_RETRY = {"Retry-After": "5"}
# kind: (HTTP status, what it means, the headers it always carries). The one table of refusals.
KINDS: dict[str, tuple[int, str, Mapping[str, str]]] = {
    "bad_request": (400, "The body could not be read (not UTF-8 JSON, or not form data).", {}),
    "unauthorized": (401, "No valid token: the caller must sign in.", {"WWW-Authenticate": "Bearer"}),
    "forbidden": (403, "The caller's role may not do this.", {}),
    "not_found": (404, "The object does not exist, or is outside the caller's scope.", {}),
    "conflict": (409, "The request contradicts what the platform already holds.", {}),
    "payload_too_large": (413, "The body or batch is over its limit.", {}),
    "invalid_input": (422, "The request is well formed but its content is wrong.", {}),
    "rate_limited": (429, "Too many requests from one user; retry after the Retry-After seconds.", {}),
    "broker_unavailable": (503, "The broker did not confirm in time; send again later with the same ids.", _RETRY),
    "database_unavailable": (503, "PostgreSQL is unreachable; retry later.", _RETRY),
    "unavailable": (503, "No answer in time from PostgreSQL or the broker; retry after Retry-After s.", _RETRY),
}


class Refusal(Exception):
    """An answer the API gives on purpose: a catalogue key (its first part the kind), values and details."""

    def __init__(self, key: str, detail: Any = None, headers: Mapping[str, str] | None = None, **values: Any) -> None:
        self.key, self.values, self.detail = key, values, detail
        self.kind = key.split(".")[0]
        self.status_code, _, always = KINDS[self.kind]
        self.headers = {**always, **(headers or {})}
        super().__init__(key)

    def __str__(self) -> str:
        """In English (logs, tests), worded only when asked for."""
        return self.worded("en")[0]

    def worded(self, lang: str) -> tuple[str, Any]:
        """The message and the details in ``lang`` (``{summary}``: the first five field problems)."""
        detail = _worded_detail(self.detail, lang)
        values = self.values
        if isinstance(detail, list) and "summary" not in values:
            shown = [f"{d['field']}: {d['problem']}" for d in detail[:5] if isinstance(d, dict) and "problem" in d]
            values = {**values, "summary": "; ".join(shown)}
        return say(self.key, lang, values), detail


def error_body(code: str, message: str, detail: Any = None, key: str | None = None) -> dict[str, Any]:
    """The JSON shape of every error response."""
    body: dict[str, Any] = {"error": code, "message": message}
    if key is not None:
        body["key"] = key
    if detail is not None:
        body["detail"] = detail
    return body


def answer_language(request: Request) -> str:
    """The language the caller reads: ``?lang=``, else ``Accept-Language``, else zh."""
    return language(request.headers.get("accept-language"), request.query_params.get("lang"))


async def refusal_response(request: Request, exc: Exception) -> Response:
    """The error body of a ``Refusal``, worded in the caller's language."""
    assert isinstance(exc, Refusal)
    message, detail = exc.worded(answer_language(request))
    if request.url.path.startswith("/open311/"):  # GeoReport v2 has its own error shape
        return error_response(request.url.path, exc.status_code, message, exc.headers)
    if exc.kind == "unauthorized" and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/login?" + urlencode({"next": request.url.path + _query(request)}), status_code=303)
    return JSONResponse(
        error_body(exc.kind, message, detail, exc.key),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _worded_detail(detail: Any, lang: str) -> Any:
    """Field problems given as a key (``{"field", "key", "values"}``) worded in ``lang``."""
    if not isinstance(detail, list):
        return detail
    return [
        {**{k: v for k, v in d.items() if k not in ("key", "values")}, "problem": say(d["key"], lang, d.get("values"))}
        if isinstance(d, dict) and "key" in d
        else d
        for d in detail
    ]


def problem(field: str, key: str, **values: Any) -> dict[str, Any]:
    """A field's problem as a key and values, worded in the caller's language when answered."""
    return {"field": field, "key": key, "values": values}


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


# Pydantic's error types a person meets, worded by the catalogue (``msg.field.<type>``, with pydantic's
# context values); any other type keeps pydantic's own English words.
WORDED_TYPES = frozenset(
    [
        "missing",
        "extra_forbidden",
        "string_too_long",
        "string_too_short",
        "too_long",
        "too_short",
        "string_type",
        "int_parsing",
        "int_type",
        "float_parsing",
        "float_type",
        "greater_than_equal",
        "less_than_equal",
        "greater_than",
        "less_than",
        "enum",
        "literal_error",
        "uuid_parsing",
        "uuid_type",
        "datetime_parsing",
        "datetime_type",
        "timezone_aware",
        "date_from_datetime_parsing",
        "date_parsing",
        "bool_parsing",
        "list_type",
        "dict_type",
        "model_type",
        "finite_number",
        "int_from_float",
    ]
)
_PATTERNS = {FREE_TEXT: "field.free_text", ONE_LINE: "field.one_line"}


def problems(errors: list[Any] | tuple[Any, ...], drop_prefix: int = 0) -> list[dict[str, Any]]:
    """Each validation error as the field it concerns and what is wrong with it (a key where we word it)."""
    return [_problem(".".join(str(part) for part in e["loc"][drop_prefix:]) or "body", e) for e in errors]


def _problem(field: str, error: Any) -> dict[str, Any]:
    kind = str(error["type"])
    ctx = {k: v for k, v in (error.get("ctx") or {}).items() if isinstance(v, str | int | float)}
    if kind == "string_pattern_mismatch" and str(ctx.get("pattern")) in _PATTERNS:
        return problem(field, _PATTERNS[str(ctx["pattern"])])
    if kind in WORDED_TYPES or kind.startswith("gridgov."):  # ours: raised as PydanticCustomError("gridgov.…")
        return problem(field, "field." + kind.removeprefix("gridgov."), **ctx)
    return {"field": field, "problem": message(error)}


def invalid(exc: ValidationError) -> Refusal:
    """The 422 for a body that failed the schema."""
    found = problems(exc.errors(include_url=False))
    return Refusal("invalid_input.fields", found, n=len(found))


async def _handle_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    broken = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if broken is not None:
        return await refusal_response(request, _not_json(exc.body, broken))
    found = problems(list(exc.errors()), drop_prefix=1)
    return await refusal_response(request, Refusal("invalid_input.fields", found, n=len(found)))


def _not_json(body: Any, error: Any) -> Refusal:
    """The 400 for a body that is not JSON: what is wrong, at which line and column."""
    position = error["loc"][-1] if isinstance(error["loc"][-1], int) else 0
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    why = str((error.get("ctx") or {}).get("error", "not JSON"))
    return Refusal(
        "bad_request.not_json",
        [problem("body", "field.not_json", why=why, line=line, column=column)],
        why=why,
        line=line,
        column=column,
    )


async def _handle_http(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unreadable body, unknown path, wrong method) in the same body shape."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:  # a body counted over its limit as it came (api.bodies.BodyLimit: the limit)
        return await refusal_response(request, Refusal("payload_too_large.body", limit=exc.detail))
    if exc.status_code == 400:  # FastAPI's "There was an error parsing the body": nested too deep, or not UTF-8
        return await refusal_response(request, Refusal("bad_request.unreadable", [problem("body", "field.unreadable")]))
    lang = answer_language(request)
    worded = {404: "http.not_found", 405: "http.method_not_allowed"}.get(exc.status_code)
    shown = say(worded, lang) if worded else str(exc.detail)
    if request.url.path.startswith("/open311/"):
        return error_response(request.url.path, exc.status_code, shown, exc.headers)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, shown), status_code=exc.status_code, headers=exc.headers)


# The adapters' outage errors, with the fixed answer each gets.
OUTAGES: dict[type[Exception], Callable[[], Refusal]] = {
    BrokerDown: lambda: Refusal("broker_unavailable.down"),
    OperationalError: lambda: Refusal("database_unavailable.down"),
    InterfaceError: lambda: Refusal("database_unavailable.down"),
    PoolTimeout: lambda: Refusal("database_unavailable.busy"),
}


async def _handle_domain(request: Request, exc: Exception) -> Response:
    if isinstance(exc, CaseError):  # the case domain's errors carry keys of the same kinds
        return await refusal_response(request, Refusal(exc.key, exc.detail, **exc.values))
    outage = next(OUTAGES[kind] for kind in type(exc).__mro__ if kind in OUTAGES)
    return await refusal_response(request, outage())


async def handled(request: Request, exc: Exception) -> Response | None:
    """The answer ``install_handlers`` gives ``exc``, for a request served outside FastAPI (None: a 500)."""
    if isinstance(exc, Refusal):
        return await refusal_response(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _handle_http(request, exc)
    if isinstance(exc, CaseError) or any(kind in OUTAGES for kind in type(exc).__mro__):
        return await _handle_domain(request, exc)
    return None


def install_handlers(app: FastAPI) -> None:
    """Answer every ``Refusal``, the case domain's errors and the outages in the error body."""
    app.add_exception_handler(Refusal, refusal_response)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(RequestValidationError, _handle_request_validation)
    domain: list[type[Exception]] = [CaseError, *OUTAGES]
    for kind in domain:
        app.add_exception_handler(kind, _handle_domain)


class ErrorBody(BaseModel):
    """The body of every error response: the kind, the message in the caller's language, its key, details."""

    error: str
    message: str
    key: str | None = None
    detail: Any = None


# A refusal's name by its status, as /metrics labels it (a 503 is either outage).
REFUSALS: dict[int, str] = {status: kind for kind, (status, _, _) in KINDS.items() if status != 503} | {
    503: "unavailable"
}
_DESCRIBED: dict[int, str] = {status: meaning for status, meaning, _ in KINDS.values() if status != 503} | {
    503: "The broker or the database is unreachable or did not answer in time; retry after Retry-After s."
}
_ERROR_SCHEMA = ErrorBody.model_json_schema()


def responses(*status_codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses: the JSON error body (on HTML pages too) and its meaning."""
    return {
        code: {
            "description": _DESCRIBED[code],
            "content": {"application/json": {"schema": _ERROR_SCHEMA}},
        }
        for code in status_codes
    }
