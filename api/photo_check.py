"""Photo evidence as pure functions: read a JPEG/PNG and its EXIF, compare with the event's place and time."""

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from PIL import Image, ImageOps, UnidentifiedImageError

from geo.grid_index import haversine_m

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
MAX_PIXELS = 50_000_000  # larger images are refused before decoding (decompression bombs)
FAR_M = 1_000.0  # a photo taken further than this from the event is flagged
APART = timedelta(hours=24)  # a photo taken this long before or after the event is flagged
_GPS_IFD, _EXIF_IFD = 0x8825, 0x8769
_TAKEN, _OFFSET = 36867, 36881  # DateTimeOriginal, OffsetTimeOriginal


class BadPhoto(ValueError):
    """The upload is not a readable JPEG or PNG: a field problem's message key and values."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(f"{key}: {values}")
        self.key, self.values = key, values


@dataclass(frozen=True)
class PhotoInfo:
    """What the file says about itself."""

    sha256: str  # of the file as uploaded: the photo's name
    media_type: str
    width: int
    height: int
    taken_at: datetime | None
    lon: float | None
    lat: float | None
    stored: bytes  # the picture alone, as kept and served: no EXIF, turned upright
    flags: tuple[str, ...] = ()  # bad_exif: a metadata block that could not be read (not kept)


_ORIENTATION = 0x0112


def _without_metadata(image: Image.Image, orientation: int) -> bytes:
    """The picture alone: no EXIF (place, time, device, owner) or text, turned upright as its orientation said.

    An upright JPEG keeps its own quantization (``quality="keep"``), so nothing is lost but the metadata.
    """
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    if image.format == "JPEG" and orientation in (0, 1):
        image.save(out, "JPEG", quality="keep", icc_profile=icc)
    elif image.format == "JPEG":
        ImageOps.exif_transpose(image).save(out, "JPEG", quality=92, icc_profile=icc)
    else:
        ImageOps.exif_transpose(image).save(out, "PNG", icc_profile=icc)
    return out.getvalue()


def _degrees(value: Any, ref: Any) -> float:
    degrees, minutes, seconds = (float(v) for v in value)
    sign = -1.0 if str(ref).upper() in ("S", "W") else 1.0
    return sign * (degrees + minutes / 60 + seconds / 3600)


def _taken_at(exif: Any, tz: ZoneInfo) -> datetime | None:
    """DateTimeOriginal with its offset if the camera wrote one, else in local time ``tz``."""
    sub = exif.get_ifd(_EXIF_IFD)
    raw = sub.get(_TAKEN) or exif.get(306)  # 306: DateTime
    if not raw:
        return None
    try:
        when = datetime.strptime(str(raw).strip("\x00 "), "%Y:%m:%d %H:%M:%S")  # noqa: DTZ007 - EXIF has no zone
    except ValueError:
        return None
    offset = sub.get(_OFFSET)
    if offset:
        try:
            return datetime.strptime(f"{when:%Y-%m-%d %H:%M:%S}{str(offset).strip()}", "%Y-%m-%d %H:%M:%S%z")
        except ValueError:
            pass
    return when.replace(tzinfo=tz)


def inspect(content: bytes, tz: ZoneInfo) -> PhotoInfo:
    """Decode ``content`` fully (a truncated or corrupt file is refused) and read its EXIF."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            if image.format not in FORMATS:
                raise BadPhoto("field.photo_format", format=str(image.format))
            if image.width * image.height > MAX_PIXELS:
                raise BadPhoto("field.photo_pixels", most=MAX_PIXELS)
            image.load()  # decodes every pixel: a damaged file fails here
            media_type, width, height = FORMATS[image.format], image.width, image.height
            place, taken_at, orientation, flags = _metadata(image, tz)
            stored = _without_metadata(image, orientation)
    except BadPhoto:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadPhoto("field.photo_unreadable", why=type(exc).__name__) from exc
    lon, lat = place
    return PhotoInfo(hashlib.sha256(content).hexdigest(), media_type, width, height, taken_at, lon, lat, stored, flags)


def _metadata(
    image: Image.Image, tz: ZoneInfo
) -> tuple[tuple[float | None, float | None], datetime | None, int, tuple[str, ...]]:
    """Place, time and orientation from the EXIF block; a block that cannot be read is flagged ``bad_exif``."""
    try:
        with warnings.catch_warnings(record=True) as damaged:  # Pillow warns of a corrupt block and reads on
            warnings.simplefilter("always")
            exif = image.getexif()
            orientation = int(exif.get(_ORIENTATION, 1) or 1)
            taken_at = _taken_at(exif, tz)
            gps = exif.get_ifd(_GPS_IFD)
    except Exception:  # noqa: BLE001 - any damage in the metadata: the picture itself is still read
        return (None, None), None, 1, ("bad_exif",)
    if damaged or (image.info.get("exif") and not exif):  # a block there, but nothing readable in it
        return (None, None), None, 1, ("bad_exif",)
    lon = lat = None
    try:
        if 2 in gps and 4 in gps:
            lat, lon = _degrees(gps[2], gps.get(1, "N")), _degrees(gps[4], gps.get(3, "E"))
    except (TypeError, ValueError, ZeroDivisionError):
        return (None, None), taken_at, orientation, ("bad_exif",)
    return (lon, lat), taken_at, orientation if orientation in range(1, 9) else 1, ()


def compare(info: PhotoInfo, lon: float, lat: float, occurred_at: datetime) -> tuple[float | None, list[str]]:
    """Distance from the event (m) and the flags: far, taken_apart, no_location, no_time; and the file's bad_exif."""
    flags: list[str] = list(info.flags)
    distance = None
    if info.lon is None or info.lat is None:
        flags.append("no_location")
    else:
        distance = float(haversine_m(lon, lat, info.lon, info.lat))
        if distance > FAR_M:
            flags.append("far")
    if info.taken_at is None:
        flags.append("no_time")
    elif abs(info.taken_at - occurred_at) > APART:
        flags.append("taken_apart")
    return distance, flags


def carries_metadata(content: bytes) -> bool:
    """Whether a stored file still holds EXIF or text chunks (one kept before they were stripped); header only."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            return bool(image.info.get("exif") or image.getexif() or set(image.info) & {"XML:com.adobe.xmp", "comment"})
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False


THUMB_PX = 160  # the longer side of a list's thumbnail


def thumbnail(content: bytes) -> bytes:
    """A small JPEG of a stored photo (stored photos are checked pictures without metadata), for lists."""
    with Image.open(io.BytesIO(content)) as image:
        image.thumbnail((THUMB_PX, THUMB_PX))
        out = io.BytesIO()
        image.convert("RGB").save(out, "JPEG", quality=75)
    return out.getvalue()
