"""Assembling a live run: the scenario's strategy, OMS, risk and portfolio against IB.

A live run is the simulation's :class:`~scenarios.runner.Run` with two parts
swapped: the kernel is a :class:`~kernel.live.LiveKernel` (wall clock, asyncio)
and each venue is an :class:`~adapters.ib.venue.IBVenue` (``adapter = "ibkr"``)
instead of a simulated venue. There are no market-data feeds: the venues
publish what IB sends. Everything else - strategy, context, OMS, risk engine,
portfolio, journal - is built by ``Run`` itself.

Also here, because this is the composition root: :func:`fake_server_for`,
which builds the loopback fake TWS server of :mod:`adapters.ib.fake_tws` on the
scenario's own simulated market (the same venues and seeded data a sim run
of the scenario uses).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from adapters.ib.connection import IBConnection
from adapters.ib.fake_tws import FakeTWS
from adapters.ib.pacing import Pacer
from adapters.ib.venue import IBVenue
from kernel.clock import parse_duration
from kernel.errors import AdapterError, ScenarioError
from kernel.live import LiveKernel
from kernel.oms import OMSObserver
from kernel.orders import OrderStatus
from kernel.risk import TradingState
from kernel.strategy import Strategy
from scenarios.runner import SETTLE_NS, Run, RunResult
from scenarios.schema import Scenario, VenueConfig

log = logging.getLogger("parity.live")

PAPER_PORTS = (7497, 4002)  # TWS paper, IB Gateway paper
LIVE_PORTS = (7496, 4001)  # TWS live, IB Gateway live
SETTLE_POLL_NS = 20_000_000
SETTLE_QUIET_S = 0.15  # settle ends this long after the last activity, once every request is answered


def check_port_safety(port: int, i_understand_live: bool = False) -> None:
    """Refuse IB's live-account ports unless the caller said they mean it."""
    if port in LIVE_PORTS and not i_understand_live:
        raise AdapterError(
            f"port {port} is an IB live-trading port (TWS 7496, Gateway 4001): refusing to trade real money "
            f"without --i-understand-live (paper ports: TWS 7497, Gateway 4002)"
        )


class _KillToIB(OMSObserver):
    """When trading halts (kill switch, loss limits), cancel everything at IB too."""

    def __init__(self, run: LiveRun) -> None:
        self.run = run

    def on_state(self, state: TradingState) -> None:
        if state == TradingState.HALTED:
            for venue in self.run.venues.values():
                venue.global_cancel()


