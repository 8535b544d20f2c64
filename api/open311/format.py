"""GeoReport v2 documents as JSON or XML (pure), including its error shape."""

from collections.abc import Mapping
from typing import Any, Literal
from xml.etree import ElementTree

from fastapi.responses import JSONResponse, Response

Format = Literal["json", "xml"]
# The element name of one entry of each list, as the specification's XML examples have them.
SINGULAR = {
    "service_requests": "request",
    "services": "service",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def _element(parent: ElementTree.Element, tag: str, value: Any) -> None:
    child = ElementTree.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, item in value.items():
            _element(child, key, item)
    elif isinstance(value, list):
        for item in value:
            _element(child, SINGULAR.get(tag, "item"), item)
    elif isinstance(value, bool):
        child.text = str(value).lower()
    elif value is not None:
        child.text = str(value)


def to_xml(root: str, value: Any) -> bytes:
    """``value`` (a list or a dict) under the element ``root``."""
    top = ElementTree.Element(root)
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(value, list):
            _element(top, SINGULAR[root], item)
        else:
            for key, field in item.items():
                _element(top, key, field)
    body: bytes = ElementTree.tostring(top, encoding="utf-8", xml_declaration=True)
    return body


def render(fmt: Format, root: str, value: Any, status: int = 200) -> Response:
    """JSON as is, or XML under ``root``."""
    if fmt == "xml":
        return Response(to_xml(root, value), status_code=status, media_type="application/xml")
    return JSONResponse(value, status_code=status)


def error_response(path: str, status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """GeoReport's error shape: ``[{code, description}]``, or ``<errors><error>…`` for a ``.xml`` path."""
    fmt: Format = "xml" if path.endswith(".xml") else "json"
    response = render(fmt, "errors", [{"code": status, "description": message}], status)
    response.headers.update(headers or {})
    return response
