"""Every body is bounded before it is parsed, and a body that is not JSON says where it breaks."""

import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.access import Role
from api.app import create_app
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(settings: Settings, sign_in: SignIn) -> Iterator[TestClient]:
    with TestClient(create_app(settings), headers=ENGLISH) as client:
        client.headers.update(sign_in("bodies-community", Role.COMMUNITY, "321111001001"))
        yield client


def test_a_6_mb_transition_body_is_refused_before_it_is_parsed(client: TestClient) -> None:
    body = b'{"action": "decline", "note": "' + b"x" * (6 * 2**20) + b'"}'
    answer = client.post(
        f"/v1/cases/{uuid.uuid4()}/transitions", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large" and "262144 bytes" in answer.json()["message"]
    chinese = client.post(
        f"/v1/cases/{uuid.uuid4()}/transitions",
        content=body,
        headers={"content-type": "application/json", "accept-language": "zh-CN,zh;q=0.9"},
    )
    assert chinese.json()["message"] == f"请求内容 {len(body)} 字节，超过 262144 字节的上限"


def test_a_body_sent_in_chunks_is_counted_as_it_comes(client: TestClient) -> None:
    chunks = (b"x" * 2**16 for _ in range(8))  # 512 KiB with no Content-Length
    answer = client.post(
        f"/v1/cases/{uuid.uuid4()}/transitions", content=chunks, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large"


def test_truncated_json_is_a_400_naming_line_and_column(client: TestClient) -> None:
    answer = client.post(
        f"/v1/cases/{uuid.uuid4()}/transitions",
        content=b'{\n  "action": "decline",\n  "note": "no',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "bad_request" and body["detail"][0]["field"] == "body"
    assert "line 3, column" in body["message"]


def test_deeply_nested_json_is_a_400_that_says_so(client: TestClient) -> None:
    answer = client.post(
        f"/v1/cases/{uuid.uuid4()}/transitions", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400 and answer.json()["detail"][0]["field"] == "body"
