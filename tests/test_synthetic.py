"""Tests of venues.synthetic: determinism, stream invariants, action mix, params, book shape."""

from __future__ import annotations

import numpy as np
import pydantic
import pytest

from kernel.errors import ScenarioError
from kernel.events import ADD, BUY, CANCEL, F_LAST, F_SNAPSHOT, MARKET, MD_DTYPE, SELL
from venues.synthetic import MAX_ORDER_ID, SyntheticMarket, SyntheticParams, synthetic_params_from_config

START = 1_767_623_400_000_000_000  # 2026-01-05 14:30 UTC in ns: far from 0, as in real scenarios
SEC = 10**9


def make(seed: int = 1, **kw) -> SyntheticMarket:
    kw.setdefault("start_ts", START)
    kw.setdefault("duration_ns", SEC)
    return SyntheticMarket(SyntheticParams(**kw), np.random.default_rng(seed))


@pytest.fixture(scope="module")
def big() -> tuple[SyntheticParams, np.ndarray]:
    """~250k events with the default parameters."""
    m = make(seed=123, duration_ns=5 * SEC, instrument=7)
    return m.params, m.generate()


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes_different_seed_different() -> None:
    a = make(seed=5).generate()
    b = make(seed=5).generate()
    c = make(seed=6).generate()
    assert a.dtype == MD_DTYPE
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_stream_does_not_depend_on_chunk_size_and_replays() -> None:
    m = make(seed=9, duration_ns=3 * SEC)  # ~150k events: several internal blocks
    whole = m.generate()
    for size in (1, 977, 65_536, 10**7):
        if size == 1:  # only check the first few thousand one-event chunks (slow otherwise)
            it = m.chunks(1)
            head = [next(it) for _ in range(3000)]
            assert all(len(c) == 1 for c in head)
            assert np.concatenate(head).tobytes() == whole[:3000].tobytes()
            continue
        chunks = list(m.chunks(size))
        assert all(len(c) == size for c in chunks[:-1]) and 0 < len(chunks[-1]) <= size
        assert np.concatenate(chunks).tobytes() == whole.tobytes()
    assert m.generate().tobytes() == whole.tobytes()  # replayable


def test_construction_takes_one_draw_from_the_callers_generator() -> None:
    g = np.random.default_rng(3)
    SyntheticMarket(SyntheticParams(start_ts=0, duration_ns=SEC), g)
    ref = np.random.default_rng(3)
    ref.integers(0, 2**32, size=4, dtype=np.uint64)
    assert g.random() == ref.random()


# ---------------------------------------------------------------- invariants


def test_timestamps_sorted_and_in_window(big) -> None:
    p, ev = big
    ts = ev["ts"]
    assert np.all(np.diff(ts) >= 0)
    assert ts[0] == p.start_ts
    assert ts.min() >= p.start_ts and ts.max() < p.start_ts + p.duration_ns
    assert ts.max() > p.start_ts + p.duration_ns - SEC // 100  # runs to the end of the window


def test_event_count_matches_rate(big) -> None:
    p, ev = big
    flow = ev[(ev["flags"] & F_SNAPSHOT) == 0]
    expected = p.event_rate * p.duration_ns / SEC  # Poisson: sd = sqrt(expected) ~ 500
    assert abs(len(flow) - expected) < 5 * expected**0.5


def test_initial_book(big) -> None:
    p, ev = big
    n = 2 * p.initial_depth_levels * p.initial_orders_per_level
    book = ev[:n]
    assert np.all(book["action"] == ADD) and np.all(book["ts"] == p.start_ts)
    assert np.all(book["flags"] & F_SNAPSHOT)
    assert book["flags"][-1] == F_SNAPSHOT | F_LAST and np.all(book["flags"][:-1] == F_SNAPSHOT)
    assert not np.any(ev["flags"][n:] & F_SNAPSHOT) and np.all(ev["flags"][n:] == F_LAST)
    bids = book[book["side"] == BUY]["price"]
    asks = book[book["side"] == SELL]["price"]
    assert sorted(set(bids.tolist())) == list(range(p.initial_price - p.initial_depth_levels + 1, p.initial_price + 1))
    assert sorted(set(asks.tolist())) == list(range(p.initial_price + 1, p.initial_price + p.initial_depth_levels + 1))
    assert book["order_id"].tolist() == list(range(1, n + 1))


