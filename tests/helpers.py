"""Shared builders for integration tests: small scenarios and hand-made market data."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel.events import ADD, MARKET, MD_DTYPE
from kernel.strategy import Strategy
from scenarios.loader import parse_scenario
from scenarios.runner import Run
from scenarios.schema import Scenario

START = 1_767_623_400_000_000_000  # 2026-01-05T14:30:00Z in ns

BASE_TOML = """
name = "test"
seed = 1
start = "2026-01-05T14:30:00"
duration = "1s"
[[instruments]]
id = 0
symbol = "T"
tick_size = 0.01
lot_size = 1
[[venues]]
name = "V"
instruments = ["T"]
stp = "cancel_newest"
[venues.latency]
market_data = 100
order_entry = 1000
response = 500
[venues.fees]
model = "maker_taker"
maker_bps = -1.0
taker_bps = 2.0
[store]
enabled = false
"""


def scenario(extra: str = "", **overrides: Any) -> Scenario:
    """The base test scenario with extra TOML appended and top-level overrides."""
    return parse_scenario(BASE_TOML + extra, "<test>", overrides)


def events(rows: list[tuple]) -> np.ndarray:
    """Rows of (dt_ns, action, side, price, qty, order_id) from START → an MD_DTYPE array."""
    ev = np.zeros(len(rows), MD_DTYPE)
    for i, (dt, action, side, price, qty, oid) in enumerate(rows):
        ev[i] = (START + dt, oid, price, qty, 0, action, side, 0, 0)
    return ev


def book_rows(bid: int = 100, ask: int = 101, qty: int = 10, levels: int = 1) -> list[tuple]:
    """A resting book at START: one background order per level and side."""
    rows = []
    oid = 1
    for k in range(levels):
        rows.append((0, ADD, 1, bid - k, qty, oid))
        rows.append((0, ADD, -1, ask + k, qty, oid + 1))
        oid += 2
    return rows


def market(dt: int, side: int, qty: int) -> tuple:
    return (dt, MARKET, side, 0, qty, 0)


class Scripted(Strategy):
    """Runs ``actions[i](ctx)`` at START + ``times[i]`` and records every callback."""

    def __init__(self, script: list[tuple[int, Any]] | None = None, subscribe: bool = False) -> None:
        super().__init__()
        self.script = script or []
        self.do_subscribe = subscribe
        self.events: list[tuple] = []
        self.books: list = []
        self.fills: list = []
        self.orders: dict[str, Any] = {}

    def on_start(self) -> None:
        if self.do_subscribe:
            self.ctx.subscribe(0)
        for i, (dt, _action) in enumerate(self.script):
            self.ctx.set_timer(f"step{i}", START + dt - self.ctx.now())

    def on_timer(self, name: str, ts: int) -> None:
        idx = int(name[4:])
        self.script[idx][1](self)

    def on_book(self, book) -> None:
        self.books.append(book)

    def on_order_event(self, order, report) -> None:
        self.events.append(
            (self.ctx.now() - START, order.order_id, order.status.name, report.kind.name if report else None)
        )

    def on_fill(self, order, report) -> None:
        self.fills.append(
            (self.ctx.now() - START, order.order_id, report.price, report.qty, report.liquidity, report.fee)
        )


def run_with(sc: Scenario, data: np.ndarray | None, strategy: Strategy | None = None) -> Run:
    """Assemble a run of ``sc`` with hand-made market data and a strategy instance."""
    run = Run(sc, with_strategy=False, strategy=strategy)
    if data is not None:
        run.kernel.add_feed("test", run.venues["V"], iter([data]))
    return run
