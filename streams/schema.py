"""Event schema v2: what a phone (or another system) sends, strictly typed.

Version 2 changed the category codes to the standard's (see cases/data/classification.yaml). An
event of version 1 (or without a version) is refused at ingest with the new code of its
category; one already on the raw topic is read with its category renamed. A platform code of
before the national classification (8202) is taken in under its new code and the filing condition
it meant (BJ0116, condition 1): phones that still hold the old list lose nothing.
"""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cases.categories import REQUEST_GROUP, default_categories, former_codes, renamed_codes
from db.cells import FREE_TEXT, ONE_LINE
from geo.crs import CRS

SCHEMA_VERSION = 2
_MEANT = "_meant_condition"  # in the validation context: the condition the category's old code meant
MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(days=30)
MAX_DESCRIPTION = 2000
MAX_ATTACHMENTS = 10


class Kind(StrEnum):
    """What an event reports."""

    INCIDENT = "incident"
    PATROL = "patrol"
    VISIT = "visit"
    REQUEST = "request"  # a resident asks for a service (居民点单)


MAX_WINDOW = timedelta(days=14)


# Checked by pydantic's core (Python validators per string cost the worker ~4 µs an event);
# ``message`` words their errors.
# Free text (descriptions, notes, reasons) holds no control character but tab and line ends, and no direction
# override; names, codes and references none at all (db.cells).
FreeText = [StringConstraints(pattern=FREE_TEXT)]
NoControl = [StringConstraints(pattern=ONE_LINE)]
_PATTERN_MESSAGES = {
    FREE_TEXT: "must not contain control characters (but tab and line ends) or direction overrides (U+202A–U+202E,"
    " U+2066–U+2069); retype it",
    ONE_LINE: "must not contain control characters, line ends or direction overrides; retype it on one line",
}


def message(error: Any) -> str:
    """What a validation error says is wrong, in words a person can act on."""
    if error["type"] == "string_pattern_mismatch":
        found = _PATTERN_MESSAGES.get(str((error.get("ctx") or {}).get("pattern")))
        if found:
            return found
    return str(error["msg"])


def summary(exc: ValidationError, limit: int | None = None) -> str:
    """Each error (the first ``limit``) as ``field.path: what is wrong``, one line."""
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {message(e)}" for e in exc.errors()[:limit])


Reference = Annotated[str, StringConstraints(max_length=512), *NoControl]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), *NoControl]


class Location(BaseModel):
    """Where the event happened, in the coordinate system the phone used."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude in degrees")]
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude in degrees")]
    crs: CRS = Field(description="wgs84, cgcs2000, gcj02 (Amap, Tencent) or bd09 (Baidu)")
    accuracy_m: Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)] | None = None


class Window(BaseModel):
    """When a resident wants the service: from ``start`` to ``end``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> "Window":
        if self.end <= self.start:
            raise ValueError("window.end must be after window.start")
        if self.end - self.start > MAX_WINDOW:
            raise ValueError("a window is at most 14 days long")
        return self