def test_ids_prices_quantities(big) -> None:
    p, ev = big
    assert np.all(ev["instrument"] == 7)
    adds = ev[ev["action"] == ADD]
    ids = adds["order_id"]
    assert ids[0] == 1 and np.all(np.diff(ids.astype(np.int64)) == 1)  # unique, increasing from 1, no gaps
    assert ids.max() < MAX_ORDER_ID
    assert adds["price"].min() >= 1 and adds["qty"].min() >= 1
    assert set(np.unique(adds["side"]).tolist()) == {BUY, SELL}
    assert abs(adds["qty"].mean() - p.mean_order_qty) < 0.1
    mkt = ev[ev["action"] == MARKET]
    assert np.all(mkt["price"] == 0) and np.all(mkt["order_id"] == 0) and mkt["qty"].min() >= 1
    assert abs(mkt["qty"].mean() - p.market_qty_mean) < 0.1
    assert abs((mkt["side"] == BUY).mean() - 0.5) < 0.02
    # limit prices stay within max_offset_ticks (+ aggression) of a fair value that moved a few ticks
    assert np.abs(adds["price"] - p.initial_price).max() < p.max_offset_ticks + 50


def test_cancels_name_live_ids_once_with_their_add_price_and_side(big) -> None:
    _, ev = big
    cancels = ev[ev["action"] == CANCEL]
    assert np.all(cancels["qty"] == 0)
    cid = cancels["order_id"].astype(np.int64)
    assert len(np.unique(cid)) == len(cid)  # never the same id twice
    adds = np.flatnonzero(ev["action"] == ADD)
    added_at = dict(zip(ev["order_id"][adds].tolist(), adds.tolist(), strict=True))
    cancel_idx = np.flatnonzero(ev["action"] == CANCEL)
    src = np.array([added_at[i] for i in cid.tolist()])  # KeyError if a cancel names a never-added id
    assert np.all(src < cancel_idx)  # added before it is cancelled
    assert np.array_equal(ev["price"][src], cancels["price"])
    assert np.array_equal(ev["side"][src], cancels["side"])


def test_action_mix_close_to_probabilities(big) -> None:
    p, ev = big
    flow = ev[(ev["flags"] & F_SNAPSHOT) == 0]
    n = len(flow)
    tol = 5 * (0.25 / n) ** 0.5  # 5 standard errors
    assert abs((flow["action"] == ADD).mean() - p.p_limit) < tol
    assert abs((flow["action"] == CANCEL).mean() - p.p_cancel) < tol
    assert abs((flow["action"] == MARKET).mean() - p.p_market) < tol


def test_other_mix_and_low_price_stays_positive() -> None:
    ev = make(
        seed=4,
        p_limit=0.7,
        p_cancel=0.1,
        p_market=0.2,
        initial_price=3,
        volatility_ticks_per_sqrt_s=30.0,
        duration_ns=SEC // 2,
    ).generate()
    flow = ev[(ev["flags"] & F_SNAPSHOT) == 0]
    for action, prob in ((ADD, 0.7), (CANCEL, 0.1), (MARKET, 0.2)):
        assert abs((flow["action"] == action).mean() - prob) < 0.01
    priced = ev[ev["action"] != MARKET]
    assert priced["price"].min() >= 1
    book = ev[(ev["flags"] & F_SNAPSHOT) != 0]  # bids below 1 tick are left out of the initial book
    assert book["price"].min() >= 1 and (book["side"] == BUY).sum() == 3 * 3


