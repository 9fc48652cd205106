"""When a contact may be reached: the hours kept with them ("08:00-22:00"; empty
for any time; "22:00-06:00" runs past midnight). Pure."""

from __future__ import annotations

from datetime import time


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def reachable(hours: str, at: time) -> bool:
    """Whether a contact with these hours may be told at local time ``at``; hours
    that cannot be read count as any time (telling is safer than not)."""
    if not hours.strip():
        return True
    try:
        start, end = (_clock(part.strip()) for part in hours.split("-"))
    except ValueError:
        return True
    if start == end:
        return True
    if start < end:
        return start <= at < end
    return at >= start or at < end  # past midnight
