"""Tests of adapters.feeds.validate: the canonical-stream validator and the shared reader helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from adapters.feeds.validate import (
    LEVEL_ID_BASE,
    SYNTHETIC_ID_BASE,
    EventBuffer,
    FeedStats,
    check_against_orderbook,
    decimal_to_nanos,
    is_synthetic_id,
    level_order_id,
    nano_units,
    to_units,
    validate,
)
from kernel.errors import DataError
from kernel.events import (
    ADD,
    BUY,
    CANCEL,
    CLEAR,
    EXECUTE,
    F_LAST,
    F_SNAPSHOT,
    MARKET,
    MD_DTYPE,
    MODIFY,
    SELL,
    TRADE,
)


def ev(rows: list[tuple]) -> np.ndarray:
    """Rows of (ts, action, side, price, qty, order_id[, flags[, instrument]]) -> MD_DTYPE array."""
    out = np.zeros(len(rows), dtype=MD_DTYPE)
    for i, r in enumerate(rows):
        ts, a, s, p, q, oid = r[:6]
        out[i] = (ts, oid, p, q, r[7] if len(r) > 7 else 0, a, s, r[6] if len(r) > 6 else F_LAST, 0)
    return out


def test_clean_stream_is_ok_and_renders() -> None:
    e = ev(
        [
            (1, ADD, BUY, 99, 5, 1),
            (2, ADD, SELL, 101, 5, 2),
            (3, MODIFY, BUY, 100, 3, 1),
            (4, EXECUTE, SELL, 101, 2, 2),
            (5, TRADE, BUY, 101, 2, 0),
            (6, CANCEL, SELL, 101, 0, 2),
            (7, CANCEL, BUY, 100, 1, 1),
            (8, CLEAR, 0, 0, 0, 0),
        ]
    )
    rep = validate([e[:3], e[3:]], source="hand")
    assert rep.ok
    assert rep.events == 8
    assert rep.by_action == {"add": 2, "modify": 1, "execute": 1, "trade": 1, "cancel": 2, "clear": 1}
    assert (rep.first_ts, rep.last_ts) == (1, 8)
    text = str(rep)
    assert text.startswith("validation of hand: 8 events, 1 instrument(s), OK")


@pytest.mark.parametrize(
    ("rows", "kind", "first"),
    [
        ([(5, ADD, BUY, 99, 5, 1), (4, ADD, BUY, 98, 5, 2)], "time_backwards", 1),
        ([(1, ADD, BUY, 100, 5, 1), (2, ADD, SELL, 99, 5, 2)], "crossed_book", 1),
        ([(1, ADD, BUY, 100, 5, 1), (2, ADD, SELL, 100, 5, 2)], "locked_book", 1),
        ([(1, ADD, BUY, 100, 0, 1)], "add_nonpositive_qty", 0),
        ([(1, ADD, BUY, 100, 5, 1), (2, ADD, BUY, 100, 5, 1)], "add_duplicate_id", 1),
        ([(1, CANCEL, BUY, 100, 5, 7)], "cancel_unknown_id", 0),
        ([(1, EXECUTE, BUY, 100, 5, 7)], "execute_unknown_id", 0),
        ([(1, MODIFY, BUY, 100, 5, 7)], "modify_unknown_id", 0),
        ([(1, ADD, BUY, 100, 5, 1), (2, EXECUTE, BUY, 100, 6, 1)], "execute_exceeds_resting", 1),
        ([(1, ADD, BUY, 100, 5, 1), (2, CANCEL, BUY, 100, 6, 1)], "cancel_exceeds_resting", 1),
        ([(1, 9, BUY, 100, 5, 1)], "unknown_action", 0),
    ],
)
def test_each_finding(rows: list[tuple], kind: str, first: int) -> None:
    rep = validate([ev(rows)], source="src.bin")
    assert rep.count(kind) == 1
    assert rep.findings[kind].first_index == first
    assert any(kind in line and f"record {first}" in line for line in rep.lines())
    with pytest.raises(DataError, match=rf"^src\.bin: record {first}: "):
        validate([ev(rows)], strict=True, source="src.bin")


def test_counts_and_first_index_across_chunks() -> None:
    rows = [(1, ADD, BUY, 100, 5, 1)] + [(2 + i, CANCEL, BUY, 100, 1, 50 + i) for i in range(5)]
    e = ev(rows)
    rep = validate([e[:2], e[2:4], e[4:]])
    assert rep.count("cancel_unknown_id") == 5
    assert rep.findings["cancel_unknown_id"].first_index == 1


def test_book_semantics_remove_and_modify() -> None:
    e = ev(
        [
            (1, ADD, BUY, 100, 5, 1),
            (2, ADD, SELL, 102, 5, 2),
            (3, MODIFY, BUY, 0, 4, 1),  # price <= 0: unchanged
            (4, CANCEL, BUY, 100, 4, 1),  # qty == resting: removed
            (5, CANCEL, BUY, 100, 0, 1),  # so this one is unknown
            (6, ADD, BUY, 102, 1, 3),  # would lock if order 1 had moved
            (7, MODIFY, BUY, 101, 0, 3),  # qty <= 0: removed
            (8, EXECUTE, BUY, 101, 1, 3),
        ]
    )
    rep = validate([e])
    assert rep.count("cancel_unknown_id") == 1
    assert rep.count("locked_book") == 1  # the ADD at 102 against the ask at 102
    assert rep.count("execute_unknown_id") == 1


def test_crossing_inside_an_atomic_update_is_not_a_finding() -> None:
    # An aggressor's remainder is added before the resting order it traded with is removed (DBN style).
    rows = [
        (1, ADD, SELL, 100, 1, 1, F_LAST),
        (2, ADD, BUY, 100, 1, 2, 0),  # locked here, mid-update
        (2, CANCEL, SELL, 100, 1, 1, F_LAST),
    ]
    assert validate([ev(rows)]).ok
    assert validate([ev(rows)], check_at="event").count("locked_book") == 1
    # A stream without any F_LAST is checked after every event.
    no_last = [r[:6] + (0,) for r in rows]
    assert validate([ev(no_last)]).count("locked_book") == 1
    with pytest.raises(ValueError):
        validate([ev(rows)], check_at="sometimes")


def test_instruments_have_separate_books() -> None:
    e = ev([(1, ADD, BUY, 100, 5, 1, F_LAST, 0), (2, ADD, SELL, 90, 5, 1, F_LAST, 1)])
    rep = validate([e])
    assert rep.ok and rep.instruments == 2


def test_market_events_are_counted_not_matched() -> None:
    rep = validate([ev([(1, ADD, SELL, 100, 5, 1), (2, MARKET, BUY, 0, 2, 0)])])
    assert rep.market_events_unchecked == 1
    assert any("MARKET" in line for line in rep.lines())


def test_wrong_dtype_is_a_data_error() -> None:
    with pytest.raises(DataError, match="MD_DTYPE"):
        validate([np.zeros(3, dtype=np.int64)], source="x")


def test_level_ids_are_deterministic_and_reserved() -> None:
    assert level_order_id(BUY, 0) == LEVEL_ID_BASE
    assert level_order_id(SELL, 0) == LEVEL_ID_BASE + 1
    assert level_order_id(BUY, 618002) == 2**61 + 2 * 618002
    assert level_order_id(SELL, 618002) == 2**61 + 2 * 618002 + 1
    assert level_order_id(SELL, 2**62 - 1) < 2**64
    assert is_synthetic_id(SYNTHETIC_ID_BASE) and not is_synthetic_id(SYNTHETIC_ID_BASE - 1)
    with pytest.raises(ValueError):
        level_order_id(BUY, -1)


def test_decimal_conversions_are_exact() -> None:
    assert decimal_to_nanos("61800.20") == 61_800_200_000_000
    assert decimal_to_nanos("0.001") == 1_000_000
    assert decimal_to_nanos("-1.5") == -1_500_000_000
    assert decimal_to_nanos("7") == 7_000_000_000
    assert decimal_to_nanos("1.1234567890") == 1_123_456_789
    for bad in ("", "1e5", "1.2.3", "abc", " 1", "1.0000000001"):
        with pytest.raises(ValueError):
            decimal_to_nanos(bad)
    assert nano_units(0.1) == 100_000_000
    assert nano_units("0.25") == 250_000_000
    assert nano_units(1e-9) == 1
    for bad in (0, -1, 1e-10, "x"):
        with pytest.raises(ValueError):
            nano_units(bad)
    assert to_units(61_800_200_000_000, 100_000_000) == 618_002
    with pytest.raises(ValueError):
        to_units(61_800_250_000_000, 100_000_000)


def test_event_buffer_and_feed_stats() -> None:
    st = FeedStats("f")
    buf = EventBuffer(st)
    buf.add(1, 5, 100, 2, 0, ADD, BUY, F_SNAPSHOT)
    buf.mark_last()
    buf.mark_last()
    buf.add(2, 5, 100, 0, 0, CANCEL, BUY, 0)
    arr = buf.take()
    assert arr.dtype == MD_DTYPE and len(arr) == 2 and len(buf) == 0
    assert arr["flags"].tolist() == [F_SNAPSHOT | F_LAST, 0]
    assert st.events == 2 and st.by_action == {"add": 1, "cancel": 1}
    st.note("odd", "f, line 3: odd")
    st.bad("f, line 4: bad")
    assert st.findings == {"odd": 1, "malformed": 1} and st.malformed == 1
    assert "f, line 4: bad" in str(st)


# --------------------------------------------------------------------------- LOBSTER orderbook check


def test_check_against_orderbook_counts_mismatching_rows(tmp_path: Path) -> None:
    ob = tmp_path / "X_2012-06-21_34200000_57600000_orderbook_1.csv"
    ob.write_text("101,5,99,3\n101,5,99,4\n9999999999,0,99,4\n")
    e = ev(
        [
            (1, ADD, BUY, 99, 3, 10, F_SNAPSHOT),  # a pure snapshot group: applied, not compared
            (1, ADD, SELL, 101, 5, 11, F_SNAPSHOT | F_LAST),
            (2, ADD, BUY, 100, 1, 12),  # row 1 says 99 x 3: mismatch
            (3, CANCEL, BUY, 100, 0, 12, 0),
            (3, ADD, BUY, 99, 1, 13),  # row 2: 99 x 4 ok
            (4, CANCEL, SELL, 101, 0, 11),  # row 3: empty ask ok
        ]
    )
    res = check_against_orderbook([e], ob, levels=1)
    assert (res.compared, res.mismatched, res.first_mismatch_row) == (3, 1, 1)
    assert "1 mismatching" in str(res)
    skipped = check_against_orderbook([e[:2], e[3:]], ob, levels=1, skip_rows=[1])
    assert (skipped.compared, skipped.mismatched) == (2, 0)
