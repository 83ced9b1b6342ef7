"""Unit tests of the fast engine's data structures (venues.fast.core) and its extra API."""

from __future__ import annotations

import random

import numpy as np
import pytest

from kernel.events import ADD, CANCEL, EXECUTE, MARKET, empty_events
from kernel.orders import OrderType, STPMode
from venues.fast import FastMatchingEngine
from venues.fast import core as C
from venues.matching import MatchingEngine

B, S = 1, -1


def _state(e) -> tuple:
    return (
        e.top(),
        e.depth(B, 10_000),
        e.depth(S, 10_000),
        [e.level_orders(s, p) for s in (B, S) for p, _ in e.depth(s, 10_000)],
        len(e),
        e.last_trade_price,
        e.trade_count,
        e.traded_qty,
        e.unknown_ids,
        e.duplicate_ids,
    )


def test_pools_grow_from_tiny_capacity_over_sparse_prices():
    fast = FastMatchingEngine(capacity=16)
    ref = MatchingEngine()
    rng = random.Random(5)
    ids = []
    for k in range(1, 6001):
        side = B if k % 2 else S
        # Sparse prices: bids in 1..50_000, asks in 60_000..10**9 (binary-search path, many levels).
        px = (
            rng.randint(1, 50_000)
            if side > 0
            else max(60_000, rng.choice([rng.randint(60_000, 70_000), rng.randint(1, 10**9)]))
        )
        q = rng.randint(1, 9)
        for e in (fast, ref):
            e.add(k, k, side, px, q)
        ids.append(k)
    fast.check_integrity()
    assert len(fast._ords) >= 6000 and fast._omap.shape[0] >= 2 * 6000
    assert _state(fast) == _state(ref)
    rng.shuffle(ids)
    for oid in ids[:5000]:
        fast.remove(0, oid)
        ref.remove(0, oid)
    fast.check_integrity()
    assert _state(fast) == _state(ref)


def test_free_list_reuses_rows_without_growth():
    e = FastMatchingEngine(capacity=64)
    cap = len(e._ords), len(e._lvls), e._omap.shape[0]
    for rnd in range(200):
        for k in range(40):
            e.add(rnd, rnd * 100 + k, B if k % 2 else S, 100 - k if k % 2 else 200 + k, 5)
        e.check_integrity()
        for k in range(40):
            assert e.remove(rnd, rnd * 100 + k)
    assert len(e) == 0 and e.top() == (0, 0, 0, 0)
    assert (len(e._ords), len(e._lvls), e._omap.shape[0]) == cap
    assert int(e._st[C.S_NFREE_O]) == cap[0] and int(e._st[C.S_NFREE_L]) == cap[1]
    e.check_integrity()


def test_level_fifo_links_after_removals_and_refresh():
    e = FastMatchingEngine()
    for oid in (1, 2, 3, 4):
        e.add(0, oid, S, 100, 5)
    e.remove(0, 2)  # middle
    assert e.level_orders(S, 100) == [1, 3, 4]
    e.remove(0, 1)  # head
    e.remove(0, 4)  # tail
    assert e.level_orders(S, 100) == [3]
    e.submit(0, 9, 7, S, 10, 100, display_qty=2)  # iceberg joins behind 3
    e.add(0, 5, S, 100, 1)
    assert e.level_orders(S, 100) == [3, 9, 5] and e.queue_ahead(5) == 7
    e.execute(1, 9, 2)  # its slice is gone: refreshes at the back
    assert e.level_orders(S, 100) == [3, 5, 9] and e.order_info(9) == (S, 100, 2, 6)
    e.check_integrity()


def test_hash_map_backward_shift_deletion_against_a_dict():
    st = np.zeros(C.NS, np.int64)
    omap = np.full((64, 2), C.EMPTY, np.int64)
    st[C.S_MAPSHIFT] = 64 - 6
    ref: dict[int, int] = {}
    rng = random.Random(3)
    keys = [rng.choice([rng.randint(-(2**63) + 1, 2**63 - 1), rng.randint(0, 200)]) for _ in range(400)]
    for step in range(3000):
        k = rng.choice(keys)
        if len(ref) < 30 and rng.random() < 0.6:
            C.map_put(st, omap, k, step)
            ref[k] = step
        else:
            C.map_del(st, omap, k)
            ref.pop(k, None)
        assert st[C.S_MAPN] == len(ref)
        for q in rng.sample(keys, 5):
            assert C.map_get(st, omap, q) == ref.get(q, -1)
    assert all(C.map_get(st, omap, k) == v for k, v in ref.items())


