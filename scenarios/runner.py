"""The composition root: assemble a run from a scenario and execute it.

This is the only place that imports kernel, venues, adapters and strategies
together. Nothing below it knows whether it runs simulated or live.
"""

from __future__ import annotations

import importlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernel.clock import NS_PER_S, parse_duration
from kernel.context import Context
from kernel.errors import ScenarioError
from kernel.instruments import Instrument
from kernel.loop import PRIO_DELIVERY, PRIO_VENUE, Kernel
from kernel.marketdata import MarketDataBus
from kernel.oms import OMS
from kernel.orders import Order, STPMode
from kernel.portfolio import Portfolio
from kernel.risk import RiskEngine, RiskLimits
from kernel.rng import RngStreams
from kernel.strategy import Strategy
from scenarios.market_sim import attach_agents, attach_faults, extra_summary
from scenarios.schema import Scenario, VenueConfig
from scenarios.sources import open_source, peek_start
from venues.fees import fee_model_from_config
from venues.latency import RecordedLatency, VenueLatency, is_recorded, latency_from_config
from venues.simulated import SimulatedVenue

SETTLE_NS = NS_PER_S  # after the end: time for in-flight cancels and reports to land
STRATEGY_OWNER = 1
_STP = {
    "none": STPMode.NONE,
    "cancel_newest": STPMode.CANCEL_NEWEST,
    "cancel_oldest": STPMode.CANCEL_OLDEST,
    "decrement_both": STPMode.DECREMENT_BOTH,
}


@dataclass
class RunResult:
    """Everything a finished run produced."""

    run_id: str
    scenario: Scenario
    summary: dict[str, Any]
    fingerprint: str
    orders: list[Order]
    fills: list[dict[str, Any]]
    risk_events: list[dict[str, Any]]
    journal: Any = field(repr=False, default=None)


