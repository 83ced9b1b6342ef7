"""Fault injection for simulated venues: outages, market-data gaps and stale feeds,
latency spikes, reject storms, partial-fill storms, duplicate and out-of-order
execution reports.

A :class:`FaultInjector` sits between the OMS and a
:class:`~venues.simulated.SimulatedVenue` without changing the venue's code:

* it is the venue the OMS routes to (a proxy that forwards orders, cancels,
  amends and subscriptions) and answers the OMS's reconciliation queries
  (:meth:`FaultInjector.order_status`) from the venue's own record;
* it replaces the venue's view of the kernel by a scheduler proxy, so every
  message the venue schedules - order arrivals, execution reports to the OMS,
  book and trade updates to the strategy - passes through it, where the
  configured faults act on it in their time windows.

Every report the venue sends gets an exec id (its sequence number at the
venue) and goes into the venue's record *before* any fault touches it; the
OMS applies each exec id once. Every fault action is journaled (``fault``
records), and the injector's randomness comes from its own stream
(``faults:<venue>``), so a run with faults is as deterministic as one without.

Faults (``[[faults]]`` in a scenario; times are offsets from the run start):

``outage``          orders, cancels and amends reaching the venue in the window are
                    rejected ("venue outage", ``mode = "reject"``) or lost without
                    an answer (``mode = "silent"``: the OMS times out and reconciles)
``md_gap``          book and trade updates to the strategy are dropped
``stale_feed``      book and trade updates are delivered ``lag`` late
``latency_spike``   ``lag`` added to order entry and/or responses (``channel``), FIFO kept
``reject_storm``    new orders rejected with ``probability``
``partial_fills``   fills split into ``pieces`` smaller fills (same price), with ``probability``
``duplicate_reports``  reports delivered twice with ``probability``
``reorder_reports`` reports held back by ``lag`` with ``probability`` (later ones overtake;
                    the OMS puts them back in sequence by exec id)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from kernel.clock import parse_duration
from kernel.errors import ScenarioError
from kernel.loop import PRIO_DELIVERY, Kernel
from kernel.oms import VenueOrderStatus
from kernel.orders import Order
from kernel.reports import ExecReport, ReportKind
from venues.simulated import PARTICIPANT_BASE, SimulatedVenue

FaultKind = Literal[
    "outage",
    "md_gap",
    "stale_feed",
    "latency_spike",
    "reject_storm",
    "partial_fills",
    "duplicate_reports",
    "reorder_reports",
]


class FaultConfig(BaseModel):
    """One fault window of one venue."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    venue: str = ""  # default: the scenario's only venue
    start: int | str = 0  # offset from the run start
    duration: int | str = "1s"
    mode: Literal["reject", "silent"] = "reject"  # outage
    lag: int | str = "1ms"  # stale_feed, latency_spike, reorder_reports
    channel: Literal["order_entry", "response", "both"] = "both"  # latency_spike
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    pieces: int = Field(default=4, ge=2, le=1000)  # partial_fills


def _ns(value: int | str, where: str) -> int:
    try:
        ns = parse_duration(value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if ns < 0:
        raise ScenarioError(f"{where}: must be >= 0, got {value!r}")
    return ns


class _Window:
    __slots__ = ("cfg", "kind", "start", "end", "lag", "index")

    def __init__(self, cfg: FaultConfig, run_start: int, index: int) -> None:
        where = f"faults[{index}]"
        self.cfg = cfg
        self.kind = cfg.kind
        self.start = run_start + _ns(cfg.start, f"{where}.start")
        self.end = self.start + _ns(cfg.duration, f"{where}.duration")
        self.lag = _ns(cfg.lag, f"{where}.lag")
        self.index = index

    def active(self, ts: int) -> bool:
        return self.start <= ts < self.end


class _SchedulerProxy:
    """What the venue sees as its kernel: everything scheduled passes through the injector."""

    def __init__(self, kernel: Kernel, injector: FaultInjector) -> None:
        self._kernel = kernel
        self._inj = injector

    def now(self) -> int:
        return self._kernel.now()

    def call_at(self, ts: int, fn: Callable[..., Any], *args: Any, priority: int = PRIO_DELIVERY) -> None:
        self._inj._schedule(ts, fn, args, priority)

    def call_after(self, delay_ns: int, fn: Callable[..., Any], *args: Any, priority: int = PRIO_DELIVERY) -> None:
        self._inj._schedule(self._kernel.now() + int(delay_ns), fn, args, priority)

    def push(self, ts: int, priority: int, fn: Callable[..., Any], args: tuple) -> None:
        self._inj._schedule(ts, fn, args, priority)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kernel, name)


