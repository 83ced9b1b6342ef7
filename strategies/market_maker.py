"""An inventory-aware market maker: one post-only quote per side around the mid,
skewed against inventory, amended (not cancelled) when the target moves."""

from __future__ import annotations

import math

from kernel.orders import Order, Side
from kernel.reports import BookTop, ExecReport
from kernel.risk import TradingState
from kernel.strategy import Strategy


class MarketMaker(Strategy):
    """Quote ``qty`` lots at ``edge`` ticks around a fair value skewed by inventory.

    Parameters: instrument (symbol), qty, edge (ticks from fair), skew (ticks per lot
    of inventory), max_inventory (lots; stop quoting the side that adds to it).
    """

    def __init__(
        self, instrument: str = "SYN", qty: int = 5, edge: int = 1, skew: float = 0.05, max_inventory: int = 50
    ) -> None:
        super().__init__(instrument=instrument, qty=qty, edge=edge, skew=skew, max_inventory=max_inventory)
        self.symbol = instrument
        self.qty = qty
        self.edge = edge
        self.skew = skew
        self.max_inventory = max_inventory
        self.quotes: dict[Side, Order | None] = {Side.BUY: None, Side.SELL: None}
        self._acted_at: dict[Side, int] = {Side.BUY: -1, Side.SELL: -1}
        self.iid = -1
        self.requotes = 0

    def on_start(self) -> None:
        self.iid = self.ctx.lookup(self.symbol).id
        self.ctx.subscribe(self.iid)

    def on_book(self, book: BookTop) -> None:
        if not book.bid_px or not book.ask_px:
            return
        state = self.ctx.trading_state
        if state == TradingState.HALTED:
            return  # the kill switch already cancelled our quotes; nothing may be sent
        pos = self.ctx.position(self.iid)
        fair = book.mid - self.skew * pos
        bid = min(book.ask_px - 1, math.floor(fair - self.edge))
        ask = max(book.bid_px + 1, math.ceil(fair + self.edge))
        # When reducing, quote only the side that brings the position back to flat.
        reducing = state == TradingState.REDUCING
        self._quote(Side.BUY, bid if pos < self.max_inventory and not (reducing and pos >= 0) else None)
        self._quote(Side.SELL, ask if pos > -self.max_inventory and not (reducing and pos <= 0) else None)

    def _quote(self, side: Side, price: int | None) -> None:
        now = self.ctx.now()
        if self._acted_at[side] == now:
            # One action per side per instant: with zero latencies our own requote changes
            # the book we react to at the same timestamp, and would chase itself forever.
            return
        order = self.quotes[side]
        if order is not None and order.is_terminal:
            order = self.quotes[side] = None
        if price is None or price <= 0:
            if order is not None and self.ctx.cancel(order):
                self._acted_at[side] = now
            return
        if order is None:
            new = self.ctx.submit(self.iid, side, self.qty, price, post_only=True, tag="quote")
            self.quotes[side] = None if new.is_terminal else new
            self._acted_at[side] = now
        elif order.price != price and self.ctx.modify(order, price=price):
            self.requotes += 1
            self._acted_at[side] = now

    def on_order_event(self, order: Order, report: ExecReport | None) -> None:
        if order.is_terminal and self.quotes.get(order.side) is order:
            self.quotes[order.side] = None

    def on_stop(self) -> None:
        self.ctx.cancel_all()
