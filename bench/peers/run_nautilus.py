"""NautilusTrader on the shared L2 stream (run inside its own venv: bench/peers/.venv-nautilus).

The L2 level updates become OrderBookDelta objects (conversion not timed); a BacktestEngine
with an L2 venue replays them to a Python strategy subscribed to the book deltas (the peer
of parity's Python strategy woken on book changes). Prints JSON."""

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


deltas = []
for k, (ts, side, px, qty) in enumerate(l2.tolist()):
    action = BookAction.DELETE if qty == 0 else BookAction.UPDATE
    s = OrderSide.BUY if side > 0 else OrderSide.SELL
    order = BookOrder(s, Price(px / 100, 2), Quantity(max(qty, 0), 0), 0)
    deltas.append(OrderBookDelta(inst.id, action, order, 0, k, ts, ts))
engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
engine.add_venue(
    venue=Venue("XNAS"), oms_type=OmsType.NETTING, account_type=AccountType.CASH, base_currency=USD,
    starting_balances=[Money(1_000_000, USD)], book_type=BookType.L2_MBP,
)  # fmt: skip
engine.add_instrument(inst)
engine.add_data(deltas)
strategy = Watch()
engine.add_strategy(strategy)
t0 = time.perf_counter()
engine.run()
wall = time.perf_counter() - t0
print(
    json.dumps(
        {
            "peer": "nautilus_trader",
            "events": len(deltas),
            "python_strategy_per_delta": {
                "seconds": round(wall, 4),
                "events_per_second": round(len(deltas) / wall),
                "wakeups": strategy.n,
            },
        }
    )
)