class Event(BaseModel):
    """One report; ``id`` is chosen by the client and makes retries harmless."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    schema_version: Literal[1, 2] = 1
    id: UUID
    kind: Kind
    category: Annotated[str, StringConstraints(pattern=r"^(BJ)?\d{4}$")]
    # the filing condition (立案条件) of the category, by number; needed where the category has several
    condition: Annotated[str | None, Field(validate_default=True), StringConstraints(pattern=r"^\d{1,2}$")] = None
    # the component (部件) reported, by its 16-digit identifier: county 6 + 大类 2 + 小类 2 + serial 6
    component: Annotated[str, StringConstraints(pattern=r"^\d{16}$")] | None = None
    occurred_at: AwareDatetime
    location: Location
    reporter: Text
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION), *FreeText] = ""
    attachments: Annotated[list[Reference], Field(max_length=MAX_ATTACHMENTS)] = []
    household: Text | None = None
    window: Window | None = None

    @model_validator(mode="after")
    def _request_fields(self, info: ValidationInfo) -> "Event":
        is_service = default_categories()[self.category].group == REQUEST_GROUP
        if self.kind is Kind.REQUEST:
            if not is_service:
                services = ", ".join(c.code for c in default_categories().values() if c.group == REQUEST_GROUP)
                raise ValueError(f"a request's category is a resident service ({REQUEST_GROUP}: {services})")
            if self.window is None:
                raise ValueError("a request needs a window: when the resident wants the service")
        elif self.window is not None:
            raise ValueError("only a request has a window")
        category = default_categories()[self.category]
        if self.condition is not None and category.condition(self.condition) is None:
            numbers = ", ".join(c.number for c in category.conditions) or "none"
            raise ValueError(f"category {self.category} has no condition {self.condition} (its conditions: {numbers})")
        if self.component is not None and (
            category.kind != "component" or self.component[6:10] != category.standard_code
        ):
            raise ValueError(
                f"component {self.component} is of class {self.component[6:10]}, not of the report's category"
                f" {self.category}: send the category of the component (BJ{self.component[6:10]})"
            )
        if self.condition is None and len(category.conditions) > 1 and (info.context or {}).get("now") is not None:
            listed = "; ".join(f"{c.number} {c.text}" for c in category.conditions)
            raise ValueError(f"category {self.category} has several filing conditions: send condition, one of {listed}")
        return self

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str, info: ValidationInfo) -> str:
        """A code of today's taxonomy; one of version 1 is refused at ingest, and renamed when read back."""
        if info.data.get("schema_version") == 1:
            renamed = renamed_codes().get(value)
            if (info.context or {}).get("now") is not None:
                new = f"category {value} is now {renamed.code} ({renamed.name}); " if renamed else ""
                raise ValueError(
                    f"schema_version 1 used the old category codes: {new}send schema_version {SCHEMA_VERSION}"
                    " with the codes of GET /v1/categories"
                )
            value = renamed.code if renamed else value
        former, meant = former_codes().get(value, (None, None))
        if former is not None:  # an old phone's code: its new one, and the condition it meant (for ``condition``)
            value = former.code
        if isinstance(info.context, dict):
            info.context[_MEANT] = meant
        if value not in default_categories():
            raise ValueError(f"unknown category {value!r}; GET /v1/categories lists the valid codes")
        return value

    @field_validator("condition")
    @classmethod
    def _meant_condition(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The condition an old code meant (8202: 路灯 condition 1) where the report names none; at ingest only."""
        if value is None and isinstance(info.context, dict):
            meant: str | None = info.context.pop(_MEANT, None)
            return meant
        return value

    @field_validator("occurred_at")
    @classmethod
    def _plausible_time(cls, value: datetime, info: ValidationInfo) -> datetime:
        """At ingest (context ``now``), refuse clocks that are far off; replays skip this."""
        now = (info.context or {}).get("now")
        if now is None:
            return value.astimezone(UTC)
        if value > now + MAX_FUTURE:
            raise ValueError("occurred_at is more than 5 minutes in the future; check the phone's clock")
        if value < now - MAX_AGE:
            raise ValueError("occurred_at is more than 30 days in the past")
        return value.astimezone(UTC)

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON: the same event sent twice hashes the same."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def canonical_json(self) -> str:
        """The event as JSON: keys sorted, no spaces, characters as they are, options not given left out.

        Written field by field, as ``dumped_canonical`` writes it (json's own string escaping, floats by
        their ``repr``, times in UTC ending in Z): the dump and the encoding cost a single post some 30 µs
        of its ~200 here. An event with a window, or a time not in UTC, goes that way instead.
        """
        if self.window is not None or self.occurred_at.tzinfo is not UTC:
            return self.dumped_canonical()
        where, text = self.location, encode_basestring
        parts = ['{"attachments":[', ",".join(map(text, self.attachments)), '],"category":', text(self.category)]
        if self.component is not None:
            parts += [',"component":', text(self.component)]
        if self.condition is not None:
            parts += [',"condition":', text(self.condition)]
        parts += [
            ',"description":', text(self.description),
            ',"household":', "null" if self.household is None else text(self.household),
            ',"id":"', str(self.id), '","kind":', text(self.kind.value),
            ',"location":{"accuracy_m":', "null" if where.accuracy_m is None else repr(where.accuracy_m),
            ',"crs":', text(where.crs.value), ',"lat":', repr(where.lat), ',"lon":', repr(where.lon),
            '},"occurred_at":"', self.occurred_at.isoformat()[:-6], 'Z","reporter":', text(self.reporter),
            ',"schema_version":', str(self.schema_version), "}",
        ]  # fmt: skip
        return "".join(parts)

    def dumped_canonical(self) -> str:
        """``canonical_json`` by pydantic's dump and json's encoder: the definition."""
        unset = {name for name in ("window", "condition", "component") if getattr(self, name) is None}
        fields = self.model_dump(mode="json", exclude=unset or None)
        return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Batch(BaseModel):
    """Events a phone saved while offline, sent together."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    events: Annotated[list[Event], Field(min_length=1, max_length=500)]


class Received(BaseModel):
    """An event as it travels on the raw topic: the event plus what the server added."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: Event
    received_at: datetime
    content_hash: str
    # The description as sent, sealed (base64), when it held personal numbers: the event's own is masked.
    sealed: str | None = None

    @classmethod
    def stamp(cls, event: Event, now: datetime | None = None) -> "Received":
        """Add the server's receive time and the content hash."""
        return cls(event=event, received_at=now or datetime.now(UTC), content_hash=event.content_hash())

    def to_bytes(self) -> bytes:
        """JSON for the wire (``sealed`` only when there is one)."""
        return self.model_dump_json(exclude=None if self.sealed else {"sealed"}).encode()


def example_event() -> dict[str, Any]:
    """A valid event body, for the API docs and tests."""
    return {
        "schema_version": SCHEMA_VERSION,
        "id": "0b9f7f0e-3c1a-4d47-9a53-2b1d3b0f6a11",
        "kind": "incident",
        "category": "8302",
        "occurred_at": "2026-11-21T09:30:00+08:00",
        "location": {"lon": 119.4301, "lat": 32.2011, "crs": "gcj02", "accuracy_m": 8.0},
        "reporter": "gw-321111001001001",
        "description": "楼道内电动车充电",
        "attachments": [],
    }
