"""What people read (pure): moments in the city's zone to the minute, spans of time in words, a case's place by name."""

from datetime import datetime
from zoneinfo import ZoneInfo


def minute(moment: datetime | str | None, tz: str) -> str:
    """``moment`` (a datetime, or ISO text) in the zone ``tz`` as ``2026-12-06 13:05``; "" for none."""
    if not moment:
        return ""
    when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{when.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}"


def duration(seconds: float, text: dict[str, str]) -> str:
    """A span of time as people say it: days and hours from a day on, else hours and minutes."""
    minutes = max(int(seconds // 60), 0)
    hours, days = minutes // 60, minutes // 1440
    if days:
        return text["dur_days_hours"].format(d=days, h=hours % 24)
    return text["dur_hours_minutes"].format(h=hours, m=minutes % 60)
