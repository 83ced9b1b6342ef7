"""Market-data bus: delivers book and trade updates to subscribed strategies.

Venues (simulated or live) publish here once an update has reached the
strategy side (after market-data latency); the bus marks the portfolio and
dispatches to every subscriber of the instrument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kernel.reports import BookTop, Trade

if TYPE_CHECKING:
    from kernel.strategy import Strategy


class MarketDataBus:
    """Subscriptions and dispatch of ``on_book`` / ``on_trade``."""

    def __init__(
        self,
        on_mark: Callable[[int, float, int], int | None] | None = None,
        on_pnl: Callable[[int], None] | None = None,
    ) -> None:
        self._book_subs: dict[int, list[Strategy]] = {}
        self._trade_subs: dict[int, list[Strategy]] = {}
        # on_mark(instrument, mid price in ticks, ts) -> the position (e.g. Portfolio.mark); when
        # it is not flat the mark moved PnL and on_pnl(ts) follows (e.g. OMS.on_mark).
        self._on_mark = on_mark
        self._on_pnl = on_pnl
        self.last_book: dict[int, BookTop] = {}
        self.book_updates = 0
        self.trade_updates = 0

    def subscribe(self, instrument: int, strategy: Strategy, trades: bool = False) -> None:
        subs = self._book_subs.setdefault(instrument, [])
        if strategy not in subs:
            subs.append(strategy)
        if trades:
            tsubs = self._trade_subs.setdefault(instrument, [])
            if strategy not in tsubs:
                tsubs.append(strategy)

    def publish_book(self, book: BookTop) -> None:
        self.book_updates += 1
        instrument = book[1]  # by index: once per top change, attribute access costs
        self.last_book[instrument] = book
        if self._on_mark is not None:
            bid, ask = book[2], book[4]
            if bid and ask and self._on_mark(instrument, (bid + ask) / 2, book[0]) and self._on_pnl is not None:
                self._on_pnl(book[0])  # (bid + ask) / 2 is BookTop.mid
        for strategy in self._book_subs.get(instrument, ()):
            strategy.on_book(book)

    def publish_trade(self, trade: Trade) -> None:
        self.trade_updates += 1
        for strategy in self._trade_subs.get(trade.instrument, ()):
            strategy.on_trade(trade)

    def reference_price(self, instrument: int) -> int | None:
        """Mid of the last delivered book (what the strategy side knows), if any."""
        book = self.last_book.get(instrument)
        if book is not None and book.bid_px and book.ask_px:
            return (book.bid_px + book.ask_px) // 2
        return None
