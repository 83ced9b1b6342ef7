"""Parity proof: one scenario and seed, run in sim mode and in live mode against the
fake TWS (lockstep), gives the same orders, fills and final PnL.

Differences by design, not compared: timestamps (the live run journals wall
time), reject/cancel reason texts (IB's "IB 202: Order Canceled - reason:..."
wrapping, IB order ids), and latency - the live run's real loopback latency is
hidden by lockstep: the server applies the strategy's reactions at the
simulated time of the step that caused them, as a simulated venue would.
Strategies must not depend on the clock (timers, ``book.ts`` cooldowns) for an
exact match: the live clock is the wall clock.
"""

from __future__ import annotations

import asyncio

import pytest

from kernel.orders import OrderStatus, Side
from kernel.strategy import Strategy
from scenarios.live import LiveRun, fake_server_for
from scenarios.runner import Run
from tests.live.support import TAKER, market_scenario

pytestmark = pytest.mark.live

_ORDER = ("order_id", "instrument", "side", "order_type", "tif", "qty", "price", "status", "filled_qty",
          "avg_fill_price", "reject_reason")  # fmt: skip
_FILL = ("order_id", "instrument", "side", "price", "qty", "fee", "liquidity", "realized")
_LIFECYCLE = ("submit", "risk", "accept", "fill", "cancel", "amend", "reject", "expire", "cancel_request",
              "amend_request", "request_rejected")  # fmt: skip


class Quoter(Strategy):
    """Joins both sides of the touch with 1-lot GTC limits, amends them when the touch moves,
    cancels a side at the inventory limit and everything on stop. Records the books it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.books: list[tuple] = []
        self.quotes: dict[Side, object] = {Side.BUY: None, Side.SELL: None}

    def on_start(self) -> None:
        self.ctx.subscribe(0, depth=3)

    def on_book(self, book) -> None:
        self.books.append((book.bid_px, book.bid_qty, book.ask_px, book.ask_qty, book.bids, book.asks))
        if not book.bid_px or not book.ask_px:
            return
        pos = self.ctx.position(0)
        self._quote(Side.BUY, book.bid_px, pos < 4)
        self._quote(Side.SELL, book.ask_px, pos > -4)

    def _quote(self, side: Side, price: int, allowed: bool) -> None:
        order = self.quotes[side]
        if order is not None and order.is_terminal:
            order = self.quotes[side] = None
        if not allowed:
            if order is not None:
                self.ctx.cancel(order)
            return
        if order is None:
            self.quotes[side] = self.ctx.submit(0, side, 1, price)
        elif order.price != price and order.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            self.ctx.modify(order, price=price)

    def on_stop(self) -> None:
        self.ctx.cancel_all()


def _orders(result) -> list[tuple]:
    return [tuple(getattr(o, f) for f in _ORDER) for o in result.orders]


def _fills(result) -> list[tuple]:
    return [tuple(f[k] for k in _FILL) for f in result.fills]


def _lifecycle(result) -> list[tuple]:
    """Journal records of the order lifecycle without timestamps and reason texts."""
    out = []
    for r in result.journal.records:
        if r.kind in _LIFECYCLE:
            out.append((r.kind, *(f for f in r.fields if not isinstance(f, str))))
    return out


async def _live(scenario, strategy):
    server = fake_server_for(scenario, lockstep=True)
    async with server:
        run = LiveRun(scenario, port=server.port, strategy=strategy)
        result = await asyncio.wait_for(run.run_async(until=server.market_done.wait()), 40)
        assert server.error is None
        return result, server


@pytest.mark.parametrize("which", ["taker", "quoter"])
def test_sim_and_live_give_the_same_orders_fills_and_pnl(which: str) -> None:
    if which == "taker":
        scenario = market_scenario(TAKER, seed=11, duration="3s", rate=150.0)
        sim_strategy = live_strategy = None
    else:
        scenario = market_scenario("", seed=5, duration="2s", rate=120.0)
        sim_strategy, live_strategy = Quoter(), Quoter()
    sim = Run(scenario.model_copy(update={"mode": "sim"}), strategy=sim_strategy).run()
    live, server = asyncio.run(_live(scenario, live_strategy))

    assert sim.summary["fills"] > 3 and sim.summary["orders"] > 3  # the scenario does trade
    assert _orders(live) == _orders(sim)
    assert _fills(live) == _fills(sim)
    assert _lifecycle(live) == _lifecycle(sim)
    for key in ("orders", "fills", "traded_qty", "fees", "realized_pnl", "unrealized_pnl", "net_pnl", "positions",
                "book_updates_delivered", "orders_rejected"):  # fmt: skip
        assert live.summary[key] == sim.summary[key], key
    if which == "quoter":
        assert sim_strategy.books == live_strategy.books  # the same book sequence, depth included
        assert any(r.kind == "amend" for r in live.journal.records)
        assert any(r.kind == "cancel" for r in live.journal.records)
    # The server's own account agrees with the live portfolio.
    assert server.position(0) == live.summary["positions"]["SYN"]
    assert live.summary["ib"]["IB"]["state"] in ("connected", "closed")
