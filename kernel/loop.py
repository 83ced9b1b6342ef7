"""The deterministic event kernel.

Scheduling rests on a simpy ``Environment`` (ordered by time, priority class,
then insertion sequence). Market data do not go through simpy: each feed is
a cursor over chunks of canonical event arrays, and the kernel hands a
consumer (a simulated venue) whole slices of events that are safe to apply
before the next scheduled event. Python strategy code runs only when a
scheduled event fires.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator
from heapq import heappop, heappush
from typing import Any

import numpy as np
import simpy

from kernel.clock import SimClock
from kernel.errors import DataError
from kernel.interfaces import MarketDataConsumer
from kernel.journal import Journal
from kernel.rng import RngStreams

# Priority classes at equal timestamps (lower runs first). Market data at a
# timestamp are applied before any scheduled event of the same timestamp.
PRIO_VENUE = 1  # order arrival / expiry at a venue
PRIO_DELIVERY = 2  # reports and market data reaching the strategy
PRIO_TIMER = 3  # strategy timers


class _Feed:
    """Cursor over one market-data source's chunks.

    Applied events are journaled per chunk (one hash update when a chunk is
    done, or when the loop stops midway), so the journal sees exactly the
    applied events whatever the window boundaries were.
    """

    __slots__ = (
        "consumer",
        "chunks",
        "chunk",
        "ts",
        "pos",
        "name",
        "journal",
        "hashed",
        "next_ts",
        "window",
        "bisect",
        "last_ts",
        "n",
        "at",
        "done",
    )

    def __init__(self, name: str, consumer: MarketDataConsumer, chunks: Iterator[np.ndarray], journal: Journal):
        self.name = name
        self.consumer = consumer
        # window(chunk, start, bound) -> stop applies the events from start with ts <= bound
        # (at least the one at start), ending early on the consumer's lookahead rule: the
        # consumer's own apply_window (see venues.simulated), or else windows of at most its
        # lookahead_ns() found by bisection and given to apply_market_data.
        own = getattr(consumer, "apply_window", None)
        self.bisect = own is None
        self.window: Callable[[np.ndarray, int, float], int] = self._bisect_window if own is None else own
        self.chunks = chunks
        self.journal = journal
        self.chunk: np.ndarray | None = None
        self.ts: list[int] | np.ndarray = []
        self.last_ts: int | None = None  # of the current chunk
        self.n = 0  # events in the current chunk
        self.at: Callable[[int], int] = self.ts.__getitem__  # ts of the event at an index, as an int
        self.pos = 0
        self.done = 0  # events of the chunks before the current one
        self.hashed = 0
        self.next_ts: float = math.inf
        self._load()

    def _load(self) -> None:
        self.done += self.pos
        self.pos = 0
        for chunk in self.chunks:
            if len(chunk):
                ts = chunk["ts"]
                if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
                    bad = int(np.argmax(ts[1:] < ts[:-1])) + 1
                    raise DataError(
                        f"feed {self.name}: timestamps go backwards at event {bad} of a chunk "
                        f"({int(ts[bad - 1])} -> {int(ts[bad])})"
                    )
                if self.last_ts is not None and ts[0] < self.last_ts:
                    raise DataError(f"feed {self.name}: a chunk starts before the previous one ended")
                self.chunk = chunk
                # A list for the bisection over windows; a consumer that applies windows itself
                # (apply_window) needs only single times: no list of a whole chunk then.
                self.ts = ts.tolist() if self.bisect else ts
                self.at = self.ts.__getitem__ if self.bisect else ts.item
                self.n = len(ts)
                self.hashed = 0
                self.next_ts = int(ts[0])
                self.last_ts = int(ts[-1])
                return
        self.chunk = None
        self.next_ts = math.inf

    def _bisect_window(self, chunk: np.ndarray, start: int, bound: float) -> int:
        ts = self.ts
        bound = min(bound, ts[start] + self.consumer.lookahead_ns())
        stop = bisect_right(ts, bound, start + 1) if bound < ts[-1] else len(ts)
        self.consumer.apply_market_data(chunk, start, stop)
        return stop

    def next_chunk(self, clock: SimClock) -> float:
        """After the current chunk's last event: move the clock to it, journal the chunk and
        load the next one; return the time of its first event (inf at the end)."""
        if self.last_ts > clock._now:
            clock._now = self.last_ts
        self.flush()
        self._load()
        return self.next_ts

    def flush(self) -> None:
        """Journal the applied but not yet journaled events of the current chunk."""
        if self.chunk is not None and self.pos > self.hashed:
            self.journal.market_data(self.chunk[self.hashed : self.pos])
            self.hashed = self.pos


def _catch_up(clock: SimClock, feed: _Feed) -> None:
    """Move the clock to the last event the feed applied in its current chunk, if later."""
    if feed.pos:
        last = feed.at(feed.pos - 1)
        if last > clock._now:
            clock._now = last


class Kernel:
    """Owns simulated time, the schedule, the journal and the RNG streams of one run."""

    def __init__(self, seed: int, start_ns: int, journal: Journal | None = None) -> None:
        self.seed = int(seed)
        self.start_ns = int(start_ns)
        self.env = simpy.Environment(initial_time=self.start_ns)
        self.clock = SimClock(self.start_ns)
        self.journal = journal if journal is not None else Journal()
        self.rng = RngStreams(seed)
        self._feeds: list[_Feed] = []
        self.scheduled_calls = 0
        self.stopped = False
        self._running = False

    @property
    def md_events(self) -> int:
        """Market-data events applied so far, over all feeds."""
        return sum(f.done + f.pos for f in self._feeds)

    # -- scheduling -------------------------------------------------------
    def now(self) -> int:
        return self.clock.now()

    def call_at(self, ts: int, fn: Callable[..., Any], *args: Any, priority: int = PRIO_DELIVERY) -> None:
        """Run ``fn(*args)`` at absolute time ``ts`` (never earlier than the schedule's now)."""
        env = self.env
        delay = ts - env.now
        if delay < 0:
            raise ValueError(f"cannot schedule at {ts}: the kernel is already at {env.now}")
        self.scheduled_calls += 1
        # The same (time, priority, eid) key as env.schedule; a call is (key..., fn, args), which
        # the loop runs itself (simpy's events are (key..., event) 4-tuples for env.step).
        heappush(env._queue, (ts, priority, next(env._eid), fn, args))

    def push(self, ts: int, priority: int, fn: Callable[..., Any], args: tuple) -> None:
        """:meth:`call_at` for hot callers: positional, ``args`` as a tuple, and ``ts`` trusted
        to be no earlier than now (a venue's delivery: an event time plus a latency)."""
        self.scheduled_calls += 1
        env = self.env
        heappush(env._queue, (ts, priority, next(env._eid), fn, args))

    def hot_queue(self) -> tuple[list, Iterator[int]]:
        """The schedule itself, for the hottest callers (a venue's book deliveries): push
        ``(ts, priority, next(seq), fn, args)`` with ``heapq.heappush``, ``ts`` >= now. What
        :meth:`push` does, without the call (not counted in :attr:`scheduled_calls`)."""
        return self.env._queue, self.env._eid

    def call_after(self, delay_ns: int, fn: Callable[..., Any], *args: Any, priority: int = PRIO_DELIVERY) -> None:
        """Run ``fn(*args)`` ``delay_ns`` after the current time."""
        self.call_at(self.clock.now() + int(delay_ns), fn, *args, priority=priority)

    # -- market data ------------------------------------------------------
    def add_feed(self, name: str, consumer: MarketDataConsumer, chunks: Iterator[np.ndarray]) -> None:
        """Register a market-data source whose events ``consumer`` applies (not while :meth:`run` runs)."""
        if self._running:
            raise RuntimeError(f"feed {name}: add feeds before Kernel.run, not from a callback during it")
        self._feeds.append(_Feed(name, consumer, iter(chunks), self.journal))

    # -- the loop ---------------------------------------------------------
    def run(
        self, end_ns: int | None = None, progress: Callable[[int], None] | None = None, until_data_end: bool = False
    ) -> None:
        """Process market data and scheduled events in time order up to ``end_ns`` (inclusive).
        With ``until_data_end`` the loop also stops once every feed is exhausted and the next
        scheduled event is later than the last market-data event (timers may repeat forever)."""
        end = math.inf if end_ns is None else end_ns
        env = self.env
        feeds = self._feeds
        clock = self.clock
        queue = env._queue  # peeked directly: env.peek() costs a call per step
        self._running = True
        try:
            only = feeds[0] if len(feeds) == 1 else None  # one feed: no other feed bounds a window
            inf = math.inf
            while not self.stopped:
                t_heap = queue[0][0] if queue else inf
                if only is not None:
                    t_md = only.next_ts
                    feed = only if t_md != inf else None
                else:
                    feed = None
                    t_md = inf
                    for f in feeds:
                        nt = f.next_ts
                        if nt < t_md:
                            t_md, feed = nt, f
                if feed is not None and t_md <= t_heap and t_md <= end:
                    if only is not None:
                        self._one_feed_windows(feed, t_md, t_heap, end, progress)
                        continue
                    # Several feeds: one window, bounded by the others too; then the loop picks
                    # the next source.
                    bound = t_heap if t_heap < end else end
                    for other in feeds:
                        if other is not feed and other.next_ts < bound:
                            bound = other.next_ts
                    if t_md > clock._now:
                        clock._now = t_md
                    stop = feed.pos = feed.window(feed.chunk, feed.pos, bound)
                    if stop < feed.n:
                        feed.next_ts = feed.at(stop)
                        _catch_up(clock, feed)
                    else:
                        feed.next_chunk(clock)
                    if progress is not None:
                        progress(clock._now)
                elif queue and t_heap <= end:
                    if until_data_end and feed is None and t_heap > clock._now:
                        break
                    item = queue[0]
                    if len(item) == 5:  # a call: run it (what env.step would do for an event)
                        heappop(queue)
                        env._now = clock._now = t_heap
                        item[3](*item[4])
                    else:
                        env.step()
                else:
                    break
        finally:
            self._running = False
        for f in feeds:
            f.flush()
        if end != math.inf and clock._now < end and not self.stopped:
            clock._now = int(end)

    def _one_feed_windows(
        self, feed: _Feed, t_md: int, t_heap: float, end: float, progress: Callable[[int], None] | None
    ) -> None:
        """:meth:`run` with one feed: its windows, each followed by the calls due before its next
        event (typically the deliveries the window just scheduled), until something else is
        next (what successive turns of the outer loop would do, without them). The feed's chunk
        is in locals: the hot loop of a simulation with a Python strategy, once per top change.
        The clock reaches a window's last event when the loop leaves or reports progress: until
        then the calls that run next are at that time or later and set it."""
        env = self.env
        clock = self.clock
        queue = env._queue
        window = feed.window
        chunk, n, at, pos = feed.chunk, feed.n, feed.at, feed.pos
        inf = math.inf
        while True:
            if t_md > clock._now:
                clock._now = t_md
            pos = feed.pos = window(chunk, pos, t_heap if t_heap < end else end)
            if pos < n:
                t_md = at(pos)
            else:
                t_md = feed.next_chunk(clock)
                if t_md == inf:
                    if progress is not None:
                        progress(clock._now)
                    return  # the outer loop applies until_data_end
                chunk, n, at, pos = feed.chunk, feed.n, feed.at, 0
            if progress is not None:
                _catch_up(clock, feed)
                progress(clock._now)
            while queue:
                item = queue[0]
                t = item[0]
                if t >= t_md or t > end or len(item) != 5 or self.stopped:
                    break
                heappop(queue)
                env._now = clock._now = t
                item[3](*item[4])
            t_heap = queue[0][0] if queue else inf
            if self.stopped or t_md > t_heap or t_md > end:
                feed.next_ts = t_md
                _catch_up(clock, feed)
                return

    def stop(self) -> None:
        """Stop the loop after the current event."""
        self.stopped = True
