"""The live kernel driver: the same Kernel API on wall time and an asyncio loop.

:class:`LiveKernel` is a :class:`~kernel.loop.Kernel` whose clock is the wall
clock (:class:`~kernel.clock.LiveClock`) and whose ``call_at`` / ``call_after``
schedule on the running asyncio loop instead of simpy. Scheduled calls wait in
the kernel's own heap ordered by (time, priority class, sequence), exactly as
in simulation, and one asyncio timer is armed for the earliest of them (epoch
ns mapped onto ``loop.time()``). When the timer fires every due call runs in
heap order, so calls due at the same time keep the PRIO_* ordering.

Nothing else differs: the journal, fingerprint, RNG streams and the OMS /
strategy / risk code are the simulation's. Market data come from a live
adapter (which publishes to the bus), not from feeds, so :meth:`add_feed` is
refused. A live fingerprint is not reproducible across real sessions (wall
timestamps are journaled); against the deterministic fake TWS server orders
and fills can still be compared.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import time
from collections.abc import Callable
from typing import Any

from kernel.clock import NS_PER_S, LiveClock
from kernel.errors import AdapterError
from kernel.journal import Journal
from kernel.loop import PRIO_DELIVERY, Kernel


class LiveKernel(Kernel):
    """A Kernel driven by the wall clock and an asyncio event loop."""

    def __init__(self, seed: int, start_ns: int | None = None, journal: Journal | None = None) -> None:
        super().__init__(seed, time.time_ns() if start_ns is None else start_ns, journal)
        self.clock = LiveClock()
        self._heap: list[tuple[int, int, int, Callable[..., Any], tuple]] = []
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_ts = math.inf
        self._idle: list[Callable[[], None]] = []
        self._running = False
        self._done: asyncio.Future | None = None
        self._error: BaseException | None = None
        self.dispatches = 0

    # -- time -----------------------------------------------------------------
    def now(self) -> int:
        return time.time_ns()

    # -- scheduling -------------------------------------------------------------
    def call_at(self, ts: int, fn: Callable[..., Any], *args: Any, priority: int = PRIO_DELIVERY) -> None:
        """Run ``fn(*args)`` at wall time ``ts`` (a time already past runs as soon as possible)."""
        self._seq += 1
        self.scheduled_calls += 1
        heapq.heappush(self._heap, (int(ts), priority, self._seq, fn, args))
        self._arm()

    def call_after(self, delay_ns: int, fn: Callable[..., Any], *args: Any, priority: int = PRIO_DELIVERY) -> None:
        self.call_at(time.time_ns() + int(delay_ns), fn, *args, priority=priority)

    def when_idle(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` once no scheduled call is due any more (after those that are)."""
        self._idle.append(fn)
        self._poke()

    def pending(self) -> int:
        """Scheduled calls not yet run."""
        return len(self._heap)

    def add_feed(self, name, consumer, chunks) -> None:  # noqa: ANN001
        raise AdapterError(f"feed {name}: a live kernel takes market data from its adapters, not from feeds")

    # -- the loop ---------------------------------------------------------------
    def _poke(self) -> None:
        if self._running and self._loop is not None:
            self._loop.call_soon(self._dispatch)

    def _arm(self) -> None:
        if not self._running or self._loop is None or not self._heap:
            return
        first = self._heap[0][0]
        if first >= self._timer_ts and self._timer is not None:
            return
        if self._timer is not None:
            self._timer.cancel()
        delay = (first - time.time_ns()) / NS_PER_S
        self._timer_ts = first
        self._timer = self._loop.call_at(self._loop.time() + max(0.0, delay), self._dispatch)

    def _dispatch(self) -> None:
        self._timer = None
        self._timer_ts = math.inf
        if not self._running:
            return
        self.dispatches += 1
        heap = self._heap
        try:
            while self._running and not self.stopped:
                now = time.time_ns()
                if heap and heap[0][0] <= now:
                    _, _, _, fn, args = heapq.heappop(heap)
                    fn(*args)
                    continue
                if self._idle:
                    idle, self._idle = self._idle, []
                    for fn in idle:
                        fn()
                    continue
                break
        except BaseException as exc:  # surfaces from run(): a live run fails like a simulated one
            self._error = exc
            self.stop()
            return
        self._arm()

    async def run_async(self, end_ns: int | None = None) -> None:
        """Run scheduled calls until wall time ``end_ns`` or :meth:`stop`."""
        if self.stopped:
            return
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._done = loop.create_future()
        self._running = True
        end_timer = None
        if end_ns is not None:
            end_timer = loop.call_at(loop.time() + max(0.0, (end_ns - time.time_ns()) / NS_PER_S), self._finish)
        self._arm()
        self._poke()
        try:
            await self._done
        finally:
            self._running = False
            if end_timer is not None:
                end_timer.cancel()
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
                self._timer_ts = math.inf
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def run(self, end_ns: int | None = None, progress: Callable[[int], None] | None = None) -> None:
        """Blocking form of :meth:`run_async` on the current thread's event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("LiveKernel.run() called inside a running event loop; await run_async() instead")
        loop = self._loop if self._loop is not None and not self._loop.is_closed() else asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # ib_insync looks the loop up through the policy
        self._loop = loop
        loop.run_until_complete(self.run_async(end_ns))

    def _finish(self) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    def stop(self) -> None:
        """Stop the loop after the current call."""
        self.stopped = True
        self._finish()

    def resume(self) -> None:
        """Allow another :meth:`run_async` after :meth:`stop` (e.g. to settle after a kill)."""
        self.stopped = False
