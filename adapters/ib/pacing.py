"""Message pacing towards TWS: at most 50 messages per second, FIFO.

TWS disconnects (error 100) a client that sends more than 50 messages a
second. :class:`Pacer` sits under ib_insync, on the socket: every framed
message (order actions, market-data requests, the requests ib_insync makes
itself) takes a token from a token bucket before it is written; messages that
find the bucket empty wait in a FIFO queue released by an asyncio timer. The
bucket is the risk engine's (``kernel.risk``), run on monotonic ns.

With rate ``r`` and burst ``b`` any window of T seconds holds at most
``b + r*T`` messages, so the defaults (r = 40/s, b = 5) keep every 1-second
window at 45 messages or fewer, leaving room for delivery jitter below the
limit of 50.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kernel.risk import _TokenBucket as TokenBucket  # the one token bucket of the project

TWS_MAX_MSGS_PER_SEC = 50
DEFAULT_RATE = 40.0
DEFAULT_BURST = 5


class Pacer:
    """FIFO token-bucket gate for outgoing messages."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if not 0 < rate:
            raise ValueError(f"pacing rate must be positive, got {rate}")
        if burst + rate > TWS_MAX_MSGS_PER_SEC:
            raise ValueError(
                f"pacing rate {rate}/s with burst {burst} allows {burst + rate:g} messages in one second; "
                f"TWS allows {TWS_MAX_MSGS_PER_SEC}"
            )
        self.rate = rate
        self.burst = burst
        self._bucket = TokenBucket(rate, burst)
        self._clock = clock_ns
        self._queue: deque[tuple[Callable[..., Any], tuple]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._on_empty: list[Callable[[], None]] = []
        self.sent = 0
        self.delayed = 0
        self.dropped = 0
        self.max_depth = 0

    @property
    def depth(self) -> int:
        """Messages waiting for a token."""
        return len(self._queue)

    def send(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` (which writes one message) now if a token is free, else later, in order."""
        self._queue.append((fn, args))
        if len(self._queue) > 1 or not self._take():
            self.delayed += 1
            self.max_depth = max(self.max_depth, len(self._queue))
            self._schedule()
            return
        self._release_one()

    def _take(self) -> bool:
        bucket = self._bucket
        bucket.refill(self._clock())
        if bucket.available():
            bucket.consume()
            return True
        return False

    def _release_one(self) -> None:
        fn, args = self._queue.popleft()
        self.sent += 1
        fn(*args)
        if not self._queue:
            self._fire_empty()

    def _drain(self) -> None:
        self._timer = None
        while self._queue and self._take():
            self._release_one()
        if self._queue:
            self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        bucket = self._bucket
        missing = max(0, bucket.unit - bucket.units)
        wait_ns = -(-missing // bucket.per_ns) if missing else 0
        loop = asyncio.get_event_loop()
        self._timer = loop.call_later(wait_ns / 1e9, self._drain)

    def when_empty(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once the queue is empty (now, if it is)."""
        if not self._queue:
            fn()
        else:
            self._on_empty.append(fn)

    def _fire_empty(self) -> None:
        if self._on_empty:
            callbacks, self._on_empty = self._on_empty, []
            for fn in callbacks:
                fn()

    def clear(self) -> int:
        """Drop every waiting message (the connection they were meant for is gone)."""
        n = len(self._queue)
        self._queue.clear()
        self.dropped += n
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._on_empty.clear()
        return n


def max_in_window(timestamps_ns: list[int], window_ns: int = 1_000_000_000) -> int:
    """The largest number of timestamps inside any closed window of ``window_ns`` (sliding)."""
    ts = sorted(timestamps_ns)
    best = 0
    j = 0
    for i, t in enumerate(ts):
        while ts[j] < t - window_ns:
            j += 1
        best = max(best, i - j + 1)
    return best
