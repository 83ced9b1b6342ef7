"""hftbacktest on the shared L2 stream (run inside its own venv: bench/peers/.venv-hftbacktest).

The L2 level updates become hftbacktest depth events; a backtest with no orders elapses
through the whole stream (its book maintained), then one that wakes a numba strategy
function on every depth event reads the best bid/ask. Prints JSON."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from hftbacktest import (
    BUY_EVENT,
    DEPTH_EVENT,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    BacktestAsset,
    HashMapMarketDepthBacktest,
    event_dtype,
)
from numba import njit

data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("data")
l2 = np.load(data / "events_l2.npy")
ev = np.zeros(len(l2), event_dtype)
flags = DEPTH_EVENT | EXCH_EVENT | LOCAL_EVENT
ev["ev"] = np.where(l2["side"] > 0, flags | BUY_EVENT, flags | SELL_EVENT)
ev["exch_ts"] = l2["ts"]
ev["local_ts"] = l2["ts"]
ev["px"] = l2["price"] * 0.01
ev["qty"] = l2["qty"].astype(np.float64)


def make():
    asset = (
        BacktestAsset()
        .data([ev])
        .linear_asset(1.0)
        .constant_order_latency(10_000, 10_000)
        .risk_adverse_queue_model()
        .no_partial_fill_exchange()
        .trading_value_fee_model(0.0, 0.0)
        .tick_size(0.01)
        .lot_size(1.0)
    )
    return HashMapMarketDepthBacktest([asset])


@njit
def run_elapse(hbt):
    while hbt.elapse(1_000_000_000) == 0:
        pass
    return 0


@njit
def run_wake(hbt):
    n = 0
    acc = 0.0
    while hbt.wait_next_feed(False, 1_000_000_000_000) in (0, 2):
        depth = hbt.depth(0)
        acc += depth.best_ask - depth.best_bid
        n += 1
    return n


out = {"peer": "hftbacktest", "events": len(ev)}
for name, fn in (("no_strategy", run_elapse), ("numba_strategy_per_event", run_wake)):
    fn(make())  # compile
    best = None
    for _ in range(3):
        hbt = make()
        t0 = time.perf_counter()
        r = fn(hbt)
        wall = time.perf_counter() - t0
        best = wall if best is None or wall < best else best
    out[name] = {"seconds": round(best, 4), "events_per_second": round(len(ev) / best)}
print(json.dumps(out))
