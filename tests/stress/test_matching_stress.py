"""Stress: random order flow through the reference matching engine, sharded by seed.

Every order type and time in force, icebergs, post-only, stops, amends (price and
quantity), cancels, expiries and self-trade prevention (all four modes), from
eight owners so that STP fires. Invariants are checked after *every* action:

* the book is never crossed or locked (best bid < best ask);
* conservation of quantity: every trade fills the same quantity on both sides
  (maker fills == taker fills), and the open quantity the reports announce
  (the last ``leaves`` of every order) equals the open quantity in the engine
  (kept incrementally, compared in full every ``FULL_CHECK`` actions together
  with the engine's own structural ``check_integrity``);
* per order, at the end: accepted quantity == filled + removed + still open.

The total is ``PARITY_STRESS_ORDERS`` actions (default 10,000,000, split into
``PARITY_STRESS_SHARDS`` = 40 seeds of 250,000; ``parity bench --stress`` prints
the throughput).
"""

from __future__ import annotations

import os
import time

import pytest

from venues.stressflow import run_shard

pytestmark = pytest.mark.stress

TOTAL = int(os.environ.get("PARITY_STRESS_ORDERS", "10000000"))
SHARDS = int(os.environ.get("PARITY_STRESS_SHARDS", "40"))


@pytest.mark.parametrize("shard", range(SHARDS))
def test_random_order_flow_keeps_book_and_quantity_invariants(shard: int) -> None:
    n = TOTAL // SHARDS
    t0 = time.perf_counter()
    stats = run_shard(1_000 + shard, n)
    rate = n / (time.perf_counter() - t0)
    print(f"shard {shard}: {n} actions, {rate:,.0f} actions/s, {stats}")
    assert stats["trades"] > 0 and stats["reports"] > n // 2
