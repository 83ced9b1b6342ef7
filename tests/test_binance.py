"""Tests of adapters.feeds.binance: exact L2 -> L3 mapping, sequencing, errors, and the real BTCUSDT sample."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.feeds.binance import BinanceDepthReader
from adapters.feeds.validate import level_order_id, validate
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, CLEAR, F_LAST, F_SNAPSHOT, MD_DTYPE, MODIFY, SELL, TRADE

MS = 1_000_000  # ns per ms
T0 = 1723161256000  # ms


@pytest.fixture(scope="module")
def btc_file(shared_data: Path) -> Path:
    """The BTCUSDT capture (``shared_data`` from conftest skips when the shared folder is absent)."""
    p = shared_data / "binance" / "usdm" / "btcusdt_20240808.gz"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


def depth(U: int, u: int, pu: int, e: int, bids: list, asks: list) -> dict[str, Any]:
    return {
        "stream": "btcusdt@depth@0ms",
        "data": {"e": "depthUpdate", "E": e, "T": e, "s": "BTCUSDT", "U": U, "u": u, "pu": pu, "b": bids, "a": asks},
    }


def trade(t: int, e: int, p: str, q: str, m: bool) -> dict[str, Any]:
    data = {"e": "trade", "E": e, "T": e, "s": "BTCUSDT", "t": t, "p": p, "q": q, "X": "MARKET", "m": m}
    return {"stream": "btcusdt@trade", "data": data}


def ticker(u: int, e: int, b: str, bq: str, a: str, aq: str) -> dict[str, Any]:
    data = {"e": "bookTicker", "u": u, "s": "BTCUSDT", "b": b, "B": bq, "a": a, "A": aq, "T": e, "E": e}
    return {"stream": "btcusdt@bookTicker", "data": data}


def snapshot(last: int, e: int, bids: list, asks: list) -> dict[str, Any]:
    return {"lastUpdateId": last, "E": e, "T": e, "bids": bids, "asks": asks}


def write(tmp: Path, records: list[Any], gz: bool = True) -> Path:
    lines = []
    for i, r in enumerate(records):
        lines.append(r if isinstance(r, str) else f"{(T0 + i) * MS - 1_270_000_000} {json.dumps(r)}")
    text = "\n".join(lines) + "\n"
    p = tmp / ("cap.gz" if gz else "cap.txt")
    if gz:
        with gzip.open(p, "wt") as f:
            f.write(text)
    else:
        p.write_text(text)
    return p


def read(r: BinanceDepthReader, chunk_size: int = 65536) -> np.ndarray:
    chunks = list(r.chunks(chunk_size))
    return np.concatenate(chunks) if chunks else np.zeros(0, MD_DTYPE)


def rows_of(e: np.ndarray) -> list[tuple[int, ...]]:
    """(ts in ms - T0, order_id, price, qty, action, side, flags) per event."""
    return [
        (
            int(x["ts"]) // MS - T0,
            int(x["order_id"]),
            int(x["price"]),
            int(x["qty"]),
            int(x["action"]),
            int(x["side"]),
            int(x["flags"]),
        )
        for x in e
    ]


def B(p: int) -> int:
    return level_order_id(BUY, p)


def S(p: int) -> int:
    return level_order_id(SELL, p)


def test_snapshot_sync_and_l2_mapping(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        [
            depth(90, 95, 89, T0 + 5, [["100.0", "9"]], []),  # before the snapshot, u < lastUpdateId: stale
            trade(7, T0 + 6, "100.1", "0.004", False),  # trades need no book: emitted at once
            depth(96, 105, 95, T0 + 12, [["100.0", "2.5"]], [["100.2", "0"]]),  # straddles lastUpdateId 100
            snapshot(100, T0 + 10, [["100.0", "1"], ["99.9", "2"]], [["100.1", "3"], ["100.2", "4"]]),
            depth(106, 110, 105, T0 + 20, [["99.8", "5"], ["99.9", "0"], ["99.7", "0"]], [["100.1", "3"]]),
            trade(8, T0 + 21, "100.1", "0.5", True),
            {
                "stream": "btcusdt@aggTrade",
                "data": {"e": "aggTrade", "E": T0 + 22, "s": "BTCUSDT", "a": 9, "p": "100.0", "q": "1", "m": False},
            },
        ],
    )
    r = BinanceDepthReader(p, tick_size="0.1", lot_size="0.001")
    e = read(r)
    assert rows_of(e) == [
        (6, 7, 1001, 4, TRADE, BUY, F_LAST),  # m false: buyer is the aggressor
        (10, 0, 0, 0, CLEAR, 0, F_SNAPSHOT),
        (10, B(1000), 1000, 1000, ADD, BUY, F_SNAPSHOT),
        (10, B(999), 999, 2000, ADD, BUY, F_SNAPSHOT),
        (10, S(1001), 1001, 3000, ADD, SELL, F_SNAPSHOT),
        (10, S(1002), 1002, 4000, ADD, SELL, F_SNAPSHOT | F_LAST),
        (12, B(1000), 1000, 2500, MODIFY, BUY, 0),  # the buffered update, replayed after the snapshot
        (12, S(1002), 1002, 0, CANCEL, SELL, F_LAST),
        (20, B(998), 998, 5000, ADD, BUY, 0),
        (20, B(999), 999, 0, CANCEL, BUY, F_LAST),  # 99.7 -> 0 is unknown: no event; 100.1 unchanged: none
        (21, 8, 1001, 500, TRADE, SELL, F_LAST),  # m true: seller is the aggressor
        (22, 9, 1000, 1000, TRADE, BUY, F_LAST),
    ]
    st = r.stats
    assert st.by_type == {"depthUpdate": 3, "trade": 2, "aggTrade": 1, "snapshot": 1}
    assert st.findings == {"stale_depth_update": 1, "zero_qty_unknown_level": 1, "unchanged_level": 1}
    assert st.info["gaps"] == [] and st.info["symbol"] == "BTCUSDT" and r.instruments == {0: "BTCUSDT"}
    assert st.info["snapshots"] == [{"line": 4, "lastUpdateId": 100, "bids": 2, "asks": 2}]
    assert validate([e]).ok


def test_gaps_tickers_and_clamped_time(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        [
            snapshot(100, T0 + 10, [["100.0", "1"]], [["100.1", "3"]]),
            depth(99, 101, 98, T0 + 11, [["100.0", "2"]], []),
            ticker(101, T0 + 11, "100.0", "2", "100.1", "3"),  # matches the book after u=101
            ticker(101, T0 + 11, "100.0", "9", "100.1", "3"),  # does not
            ticker(55, T0 + 11, "1.0", "1", "2.0", "1"),  # another update id: not compared
            depth(110, 112, 108, T0 + 9, [], [["100.1", "1"]]),  # pu 108 != 101: gap; E goes backwards
        ],
        gz=False,
    )
    r = BinanceDepthReader(p)
    e = read(r)
    st = r.stats
    assert st.info["gaps"] == [{"line": 6, "expected": 101, "got": 108}]
    assert st.findings["depth_gap"] == 1
    assert (st.info["book_ticker_checked"], st.info["book_ticker_mismatched"]) == (2, 1)
    assert st.by_type["bookTicker"] == 3 and not (e["action"] == 0).any()
    assert st.info["ts_clamped"] == 1
    assert int(e["ts"][-1]) // MS - T0 == 11 and bool(np.all(np.diff(e["ts"]) >= 0))


def test_time_units_are_detected(tmp_path: Path) -> None:
    recs = [
        trade(1, T0, "1.0", "1", False),
        trade(2, (T0 + 1) * 1000, "1.0", "1", False),
        trade(3, (T0 + 2) * MS, "1.0", "1", False),
    ]
    e = read(BinanceDepthReader(write(tmp_path, recs), tick_size=0.1, lot_size=1))
    assert [int(t) for t in e["ts"]] == [T0 * MS, (T0 + 1) * MS, (T0 + 2) * MS]


def test_without_snapshot(tmp_path: Path) -> None:
    p = write(tmp_path, [depth(1, 2, 0, T0, [["100.0", "1"]], [])])
    with pytest.raises(DataError, match="1 depth updates but no depth snapshot"):
        read(BinanceDepthReader(p))
    lenient = BinanceDepthReader(p, strict=False)
    assert len(read(lenient)) == 0 and lenient.stats.findings["depth_without_snapshot"] == 1
    e = read(BinanceDepthReader(p, require_snapshot=False))
    assert [(int(a), int(q)) for a, q in zip(e["action"], e["qty"], strict=True)] == [(ADD, 1000)]
    with pytest.raises(DataError, match="more than 1 depth updates before a snapshot"):
        read(
            BinanceDepthReader(write(tmp_path, [depth(1, 2, 0, T0, [], []), depth(3, 4, 2, T0, [], [])]), max_buffer=1)
        )


def test_symbol_filter(tmp_path: Path) -> None:
    eth = trade(5, T0, "1.0", "1", True)
    eth["data"]["s"] = "ETHUSDT"
    p = write(tmp_path, [trade(4, T0, "1.0", "1", True), eth])
    r = BinanceDepthReader(p, symbol="ethusdt")
    e = read(r)
    assert e["order_id"].tolist() == [5] and r.stats.by_type["other_symbol"] == 1 and r.instruments == {0: "ETHUSDT"}


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("no-space-here", "expected '<local time ns> <json>'"),
        ("12x {}", "bad local timestamp"),
        ("1 {not json", "bad JSON"),
        ("1 [1, 2]", "JSON is not an object"),
        ('1 {"hello": 1}', "neither a stream envelope nor a depth snapshot"),
        (
            "1 " + json.dumps(trade(1, T0, "100.05", "1", True)),
            "price 100.05 is not a non-negative multiple of the tick size",
        ),
        ("1 " + json.dumps(trade(1, T0, "1e3", "1", True)), "bad price '1e3'"),
        ("1 " + json.dumps(trade(1, T0, "100.0", "0.0001", True)), "quantity 0.0001 is not a non-negative multiple"),
        ("1 " + json.dumps({"stream": "x", "data": {"e": "trade", "E": T0}}), "trade event missing or bad field"),
        ("1 " + json.dumps(depth(5, 4, 3, T0, [], [])), "bad update ids"),
        ("1 " + json.dumps(snapshot(7, T0, [["1.0"]], [])), "bad price level"),
    ],
)
def test_strict_and_lenient_errors_name_file_and_line(tmp_path: Path, line: str, what: str) -> None:
    good = json.dumps(trade(1, T0, "100.0", "1", True))
    p = write(tmp_path, [f"1 {good}", line, f"3 {good}"])
    with pytest.raises(DataError) as ei:
        read(BinanceDepthReader(p))
    assert str(ei.value).startswith(f"{p}, line 2: ") and what in str(ei.value)
    r = BinanceDepthReader(p, strict=False)
    assert len(read(r)) == 2
    assert r.stats.malformed == 1 and r.stats.examples[0].startswith(f"{p}, line 2: ")


def test_bad_steps_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="tick_size"):
        BinanceDepthReader(tmp_path / "x", tick_size=0)


# --------------------------------------------------------------------------- the real sample (MANIFEST.md)


def test_real_btcusdt_capture(btc_file: Path) -> None:
    r = BinanceDepthReader(btc_file)
    chunks = list(r.chunks())
    e = np.concatenate(chunks)
    st = r.stats
    assert st.records == 93_954 and st.malformed == 0
    assert st.by_type == {"depthUpdate": 6_551, "bookTicker": 66_089, "trade": 21_313, "snapshot": 1}
    assert st.info["snapshots"] == [{"line": 55, "lastUpdateId": 5_123_107_852_948, "bids": 1000, "asks": 1000}]
    assert st.info["gaps"] == [] and "depth_gap" not in st.findings  # pu == previous u across all updates
    assert st.findings["stale_depth_update"] == 4  # the buffered updates that end before lastUpdateId
    assert "snapshot_gap" not in st.findings
    # Coverage: local time 2024-08-08 23:54:15 .. 23:59:59 UTC.
    assert st.info["first_local_ns"] // 10**9 == 1723161255 and st.info["last_local_ns"] // 10**9 == 1723161599
    assert bool(np.all(np.diff(e["ts"]) >= 0))
    assert int((e["action"] == TRADE).sum()) == 21_313 and int((e["action"] == CLEAR).sum()) == 1
    assert int((e["flags"] & F_SNAPSHOT > 0).sum()) == 2001
    # The depth-built book agrees with every bookTicker that names the last applied update.
    assert st.info["book_ticker_checked"] > 100 and st.info["book_ticker_mismatched"] == 0
    rep = validate(chunks, source=str(btc_file))
    assert rep.ok, str(rep)


# --------------------------------------------------------------------------- recorded feed delays


def test_delays_are_local_minus_event_time_minus_the_clock_offset(tmp_path: Path) -> None:
    """Line local times are written 1.27 s behind E (as in the real capture), plus a delay."""
    snap = snapshot(10, T0, [["100.0", "1.000"]], [["100.5", "2.000"]])
    up = depth(11, 11, 10, T0 + 5, [["100.1", "0.500"]], [])
    tr = trade(7, T0 + 6, "100.5", "0.100", False)
    lines = [
        f"{T0 * MS - 1_270_000_000 + 2 * MS} {json.dumps(snap)}",  # 2 ms late
        f"{(T0 + 5) * MS - 1_270_000_000 + 3 * MS} {json.dumps(up)}",  # 3 ms late
        f"{(T0 + 6) * MS - 1_270_000_000 + 1 * MS} {json.dumps(tr)}",  # 1 ms late: the fastest
    ]
    p = write(tmp_path, lines)
    # Events: CLEAR + 2 snapshot levels, one depth ADD, one TRADE.
    r = BinanceDepthReader(p, clock_offset="min")
    ((events, delays),) = list(r.delayed_chunks())
    assert len(events) == 5 and r.stats.info["clock_offset_ns"] == -1_270_000_000 + 1 * MS
    # The snapshot's own E is T0 (ts of its events), the fastest line is 1 ms late.
    assert delays.tolist() == [1 * MS, 1 * MS, 1 * MS, 2 * MS, 0]
    assert np.array_equal(events, read(BinanceDepthReader(p)))  # the same events as chunks()
    r2 = BinanceDepthReader(p, clock_offset=-1_270_000_000)
    ((_, d2),) = list(r2.delayed_chunks())
    assert d2.tolist() == [2 * MS, 2 * MS, 2 * MS, 3 * MS, 1 * MS]
    r3 = BinanceDepthReader(p, clock_offset=0)  # the raw differences are negative: clamped, counted
    ((_, d3),) = list(r3.delayed_chunks())
    assert d3.tolist() == [0] * 5 and r3.stats.info["delays_clamped"] == 5
    with pytest.raises(DataError, match="clock_offset must be an integer ns or 'min'"):
        BinanceDepthReader(p, clock_offset="auto")


def test_real_capture_recorded_delays(btc_file: Path) -> None:
    r = BinanceDepthReader(btc_file)
    pairs = list(r.delayed_chunks())
    e = np.concatenate([c for c, _ in pairs])
    d = np.concatenate([x for _, x in pairs])
    assert np.array_equal(e, read(BinanceDepthReader(btc_file)))
    # The capture clock is ~1.27 s behind the exchange's; delays are relative to the fastest update.
    off = r.stats.info["clock_offset_ns"]
    assert -1_273_000_000 < off < -1_272_000_000
    assert len(d) == len(e) and int(d.min()) == 0 and r.stats.info["delays_clamped"] == 0
    assert 1_000_000 < float(np.median(d)) < 10_000_000  # a few ms from Binance's matching engine to the host