def test_no_cancels_only_adds_and_markets() -> None:
    ev = make(seed=2, p_limit=0.9, p_cancel=0.0, p_market=0.1, duration_ns=SEC // 10).generate()
    assert not np.any(ev["action"] == CANCEL)
    ev = make(seed=2, p_limit=0.0, p_cancel=1.0, p_market=0.0, duration_ns=SEC // 10).generate()
    # only the 60 initial orders can be cancelled; later cancels find nothing alive and are dropped
    assert (ev["action"] == CANCEL).sum() <= 60


def test_empty_initial_book() -> None:
    ev = make(seed=2, initial_depth_levels=0, duration_ns=SEC // 10).generate()
    assert ev["order_id"][ev["action"] == ADD][0] == 1
    assert not np.any(ev["flags"] & F_SNAPSHOT)


# ---------------------------------------------------------------- params


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"p_limit": 0.5, "p_cancel": 0.5, "p_market": 0.08}, ["sum to 1"]),
        ({"event_rate": -5.0}, ["event_rate", "greater than 0"]),
        ({"event_rate": float("inf")}, ["event_rate"]),
        ({"duration_ns": 0}, ["duration_ns"]),
        ({"initial_price": 0}, ["initial_price"]),
        ({"offset_decay": 0.0}, ["offset_decay"]),
        ({"mean_order_qty": 0.5}, ["mean_order_qty"]),
        ({"p_cancel": -0.1, "p_limit": 0.6, "p_market": 0.5}, ["p_cancel"]),
        ({"speed": 3}, ["speed", "Extra inputs"]),
    ],
)
def test_invalid_params_raise_clear_errors(kw: dict, words: list[str]) -> None:
    base = {"start_ts": 0, "duration_ns": SEC}
    with pytest.raises(pydantic.ValidationError) as info:
        SyntheticParams(**{**base, **kw})
    for word in words:
        assert word in str(info.value)


def test_params_from_config_raise_scenario_error_naming_fields() -> None:
    p = synthetic_params_from_config({"start_ts": 0, "duration_ns": SEC, "event_rate": 1000.0})
    assert p.event_rate == 1000.0
    with pytest.raises(ScenarioError) as info:
        synthetic_params_from_config({"start_ts": 0, "duration_ns": SEC, "event_rate": -1, "colour": 1}, "data[0]")
    text = str(info.value)
    assert text.startswith("data[0]") and "'event_rate'" in text and "'colour': unknown field" in text
    with pytest.raises(ScenarioError, match="sum to 1"):
        synthetic_params_from_config({"start_ts": 0, "duration_ns": SEC, "p_market": 0.5})


def test_needs_a_generator() -> None:
    with pytest.raises(TypeError, match="Generator"):
        SyntheticMarket(SyntheticParams(start_ts=0, duration_ns=SEC), 42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- book shape


def test_book_stays_bounded_and_two_sided_in_the_matching_engine() -> None:
    """Replay through the reference engine: depth neither explodes nor vanishes."""
    from venues.matching import MatchingEngine

    m = make(seed=8, duration_ns=6 * SEC, p_limit=0.48, p_cancel=0.44)  # ~300k events
    eng = MatchingEngine()
    sizes = []
    cancels = 0
    for chunk in m.chunks(25_000):
        cols = [chunk[f].tolist() for f in ("ts", "order_id", "price", "qty", "action", "side")]
        eng.apply_batch(*cols, 0, len(chunk), False)
        cancels += int((chunk["action"] == CANCEL).sum())
        bb, _, ba, _ = eng.top()
        assert bb and ba and 0 < ba - bb <= 5  # two-sided, tight spread
        sizes.append(len(eng))
    # After the ramp-up from the 60-order initial book the size stays in a band (no trend).
    late = sizes[len(sizes) // 2 :]
    assert 200 < min(late) and max(late) < 6_000
    assert max(late) < 3 * min(late)
    assert eng.unknown_ids < 0.3 * cancels  # most cancels hit resting orders