def load_strategy(path: str, params: dict[str, Any]) -> Strategy:
    """Import ``module:Class`` and instantiate it with ``params`` (clear errors)."""
    module_name, _, class_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ScenarioError(f"strategy.path: cannot import module {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if cls is None:
        raise ScenarioError(f"strategy.path: module {module_name!r} has no class {class_name!r}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ScenarioError(f"strategy.path: {path!r} is not a kernel.strategy.Strategy subclass")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ScenarioError(f"strategy.params: {path}: {exc}") from exc


class Run:
    """One assembled run of a scenario (simulation mode; scenarios.live.LiveRun is the live one)."""

    mode = "sim"  # the scenario mode this class assembles

    def __init__(
        self,
        scenario: Scenario,
        with_strategy: bool = True,
        materialize_data: bool = False,
        strategy: Strategy | None = None,
    ) -> None:
        """``materialize_data`` generates all market data up front (benchmarks time the replay
        alone); ``strategy`` runs this instance instead of the scenario's strategy."""
        if scenario.mode != self.mode:
            how = "`parity live` (scenarios.live.LiveRun)" if scenario.mode == "live" else "`parity replay`"
            raise ScenarioError(f"mode: a {scenario.mode!r} scenario runs with {how}")
        self.scenario = scenario
        self.run_id = uuid.uuid4().hex[:12]  # names the run in the store; not part of the fingerprint
        self.instruments = {
            c.id: Instrument(c.id, c.symbol, c.tick_size, c.lot_size, c.multiplier, c.currency)
            for c in scenario.instruments
        }
        self.by_symbol = {i.symbol: i for i in self.instruments.values()}
        self.materialized_events = 0
        # Venues whose market-data latency is recorded in the data: their sources register delays here.
        keep = None if materialize_data else 16
        self.recorded = {v.name: RecordedLatency(keep) for v in scenario.venues if is_recorded(v.latency.market_data)}
        sources = self._open_sources(materialize_data)
        for name in self.recorded:
            if not any(d.venue == name for d in scenario.data):
                raise ScenarioError(
                    f"venues.{name}.latency.market_data: 'recorded' needs a [[data]] source for this venue"
                )
        self.start_ns = scenario.start_ns
        if self.start_ns is None:  # start = "data"
            firsts = [t for _, _, t, _ in sources if t is not None]
            if not firsts:
                raise ScenarioError('start: "data" needs at least one non-empty [[data]] source')
            self.start_ns = min(firsts)
        # duration = "data": run until the data ends (end_ns is fixed after the run).
        self.end_ns = None if scenario.duration_ns is None else self.start_ns + scenario.duration_ns
        self.kernel = self._make_kernel()
        self.portfolio = Portfolio({i: inst.tick_value for i, inst in self.instruments.items()}, scenario.starting_cash)
        limits = {k: v for k, v in scenario.risk.model_dump().items() if v is not None}
        self.risk = RiskEngine(RiskLimits(**limits), self.portfolio)
        self.oms = OMS(self.kernel.journal, self.portfolio, self.risk, self.kernel.now, self._notify)
        self.bus = MarketDataBus(mark_record=self.portfolio.mark_record, on_pnl=self.oms.on_mark)
        self.venues = {v.name: self._build_venue(v) for v in scenario.venues}
        for name, venue_name, _, chunks in sources:
            self.kernel.add_feed(name, self.venues[venue_name], chunks)
        self.agent_market = attach_agents(self)  # [[agents]]: None when the scenario has none
        self.fault_injectors = attach_faults(self)  # [[faults]], [oms] timeouts, stale-data watchdog
        self.strategy: Strategy | None = None
        self.ctx: Context | None = None
        if strategy is None and with_strategy and scenario.strategy is not None:
            strategy = load_strategy(scenario.strategy.path, scenario.strategy.params)
        if strategy is not None:
            name = scenario.strategy.name if scenario.strategy else type(strategy).__name__
            self.strategy = strategy
            self.ctx = Context(self.kernel, self.oms, self.bus, strategy, name, STRATEGY_OWNER, self.instruments)
            strategy.ctx = self.ctx

    # -- assembly -------------------------------------------------------------
    def _make_kernel(self) -> Kernel:
        return Kernel(self.scenario.seed, self.start_ns)

    def _build_venue(self, cfg: VenueConfig) -> SimulatedVenue:
        channels = []
        for channel in ("market_data", "order_entry", "response"):
            value = getattr(cfg.latency, channel)
            if channel == "market_data" and cfg.name in self.recorded:
                if set(value) != {"kind"}:
                    raise ScenarioError(f"venues.{cfg.name}.latency.market_data: kind 'recorded' takes no other field")
                channels.append(self.recorded[cfg.name])
                continue
            try:
                if isinstance(value, str):
                    value = parse_duration(value)
                rng = self.kernel.rng.stream(f"venue:{cfg.name}:latency:{channel}")
                channels.append(latency_from_config(value, rng))
            except (ScenarioError, ValueError) as exc:
                raise ScenarioError(f"venues.{cfg.name}.latency.{channel}: {exc}") from exc
        latency = VenueLatency(*channels)
        try:
            fees = fee_model_from_config(cfg.fees)
        except ScenarioError as exc:
            raise ScenarioError(f"venues.{cfg.name}.fees: {exc}") from exc
        instruments = {self.by_symbol[s].id: self.by_symbol[s] for s in cfg.instruments}
        venue = SimulatedVenue(cfg.name, instruments, latency, fees, _STP[cfg.stp], engine=self.scenario.engine)
        recorded = any(d.venue == cfg.name and d.kind != "synthetic" for d in self.scenario.data)
        if cfg.crossing_adds == "rest" or (cfg.crossing_adds == "auto" and recorded):
            venue.rest_crossing_adds(True)
        if cfg.crossing_adds == "auto" and recorded:
            # The events before the start rebuild the exchange's book (pre-open, auctions: it did
            # not match them); from the start on the strategy's fills can leave liquidity in the
            # book that history took (docs/replay.md, rule 3), which a crossing add then trades.
            self.kernel.call_at(self.start_ns, venue.rest_crossing_adds, False, priority=PRIO_VENUE)
        venue.attach(self.kernel, self.oms, self.bus)
        return venue

    def _open_sources(self, materialize: bool) -> list[tuple[str, str, int | None, Iterator[np.ndarray]]]:
        """(feed name, venue, first event time, chunks) of every [[data]] entry."""
        sc = self.scenario
        rng = RngStreams(sc.seed)  # the kernel derives identical streams from the same seed
        out = []
        for i, cfg in enumerate(sc.data):
            inst = self.by_symbol[cfg.instrument]
            recorded = self.recorded.get(cfg.venue)
            chunks = open_source(cfg, i, inst, rng, sc.base_dir, sc.start_ns, sc.duration_ns, recorded)
            if materialize:
                chunks = list(chunks)
                self.materialized_events += sum(len(c) for c in chunks)
                first = int(chunks[0]["ts"][0]) if chunks else None
                chunks = iter(chunks)
            else:
                first, chunks = peek_start(chunks)
            out.append((f"{cfg.venue}:{cfg.instrument}", cfg.venue, first, chunks))
        return out

    def _notify(self, fn: Callable[..., None], args: tuple) -> None:
        self.kernel.call_at(self.kernel.now(), fn, *args, priority=PRIO_DELIVERY)

    # -- execution --------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> RunResult:
        started = time.perf_counter()
        kernel = self.kernel
        # Market data older than the start (a file that begins before the scenario's start)
        # builds the books first, before the strategy subscribes: nothing of it is delivered.
        kernel.run(self.start_ns - 1)
        if self.strategy is not None:
            self.strategy.on_start()
        kernel.run(self.end_ns, progress, until_data_end=self.end_ns is None)
        if self.end_ns is None:
            self.end_ns = kernel.now()
        for venue in self.venues.values():
            venue.end_of_day(self.end_ns)
        if self.strategy is not None:
            self.strategy.on_stop()
        kernel.run(self.end_ns + SETTLE_NS)
        self._final_marks()
        wall = time.perf_counter() - started
        fingerprint = kernel.journal.fingerprint()
        summary = self._summary(wall, fingerprint)
        return RunResult(
            self.run_id, self.scenario, summary, fingerprint, list(self.oms.orders.values()),
            self.oms.fills, self.oms.risk_events, kernel.journal,
        )  # fmt: skip

    def _final_marks(self) -> None:
        for venue in self.venues.values():
            for iid, engine in venue.engines.items():
                bid, _, ask, _ = engine.top()
                if bid and ask:
                    self.portfolio.mark(iid, (bid + ask) / 2, self.kernel.now())
                elif engine.last_trade_price:
                    self.portfolio.mark(iid, engine.last_trade_price, self.kernel.now())

    def _summary(self, wall: float, fingerprint: str) -> dict[str, Any]:
        p = self.portfolio
        orders = self.oms.orders.values()
        md = self.kernel.md_events
        return {
            "scenario": self.scenario.name,
            "seed": self.scenario.seed,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "market_events": md,
            "wall_seconds": round(wall, 4),
            "events_per_second": round(md / wall) if wall > 0 else 0,
            "book_updates_delivered": self.bus.book_updates,
            "orders": len(self.oms.orders),
            "orders_rejected": sum(1 for o in orders if o.status.name == "REJECTED"),
            "risk_rejections": sum(1 for e in self.oms.risk_events if not e["accepted"]),
            "fills": len(self.oms.fills),
            "traded_qty": sum(f["qty"] for f in self.oms.fills),
            "fees": round(p.fees, 6),
            "realized_pnl": round(p.realized_pnl(), 6),
            "unrealized_pnl": round(p.unrealized_pnl(), 6),
            "net_pnl": round(p.net_pnl, 6),
            "max_drawdown": round(p.max_drawdown, 6),
            "positions": {self.instruments[i].symbol: p.position(i) for i in sorted(self.instruments)},
            "trading_state": self.risk.state.name,
            "market_trades": sum(
                e.trade_count for v in self.venues.values() for e in getattr(v, "engines", {}).values()
            ),
            "fingerprint": fingerprint,
            **extra_summary(self),
        }


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def run_scenario(scenario: Scenario, with_strategy: bool = True) -> RunResult:
    """Assemble and run ``scenario``; the convenience entry point for tests and tools."""
    return Run(scenario, with_strategy).run()
