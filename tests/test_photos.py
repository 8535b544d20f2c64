"""Photo evidence: EXIF place and time compared with the event, bad and big files refused, the after-photo rule."""

import dataclasses
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine, text

from api.access import Role
from api.app import create_app
from api.photo_check import BadPhoto, compare, inspect, thumbnail
from api.settings import Settings
from tests.conftest import SignIn
from tests.pipeline_fixtures import ENGLISH, grid_point
from tests.test_sla_db import record, start_all_clocks
from tests.words import english

TZ = ZoneInfo("Asia/Shanghai")


def photo(
    lon: float | None = None, lat: float | None = None, taken: datetime | None = None, fmt: str = "JPEG"
) -> bytes:
    """A small image with EXIF GPS (WGS84) and DateTimeOriginal (local time) when given."""
    image = Image.new("RGB", (16, 12), "green")
    exif = Image.Exif()
    if lon is not None and lat is not None:
        gps = exif.get_ifd(0x8825)

        def dms(value: float) -> tuple[float, float, float]:
            degrees = int(value)
            minutes = int((value - degrees) * 60)
            return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)

        gps[1], gps[2], gps[3], gps[4] = "N", dms(lat), "E", dms(lon)
    if taken is not None:
        exif.get_ifd(0x8769)[36867] = taken.astimezone(TZ).strftime("%Y:%m:%d %H:%M:%S")
    out = io.BytesIO()
    image.save(out, fmt, exif=exif) if fmt == "JPEG" else image.save(out, fmt)
    return out.getvalue()


def test_exif_place_and_time_are_read_and_compared() -> None:
    when = datetime(2026, 11, 20, 9, 30, tzinfo=TZ)
    info = inspect(photo(119.43, 32.2, when), TZ)
    assert info.media_type == "image/jpeg" and (info.width, info.height) == (16, 12)
    assert info.lon == pytest.approx(119.43, abs=1e-5) and info.lat == pytest.approx(32.2, abs=1e-5)
    assert info.taken_at == when
    assert compare(info, 119.43, 32.2, when + timedelta(hours=2)) == (pytest.approx(0, abs=1), [])
    distance, flags = compare(info, 119.43 + 0.021, 32.2, when - timedelta(days=3))  # ~2 km east, 3 days apart
    assert distance == pytest.approx(1_980, rel=0.02) and flags == ["far", "taken_apart"]
    assert compare(inspect(photo(fmt="PNG"), TZ), 119.43, 32.2, when)[1] == ["no_location", "no_time"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"\xff\xd8\xff\xe0 not really a jpeg", "not a readable"),
        (photo()[:300], "not a readable"),  # cut off in the middle
        (b"GIF89a" + b"\x00" * 40, "not a readable"),
    ],
)
def test_corrupt_or_foreign_files_are_refused(content: bytes, problem: str) -> None:
    with pytest.raises(BadPhoto) as refused:
        inspect(content, TZ)
    assert problem in english(refused.value)


def test_gif_is_not_accepted() -> None:
    out = io.BytesIO()
    Image.new("P", (4, 4)).save(out, "GIF")
    with pytest.raises(BadPhoto) as refused:
        inspect(out.getvalue(), TZ)
    assert "only JPEG and PNG" in english(refused.value)


@pytest.fixture(scope="module")
def client(settings: Settings, demo_city: Engine) -> Iterator[TestClient]:
    api = settings.api.model_copy(update={"max_photo_bytes": 200_000})
    with TestClient(create_app(dataclasses.replace(settings, api=api)), headers=ENGLISH) as c:
        yield c


