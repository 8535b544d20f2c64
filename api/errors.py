"""Domain errors, each declared once with its HTTP status and a message safe to show."""

from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.open311.format import error_response
from cases.errors import CaseError, CaseNotFound, InvalidLength, NotAllowed, ReasonRequired
from cases.evidence import AfterPhotoRequired
from streams.producer import BrokerDown
from streams.schema import message


class GridgovError(Exception):
    """Base of every error the API reports on purpose."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_headers: ClassVar[dict[str, str]] = {}

    def __init__(self, message: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.headers = self.default_headers | (headers or {})


class Unauthorized(GridgovError):
    """No valid token: the caller must sign in."""

    status_code = 401
    code = "unauthorized"
    default_headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(GridgovError):
    """The caller's role may not do this."""

    status_code = 403
    code = "forbidden"


class NotFound(GridgovError):
    """The object does not exist, or is outside the caller's scope."""

    status_code = 404
    code = "not_found"


class Conflict(GridgovError):
    """The request contradicts what the platform already holds."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(GridgovError):
    """The body or batch is over its limit."""

    status_code = 413
    code = "payload_too_large"


class RateLimited(GridgovError):
    """Too many requests from one user; retry after the Retry-After seconds."""

    status_code = 429
    code = "rate_limited"


class BadRequest(GridgovError):
    """The body could not be read (not UTF-8 JSON, or not form data)."""

    status_code = 400
    code = "bad_request"


class InvalidInput(GridgovError):
    """The request is well formed but its content is wrong."""

    status_code = 422
    code = "invalid_input"


class BrokerUnavailable(GridgovError):
    """The broker did not confirm in time; nothing was accepted, retry later."""

    status_code = 503
    code = "broker_unavailable"
    default_headers = {"Retry-After": "5"}


class DatabaseUnavailable(GridgovError):
    """PostgreSQL is unreachable; retry later (events are still accepted while the broker is up)."""

    status_code = 503
    code = "database_unavailable"
    default_headers = {"Retry-After": "5"}


def error_body(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The JSON shape of every error response."""
    body: dict[str, Any] = {"error": code, "message": message}
    if detail is not None:
        body["detail"] = detail
    return body


async def _handle(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GridgovError)
    if request.url.path.startswith("/open311/"):
        return error_response(request.url.path, exc.status_code, exc.message, exc.headers)
    if isinstance(exc, Unauthorized) and request.method == "GET" and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/login?" + urlencode({"next": request.url.path + _query(request)}), status_code=303)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.detail),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _query(request: Request) -> str:
    return f"?{request.url.query}" if request.url.query else ""


def problems(errors: list[Any] | tuple[Any, ...], drop_prefix: int = 0) -> list[dict[str, str]]:
    """Each validation error as the field it concerns and what is wrong with it."""
    return [
        {"field": ".".join(str(part) for part in e["loc"][drop_prefix:]) or "body", "problem": message(e)}
        for e in errors
    ]


def invalid(exc: ValidationError) -> InvalidInput:
    """The 422 for a body that failed the schema."""
    found = problems(exc.errors(include_url=False, include_input=False))
    return InvalidInput(f"{len(found)} invalid field(s): {_summary(found)}", found)


def _summary(found: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field']}: {p['problem']}" for p in found[:5])


async def _handle_request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    broken = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
    if broken is not None:
        return await _handle(request, _not_json(exc.body, broken))
    found = problems(list(exc.errors()), drop_prefix=1)
    return await _handle(request, InvalidInput(f"{len(found)} invalid field(s): {_summary(found)}", found))


def _not_json(body: Any, error: Any) -> BadRequest:
    """The 400 for a body that is not JSON: what is wrong, at which line and column."""
    position = error["loc"][-1] if isinstance(error["loc"][-1], int) else 0
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    why = (error.get("ctx") or {}).get("error", "not JSON")
    problem = f"{why} at line {line}, column {column}"
    return BadRequest(
        f"the body is not valid JSON: {problem}; send a JSON object", [{"field": "body", "problem": problem}]
    )


async def _handle_http(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (unreadable body, unknown path, wrong method) in the same body shape."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 413:  # a body counted over its limit as it came (api.bodies.BodyLimit)
        return await _handle(request, PayloadTooLarge(str(exc.detail)))
    if exc.status_code == 400:  # FastAPI's "There was an error parsing the body": nested too deep, or not UTF-8
        why = "nested too deeply or not UTF-8 JSON; send a flat JSON object"
        return await _handle(
            request, BadRequest(f"the body could not be read ({why})", [{"field": "body", "problem": why}])
        )
    if request.url.path.startswith("/open311/"):
        return error_response(request.url.path, exc.status_code, str(exc.detail), exc.headers)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers)


_BROKER_DOWN = "The event broker is unreachable; nothing was accepted. Retry later."
_DATABASE_DOWN = "The database is unreachable. Retry later."
# The errors of the rooms below the API, each with the error it answers as: the one table of them.
# The case domain's errors, with the error each answers as; their message and detail pass through.
CASE_ERRORS: dict[type[CaseError], type[GridgovError]] = {
    CaseNotFound: NotFound,
    NotAllowed: Conflict,
    AfterPhotoRequired: Conflict,
    ReasonRequired: InvalidInput,
    InvalidLength: InvalidInput,
}
# The adapters' outage errors, with the fixed answer each gets.
OUTAGES: dict[type[Exception], Callable[[], GridgovError]] = {
    BrokerDown: lambda: BrokerUnavailable(_BROKER_DOWN),
    OperationalError: lambda: DatabaseUnavailable(_DATABASE_DOWN),
    InterfaceError: lambda: DatabaseUnavailable(_DATABASE_DOWN),
}
DOMAIN_ERRORS = (*CASE_ERRORS, *OUTAGES)


async def _handle_domain(request: Request, exc: Exception) -> Response:
    if isinstance(exc, CaseError):
        answer = next(CASE_ERRORS[kind] for kind in type(exc).__mro__ if kind in CASE_ERRORS)
        return await _handle(request, answer(exc.message, exc.detail))
    outage = next(OUTAGES[kind] for kind in type(exc).__mro__ if kind in OUTAGES)
    return await _handle(request, outage())


def install_handlers(app: FastAPI) -> None:
    """Map every ``GridgovError``, and each error of ``DOMAIN_ERRORS``, to its response."""
    app.add_exception_handler(GridgovError, _handle)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(RequestValidationError, _handle_request_validation)
    for kind in DOMAIN_ERRORS:
        app.add_exception_handler(kind, _handle_domain)


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    message: str
    detail: Any = None


_ERRORS = (
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    RateLimited,
    InvalidInput,
)
# A refusal's name by its status, as /metrics labels it (a 503 is either outage).
REFUSALS: dict[int, str] = {e.status_code: e.code for e in _ERRORS} | {503: "unavailable"}
_DESCRIBED: dict[int, str] = {e.status_code: (e.__doc__ or "").strip() for e in _ERRORS} | {
    503: "The broker or the database is unreachable: nothing was accepted or changed; retry after Retry-After s."
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
