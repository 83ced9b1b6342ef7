"""The fully compiled path (numba strategy in the replay loop) and the fast benchmark's cases."""

from __future__ import annotations

import numpy as np
import pytest

from venues.fast.compiled_strategy import join_the_touch, run_compiled, watch_only
from venues.fast.replay import replay, synthetic_l3


def test_numba_strategy_is_woken_at_every_top_change_and_is_deterministic():
    ev = synthetic_l3(20_000, seed=3)
    _, returns = replay(ev, watch_top=True)
    r = run_compiled(ev, watch_only)
    # replay() also counts its final return at the end of the data
    assert r["wakeups"] in (returns, returns - 1) and r["orders"] == 0 and r["events"] == len(ev)
    a = run_compiled(ev, join_the_touch, np.zeros(16), entry_latency_ns=40_000)
    b = run_compiled(ev, join_the_touch, np.zeros(16), entry_latency_ns=40_000)
    assert a == b
    assert a["orders"] > 100 and 0 < a["fills"] <= a["orders"] and a["filled_qty"] == a["fills"]
    assert abs(a["position"]) <= 12  # the strategy stops quoting the side past |10| (orders in flight aside)


def test_fast_bench_engine_cases_and_summary():
    from scenarios.bench_fast import engine_cases, summarize

    ev = synthetic_l3(5_000, seed=1)
    rows = engine_cases("tiny", ev, repeat=1, numba_strategy=False)
    assert {(r["name"].split(" (")[0], r["engine"]) for r in rows} == {
        ("engine replay, book maintained, no strategy", "reference"),
        ("engine replay, book maintained, no strategy", "fast"),
        ("engine replay, Python wake-up per top change", "reference"),
        ("engine replay, Python wake-up per top change", "fast"),
    }
    by = {(r["name"], r["engine"]): r for r in rows}
    for name in {r["name"] for r in rows}:
        ref, fast = by[(name, "reference")], by[(name, "fast")]
        assert fast["events"] == ref["events"] == len(ev)
        assert fast.get("wakeups") == ref.get("wakeups")
        assert fast.get("market_trades") == ref.get("market_trades")
        if "wakeups" in fast:
            # the row's seconds are rounded to 0.1 ms: the same figure within that
            assert fast["us_per_wakeup"] == pytest.approx(
                fast["seconds"] / fast["wakeups"] * 1e6, abs=0.06 / fast["wakeups"] * 1e3 + 0.002
            )
    s = summarize(rows)
    assert len(s["speedup_fast_over_reference"]) == 2


def _sparse_tape() -> np.ndarray:
    """A quiet market: a bid and an ask, then one event a second for 20 seconds."""
    from kernel.events import ADD, MD_DTYPE

    ev = np.zeros(22, MD_DTYPE)
    ev["ts"] = [0, 1] + [k * 1_000_000_000 for k in range(1, 21)]
    ev["order_id"] = np.arange(1, 23)
    ev["price"] = [100, 103] + [90 - (k % 3) for k in range(20)]  # far bids: the touch stays
    ev["qty"] = 5
    ev["action"] = ADD
    ev["side"] = [1, -1] + [1] * 20
    return ev


def test_join_the_touch_does_not_chase_its_own_quotes_in_a_quiet_market():
    r = run_compiled(_sparse_tape(), join_the_touch, np.zeros(16), entry_latency_ns=40_000)
    # One quote pair (joining 100 / 103); its own orders changing the top do not make it re-quote.
    assert r["orders"] == 2 and r["fills"] == 0 and r["events"] == 22


def test_a_runaway_strategy_is_stopped_with_a_clear_error():
    import pytest
    from numba import njit

    from kernel.errors import ParityError
    from venues.fast.compiled_strategy import CANCEL_ALL, LIMIT

    @njit
    def requote_always(ts, bid_px, bid_qty, ask_px, ask_qty, position, cash, state, out):
        out[0, 0] = CANCEL_ALL
        out[1, 0], out[1, 1], out[1, 2], out[1, 3] = LIMIT, 1, bid_px + 1, 1  # improves the bid: moves the top
        return 2

    with pytest.raises(ParityError, match=r"more than 5,000 orders .* its own orders"):
        run_compiled(_sparse_tape(), requote_always, entry_latency_ns=40_000, max_total_orders=5_000)


