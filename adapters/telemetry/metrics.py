"""Prometheus metrics of one run, in a private ``CollectorRegistry``.

:class:`RunMetrics` owns the metrics (their names are listed in
:data:`METRICS`, which the deployment files in ``deploy/`` are generated from
and checked against). :class:`MetricsObserver` is the
:class:`~kernel.oms.OMSObserver` that updates them from the OMS and samples
the run (portfolio, risk engine, market-data bus, loop counters) when the
runner's progress hook calls :meth:`MetricsObserver.tick`.

Everything here is read-only towards the run: attaching metrics never changes
a run's journal or fingerprint.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kernel.oms import OMSObserver
from kernel.orders import Order, OrderStatus
from kernel.risk import TradingState

if TYPE_CHECKING:
    from kernel.marketdata import MarketDataBus
    from kernel.portfolio import Portfolio
    from kernel.risk import RiskEngine

NS = 1_000_000_000
LATENCY_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1, 1.0)


@dataclass(frozen=True)
class MetricSpec:
    name: str  # as exposed (counters with their _total suffix)
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...] = ()


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("parity_run_info", "gauge", "Always 1; labels name the run", ("run_id", "scenario", "mode")),
    MetricSpec("parity_events_processed_total", "counter", "Market-data events applied by the event loop"),
    MetricSpec("parity_event_loop_lag_seconds", "gauge", "Longest wall-clock gap between event-loop progress calls"),
    MetricSpec(
        "parity_tick_to_order_latency_seconds",
        "histogram",
        "Wall-clock time from a book update reaching the strategy to an order it submits",
    ),
    MetricSpec("parity_orders_total", "counter", "Orders submitted", ("instrument", "side")),
    MetricSpec("parity_fills_total", "counter", "Fills", ("instrument", "liquidity")),
    MetricSpec("parity_order_rejects_total", "counter", "Rejected orders by source and reason", ("source", "reason")),
    MetricSpec("parity_position_lots", "gauge", "Signed position in lots", ("instrument",)),
    MetricSpec("parity_pnl", "gauge", "PnL in account currency", ("kind",)),
    MetricSpec("parity_drawdown", "gauge", "Current drawdown of net PnL from its peak"),
    MetricSpec("parity_max_drawdown", "gauge", "Largest drawdown of the run so far"),
    MetricSpec("parity_risk_trading_state", "gauge", "1 for the current trading state", ("state",)),
    MetricSpec("parity_risk_trading_state_code", "gauge", "Trading state: 1 ACTIVE, 2 REDUCING, 3 HALTED"),
    MetricSpec("parity_adapter_connected", "gauge", "1 if the venue adapter is connected", ("adapter",)),
    MetricSpec("parity_pacing_queue_depth", "gauge", "Requests waiting for the adapter's pacing limit", ("adapter",)),
    MetricSpec("parity_data_staleness_seconds", "gauge", "Age of the newest market data", ("instrument",)),
    MetricSpec("parity_alerts_total", "counter", "Alerts raised", ("rule", "severity")),
    MetricSpec(
        "parity_alert_notifications_total", "counter", "Notification attempts by outcome", ("channel", "outcome")
    ),
    MetricSpec("parity_store_batches_total", "counter", "Run store batches by outcome", ("outcome",)),
    MetricSpec("parity_store_queue_depth", "gauge", "Batches waiting for the run store"),
)
METRIC_NAMES = frozenset(m.name for m in METRICS)


def exposed_names(spec: MetricSpec) -> list[str]:
    """Every series name a metric exposes (histograms: _bucket, _count, _sum)."""
    if spec.kind == "histogram":
        return [f"{spec.name}_bucket", f"{spec.name}_count", f"{spec.name}_sum"]
    return [spec.name]


class RunMetrics:
    """The metrics of one run in their own registry (several runs in one process never collide)."""

    def __init__(self, run_id: str = "", scenario: str = "", mode: str = "sim") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._m: dict[str, Any] = {}
        for spec in METRICS:
            base = spec.name[: -len("_total")] if spec.kind == "counter" else spec.name
            if spec.kind == "counter":
                metric: Any = Counter(base, spec.help, spec.labels, registry=self.registry)
            elif spec.kind == "gauge":
                metric = Gauge(base, spec.help, spec.labels, registry=self.registry)
            else:
                metric = Histogram(base, spec.help, spec.labels, buckets=LATENCY_BUCKETS, registry=self.registry)
            self._m[spec.name] = metric
        self._m["parity_run_info"].labels(run_id, scenario, mode).set(1)
        self.adapters: dict[str, bool] = {}
        self._store_seen: dict[str, int] = {}
        self.staleness_s: dict[str, float] = {}
        self.set_trading_state(TradingState.ACTIVE)

    def __getitem__(self, name: str) -> Any:
        return self._m[name]

    # -- setters used by observers and adapters
    def set_trading_state(self, state: TradingState) -> None:
        self.trading_state = state
        for s in TradingState:
            self._m["parity_risk_trading_state"].labels(s.name).set(1 if s == state else 0)
        self._m["parity_risk_trading_state_code"].set(int(state))

    def set_adapter_connected(self, adapter: str, connected: bool) -> None:
        self.adapters[adapter] = connected
        self._m["parity_adapter_connected"].labels(adapter).set(1 if connected else 0)

    def set_pacing_queue_depth(self, adapter: str, depth: int) -> None:
        self._m["parity_pacing_queue_depth"].labels(adapter).set(depth)

    def set_staleness(self, instrument: str, seconds: float) -> None:
        self.staleness_s[instrument] = seconds
        self._m["parity_data_staleness_seconds"].labels(instrument).set(seconds)

    def alert_raised(self, rule: str, severity: str) -> None:
        self._m["parity_alerts_total"].labels(rule, severity).inc()

    def notification(self, channel: str, outcome: str) -> None:
        self._m["parity_alert_notifications_total"].labels(channel, outcome).inc()

    def store_progress(self, written: int, dropped: int, queue_depth: int) -> None:
        """Bring the store counters up to the writer's totals."""
        c = self._m["parity_store_batches_total"]
        for outcome, total in (("written", written), ("dropped", dropped)):
            delta = total - self._store_seen.get(outcome, 0)
            if delta > 0:
                c.labels(outcome).inc(delta)
                self._store_seen[outcome] = total
        self._m["parity_store_queue_depth"].set(queue_depth)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)

    content_type = CONTENT_TYPE_LATEST

    def value(self, name: str, **labels: str) -> float | None:
        """The current value of one sample (tests, readiness checks)."""
        return self.registry.get_sample_value(name, labels or None)