class FaultInjector:
    """Faults of one simulated venue (see the module docstring)."""

    def __init__(
        self, venue: SimulatedVenue, faults: list[tuple[int, FaultConfig]], run_start: int, stream: int = 1
    ) -> None:
        if venue.kernel is None or venue.oms is None:
            raise ScenarioError(f"faults: venue {venue.name!r} is not attached to a kernel")
        self.venue = venue
        self.name = venue.name
        self.kernel: Kernel = venue.kernel
        self.oms = venue.oms
        self.journal = self.kernel.journal
        self.windows = [_Window(cfg, run_start, i) for i, cfg in faults]
        self.rng: np.random.Generator = self.kernel.rng.stream(f"faults:{venue.name}")
        self._u: list[float] = []
        self._stream = stream << 32  # exec id = venue session << 32 | sequence number
        self._next_exec = 1
        self.record: dict[int, list[ExecReport]] = {}  # OMS order id -> reports the venue sent
        self.known: set[int] = set()  # OMS order ids that reached the venue
        self.fills: list[ExecReport] = []  # every fill the venue sent, in order
        self.counts: dict[str, int] = {}
        self._last = {"order_entry": 0, "response": 0}
        self._oms_on_report = self.oms.on_report
        self._publish = (venue.bus.publish_book, venue.bus.publish_trade) if venue.bus is not None else ()
        self._entry = (venue._arrive, venue._arrive_cancel, venue._arrive_amend)
        # Become the venue the OMS routes to, and the venue's scheduler.
        venue.kernel = _SchedulerProxy(self.kernel, self)
        for iid in venue.instruments:
            self.oms.route(iid, self)

    # -- Venue interface (OMS -> venue) -----------------------------------------------------
    @property
    def instruments(self):
        return self.venue.instruments

    def submit(self, order: Order) -> None:
        self.venue.submit(order)

    def cancel(self, order: Order) -> None:
        self.venue.cancel(order)

    def amend(self, order: Order, new_price: int | None, new_qty: int | None) -> None:
        self.venue.amend(order, new_price, new_qty)

    def subscribe(self, instrument: int, depth: int = 0, trades: bool = False) -> None:
        self.venue.subscribe(instrument, depth, trades)

    def reference_price(self, instrument: int) -> int | None:
        return self.venue.reference_price(instrument)

    def end_of_day(self, ts: int) -> None:
        self.venue.end_of_day(ts)

    def order_status(self, order: Order) -> VenueOrderStatus:
        """The venue's own record of ``order`` (for the OMS's reconciliation)."""
        oid = order.order_id
        engine = self.venue.engines[order.instrument]
        leaves = engine.open_qty(PARTICIPANT_BASE + oid)
        self._journal(self.kernel.now(), "order_status", oid, int(oid in self.known), leaves)
        return VenueOrderStatus(oid in self.known, leaves, tuple(self.record.get(oid, ())))

    # -- helpers ---------------------------------------------------------------------------------
    def _uniform(self) -> float:
        if not self._u:
            self._u = self.rng.random(1024).tolist()[::-1]
        return self._u.pop()

    def _active(self, kind: str, ts: int) -> _Window | None:
        for w in self.windows:
            if w.kind == kind and w.start <= ts < w.end:
                if w.cfg.probability >= 1.0 or self._uniform() < w.cfg.probability:
                    return w
                return None
        return None

    def _journal(self, ts: int, what: str, *fields: Any) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        self.journal.record(ts, "fault", self.name, what, *fields)

    def _fifo(self, channel: str, ts: int) -> int:
        if ts < self._last[channel]:
            ts = self._last[channel]
        self._last[channel] = ts
        return ts

    def _spike(self, channel: str, ts: int) -> int:
        w = self._active("latency_spike", ts)
        if w is not None and w.cfg.channel in (channel, "both"):
            self._journal(ts, "latency_spike", channel, w.lag)
            ts += w.lag
        return self._fifo(channel, ts)

    # -- the interception point ------------------------------------------------------------------
    def _schedule(self, ts: int, fn: Callable[..., Any], args: tuple, priority: int) -> None:
        k = self.kernel
        if fn == self._oms_on_report:
            self._report(ts, args[0], priority)
        elif fn in self._entry:
            self._order_entry(ts, fn, args, priority)
        elif fn in self._publish:
            w = self._active("md_gap", ts)
            if w is not None:
                self._journal(ts, "md_gap", fn.__name__)
                return
            w = self._active("stale_feed", ts)
            if w is not None:
                self._journal(ts, "stale_feed", fn.__name__, w.lag)
                ts += w.lag
            k.call_at(ts, fn, *args, priority=priority)
        else:
            k.call_at(ts, fn, *args, priority=priority)

    def _order_entry(self, ts: int, fn: Callable[..., Any], args: tuple, priority: int) -> None:
        ts = self._spike("order_entry", ts)
        new = fn == self.venue._arrive
        oid = args[0].order_id if new else args[1]
        w = self._active("outage", ts)
        if w is not None:
            if w.cfg.mode == "silent":
                self._journal(ts, "outage_lost", oid, fn.__name__)
                return
            self.kernel.call_at(ts, self._reject, ts, oid, "venue outage", new, priority=priority)
            self._journal(ts, "outage_reject", oid, fn.__name__)
            return
        if new:
            w = self._active("reject_storm", ts)
            if w is not None:
                self.kernel.call_at(ts, self._reject, ts, oid, "venue reject storm", True, priority=priority)
                self._journal(ts, "storm_reject", oid)
                return
            self.kernel.call_at(ts, self._arrived, fn, args, priority=priority)
            return
        self.kernel.call_at(ts, fn, *args, priority=priority)

    def _arrived(self, fn: Callable[..., Any], args: tuple) -> None:
        self.known.add(args[0].order_id)
        fn(*args)

    def _reject(self, ts: int, oid: int, reason: str, new: bool) -> None:
        order = self.oms.orders.get(oid)
        if new:
            self.known.add(oid)
        qty = order.leaves_qty if order is not None else 0
        price = order.price if order is not None else 0
        owner = order.owner if order is not None else 0
        report = ExecReport(ReportKind.REJECT, ts, oid, owner, price, qty, 0 if new else qty, reason)
        self._report(ts + self.venue.latency.response.sample(), report, PRIO_DELIVERY)

    def _report(self, ts: int, report: ExecReport, priority: int) -> None:
        """A report leaves the venue for the OMS at ``ts``: exec id, record, then faults."""
        k = self.kernel
        w = self._active("partial_fills", ts) if report.kind == ReportKind.FILL and report.qty > 1 else None
        if w is not None:
            n = min(w.cfg.pieces, report.qty)
            base, extra = divmod(report.qty, n)
            leaves = report.leaves + report.qty
            parts = []
            for j in range(n):
                q = base + (1 if j < extra else 0)
                leaves -= q
                parts.append(report._replace(qty=q, leaves=leaves, fee=report.fee * q / report.qty))
            self._journal(ts, "partial_fills", report.order_id, report.qty, n)
        else:
            parts = [report]
        for part in parts:
            part = part._replace(exec_id=self._stream | self._next_exec)
            self._next_exec += 1
            self.record.setdefault(part.order_id, []).append(part)
            if part.kind == ReportKind.FILL:
                self.fills.append(part)
            at = self._spike("response", ts)
            w = self._active("reorder_reports", at)
            if w is not None:
                self._journal(at, "reorder", part.exec_id, w.lag)
                at += w.lag  # not FIFO: later reports overtake this one
            k.call_at(at, self._oms_on_report, part, priority=priority)
            w = self._active("duplicate_reports", at)
            if w is not None:
                self._journal(at, "duplicate", part.exec_id)
                k.call_at(at + 1, self._oms_on_report, part, priority=priority)

    # -- checks ------------------------------------------------------------------------------------
    def ledger(self) -> dict[int, tuple[int, int]]:
        """Per instrument: (net position, cash in ticks x lots) from the venue's own fills."""
        out: dict[int, tuple[int, int]] = {}
        for r in self.fills:
            order = self.oms.orders[r.order_id]
            pos, cash = out.get(order.instrument, (0, 0))
            s = int(order.side)
            out[order.instrument] = (pos + s * r.qty, cash - s * r.qty * r.price)
        return out


def attach_faults(
    venues: dict[str, SimulatedVenue], faults: list[FaultConfig], run_start: int
) -> dict[str, FaultInjector]:
    """One injector per venue that has faults (validates the venue names)."""
    per: dict[str, list[tuple[int, FaultConfig]]] = {}
    for i, cfg in enumerate(faults):
        name = cfg.venue
        if not name:
            if len(venues) != 1:
                raise ScenarioError(f"faults[{i}].venue: required when the scenario has several venues")
            name = next(iter(venues))
        if name not in venues:
            raise ScenarioError(f"faults[{i}].venue: unknown venue {name!r} (known: {sorted(venues)})")
        per.setdefault(name, []).append((i, cfg))
    names = list(venues)
    return {name: FaultInjector(venues[name], items, run_start, names.index(name) + 1) for name, items in per.items()}
