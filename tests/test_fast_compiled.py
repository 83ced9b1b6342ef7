"""The fully compiled path (numba strategy in the replay loop) and the fast benchmark's cases."""

from __future__ import annotations

import numpy as np

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
    s = summarize(rows)
    assert len(s["speedup_fast_over_reference"]) == 2
