"""Generated requests against the OpenAPI schema, signed in, on the real services: no 5xx, no response off-schema.

``/v1/live`` is left out: it is an endless stream (the access matrix test opens it).
"""

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
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
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
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