class MetricsObserver(OMSObserver):
    """Updates :class:`RunMetrics` from the OMS and samples the run on :meth:`tick`.

    Args:
        metrics: the run's metrics.
        symbols: instrument id -> symbol (label values).
        sample_interval_s: minimum wall time between two samples in :meth:`tick`.
        reject_window: the reject rate is measured over this many latest orders.
        on_sample: called with :meth:`snapshot` after each sample (the alert engine).
        on_state: called with the new trading state right when it changes.
    """

    def __init__(
        self,
        metrics: RunMetrics,
        symbols: dict[int, str],
        *,
        sample_interval_s: float = 0.1,
        reject_window: int = 200,
        latency_window: int = 1000,
        on_sample: Callable[[dict[str, Any]], None] | None = None,
        on_state: Callable[[TradingState], None] | None = None,
    ) -> None:
        self.m = metrics
        self.symbols = symbols
        self.sample_interval_s = sample_interval_s
        self.on_sample = on_sample
        self.on_state_change = on_state
        self._orders = metrics["parity_orders_total"]
        self._fills = metrics["parity_fills_total"]
        self._rejects = metrics["parity_order_rejects_total"]
        self._latency = metrics["parity_tick_to_order_latency_seconds"]
        self._seen_max_id = 0
        self._order_children: dict[tuple, Any] = {}
        self._fill_children: dict[tuple, Any] = {}
        self._risk_reject: dict[int, str] = {}
        self._rejected: set[int] = set()
        self._window: deque[int] = deque()
        self._window_len = reject_window
        self._window_rejected: set[int] = set()
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._tick_start: int | None = None
        self._last_sample = 0.0
        self._last_progress: float | None = None
        self._max_gap = 0.0
        self._md_seen = 0
        self.sources: dict[str, Any] = {}

    def bind(self, *, portfolio: Portfolio, risk: RiskEngine, bus: MarketDataBus | None = None,
             md_events: Callable[[], int] | None = None) -> None:  # fmt: skip
        """Where :meth:`sample` reads the run's state."""
        self.sources = {"portfolio": portfolio, "risk": risk, "bus": bus, "md_events": md_events}

    # -- tick-to-order latency ---------------------------------------------------------
    def wrap_on_book(self, strategy: Any) -> None:
        """Time the strategy's ``on_book`` so orders it submits get a tick-to-order latency."""
        inner = strategy.on_book

        def timed_on_book(book: Any) -> None:
            self._tick_start = time.perf_counter_ns()
            try:
                inner(book)
            finally:
                self._tick_start = None

        strategy.on_book = timed_on_book

    # -- OMS events ---------------------------------------------------------------------
    def on_order(self, order: Order) -> None:
        oid = order.order_id
        if oid > self._seen_max_id:  # first time we see this order: it was just submitted
            self._seen_max_id = oid
            key = (order.instrument, order.side)
            child = self._order_children.get(key)
            if child is None:
                sym = self.symbols.get(order.instrument, str(order.instrument))
                child = self._order_children[key] = self._orders.labels(sym, order.side.name)
            child.inc()
            if self._tick_start is not None:
                latency = (time.perf_counter_ns() - self._tick_start) / NS
                self._latency.observe(latency)
                self._latencies.append(latency)
            self._window.append(oid)
            if len(self._window) > self._window_len:
                self._window_rejected.discard(self._window.popleft())
        if order.status == OrderStatus.REJECTED and oid not in self._rejected:
            self._rejected.add(oid)
            check = self._risk_reject.pop(oid, None)
            if check is None:
                self._rejects.labels("venue", "venue").inc()
            else:
                self._rejects.labels("risk", check).inc()
            self._window_rejected.add(oid)

    def on_fill(self, fill: dict) -> None:
        key = (fill["instrument"], fill.get("liquidity") or "unknown")
        child = self._fill_children.get(key)
        if child is None:
            child = self._fill_children[key] = self._fills.labels(self.symbols.get(key[0], str(key[0])), key[1])
        child.inc()

    def on_risk(self, event: dict) -> None:
        if not event["accepted"] and event.get("order_id") is not None:
            self._risk_reject[event["order_id"]] = event["check"]

    def on_state(self, state: TradingState) -> None:
        self.m.set_trading_state(state)
        if self.on_state_change is not None:
            self.on_state_change(state)

    # -- sampling -------------------------------------------------------------------------
    def tick(self, now_ns: int) -> None:
        """Progress hook: measure loop lag; sample at most every ``sample_interval_s``."""
        t = time.perf_counter()
        if self._last_progress is not None:
            gap = t - self._last_progress
            if gap > self._max_gap:
                self._max_gap = gap
        self._last_progress = t
        if t - self._last_sample >= self.sample_interval_s:
            self.sample(now_ns)

    def sample(self, now_ns: int) -> dict[str, Any]:
        """Read the run's state into the gauges; return (and pass on) the :meth:`snapshot`."""
        self._last_sample = time.perf_counter()
        m = self.m
        src = self.sources
        md = src.get("md_events")
        if md is not None:
            total = md()
            if total > self._md_seen:
                m["parity_events_processed_total"].inc(total - self._md_seen)
                self._md_seen = total
        m["parity_event_loop_lag_seconds"].set(self._max_gap)
        self._max_gap = 0.0
        portfolio = src.get("portfolio")
        risk = src.get("risk")
        if portfolio is not None:
            for iid, sym in self.symbols.items():
                m["parity_position_lots"].labels(sym).set(portfolio.position(iid))
            m["parity_pnl"].labels("realized").set(portfolio.realized_pnl())
            m["parity_pnl"].labels("unrealized").set(portfolio.unrealized_pnl())
            m["parity_pnl"].labels("net").set(portfolio.net_pnl)
            m["parity_pnl"].labels("fees").set(portfolio.fees)
            m["parity_max_drawdown"].set(portfolio.max_drawdown)
        if risk is not None:
            m["parity_drawdown"].set(risk.drawdown())
            if risk.state != m.trading_state:
                m.set_trading_state(risk.state)
        bus = src.get("bus")
        if bus is not None:
            for iid, book in list(bus.last_book.items()):
                m.set_staleness(self.symbols.get(iid, str(iid)), max(0.0, (now_ns - book.ts) / NS))
        snap = self.snapshot(now_ns)
        if self.on_sample is not None:
            self.on_sample(snap)
        return snap

    def snapshot(self, now_ns: int) -> dict[str, Any]:
        """The values alert rules look at."""
        risk = self.sources.get("risk")
        lat = sorted(self._latencies)
        p99 = lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)] if lat else 0.0
        window = len(self._window)
        return {
            "ts": now_ns,
            "drawdown": risk.drawdown() if risk is not None else 0.0,
            "trading_state": self.m.trading_state.name,
            "killed": bool(getattr(risk, "killed", False)),
            "reject_rate": (len(self._window_rejected) / window) if window else 0.0,
            "orders_in_window": window,
            "disconnected": sorted(name for name, ok in self.m.adapters.items() if not ok),
            "staleness_s": max(self.m.staleness_s.values(), default=0.0),
            "latency_p99_s": p99,
        }


def all_metric_names(specs: Iterable[MetricSpec] = METRICS) -> set[str]:
    """Every series name the code can expose."""
    return {n for spec in specs for n in exposed_names(spec)}


__all__ = [
    "LATENCY_BUCKETS",
    "METRICS",
    "METRIC_NAMES",
    "MetricSpec",
    "MetricsObserver",
    "RunMetrics",
    "all_metric_names",
]
