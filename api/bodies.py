"""Request bodies: read with a size limit; a write body takes no field it does not know (``WriteBody``)."""

from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from api.errors import PayloadTooLarge


class WriteBody(BaseModel):
    """A body that changes something: a field it does not know is a 422 naming it, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
