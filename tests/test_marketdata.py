"""The market-data bus: subscriptions, per-instrument publishers, marks."""

from __future__ import annotations

from kernel.marketdata import MarketDataBus
from kernel.reports import BookTop
from kernel.strategy import Strategy


class Recorder(Strategy):
    def __init__(self) -> None:
        super().__init__()
        self.books: list[BookTop] = []

    def on_book(self, book: BookTop) -> None:
        self.books.append(book)


class Marks:
    """A MarkRecord that logs its full marks."""

    def __init__(self, instrument: int, position: int, log: list) -> None:
        self.instrument, self.position, self.log = instrument, position, log
        self.mark: float | None = None
        self.mark_ts = 0

    def mark_at(self, price: float, ts: int) -> int:
        self.log.append((self.instrument, price, ts))
        self.mark, self.mark_ts = price, ts
        return self.position


def test_subscriptions_publishers_and_marks():
    marks, pnl = [], []
    records = {i: Marks(i, 3, marks) for i in (1, 2)}  # not flat: each mark moves PnL
    bus = MarketDataBus(mark_record=records.__getitem__, on_pnl=pnl.append)
    a, b = Recorder(), Recorder()
    bus.subscribe(1, a)
    bus.subscribe(1, a)  # once only
    publish_2 = bus.book_publisher(2)  # a publisher alone is no subscription
    assert bus.subscribed_instruments() == [1]
    one = BookTop(10, 1, 100, 5, 102, 7, (), ())
    bus.publish_book(one)
    bus.subscribe(1, b)  # a later subscriber is served by the publisher made before
    two = BookTop(11, 1, 0, 0, 102, 7, (), ())  # one-sided: no mark
    bus.book_publisher(1)(two)
    publish_2(BookTop(12, 2, 50, 1, 51, 1, (), ()))
    assert a.books == [one, two] and b.books == [two]
    assert marks == [(1, 101.0, 10), (2, 50.5, 12)] and pnl == [10, 12]  # not flat: full marks, then on_pnl
    assert bus.book_updates == 3 and bus.last_book[1] is two
    assert bus.book_publisher(1) is bus.book_publisher(1)


def test_a_flat_instrument_is_marked_without_a_pnl_update():
    """Flat, the bus records the mid and its time itself (what mark_at does then, without the
    call); once the position is not flat every mark goes through mark_at and on_pnl."""
    marks, pnl = [], []
    rec = Marks(1, 0, marks)
    bus = MarketDataBus(mark_record=lambda i: rec, on_pnl=pnl.append)
    publish = bus.book_publisher(1)
    publish(BookTop(10, 1, 100, 5, 103, 7, (), ()))
    assert (rec.mark, rec.mark_ts, marks, pnl) == (101.5, 10, [], [])
    publish(BookTop(11, 1, 0, 0, 103, 7, (), ()))  # one-sided: no mark
    assert (rec.mark, rec.mark_ts) == (101.5, 10)
    rec.position = -2
    publish(BookTop(12, 1, 100, 5, 102, 7, (), ()))
    assert (rec.mark, rec.mark_ts, marks, pnl) == (101.0, 12, [(1, 101.0, 12)], [12])