def test_join_the_touch_on_lobster_aapl_quotes_a_bounded_number_of_times(shared_data):
    """Regression: on the sparse opening of LOBSTER AAPL the unthrottled example strategy
    chased its own in-flight quotes (6,638 orders in the first 100 events, then ran away)."""
    import pytest

    from adapters.feeds.lobster import LobsterReader

    lob = shared_data / "lobster"
    msg = lob / "AAPL_2012-06-21_34200000_57600000_message_1.csv"
    if not msg.is_file():
        pytest.skip(f"{msg} not found")
    book = lob / "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"
    ev = np.ascontiguousarray(np.concatenate(list(LobsterReader(msg, book, tick_size=0.01).chunks()))[:300])
    r = run_compiled(ev, join_the_touch, np.zeros(16), entry_latency_ns=40_000, max_total_orders=10_000)
    assert 0 < r["orders"] < 100 and r["events"] == 300


def test_fast_bench_prints_each_floor_with_its_verdict():
    from scenarios.bench_fast import _floor_line

    replay = {"floor": 20e6, "measured_wall": 24_183_424, "measured_cpu": 24_177_326}
    assert _floor_line("replay_events_per_second", replay) == (
        "floor replay_events_per_second: 24,183,424 events/s wall (24,177,326/cpu-s) against 20,000,000: met"
    )
    python = {**replay, "floor": 1.5e6, "measured_wall": 992_017, "wakeups_per_second": 308_098, "us_per_wakeup": 3.2}
    assert _floor_line("python", python).endswith("308,098 wake-ups/s, 3.2 us each) against 1,500,000: NOT met")
    assert _floor_line("speedup", {"floor": 20.0, "wall": 10.2, "cpu": 10.3}).endswith(
        "10.2x wall (10.3x cpu) against 20.0x: NOT met"
    )


def test_the_compiled_path_grows_its_level_pool_like_the_engine():
    """More levels than the compiled loop's initial pool (4096), far apart (level-table
    chains, walks from the best): the same top-of-book sequence as the engine's replay."""
    from kernel.events import ADD, CANCEL, empty_events
    from venues.fast import FastMatchingEngine

    n = 5_000
    ev = empty_events(2 * n + 2 * (n // 2))
    k = 0
    for i in range(n):  # bids at 10000 - 3i and asks at 30001 + 3i, arrival order shuffled by parity
        for side, px in ((1, 10_000 - 3 * ((i * 7) % n)), (-1, 30_001 + 3 * ((i * 11) % n))):
            ev[k] = (1_000 + k, k + 1, px, 1 + i % 3, 0, ADD, side, 0, 0)
            k += 1
    for i in range(n // 2):  # then cancel every other order from the top of the book down
        ev[k] = (1_000 + k, 4 * i + 1, 0, 0, 0, CANCEL, 0, 0, 0)
        ev[k + 1] = (1_000 + k + 1, 4 * i + 2, 0, 0, 0, CANCEL, 0, 0, 0)
        k += 2
    e = FastMatchingEngine()
    i = spreads = wakes = 0
    while i < len(ev):
        i = e.apply_events(ev, i, len(ev), True)
        wakes += 1
        bid_px, _, ask_px, _ = e.top()
        spreads += ask_px - bid_px
    state = np.zeros(16)
    r = run_compiled(ev, watch_only, state)
    assert len(e.depth(1, 10 * n)) == n - n // 2 and e.compiled[2].shape[0] >= 8192  # the pool grew
    # (the engine's loop also returns at the end of the data)
    assert r["wakeups"] in (wakes, wakes - 1) and r["events"] == len(ev)
    assert state[0] in (spreads, spreads - (ask_px - bid_px))
