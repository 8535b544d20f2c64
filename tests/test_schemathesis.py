"""Generated requests against the OpenAPI schema, signed in, on the real services: no 5xx, no response off-schema.

``/v1/live`` is left out: it is an endless stream (the access matrix test opens it).
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.server import serve

MIN_REQUESTS = 1000


@schemathesis.check
def rejected_or_too_large(ctx: Any, response: Any, case: Case) -> bool | None:
    """A body that breaks the schema is refused: a 4xx such as 422, or 413 when it is also over the size limit."""
    if response.status_code == 413:
        return None
    return negative_data_rejection(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    rejected_or_too_large,
]
requests_made: list[str] = []


@pytest.fixture(scope="module")
def server(settings: Settings, demo_city: Engine) -> Iterator[str]:
    with serve(create_app(settings)) as base:
        yield base


@pytest.fixture(scope="module")
def headers(sign_in: SignIn) -> dict[str, str]:
    return sign_in("schema-district", Role.DISTRICT, "321111")


# The schema as the app builds it (no services needed to build it); requests go to the served app.
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(path="/v1/live")


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_generated_requests_get_no_5xx_and_answers_that_fit_the_schema(
    case: Case, server: str, headers: dict[str, str]
) -> None:
    case.call_and_validate(base_url=server, headers=headers, checks=CHECKS)
    requests_made.append(case.operation.label)


def test_at_least_a_thousand_requests_were_made() -> None:
    print(f"schemathesis: {len(requests_made)} generated requests over {len(set(requests_made))} operations")
    assert len(requests_made) >= MIN_REQUESTS, f"only {len(requests_made)} generated requests"
    assert len(set(requests_made)) >= 20  # spread over the endpoints


def test_the_openapi_document_is_valid_and_every_reference_resolves() -> None:
    document = create_app().openapi()
    validate(document)  # OpenAPI 3.1, with every $ref resolved

    def refs(node: object) -> list[str]:
        if isinstance(node, dict):
            return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in refs(v)]
        return [r for v in node for r in refs(v)] if isinstance(node, list) else []

    names = set(document["components"]["schemas"])
    found = refs(document)
    assert found and {r.removeprefix("#/components/schemas/") for r in found} <= names
    assert {"Kind", "Window", "Location"} <= names  # what the bodies of POST /v1/events and /v1/requests refer to