def test_many_fills_in_one_operation_exceed_the_initial_buffer():
    # An iceberg of display 1 refreshes 5000 times in one sweep; trades are recorded too.
    out = {}
    for cls in (MatchingEngine, FastMatchingEngine):
        reports, trades = [], []
        e = cls(on_report=reports.append, on_trade=lambda *a, t=trades: t.append(a))
        e.submit(0, 1, 1, S, 5000, 100, display_qty=1)
        for k in range(2000):
            e.add(0, 100 + k, S, 101, 1)
        e.submit(1, 2, 2, B, 8000, 101, order_type=OrderType.LIMIT)
        out[cls] = (reports, trades, _state(e))
    assert out[MatchingEngine] == out[FastMatchingEngine]
    assert len(out[FastMatchingEngine][0]) > 10_000


def test_run_events_time_bound_and_first_callback_lookahead():
    ev = empty_events(6)
    rows = [(10, 1, 100, 5, ADD, B), (20, 2, 101, 5, ADD, S), (30, 0, 0, 1, MARKET, S), (35, 3, 99, 1, ADD, B),
            (41, 4, 98, 1, ADD, B), (50, 2, 0, 1, EXECUTE, 0)]  # fmt: skip
    for k, (t, oid, px, q, a, s) in enumerate(rows):
        ev[k] = (t, oid, px, q, 0, a, s, 0, 0)
    e = FastMatchingEngine()
    assert e.run_events(ev, 0, 6, C.M_BOUND, 1000, 10) == (6, C.ST_DONE)  # no callbacks: nothing tightens
    trades = []
    e = FastMatchingEngine(on_trade=lambda *a: trades.append(a))
    assert e.run_events(ev, 0, 6, C.M_BOUND, 25, 10) == (2, C.ST_BOUND)  # ts 30 > 25
    assert e.run_events(ev, 2, 6, C.M_BOUND, 1000, 10) == (4, C.ST_BOUND)  # the trade at 30 bounds to 40
    assert trades == [(30, 100, 1, S)]
    tops = []
    e.on_top = lambda *a: tops.append(a)
    assert e.run_events(ev, 4, 6, C.M_BOUND | C.M_WATCH | C.M_RECORD_TOP, 1000, 10) == (6, C.ST_DONE)
    assert tops == [(50, 100, 4, 101, 4, 5)] and trades[-1] == (50, 101, 1, B)


def test_apply_events_equals_apply_batch_on_a_synthetic_stream():
    from venues.matching import make_benchmark_events

    ev = make_benchmark_events(20_000, seed=11)
    fields = ("ts", "order_id", "price", "qty", "action", "side")
    ref = MatchingEngine()
    assert ref.apply_batch(*[ev[f].tolist() for f in fields], 0, len(ev), False) == len(ev)
    fast = FastMatchingEngine(capacity=8)
    i = 0
    while i < len(ev):
        i = fast.apply_events(ev, i, len(ev), True)
    assert _state(fast) == _state(ref)
    fast.check_integrity()


@pytest.mark.parametrize("stp", list(STPMode))
def test_stp_mode_is_settable(stp):
    e = FastMatchingEngine(stp_mode=stp)
    assert e.stp_mode == stp
    e.stp_mode = STPMode.NONE
    assert e.stp_mode == STPMode.NONE


def test_cancel_event_of_unknown_and_order_ids_at_the_top_of_uint64():
    ev = empty_events(3)
    big = 2**64 - 5  # u8 ids above 2**63 are stored as their int64 bit pattern
    ev[0] = (1, big, 100, 5, 0, ADD, B, 0, 0)
    ev[1] = (2, 77, 0, 0, 0, CANCEL, 0, 0, 0)
    ev[2] = (3, big, 0, 2, 0, CANCEL, 0, 0, 0)
    e = FastMatchingEngine()
    assert e.apply_events(ev, 0, 3, False) == 3
    assert e.top() == (100, 3, 0, 0) and e.unknown_ids == 1


