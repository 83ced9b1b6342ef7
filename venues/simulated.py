"""A simulated venue: matching engines per instrument behind latency and fees.

Implements the kernel's ``Venue`` and ``MarketDataConsumer`` interfaces. Orders
reach the matching engine after the order-entry latency; acks and fills reach
the OMS after the response latency; book and trade updates reach strategies
after the market-data latency. Each of the three channels is FIFO, as over a
TCP session, so a later message never overtakes an earlier one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappush
from typing import Any

import numpy as np

from kernel.errors import DataError
from kernel.instruments import Instrument
from kernel.loop import PRIO_DELIVERY, PRIO_VENUE, Kernel
from kernel.marketdata import MarketDataBus
from kernel.oms import OMS
from kernel.orders import Order, STPMode
from kernel.reports import BookTop, ExecReport, ReportKind, Trade
from venues.fees import FeeModel, ZeroFees
from venues.latency import ConstantLatency, LatencyModel, RecordedLatency, VenueLatency
from venues.matching import MatchingEngine

# Participant order ids live above every id a data feed may use.
PARTICIPANT_BASE = 1 << 62
_NO_BOUND = (1 << 63) - 1
ENGINES = ("fast", "reference")


def engine_class(engine: str | Callable[..., Any]) -> Callable[..., Any]:
    """The matching-engine class for a scenario's ``engine`` ("fast" or "reference"), or a factory as given."""
    if not isinstance(engine, str):
        return engine
    if engine == "reference":
        return MatchingEngine
    if engine == "fast":
        from venues.fast import FastMatchingEngine

        return FastMatchingEngine
    raise ValueError(f"unknown matching engine {engine!r} (expected one of {ENGINES})")


_TERMINAL_KINDS = (ReportKind.CANCEL, ReportKind.EXPIRE)
# venues.fast.core mode bits / statuses (literal here: the reference path never imports numba)
_M_WATCH, _M_RECORD_TOP, _M_BOUND = 1, 2, 4
_M_WATCH_WINDOW = _M_WATCH | _M_RECORD_TOP | _M_BOUND
_M_TAKE_TOP, _F_TOP_TAKEN = 8, 8
_ST_TOP = 1
_COLUMNS = ("ts", "order_id", "price", "qty", "action", "side")


def min_latency_ns(model: LatencyModel) -> int:
    """Smallest delay a latency model can produce (0 when unknown)."""
    if isinstance(model, ConstantLatency):
        return int(model.ns)
    return int(getattr(model, "min_ns", 0) or 0)


class _Channel:
    """A FIFO delay line: deliveries never overtake each other."""

    __slots__ = ("model", "last", "at", "const")

    def __init__(self, model: LatencyModel) -> None:
        self.model = model
        self.last = 0
        # A recorded latency (venues.latency.RecordedLatency) gives the delay of the event at ts.
        self.at = model.delay_at if isinstance(model, RecordedLatency) else None
        self.const = model.ns if type(model) is ConstantLatency else None  # no sample() call

    def arrival(self, ts: int) -> int:
        const = self.const
        if const is not None:
            t = ts + const
        else:
            t = ts + (self.model.sample() if self.at is None else self.at(ts))
        if t < self.last:
            t = self.last
        self.last = t
        return t


