"""Time: int64 nanoseconds since the Unix epoch, and the clocks that tell it.

Simulation reads :class:`SimClock`, which only the kernel advances; live mode
reads :class:`LiveClock`, the one place the wall clock is consulted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_DAY = 86_400 * NS_PER_S


class Clock(Protocol):
    """What strategies and components read the time from."""

    def now(self) -> int:
        """Current time in int64 ns since the Unix epoch."""
        ...


class SimClock:
    """Simulated time, advanced only by the kernel's event loop."""

    __slots__ = ("_now",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now = int(start_ns)

    def now(self) -> int:
        return self._now

    def advance_to(self, ts: int) -> None:
        """Move time forward to ``ts``; time never goes backwards."""
        if ts < self._now:
            raise ValueError(f"SimClock cannot go back from {self._now} to {ts}")
        self._now = ts


class LiveClock:
    """Wall-clock time (live mode only)."""

    def now(self) -> int:
        return time.time_ns()


def parse_timestamp(value: str | int) -> int:
    """Parse an ISO-8601 string (UTC if no zone) or an int of ns into int ns."""
    if isinstance(value, int):
        return value
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    seconds = int(dt.timestamp())
    return seconds * NS_PER_S + dt.microsecond * NS_PER_US


def format_ns(ts: int) -> str:
    """Render int ns as an ISO-8601 UTC string with nanoseconds (for reports)."""
    seconds, ns = divmod(int(ts), NS_PER_S)
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


_UNITS = {"ns": 1, "us": NS_PER_US, "ms": NS_PER_MS, "s": NS_PER_S, "m": NS_PER_MIN, "h": 3600 * NS_PER_S}


def parse_duration(value: str | int) -> int:
    """Parse ``"250ms"``, ``"6.5h"``, ``"30s"`` or an int of ns into int ns."""
    if isinstance(value, int):
        return value
    text = value.strip()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if text.endswith(unit):
            number = text[: -len(unit)].strip()
            try:
                return int(round(float(number) * _UNITS[unit]))
            except ValueError:
                break
    raise ValueError(f"invalid duration {value!r}: use a number with a unit ns/us/ms/s/m/h, e.g. '250ms'")