def _count(engine: Engine, event_id: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM photo WHERE event_id = :e"), {"e": event_id}).scalar_one())


def test_upload_flags_a_far_old_photo_serves_it_back_and_keeps_it_in_scope(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    occurred = datetime.now(UTC) - timedelta(hours=1)
    case = record(demo_city, "incident", "8602", occurred, 40)
    grid, lon, lat = grid_point(demo_city, 40)
    worker = sign_in("photo-gw", Role.GRIDWORKER, grid)
    far_old = photo(lon + 0.021, lat, occurred - timedelta(days=3))
    response = client.post(f"/v1/events/{case}/photos", content=far_old, headers=worker)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["flags"] == ["far", "taken_apart"] and body["distance_m"] > 1_900 and body["uploaded_by"] == "photo-gw"
    good = photo(lon, lat, occurred)
    assert client.post(f"/v1/events/{case}/photos", content=good, headers=worker).json()["flags"] == []
    assert client.post(f"/v1/events/{case}/photos", content=good, headers=worker).status_code == 201  # once stored
    listed = client.get(f"/v1/events/{case}/photos", headers=worker).json()
    assert len(listed) == 2
    served = client.get(f"/v1/events/{case}/photos/{body['sha256']}", headers=worker)
    assert served.headers["content-type"] == "image/jpeg"
    kept = Image.open(io.BytesIO(served.content))
    assert kept.size == (16, 12) and not kept.getexif() and b"Exif" not in served.content  # the picture, no EXIF
    assert body["lon"] == pytest.approx(lon + 0.021, abs=1e-5) and body["taken_at"]  # its place and time are fields
    small = client.get(f"/v1/events/{case}/photos/{body['sha256']}", params={"size": "thumb"}, headers=worker)
    assert small.headers["content-type"] == "image/jpeg" and Image.open(io.BytesIO(small.content)).size == (16, 12)
    with demo_city.begin() as conn:  # a photo kept with its EXIF, as uploads were before they were stripped
        conn.execute(
            text(
                "INSERT INTO photo (event_id, event_occurred_at, sha256, stage, media_type, bytes, width, height,"
                " flags, uploaded_by, content) SELECT :e, occurred_at, :h, 'before', 'image/jpeg', :n, 16, 12, '{}',"
                " 'photo-gw', :c FROM event WHERE id = :e"
            ),
            {"e": case, "h": "0" * 64, "n": len(far_old), "c": far_old},
        )
    assert Image.open(io.BytesIO(far_old)).getexif()  # it does carry one
    old = client.get(f"/v1/events/{case}/photos/{'0' * 64}", headers=worker)
    assert old.status_code == 200 and not Image.open(io.BytesIO(old.content)).getexif() and b"Exif" not in old.content
    with demo_city.connect() as conn:
        kept = conn.execute(text("SELECT content FROM photo WHERE sha256 = :h"), {"h": "0" * 64}).scalar_one()
    assert bytes(kept) == old.content  # stripped once, and stored so
    stranger = sign_in("photo-other-gw", Role.GRIDWORKER, "321111003001001")
    assert client.get(f"/v1/events/{case}/photos/{body['sha256']}", headers=stranger).status_code == 404
    assert client.post(f"/v1/events/{case}/photos", content=good, headers=stranger).status_code == 404


def test_corrupt_and_oversized_uploads_are_4xx_and_store_nothing(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    case = record(demo_city, "incident", "8602", datetime.now(UTC), 41)
    headers = sign_in("photo-district", Role.DISTRICT, "321111")
    corrupt = client.post(f"/v1/events/{case}/photos", content=photo()[:300], headers=headers)
    assert corrupt.status_code == 422 and "not a readable JPEG or PNG" in corrupt.json()["message"]
    noise = Image.effect_noise((400, 400), 90).convert("RGB")
    big = io.BytesIO()
    noise.save(big, "PNG")
    assert len(big.getvalue()) > 200_000
    oversized = client.post(f"/v1/events/{case}/photos", content=big.getvalue(), headers=headers)
    assert oversized.status_code == 413 and "200000 bytes" in oversized.json()["message"]
    assert _count(demo_city, case) == 0


def test_resolving_needs_an_after_photo_where_the_rules_say_so(
    client: TestClient, demo_city: Engine, sign_in: SignIn
) -> None:
    case = record(demo_city, "incident", "0102", datetime.now(UTC), 42)  # 暴露垃圾: city appearance needs proof
    headers = sign_in("photo-district", Role.DISTRICT, "321111")
    start_all_clocks(demo_city)
    # 暴露垃圾 is handled on the spot: taken in by the finder, in progress at once.
    assert client.get(f"/v1/cases/{case}", headers=headers).json()["state"] == "in_progress"
    refused = client.post(f"/v1/cases/{case}/transitions", json={"action": "resolve"}, headers=headers)
    assert refused.status_code == 409 and "after" in refused.json()["message"]
    before = client.post(f"/v1/events/{case}/photos", content=photo(), headers=headers)
    assert before.status_code == 201  # a "before" photo is not the proof
    still = client.post(f"/v1/cases/{case}/transitions", json={"action": "resolve"}, headers=headers)
    assert still.status_code == 409
    after = photo(fmt="PNG")
    assert client.post(f"/v1/events/{case}/photos?stage=after", content=after, headers=headers).status_code == 201
    resolved = client.post(f"/v1/cases/{case}/transitions", json={"action": "resolve"}, headers=headers)
    assert resolved.status_code == 200 and resolved.json()["state"] == "resolved"
    other = record(demo_city, "incident", "8602", datetime.now(UTC), 43)  # noise: no photo needed
    for action in ("file", "accept", "resolve"):
        response = client.post(f"/v1/cases/{other}/transitions", json={"action": action}, headers=headers)
        assert response.status_code == 200, response.text


def test_the_stored_picture_carries_no_exif_and_stands_upright() -> None:
    image = Image.new("RGB", (40, 20), "green")
    exif = Image.Exif()
    exif[0x010F], exif[0xA431], exif[0x013B] = "Canon", "SN-123456", "李四"  # make, body serial, owner (artist)
    exif[0x0112] = 6  # rotate 90° to show
    exif.get_ifd(0x8825).update({1: "N", 2: (32.0, 12.0, 0.0), 3: "E", 4: (119.0, 27.0, 0.0)})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    info = inspect(out.getvalue(), TZ)
    assert (info.lat, info.lon) == (pytest.approx(32.2), pytest.approx(119.45))  # read before it is dropped
    stored = Image.open(io.BytesIO(info.stored))
    assert not stored.getexif() and b"SN-123456" not in info.stored and "李四".encode() not in info.stored
    assert stored.size == (20, 40)  # turned as the camera said, since the orientation tag is gone
    assert info.flags == ()


@pytest.mark.parametrize(
    "block",
    [
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff\xff\xff",  # an entry count past the end
        b"Exif\x00\x00garbage-garbage-garbage",  # no TIFF header at all
    ],
)
def test_a_malformed_exif_block_is_reported_and_not_kept(block: bytes) -> None:
    out = io.BytesIO()
    Image.new("RGB", (16, 12), "green").save(out, "JPEG", exif=block)
    info = inspect(out.getvalue(), TZ)
    assert info.flags == ("bad_exif",) and (info.lon, info.lat, info.taken_at) == (None, None, None)
    assert block[6:] not in info.stored
    distance, flags = compare(info, 119.45, 32.2, datetime.now(UTC))
    assert "bad_exif" in flags and distance is None


def test_a_thumbnail_is_a_small_jpeg_of_the_whole_picture() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (640, 480), (10, 120, 200, 255)).save(out, "PNG")
    small = Image.open(io.BytesIO(thumbnail(out.getvalue())))
    assert (small.format, small.size) == ("JPEG", (160, 120))  # the longer side 160 px, the shape kept