class SimulatedVenue:
    """Price-time matching venue for one or more instruments.

    ``engine`` picks the matching engine: "reference" (:class:`MatchingEngine`,
    the readable specification), "fast" (:class:`venues.fast.FastMatchingEngine`,
    the compiled twin), or a factory ``(instrument, stp_mode, on_report=...)``.
    Both produce the same reports, publications and journal. With the fast
    engine the venue also offers :meth:`apply_window` to the kernel: it applies
    market data up to a time bound in one compiled call, delivering book
    updates through the engine's ``on_top`` hook in callback order.
    """

    apply_window: Callable[[np.ndarray, int, float], int] | None = None  # set for fast engines

    def __init__(
        self,
        name: str,
        instruments: dict[int, Instrument],
        latency: VenueLatency | None = None,
        fees: FeeModel | None = None,
        stp_mode: STPMode = STPMode.NONE,
        engine: str | Callable[..., Any] = "reference",
    ) -> None:
        self.name = name
        self.instruments = instruments
        zero = ConstantLatency(0)
        self.latency = latency or VenueLatency(zero, zero, zero)
        self.fees = fees or ZeroFees()
        factory = engine_class(engine)
        self.engines = {iid: factory(iid, stp_mode, on_report=self._on_engine_report) for iid in instruments}
        self._fast = all(hasattr(e, "run_events") for e in self.engines.values())
        self._md = _Channel(self.latency.market_data)
        md = self.latency.market_data
        self._recorded = md if isinstance(md, RecordedLatency) else None  # told which chunk / event
        self._entry = _Channel(self.latency.order_entry)
        self._response = _Channel(self.latency.response)
        self._min_callback_ns = min(min_latency_ns(self.latency.market_data), min_latency_ns(self.latency.response))
        self._depth: dict[int, int] = {}
        self._watch: set[int] = set()
        self._win_engine: Any = None  # the current chunk's engine, its length and window mode
        self._win_n = 0
        self._win_mode = 0
        self._last_book: dict[int, BookTop] = {}  # the book last published, per instrument
        self._stale_window = False  # a fast window that starts from a top not published yet
        self._live: set[int] = set()  # participant orders acked and not yet done
        self._cols_for: np.ndarray | None = None
        self._cols: list[list[int]] = []
        self._chunk_instrument = 0
        self.kernel: Kernel | None = None
        self.oms: OMS | None = None
        self.bus: MarketDataBus | None = None
        self.reports = 0
        if self._fast:
            self.apply_window, self._rearm = self._make_window()

    # -- wiring ---------------------------------------------------------------
    def rest_crossing_adds(self, rest: bool = True) -> None:
        """Recorded data: market-data adds / modifies that cross the book rest instead of
        trading (the exchange's trades arrive as EXECUTE / TRADE events). Synthetic order
        flow keeps the default (they trade)."""
        for engine in self.engines.values():
            engine.rest_crossing = rest

    def attach(self, kernel: Kernel, oms: OMS, bus: MarketDataBus) -> None:
        self.kernel, self.oms, self.bus = kernel, oms, bus
        for iid in self.instruments:
            oms.route(iid, self)
        if self._fast:
            for iid, e in self.engines.items():
                e.on_top = self._make_top_hook(iid)

    def subscribe(self, instrument: int, depth: int = 0, trades: bool = False) -> None:
        if self._fast:
            self.engines[instrument].touched = True  # the first window publishes the current top
        self._watch.add(instrument)
        self._depth[instrument] = max(depth, self._depth.get(instrument, 0))
        self._set_win_mode()
        if trades:
            self.engines[instrument].on_trade = self._make_trade_hook(instrument)

    def reference_price(self, instrument: int) -> int | None:
        ref = self.bus.reference_price(instrument) if self.bus else None
        if ref is not None:
            return ref
        engine = self.engines[instrument]
        bid, _, ask, _ = engine.top()
        if bid and ask:
            return (bid + ask) // 2
        return engine.last_trade_price or None

    # -- order entry (strategy side -> venue) ----------------------------------
    def submit(self, order: Order) -> None:
        self.kernel.call_at(self._entry.arrival(self.kernel.now()), self._arrive, order, priority=PRIO_VENUE)

    def cancel(self, order: Order) -> None:
        at = self._entry.arrival(self.kernel.now())
        self.kernel.call_at(at, self._arrive_cancel, order.instrument, order.order_id, priority=PRIO_VENUE)

    def amend(self, order: Order, new_price: int | None, new_qty: int | None) -> None:
        at = self._entry.arrival(self.kernel.now())
        args = (order.instrument, order.order_id, new_price, new_qty)
        self.kernel.call_at(at, self._arrive_amend, *args, priority=PRIO_VENUE)

    def _arrive(self, order: Order) -> None:
        ts = self.kernel.now()
        engine = self.engines[order.instrument]
        engine.submit(
            ts, PARTICIPANT_BASE + order.order_id, order.owner, int(order.side), order.qty, order.price,
            order.order_type, order.tif, stop_price=order.stop_price, post_only=order.post_only,
            display_qty=order.display_qty, expire_ts=order.expire_ts,
        )  # fmt: skip
        if order.expire_ts > ts:
            self.kernel.call_at(order.expire_ts, engine.expire, order.expire_ts, priority=PRIO_VENUE)
        self._after_engine(order.instrument, ts)

    def _arrive_cancel(self, instrument: int, order_id: int) -> None:
        ts = self.kernel.now()
        self.engines[instrument].cancel(ts, PARTICIPANT_BASE + order_id)
        self._after_engine(instrument, ts)

    def _arrive_amend(self, instrument: int, order_id: int, new_price: int | None, new_qty: int | None) -> None:
        ts = self.kernel.now()
        self.engines[instrument].amend(ts, PARTICIPANT_BASE + order_id, new_price, new_qty)
        self._after_engine(instrument, ts)

    def end_of_day(self, ts: int) -> None:
        """Expire DAY orders (and due GTD orders) on every book."""
        for iid, engine in self.engines.items():
            engine.expire(ts, day_end=True)
            self._after_engine(iid, ts)

    # -- venue -> strategy side ----------------------------------------------
    def _on_engine_report(self, r) -> None:
        self.reports += 1
        oid = r.order_id - PARTICIPANT_BASE
        kind = r.kind
        fee = 0.0
        if kind == ReportKind.FILL:
            inst = self.instruments[self.oms.orders[oid].instrument]
            fee = self.fees.fee(r.price, r.qty, r.liquidity, inst.tick_value)
            if r.leaves == 0:
                self._live.discard(oid)
        elif kind == ReportKind.ACK:
            self._live.add(oid)
        elif kind in _TERMINAL_KINDS:
            self._live.discard(oid)
        # Reasons name the engine's id; the strategy knows the OMS id.
        reason = r.reason.replace(str(r.order_id), str(oid)) if r.reason else ""
        # r._replace(order_id=oid, reason=reason, fee=fee) without namedtuple's keyword machinery
        report = tuple.__new__(ExecReport, (*r[:2], oid, *r[3:7], reason, r[8], fee, *r[10:]))
        self.kernel.call_at(self._response.arrival(r.ts), self.oms.on_report, report, priority=PRIO_DELIVERY)

    def _make_trade_hook(self, instrument: int):
        def on_trade(ts: int, price: int, qty: int, aggressor: int) -> None:
            trade = Trade(ts, instrument, price, qty, aggressor)
            self.kernel.call_at(self._md.arrival(ts), self.bus.publish_trade, trade, priority=PRIO_DELIVERY)

        return on_trade

    def _after_engine(self, instrument: int, ts: int) -> None:
        if instrument in self._watch:
            self._publish_if_changed(instrument, ts)

    def _publish_if_changed(self, instrument: int, ts: int) -> None:
        engine = self.engines[instrument]
        top = engine.top()
        if self._fast:
            engine.touched = False  # the top published (or unchanged) is the engine's own
        last = self._last_book.get(instrument)
        if last is not None and last[2:6] == top:
            return
        depth = self._depth.get(instrument, 0)
        if depth:
            bids = tuple(engine.depth(1, depth))
            asks = tuple(engine.depth(-1, depth))
        else:
            bids = asks = ()
        book = BookTop(ts, instrument, top[0], top[1], top[2], top[3], bids, asks)
        self._last_book[instrument] = book
        self.kernel.call_at(self._md.arrival(ts), self.bus.publish_book, book, priority=PRIO_DELIVERY)

    def _make_top_hook(self, instrument: int):
        """Fast engines: a recorded top change, published as :meth:`_publish_if_changed` would."""
        last_books = self._last_book
        recorded = self._recorded
        arrival = self._md.arrival
        publish = self.bus.publish_book  # what a fault injector's scheduler recognizes
        venue = self  # venue.kernel may be a fault injector's proxy set after attach
        new = tuple.__new__  # BookTop without its Python-level __new__ (hot: once per top change)

        def on_top(ts: int, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, index: int) -> None:
            if recorded is not None:
                recorded.mark(index)  # the event that caused it (as the reference path does)
            last = last_books.get(instrument)
            if last is not None and last[2:6] == (bid_px, bid_qty, ask_px, ask_qty):
                return
            book = last_books[instrument] = new(BookTop, (ts, instrument, bid_px, bid_qty, ask_px, ask_qty, (), ()))
            venue.kernel.push(arrival(ts), PRIO_DELIVERY, publish, (book,))

        channel = self._md
        const = channel.const
        kernel = self.kernel
        if recorded is not None or const is None or not isinstance(kernel, Kernel):
            return on_top
        queue, seq = kernel.hot_queue()
        publish_fast = self.bus.book_publisher(instrument)

        def on_top_const(ts: int, bid_px: int, bid_qty: int, ask_px: int, ask_qty: int, index: int) -> None:
            # on_top for a constant market-data latency straight onto the kernel's queue: the
            # same arrival (_Channel.arrival) and the same entry (Kernel.push), without two calls.
            if venue.kernel is not kernel or venue._stale_window:
                # A fault injector took over the scheduling, or a window that began from a top
                # not published yet (the engine records a top only when an event changed it, so
                # otherwise it always differs from the one published before it).
                return on_top(ts, bid_px, bid_qty, ask_px, ask_qty, index)
            t = ts + const
            if t < channel.last:
                t = channel.last
            channel.last = t
            book = last_books[instrument] = new(BookTop, (ts, instrument, bid_px, bid_qty, ask_px, ask_qty, (), ()))
            heappush(queue, (t, PRIO_DELIVERY, next(seq), publish_fast, (book,)))

        return on_top_const

    # -- market data (the replay hot path) ---------------------------------------
    def lookahead_ns(self) -> float:
        if not self._watch and not self._live:
            return math.inf
        return self._min_callback_ns

    def _chunk(self, events: np.ndarray) -> int:
        """The instrument of a chunk (checked once per chunk)."""
        if events is not self._cols_for:
            inst = events["instrument"]
            first = int(inst[0])
            if int(inst.min()) != first or int(inst.max()) != first:
                raise DataError(
                    f"venue {self.name}: a market-data chunk mixes instruments; feed one instrument per chunk"
                )
            if first not in self.engines:
                raise DataError(f"venue {self.name}: market data for unknown instrument {first}")
            if self._fast:
                self.engines[first].check_events(events)  # the compiled window trusts its array
            else:
                self._cols = [events[c].tolist() for c in _COLUMNS]
            self._cols_for = events
            self._chunk_instrument = first
            self._win_engine = self.engines[first]
            self._win_n = len(events)
            self._set_win_mode()
            if self._recorded is not None:
                self._recorded.use(events)
        return self._chunk_instrument

    def _set_win_mode(self) -> None:
        """The mode of the current chunk's common window: watched without depth snapshots or
        recorded latency (tops recorded), not watched (bounded only), or 0: the general path."""
        if self._fast:
            self._rearm()  # the compiled window re-reads the mode
        if not self._fast or self._win_engine is None:
            self._win_mode = 0
        elif self._chunk_instrument not in self._watch:
            self._win_mode = _M_BOUND
        elif self._depth.get(self._chunk_instrument, 0) or self._recorded is not None:
            self._win_mode = 0
        else:
            self._win_mode = _M_WATCH_WINDOW

    def _make_window(self) -> tuple[Callable[[np.ndarray, int, float], int], Callable[[], None]]:
        """The venue's ``apply_window`` for fast engines, and a function that makes it re-arm.

        ``apply_window(events, start, bound)`` applies events from ``start``
        whose ts is <= ``bound`` and returns the index of the first one not
        applied. It is equivalent to the kernel's windows of at most
        :meth:`lookahead_ns` followed one another (same events applied before
        every scheduled event, same callbacks in the same order): the engine
        stops at the first event past the ts of its first callback + the
        lookahead, since that callback's delivery may come next. At least the
        event at ``start`` is applied (the kernel calls with ``bound >= its ts``).

        The common windows (book not watched, or watched without depth
        snapshots with a constant market-data latency on the kernel's own
        schedule) are one compiled call in this frame, whose top changes go
        straight onto the kernel's queue as :meth:`_publish_if_changed` would
        schedule them; the state for it is armed once per chunk and re-armed
        when the mode or the engine's arrays change. Anything else goes
        through :meth:`_apply_window`.
        """
        venue = self
        general = self._apply_window
        lookahead = self._min_callback_ns
        channel = self._md
        const = channel.const
        last_books = self._last_book
        new = tuple.__new__  # BookTop without its Python-level __new__ (hot: once per top change)
        armed: np.ndarray | None = None  # the chunk the state below is for; None: arm first
        engine: Any = None
        generation = mode = n = instrument = 0
        apply: Any = None
        st = ords = lvls = book = omap = buf = None
        queue: list = []
        seq: Any = None
        publish: Any = None

        def arm(events: np.ndarray) -> bool:
            nonlocal armed, engine, generation, mode, n, instrument, st, ords, lvls, book, omap, buf
            nonlocal apply, queue, seq, publish
            armed = None
            if events is not venue._cols_for:
                venue._chunk(events)  # checks the chunk; sets its engine, length and window mode
            kernel = venue.kernel
            mode = venue._win_mode
            if mode == _M_WATCH_WINDOW:
                if const is None or type(kernel) is not Kernel:  # (recorded latency: mode 0 already)
                    return False  # tops through the engine's on_top hook (general path)
                queue, seq = kernel.hot_queue()
                publish = venue.bus.book_publisher(venue._chunk_instrument)
            elif mode != _M_BOUND:
                return False
            engine = venue._win_engine
            generation = engine.generation
            st, ords, lvls, book, omap, buf = engine.compiled
            apply = engine.apply_compiled
            n = venue._win_n
            instrument = venue._chunk_instrument
            armed = events
            return True

        def rearm() -> None:
            nonlocal armed
            armed = None

        def apply_window(events: np.ndarray, start: int, bound: float) -> int:
            if events is not armed or engine.generation != generation:
                if not arm(events):
                    return general(events, start, bound)
            if engine.touched and mode != _M_BOUND:
                return general(events, start, bound)  # the top may have changed outside market data
            b = bound if bound < _NO_BOUND else _NO_BOUND
            code, ts, bid_px, bid_qty, ask_px, ask_qty = apply(
                st, ords, lvls, book, omap, buf, events, start, n, mode | _M_TAKE_TOP, b, lookahead
            )
            if code & _F_TOP_TAKEN:  # the window's one row: a top change (the common case)
                # _Channel.arrival and Kernel.push, inline (once per top change)
                t = ts + const
                if t < channel.last:
                    t = channel.last
                channel.last = t
                top = last_books[instrument] = new(BookTop, (ts, instrument, bid_px, bid_qty, ask_px, ask_qty, (), ()))
                heappush(queue, (t, PRIO_DELIVERY, next(seq), publish, (top,)))
                return code >> 4
            # Several rows, reports or trades (in order, tops through the on_top hook); rare statuses.
            return engine.resume(events, code, n, mode)

        return apply_window, rearm

    def _apply_window(self, events: np.ndarray, start: int, bound: float) -> int:
        """``apply_window`` past the common cases (see :meth:`_make_window`)."""
        if events is not self._cols_for:
            self._chunk(events)
        b = _NO_BOUND if bound >= _NO_BOUND else int(bound)
        if self._win_mode == _M_BOUND:
            return self._win_engine.run_events(events, start, self._win_n, _M_BOUND, b, self._min_callback_ns)[0]
        return self._watched(self._win_engine, self._chunk_instrument, events, start, self._win_n, b)

    def _watched(self, engine: Any, instrument: int, events: np.ndarray, start: int, stop: int, bound: int) -> int:
        """Fast engine, watched instrument: apply, publishing every top change (``bound`` -1: no window)."""
        lookahead = self._min_callback_ns
        # A top changed outside market data (an expiry, a new subscription) is published by the
        # reference at the end of the kernel's window: keep to that window then. Only the
        # engine's Python entry points can have changed it (``touched``).
        stale = False
        if engine.touched:
            engine.touched = False
            last = self._last_book.get(instrument)
            stale = last is None or last[2:6] != engine.top()
            if stale and bound >= 0:
                bound = min(bound, int(events["ts"][start]) + lookahead)
        # Depth snapshots need the book at the moment: return per change instead of recording.
        mode = _M_WATCH if self._depth.get(instrument, 0) else _M_WATCH | _M_RECORD_TOP
        if bound >= 0:
            mode |= _M_BOUND
        self._stale_window = stale
        try:
            i, status = engine.run_events(events, start, stop, mode, bound, lookahead)
            recorded = self._recorded
            while status == _ST_TOP:
                if recorded is not None:
                    recorded.mark(i - 1)
                self._publish_if_changed(instrument, int(events["ts"][i - 1]))
                i, status = engine.run_events(events, i, stop, mode)
        finally:
            self._stale_window = False
        if recorded is not None and i > start:
            recorded.mark(i - 1)  # the reference marks the last event of every window
        if stale:
            if i > start:
                self._publish_if_changed(instrument, int(events["ts"][i - 1]))
            else:
                engine.touched = True  # not published yet
        return i

    def apply_market_data(self, events: np.ndarray, start: int, stop: int) -> None:
        instrument = self._chunk(events)
        if self._fast:
            engine = self.engines[instrument]
            if instrument in self._watch:
                self._watched(engine, instrument, events, start, stop, -1)
            else:
                engine.run_events(events, start, stop, 0)
            return
        engine = self.engines[instrument]
        ts, oid, price, qty, action, side = self._cols
        if instrument not in self._watch:
            engine.apply_batch(ts, oid, price, qty, action, side, start, stop, False)
            return
        i = start
        while i < stop:
            i = engine.apply_batch(ts, oid, price, qty, action, side, i, stop, True)
            if self._recorded is not None:
                self._recorded.mark(i - 1)
            self._publish_if_changed(instrument, ts[i - 1])
