"""NautilusTrader on the shared L2 stream (run inside its own venv: bench/peers/.venv-nautilus).

The L2 level updates become OrderBookDelta objects (conversion not timed); a BacktestEngine
with an L2 venue replays them to a Python strategy subscribed to the book deltas (the peer
of parity's Python strategy woken on book changes): a strategy that counts the deltas, and one
that also reads the top of the book (as parity's TopWatcher); best of 3 runs each. Prints JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import BookOrder, OrderBookDelta
from nautilus_trader.model.enums import AccountType, BookAction, BookType, OmsType, OrderSide
from nautilus_trader.model.identifiers import Venue
from nautilus_trader.model.objects import Money, Price, Quantity
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("data")
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 300_000
l2 = np.load(data / "events_l2.npy")[:limit]
inst = TestInstrumentProvider.equity(symbol="SYN", venue="XNAS")


class Watch(Strategy):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(inst.id)

    def on_order_book_deltas(self, deltas) -> None:
        self.n += 1


class TopWatch(Watch):
    """The peer of parity's TopWatcher: reads the top of the book on each delta and keeps the
    same sums (spread, imbalance)."""

    def on_start(self) -> None:
        super().on_start()
        self.book = self.cache.order_book(inst.id)
        self.spread_sum = 0.0
        self.imbalance = 0.0

    def on_order_book_deltas(self, deltas) -> None:
        self.n += 1
        book = self.book
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is not None and ask is not None:
            bq, aq = book.best_bid_size().as_double(), book.best_ask_size().as_double()
            self.spread_sum += ask.as_double() - bid.as_double()
            self.imbalance = (bq - aq) / (bq + aq)


deltas = []
for k, (ts, side, px, qty) in enumerate(l2.tolist()):
    action = BookAction.DELETE if qty == 0 else BookAction.UPDATE
    s = OrderSide.BUY if side > 0 else OrderSide.SELL
    order = BookOrder(s, Price(px / 100, 2), Quantity(max(qty, 0), 0), 0)
    deltas.append(OrderBookDelta(inst.id, action, order, 0, k, ts, ts))


def run_once(strategy_class: type[Watch]) -> tuple[float, int]:
    """One BacktestEngine run over the deltas: (seconds in engine.run(), strategy wake-ups)."""
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    engine.add_venue(
        venue=Venue("XNAS"), oms_type=OmsType.NETTING, account_type=AccountType.CASH, base_currency=USD,
        starting_balances=[Money(1_000_000, USD)], book_type=BookType.L2_MBP,
    )  # fmt: skip
    engine.add_instrument(inst)
    engine.add_data(deltas)
    strategy = strategy_class()
    engine.add_strategy(strategy)
    t0 = time.perf_counter()
    engine.run()
    wall = time.perf_counter() - t0
    engine.dispose()
    return wall, strategy.n


# Best of 3 fresh engines, as parity's full simulation is timed (run_parity.py).
result: dict = {"peer": "nautilus_trader", "events": len(deltas)}
for key, cls in (("python_strategy_per_delta", Watch), ("python_strategy_per_delta_reads_top", TopWatch)):
    wall, wakeups = min(run_once(cls) for _ in range(3))
    result[key] = {"seconds": round(wall, 4), "events_per_second": round(len(deltas) / wall), "wakeups": wakeups}
print(json.dumps(result))
