"""One injectable clock for every expiry, freshness and lockout decision.

Tests advance a ``FrozenClock`` instead of sleeping; production uses
``SystemClock``. Flask-Security stores naive UTC datetimes (DATETIME_FACTORY),
so ``utcnow_naive`` is what goes into model columns.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()


class FrozenClock:
    """A clock that moves only when told to (for tests)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start

    def time(self) -> float:
        return self._now

    def advance(self, delta: float | timedelta) -> None:
        self._now += delta.total_seconds() if isinstance(delta, timedelta) else delta


def format_duration(value: timedelta) -> str:
    """'2 days', '1 hour 30 minutes': a validity as mails and messages state it."""
    seconds = max(int(value.total_seconds()), 0)
    parts: list[str] = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts) or "0 seconds"


def utcnow_naive(clock: Clock) -> datetime:
    """Naive UTC datetime, the form Flask-Security writes to the database."""
    return datetime.fromtimestamp(clock.time(), UTC).replace(tzinfo=None)


SYSTEM_CLOCK: Clock = SystemClock()


def system_utcnow_naive() -> datetime:
    """``utcnow_naive`` of the system clock, for what has no clock to hand: a
    column default, the DATETIME_FACTORY default."""
    return utcnow_naive(SYSTEM_CLOCK)