class LiveRun(Run):
    """One assembled live run of a ``mode = "live"`` scenario."""

    mode = "live"

    def __init__(
        self,
        scenario: Scenario,
        *,
        host: str | None = None,
        port: int | None = None,
        client_id: int | None = None,
        dry_run: bool = False,
        i_understand_live: bool = False,
        lockstep: bool | None = None,
        connect_timeout: float | None = None,
        reconnect_backoff: float | None = None,
        strategy: Strategy | None = None,
        with_strategy: bool = True,
    ) -> None:
        live = scenario.live
        self.host = host or live.host
        self.port = int(port if port is not None else live.port)
        self.client_id = int(client_id if client_id is not None else live.client_id)
        self.dry_run = dry_run
        self.lockstep = live.lockstep if lockstep is None else lockstep
        self.connect_timeout = connect_timeout if connect_timeout is not None else live.connect_timeout
        self.reconnect_backoff = reconnect_backoff if reconnect_backoff is not None else live.reconnect_backoff
        check_port_safety(self.port, i_understand_live)
        try:
            self.settle_ns = parse_duration(live.settle)
        except ValueError as exc:
            raise ScenarioError(f"live.settle: {exc}") from exc
        if scenario.duration_ns is None:
            raise ScenarioError('duration: a live run needs a fixed duration, not "data"')
        if scenario.data:
            log.info("live run: the scenario's [[data]] sources are not used; market data come from IB")
        self._venue_index = 0
        # The base assembly without market-data sources: a live kernel takes no feeds.
        bare = scenario.model_copy(update={"data": [], **({"start": 0} if scenario.start_ns is None else {})})
        super().__init__(bare, with_strategy=with_strategy, strategy=strategy)
        self.scenario = scenario
        self.start_ns = self.kernel.start_ns
        self.end_ns = self.start_ns + scenario.duration_ns
        self.oms.observers.append(_KillToIB(self))
        self.connected = False

    # -- assembly (overrides of Run) -------------------------------------------------
    def _make_kernel(self) -> LiveKernel:
        return LiveKernel(self.scenario.seed)

    def _build_venue(self, cfg: VenueConfig) -> IBVenue:
        if cfg.adapter != "ibkr":
            raise ScenarioError(f"venues.{cfg.name}.adapter: live mode needs 'ibkr', got {cfg.adapter!r}")
        live = self.scenario.live
        instruments = {self.by_symbol[s].id: self.by_symbol[s] for s in cfg.instruments}
        try:
            pacer = Pacer(live.max_msgs_per_sec, live.burst)
        except ValueError as exc:
            raise ScenarioError(f"live.max_msgs_per_sec / live.burst: {exc}") from exc
        conn = IBConnection(
            self.host, self.port, self.client_id + self._venue_index, live.account, self.connect_timeout,
            rng=self.kernel.rng.stream(f"adapter:ib:{cfg.name}:reconnect"), pacer=pacer,
            backoff_base=self.reconnect_backoff, backoff_max=live.reconnect_max,
        )  # fmt: skip
        self._venue_index += 1
        venue = IBVenue(
            cfg.name, instruments, conn, exchange=live.exchange, sec_type=live.sec_type, account=live.account,
            dry_run=self.dry_run, lockstep=self.lockstep,
        )  # fmt: skip
        venue.attach(self.kernel, self.oms, self.bus)
        return venue

    # -- execution ------------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect every venue's IB session (AdapterError after the connect timeout)."""
        for venue in self.venues.values():
            await venue.conn.start()
        self.connected = True

    def stop(self) -> None:
        """End the trading phase now (the strategy's on_stop and the settle phase still run)."""
        self.kernel.stop()

    async def run_async(
        self, until: Awaitable[Any] | None = None, progress: Callable[[int], None] | None = None
    ) -> RunResult:
        """Connect, trade until the scenario's duration has passed (or ``until`` completes, or
        :meth:`stop`), then stop the strategy, let cancels settle and summarize."""
        started = time.perf_counter()
        kernel = self.kernel
        stopper = None
        try:
            if not self.connected:
                await self.connect()
            self.start_ns = kernel.now()
            self.end_ns = self.start_ns + self.scenario.duration_ns
            if until is not None:
                stopper = asyncio.ensure_future(self._stop_when(until))
            if self.strategy is not None:
                self.strategy.on_start()
            await kernel.run_async(self.end_ns)
            for venue in self.venues.values():
                venue.end_of_day(kernel.now())
            if self.strategy is not None:
                self.strategy.on_stop()
            await self._settle()
            self._final_marks()
            wall = time.perf_counter() - started
            fingerprint = kernel.journal.fingerprint()
            summary = self._summary(wall, fingerprint)
            summary["mode"] = "live"
            summary["dry_run"] = self.dry_run
            summary["ib"] = {name: v.health.snapshot() for name, v in self.venues.items()}
            return RunResult(
                self.run_id, self.scenario, summary, fingerprint, list(self.oms.orders.values()),
                self.oms.fills, self.oms.risk_events, kernel.journal,
            )  # fmt: skip
        finally:
            if stopper is not None:
                stopper.cancel()
            self.close()

    async def _stop_when(self, until: Awaitable[Any]) -> None:
        await until
        self.kernel.stop()

    async def _settle(self) -> None:
        """Run on until every request is answered and the venues went quiet, or the settle time passed.

        Orders may stay working (a strategy that re-quotes after a cancel, as in
        simulation, where the strategy keeps receiving events while settling)."""
        kernel = self.kernel
        deadline = kernel.now() + self.settle_ns
        pending = (OrderStatus.NEW, OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE)
        quiet_since = time.monotonic()
        last = -1
        while True:
            kernel.resume()
            await kernel.run_async(min(deadline, kernel.now() + SETTLE_POLL_NS))
            if kernel.now() >= deadline:
                return
            activity = kernel.scheduled_calls + sum(v.reports + v.conn.pacer.sent for v in self.venues.values())
            if activity != last:
                last, quiet_since = activity, time.monotonic()
            if not self.oms.working:
                return
            answered = all(o.status not in pending for o in self.oms.working.values())
            if answered and time.monotonic() - quiet_since >= SETTLE_QUIET_S:
                return

    def close(self) -> None:
        for venue in self.venues.values():
            venue.conn.close()

    def run(self, progress: Callable[[int], None] | None = None) -> RunResult:
        """Blocking run on a fresh event loop; SIGINT/SIGTERM end the trading phase cleanly."""

        async def main() -> RunResult:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, self.stop)
            return await self.run_async(progress=progress)

        return asyncio.run(main())

    def _final_marks(self) -> None:
        now = self.kernel.now()
        for iid in self.instruments:
            book = self.bus.last_book.get(iid)
            if book is not None and book.bid_px and book.ask_px:
                self.portfolio.mark(iid, book.mid, now)


def fake_server_for(
    scenario: Scenario, *, port: int = 0, lockstep: bool = False, trades: bool = True, depth_levels: int = 10
) -> FakeTWS:
    """A fake TWS serving ``scenario``'s simulated market (its venues, fees, latency and seeded data).

    The market is assembled exactly as a sim run of the scenario assembles it
    (``Run`` without its strategy), so a lockstep live run and a sim run see the
    same market."""
    sim = scenario.model_copy(update={"mode": "sim", "strategy": None})
    run = Run(sim, with_strategy=False)
    return FakeTWS(
        run.kernel, run.venues.values(), run.instruments, end_ns=run.end_ns, lockstep=lockstep,
        depth_levels=depth_levels, trades=trades, settle_ns=SETTLE_NS, port=port,
    )  # fmt: skip