def test_a_read_only_event_array_replays_like_a_writable_one():
    """A memory-mapped feed cache is read-only: the compiled loop (one signature) takes it as is."""
    from venues.fast.compiled_strategy import run_compiled, watch_only
    from venues.fast.replay import synthetic_l3

    ev = synthetic_l3(3_000, seed=5)
    ro = ev.copy()
    ro.flags.writeable = False
    a, b = FastMatchingEngine(), FastMatchingEngine()
    assert a.run_events(ev, 0, len(ev), 0) == b.run_events(ro, 0, len(ro), 0)
    assert a.top() == b.top() and len(a) == len(b) and a.trade_count == b.trade_count
    assert run_compiled(ro, watch_only) == run_compiled(ev, watch_only)


@pytest.mark.parametrize(("start", "stop"), [(-1, 3), (0, 4), (2, 9)])
def test_an_index_range_outside_the_events_raises_and_applies_nothing(start, stop):
    """The compiled loop indexes without wraparound or bounds checks: it refuses a range that is
    not inside the array before applying anything, and the wrapper names it."""
    ev = empty_events(3)
    ev["action"] = ADD
    ev["side"] = 1
    ev["price"] = [100, 101, 102]
    ev["qty"] = 1
    ev["order_id"] = [1, 2, 3]
    e = FastMatchingEngine()
    with pytest.raises(IndexError, match=rf"market-data events {start}\.\.{stop}: not inside the 3 events given"):
        e.apply_events(ev, start, stop, False)
    assert len(e) == 0 and e.top() == (0, 0, 0, 0)
    assert e.apply_events(ev, 0, 3, False) == 3 and len(e) == 3


def test_a_window_with_one_top_row_returns_it_and_leaves_the_buffer_empty():
    ev = empty_events(3)
    rows = [(10, 1, 100, 5, ADD, B), (12, 2, 101, 7, ADD, S), (20, 3, 99, 1, ADD, B)]
    for k, (t, oid, px, q, a, s) in enumerate(rows):
        ev[k] = (t, oid, px, q, 0, a, s, 0, 0)
    e = FastMatchingEngine()
    st = e.compiled[0]
    watch = C.M_WATCH | C.M_RECORD_TOP | C.M_BOUND
    # Without M_TAKE_TOP the row stays in the buffer for fire().
    code, *rest = e.apply_compiled(*e.compiled, ev, 0, 1, watch, 1000, 5)
    assert (code >> 4, code & 15, rest) == (1, C.ST_DONE, [0, 0, 0, 0, 0]) and st[C.S_NBUF] == 1
    tops = []
    e.on_top = lambda *a: tops.append(a)
    e.fire(e.compiled[5][:1].tolist())
    st[C.S_NBUF] = 0
    assert tops == [(10, 100, 5, 0, 0, 0)]
    # With it, a window whose one row is a top change returns the row (bound: 12 + 5 < 20).
    code, *rest = e.apply_compiled(*e.compiled, ev, 1, 3, watch | C.M_TAKE_TOP, 1000, 5)
    assert (code >> 4, code & 7, code & C.F_TOP_TAKEN) == (2, C.ST_BOUND, C.F_TOP_TAKEN)
    assert rest == [12, 100, 5, 101, 7] and st[C.S_NBUF] == 0
    # Two rows (a trade, then the top it changed): nothing taken, both in order in the buffer.
    trades = []
    e.on_trade = lambda *a: trades.append(a)
    sell = empty_events(1)
    sell[0] = (30, 0, 0, 2, 0, MARKET, S, 0, 0)
    code, *rest = e.apply_compiled(*e.compiled, sell, 0, 1, watch | C.M_TAKE_TOP, 1000, 5)
    assert (code & 15, rest, st[C.S_NBUF]) == (C.ST_DONE, [0, 0, 0, 0, 0], 2)
    e.fire(e.compiled[5][:2].tolist())
    assert trades == [(30, 100, 2, S)] and tops[-1] == (30, 100, 3, 101, 7, 0)
