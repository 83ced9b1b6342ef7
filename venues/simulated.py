"""A simulated venue: matching engines per instrument behind latency and fees.

Implements the kernel's ``Venue`` and ``MarketDataConsumer`` interfaces. Orders
reach the matching engine after the order-entry latency; acks and fills reach
the OMS after the response latency; book and trade updates reach strategies
after the market-data latency. Each of the three channels is FIFO, as over a
TCP session, so a later message never overtakes an earlier one.
"""

from __future__ import annotations

import math

import numpy as np

from kernel.errors import DataError
from kernel.instruments import Instrument
from kernel.loop import PRIO_DELIVERY, PRIO_VENUE, Kernel
from kernel.marketdata import MarketDataBus
from kernel.oms import OMS
from kernel.orders import Order, STPMode
from kernel.reports import BookTop, ReportKind, Trade
from venues.fees import FeeModel, ZeroFees
from venues.latency import ConstantLatency, LatencyModel, RecordedLatency, VenueLatency
from venues.matching import MatchingEngine

# Participant order ids live above every id a data feed may use.
PARTICIPANT_BASE = 1 << 62
_TERMINAL_KINDS = (ReportKind.CANCEL, ReportKind.EXPIRE)
_COLUMNS = ("ts", "order_id", "price", "qty", "action", "side")


def min_latency_ns(model: LatencyModel) -> int:
    """Smallest delay a latency model can produce (0 when unknown)."""
    if isinstance(model, ConstantLatency):
        return int(model.ns)
    return int(getattr(model, "min_ns", 0) or 0)


class _Channel:
    """A FIFO delay line: deliveries never overtake each other."""

    __slots__ = ("model", "last", "at")

    def __init__(self, model: LatencyModel) -> None:
        self.model = model
        self.last = 0
        # A recorded latency (venues.latency.RecordedLatency) gives the delay of the event at ts.
        self.at = model.delay_at if isinstance(model, RecordedLatency) else None

    def arrival(self, ts: int) -> int:
        t = ts + (self.model.sample() if self.at is None else self.at(ts))
        if t < self.last:
            t = self.last
        self.last = t
        return t


class SimulatedVenue:
    """Price-time matching venue for one or more instruments."""

    def __init__(
        self,
        name: str,
        instruments: dict[int, Instrument],
        latency: VenueLatency | None = None,
        fees: FeeModel | None = None,
        stp_mode: STPMode = STPMode.NONE,
    ) -> None:
        self.name = name
        self.instruments = instruments
        zero = ConstantLatency(0)
        self.latency = latency or VenueLatency(zero, zero, zero)
        self.fees = fees or ZeroFees()
        self.engines = {iid: MatchingEngine(iid, stp_mode, on_report=self._on_engine_report) for iid in instruments}
        self._md = _Channel(self.latency.market_data)
        md = self.latency.market_data
        self._recorded = md if isinstance(md, RecordedLatency) else None  # told which chunk / event
        self._entry = _Channel(self.latency.order_entry)
        self._response = _Channel(self.latency.response)
        self._min_callback_ns = min(min_latency_ns(self.latency.market_data), min_latency_ns(self.latency.response))
        self._depth: dict[int, int] = {}
        self._watch: set[int] = set()
        self._last_top: dict[int, tuple[int, int, int, int]] = {}
        self._live: set[int] = set()  # participant orders acked and not yet done
        self._cols_for: np.ndarray | None = None
        self._cols: list[list[int]] = []
        self._chunk_instrument = 0
        self.kernel: Kernel | None = None
        self.oms: OMS | None = None
        self.bus: MarketDataBus | None = None
        self.reports = 0

    # -- wiring ---------------------------------------------------------------
    def attach(self, kernel: Kernel, oms: OMS, bus: MarketDataBus) -> None:
        self.kernel, self.oms, self.bus = kernel, oms, bus
        for iid in self.instruments:
            oms.route(iid, self)

    def subscribe(self, instrument: int, depth: int = 0, trades: bool = False) -> None:
        self._watch.add(instrument)
        self._depth[instrument] = max(depth, self._depth.get(instrument, 0))
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
        report = r._replace(order_id=oid, reason=reason, fee=fee)
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
        if top == self._last_top.get(instrument):
            return
        self._last_top[instrument] = top
        depth = self._depth.get(instrument, 0)
        if depth:
            bids = tuple(engine.depth(1, depth))
            asks = tuple(engine.depth(-1, depth))
        else:
            bids = asks = ()
        book = BookTop(ts, instrument, top[0], top[1], top[2], top[3], bids, asks)
        self.kernel.call_at(self._md.arrival(ts), self.bus.publish_book, book, priority=PRIO_DELIVERY)

    # -- market data (the replay hot path) ---------------------------------------
    def lookahead_ns(self) -> float:
        if not self._watch and not self._live:
            return math.inf
        return self._min_callback_ns

    def apply_market_data(self, events: np.ndarray, start: int, stop: int) -> None:
        if events is not self._cols_for:
            inst = events["instrument"]
            first = int(inst[0])
            if int(inst.min()) != first or int(inst.max()) != first:
                raise DataError(
                    f"venue {self.name}: a market-data chunk mixes instruments; feed one instrument per chunk"
                )
            if first not in self.engines:
                raise DataError(f"venue {self.name}: market data for unknown instrument {first}")
            self._cols = [events[c].tolist() for c in _COLUMNS]
            self._cols_for = events
            self._chunk_instrument = first
            if self._recorded is not None:
                self._recorded.use(events)
        instrument = self._chunk_instrument
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
