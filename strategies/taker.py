"""A liquidity taker: crosses the spread with IOC orders on book imbalance,
and trades back towards flat when the imbalance reverses."""

from __future__ import annotations

from kernel.orders import Side, TimeInForce
from kernel.reports import BookTop
from kernel.strategy import Strategy


class ImbalanceTaker(Strategy):
    """Buy at the ask when bid size dominates the top of book, sell at the bid when
    ask size does; at most one order every ``cooldown_ns``, within ``max_position``."""

    def __init__(
        self,
        instrument: str = "SYN",
        qty: int = 2,
        threshold: float = 0.6,
        max_position: int = 20,
        cooldown_ns: int = 50_000_000,
    ) -> None:
        super().__init__(
            instrument=instrument, qty=qty, threshold=threshold, max_position=max_position, cooldown_ns=cooldown_ns
        )
        self.symbol = instrument
        self.qty = qty
        self.threshold = threshold
        self.max_position = max_position
        self.cooldown_ns = cooldown_ns
        self.iid = -1
        self._next_allowed = 0
        self.signals = 0

    def on_start(self) -> None:
        self.iid = self.ctx.lookup(self.symbol).id
        self.ctx.subscribe(self.iid)

    def on_book(self, book: BookTop) -> None:
        if not book.bid_px or not book.ask_px or book.ts < self._next_allowed:
            return
        total = book.bid_qty + book.ask_qty
        imbalance = (book.bid_qty - book.ask_qty) / total
        pos = self.ctx.position(self.iid)
        if imbalance > self.threshold and pos + self.qty <= self.max_position:
            side, price = Side.BUY, book.ask_px
        elif imbalance < -self.threshold and pos - self.qty >= -self.max_position:
            side, price = Side.SELL, book.bid_px
        else:
            return
        self.signals += 1
        self._next_allowed = book.ts + self.cooldown_ns
        self.ctx.submit(self.iid, side, self.qty, price, tif=TimeInForce.IOC, tag="take")
