"""Photo evidence on events and cases: upload, list, serve; the "after photo" rule of resolution."""

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import Engine, text

from api.access import Principal
from api.auth import PrincipalDep, authorize
from api.bodies import read_body
from api.deps import EngineDep, RulesDep, SettingsDep
from api.errors import Refusal, problem, responses
from api.events import event_in_scope
from api.photo_check import FORMATS, BadPhoto, carries_metadata, compare, inspect, thumbnail
from cases.rules import Rules

router = APIRouter(
    prefix="/v1", tags=["photos"], dependencies=[Depends(authorize)], responses=responses(401, 403, 422, 503)
)
Stage = Literal["before", "after"]
PHOTO_FIELDS = "sha256, stage, media_type, bytes, width, height, taken_at, lon, lat, distance_m, flags, uploaded_by"
_IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in FORMATS.values()},
    }
}


def _store(engine: Engine, event_id: UUID, principal: Principal, content: bytes, stage: str, rules: Rules) -> Any:
    try:
        info = inspect(content, rules.calendar.tz)  # decoded before a connection is taken
    except BadPhoto as exc:
        raise Refusal("invalid_input.fields", [problem("body", exc.key, **exc.values)], n=1) from exc
    with engine.begin() as conn:
        event = event_in_scope(conn, event_id, principal)
        distance, flags = compare(info, event.lon, event.lat, event.occurred_at)
        conn.execute(
            text(
                "INSERT INTO photo (event_id, event_occurred_at, sha256, stage, media_type, bytes, width, height,"
                " taken_at, lon, lat, distance_m, flags, uploaded_by, content) VALUES (:e, :occurred, :h, :stage, :mt,"
                " :n, :w, :ht, :t, :lon, :lat, :d, :flags, :by, :content) ON CONFLICT (event_id, sha256) DO NOTHING"
            ),
            {
                "e": event_id,
                "occurred": event.occurred_at,
                "h": info.sha256,
                "stage": stage,
                "mt": info.media_type,
                "n": len(info.stored),
                "w": info.width,
                "ht": info.height,
                "t": info.taken_at,
                "lon": info.lon,
                "lat": info.lat,
                "d": distance,
                "flags": flags,
                "by": principal.username,
                "content": info.stored,  # without its EXIF: the place and time are the row's own fields
            },
        )
        return conn.execute(
            text(f"SELECT {PHOTO_FIELDS} FROM photo WHERE event_id = :e AND sha256 = :h"),
            {"e": event_id, "h": info.sha256},
        ).one()


@router.post("/events/{event_id}/photos", status_code=201, responses=responses(404, 413), openapi_extra=_IMAGE_BODY)
async def post_photo(
    event_id: UUID,
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    rules: RulesDep,
    principal: PrincipalDep,
    stage: Stage = "before",
) -> dict[str, Any]:
    """Attach a JPEG or PNG (the body) to a recorded event or case in your scope.

    ``stage=after`` is the proof of the work for resolving. EXIF place and time are compared with the
    event's: more than 1 km away or 24 h apart is flagged (`far`, `taken_apart`), never refused. The same
    photo twice is stored once. Limit: 5 MiB (`GRIDGOV_MAX_PHOTO_BYTES`), 50 megapixels.
    """
    content = await read_body(request, settings.api.max_photo_bytes)
    row = await run_in_threadpool(_store, engine, event_id, principal, content, stage, rules)
    return dict(row._mapping)


def photo_list(engine: Engine, event_id: UUID, principal: Principal) -> list[dict[str, Any]]:
    """The photos of an event or case in the caller's scope (404 otherwise), oldest first."""
    with engine.connect() as conn:
        event_in_scope(conn, event_id, principal)
        rows = conn.execute(
            text(f"SELECT {PHOTO_FIELDS} FROM photo WHERE event_id = :e ORDER BY uploaded_at"), {"e": event_id}
        ).all()
    return [dict(r._mapping) for r in rows]


@router.get("/events/{event_id}/photos", responses=responses(404))
def get_photos(event_id: UUID, engine: EngineDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The photos of an event or case in your scope, with their EXIF comparison."""
    return photo_list(engine, event_id, principal)


@router.get(
    "/events/{event_id}/photos/{sha256}",
    response_class=Response,
    responses={200: {"content": {m: {} for m in FORMATS.values()}}, **responses(404)},
)
def get_photo(
    event_id: UUID,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    engine: EngineDep,
    principal: PrincipalDep,
    rules: RulesDep,
    size: Literal["full", "thumb"] = "full",
) -> Response:
    """The photo itself, without EXIF (one stored before that rule is stripped now, and kept stripped).

    ``size=thumb``: a JPEG of 160 pixels on its longer side, for lists.
    """
    with engine.connect() as conn:
        event_in_scope(conn, event_id, principal)
        row = conn.execute(
            text("SELECT media_type, content FROM photo WHERE event_id = :e AND sha256 = :h"),
            {"e": event_id, "h": sha256},
        ).one_or_none()
    if row is None:
        raise Refusal("not_found.photo", photo=sha256, event=str(event_id))
    content = bytes(row.content)
    if carries_metadata(content):
        content = _stripped(engine, event_id, sha256, content, rules)
    cache = {"Cache-Control": "private, max-age=86400"}
    if size == "thumb":
        return Response(thumbnail(content), media_type="image/jpeg", headers=cache)
    return Response(content, media_type=row.media_type, headers=cache)


def _stripped(engine: Engine, event_id: UUID, sha256: str, content: bytes, rules: Rules) -> bytes:
    """A photo kept with its EXIF (before uploads were stripped), stripped and stored so; its fields stay."""
    try:
        stored = inspect(content, rules.calendar.tz).stored
    except BadPhoto:
        return content  # not a picture this server can read: served as it was kept
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE photo SET content = :c, bytes = :n WHERE event_id = :e AND sha256 = :h"),
            {"c": stored, "n": len(stored), "e": event_id, "h": sha256},
        )
    return stored
