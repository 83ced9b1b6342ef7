"""Market-data bus: delivers book and trade updates to subscribed strategies.

Venues (simulated or live) publish here once an update has reached the
strategy side (after market-data latency); the bus marks the portfolio and
dispatches to every subscriber of the instrument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from kernel.reports import BookTop, Trade

if TYPE_CHECKING:
    from kernel.strategy import Strategy


class MarkRecord(Protocol):
    """One instrument's mark (e.g. :meth:`kernel.portfolio.Portfolio.mark_record`)."""

    position: int
    mark: float | None
    mark_ts: int

    def mark_at(self, price: float, ts: int) -> int:
        """Mark at ``price`` (ticks) at ``ts``; return the position. While ``position`` is 0
        setting ``mark`` and ``mark_ts`` is the same."""
        ...


class MarketDataBus:
    """Subscriptions and dispatch of ``on_book`` / ``on_trade``."""

    def __init__(
        self,
        mark_record: Callable[[int], MarkRecord] | None = None,
        on_pnl: Callable[[int], None] | None = None,
    ) -> None:
        self._book_handlers: dict[int, list[Callable[[BookTop], None]]] = {}  # bound on_book per instrument
        self._trade_subs: dict[int, list[Strategy]] = {}
        self._publishers: dict[int, Callable[[BookTop], None]] = {}
        # Each two-sided book marks its instrument at the mid (mark_record(instrument), e.g.
        # Portfolio.mark_record); when the position is not flat the mark moved PnL and
        # on_pnl(ts) follows (e.g. OMS.on_mark).
        self._mark_record = mark_record
        self._on_pnl = on_pnl
        self.last_book: dict[int, BookTop] = {}
        self.book_updates = 0
        self.trade_updates = 0

    def subscribe(self, instrument: int, strategy: Strategy, trades: bool = False) -> None:
        handlers = self._book_handlers.setdefault(instrument, [])
        if strategy.on_book not in handlers:  # bound methods are equal for the same strategy
            handlers.append(strategy.on_book)
        if trades:
            tsubs = self._trade_subs.setdefault(instrument, [])
            if strategy not in tsubs:
                tsubs.append(strategy)

    def subscribed_instruments(self) -> list[int]:
        """Instruments some strategy subscribed to the books of."""
        return [instrument for instrument, handlers in self._book_handlers.items() if handlers]

    def publish_book(self, book: BookTop) -> None:
        """Deliver ``book``: mark the portfolio, then each subscriber's ``on_book``."""
        self.book_publisher(book[1])(book)

    def book_publisher(self, instrument: int) -> Callable[[BookTop], None]:
        """:meth:`publish_book` for the books of one instrument (what a venue schedules once
        per top change): the same steps with the instrument's handlers bound."""
        publish = self._publishers.get(instrument)
        if publish is not None:
            return publish
        bus = self
        last_book = self.last_book
        rec = self._mark_record(instrument) if self._mark_record is not None else None
        on_pnl = self._on_pnl
        handlers = self._book_handlers.setdefault(instrument, [])  # grows with later subscriptions

        def publish(book: BookTop) -> None:
            bus.book_updates += 1
            last_book[instrument] = book
            if rec is not None:
                bid, ask = book[2], book[4]  # by index: once per top change, attribute access costs
                if bid and ask:
                    mid = (bid + ask) / 2  # BookTop.mid
                    if rec.position:
                        rec.mark_at(mid, book[0])  # moves PnL
                        if on_pnl is not None:
                            on_pnl(book[0])
                    else:  # flat: mark_at would only record these (a call less per top change)
                        rec.mark = mid
                        rec.mark_ts = book[0]
            for on_book in handlers:
                on_book(book)

        self._publishers[instrument] = publish
        return publish

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
