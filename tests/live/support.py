"""Shared builders for the live-adapter tests: scenarios, waiting, a free port."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from scenarios.live import LiveRun, fake_server_for
from scenarios.loader import parse_scenario
from scenarios.schema import Scenario

MARKET_TOML = """
name = "live-test"
seed = {seed}
start = "2026-01-05T14:30:00"
duration = "{duration}"
mode = "live"
starting_cash = 100000.0
[[instruments]]
id = 0
symbol = "SYN"
tick_size = 0.01
lot_size = 100
[[venues]]
name = "IB"
instruments = ["SYN"]
stp = "cancel_newest"
adapter = "ibkr"
[venues.fees]
model = "maker_taker"
maker_bps = -0.2
taker_bps = 0.3
[[data]]
venue = "IB"
instrument = "SYN"
[data.params]
event_rate = {rate}
initial_price = 10000
initial_depth_levels = 5
initial_orders_per_level = 2
[risk]
max_order_qty = 50
max_position = 40
price_band_bps = 200.0
[store]
enabled = false
[live]
lockstep = true
connect_timeout = 3.0
"""

TAKER = """
[strategy]
path = "strategies.taker:ImbalanceTaker"
name = "taker"
[strategy.params]
instrument = "SYN"
qty = 2
threshold = 0.5
max_position = 10
cooldown_ns = 0
"""

# No market data: the tests drive the book by hand.
MANUAL_TOML = """
name = "live-manual"
seed = 3
start = "2026-01-05T14:30:00"
duration = "60s"
mode = "live"
[[instruments]]
id = 0
symbol = "SYN"
tick_size = 0.01
lot_size = 100
[[venues]]
name = "IB"
instruments = ["SYN"]
stp = "none"
adapter = "ibkr"
[venues.fees]
model = "maker_taker"
maker_bps = -0.2
taker_bps = 0.3
[store]
enabled = false
[live]
connect_timeout = 3.0
reconnect_backoff = 0.05
settle = "200ms"
"""


def market_scenario(strategy: str = TAKER, seed: int = 11, duration: str = "3s", rate: float = 150.0) -> Scenario:
    return parse_scenario(MARKET_TOML.format(seed=seed, duration=duration, rate=rate) + strategy, "<live-test>")


def manual_scenario(extra: str = "") -> Scenario:
    return parse_scenario(MANUAL_TOML + extra, "<live-manual>")


async def until(cond: Callable[[], Any], timeout: float = 5.0, what: str = "condition") -> None:
    """Wait until ``cond()`` is true (polling), or fail the test."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


class Session:
    """A manual fake server and a strategy-less LiveRun connected to it, the run's loop going."""

    def __init__(self, extra: str = "", **run_kw: Any) -> None:
        self.scenario = manual_scenario(extra)
        self.run_kw = run_kw
        self.server = fake_server_for(self.scenario)
        self.run: LiveRun | None = None
        self._stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Session:
        await self.server.start()
        self.run = LiveRun(self.scenario, port=self.server.port, with_strategy=False, **self.run_kw)
        await self.run.connect()
        self.task = asyncio.ensure_future(self.run.run_async(until=self._stop.wait()))
        await asyncio.sleep(0.01)
        return self

    async def finish(self):
        self._stop.set()
        return await asyncio.wait_for(self.task, 10)

    async def __aexit__(self, *exc: Any) -> None:
        if self.task is not None and not self.task.done():
            self._stop.set()
            try:
                await asyncio.wait_for(self.task, 10)
            except Exception:
                pass
        await self.server.stop()

    @property
    def venue(self):
        return self.run.venues["IB"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
