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


def test_subscriptions_publishers_and_marks():
    marks, pnl = [], []
    bus = MarketDataBus(on_mark=lambda i, mid, ts: marks.append((i, mid, ts)) or 3, on_pnl=pnl.append)
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
    assert marks == [(1, 101.0, 10), (2, 50.5, 12)] and pnl == [10, 12]  # on_mark returned a position
    assert bus.book_updates == 3 and bus.last_book[1] is two
    assert bus.book_publisher(1) is bus.book_publisher(1)
