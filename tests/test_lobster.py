"""Tests of adapters.feeds.lobster: exact mappings on hand-made files, errors, and the real samples."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from adapters.feeds.lobster import F_CROSS, F_HIDDEN, LobsterReader, orderbook_path_for, parse_lobster_name
from adapters.feeds.validate import SYNTHETIC_ID_BASE, check_against_orderbook, validate
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, EXECUTE, F_LAST, F_SNAPSHOT, MD_DTYPE, SELL, TRADE

NAME = "TEST_2012-06-21_34200000_57600000_{}_1.csv"
MIDNIGHT = int(dt.datetime(2012, 6, 21, tzinfo=ZoneInfo("America/New_York")).timestamp()) * 10**9
E = 9999999999


@pytest.fixture(scope="module")
def lobster_dir(shared_data: Path) -> Path:
    """The LOBSTER samples (``shared_data`` from conftest skips when the shared folder is absent)."""
    d = shared_data / "lobster"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    return d


def write(tmp: Path, messages: list[str], rows: list[str] | None = None) -> tuple[Path, Path | None]:
    m = tmp / NAME.format("message")
    m.write_text("".join(x + "\n" for x in messages))
    if rows is None:
        return m, None
    o = tmp / NAME.format("orderbook")
    o.write_text("".join(x + "\n" for x in rows))
    return m, o


def read(reader: LobsterReader, chunk_size: int = 65536) -> np.ndarray:
    chunks = list(reader.chunks(chunk_size))
    return np.concatenate(chunks) if chunks else np.zeros(0, MD_DTYPE)


def rows_of(e: np.ndarray) -> list[tuple[int, ...]]:
    """(ts - midnight, order_id, price, qty, action, side, flags) per event."""
    return [
        (
            int(x["ts"]) - MIDNIGHT,
            int(x["order_id"]),
            int(x["price"]),
            int(x["qty"]),
            int(x["action"]),
            int(x["side"]),
            int(x["flags"]),
        )
        for x in e
    ]


# --------------------------------------------------------------------------- names and time


def test_file_name_parsing() -> None:
    info = parse_lobster_name("AAPL_2012-06-21_34200000_57600000_message_1.csv")
    assert info == {
        "symbol": "AAPL",
        "date": "2012-06-21",
        "start": "34200000",
        "end": "57600000",
        "kind": "message",
        "level": "1",
    }
    assert parse_lobster_name("whatever.csv") is None
    assert orderbook_path_for("/x/GOOG_2012-06-21_1_2_message_10.csv").name == "GOOG_2012-06-21_1_2_orderbook_10.csv"
    with pytest.raises(DataError, match="not a LOBSTER message file"):
        orderbook_path_for("/x/foo.csv")


def test_date_symbol_and_time_are_exact(tmp_path: Path) -> None:
    m, _ = write(tmp_path, ["34200.004241176,1,1,10,5853300,1", "34200.5,1,2,10,5853400,1", "34201,1,3,10,5853500,1"])
    r = LobsterReader(m)
    e = read(r)
    assert r.symbol == "TEST" and r.instruments == {0: "TEST"} and r.date == dt.date(2012, 6, 21)
    # 2012-06-21 is EDT (UTC-4): midnight is 04:00 UTC.
    assert MIDNIGHT == 1340251200 * 10**9
    assert [int(t) - MIDNIGHT for t in e["ts"]] == [34200_004241176, 34200_500000000, 34201_000000000]
    other = tmp_path / "plain.csv"
    other.write_text("1.0,1,1,10,100,1\n")
    with pytest.raises(DataError, match="cannot infer the date"):
        LobsterReader(other)
    e2 = read(LobsterReader(other, date="2020-01-02", symbol="ZZ", instrument=7, tz="UTC"))
    assert int(e2["ts"][0]) == int(dt.datetime(2020, 1, 2, tzinfo=dt.UTC).timestamp()) * 10**9 + 10**9
    assert int(e2["instrument"][0]) == 7


# --------------------------------------------------------------------------- mapping


def test_every_message_type_maps_exactly(tmp_path: Path) -> None:
    m, _ = write(
        tmp_path,
        [
            "34200.1,1,11,100,5853300,1",  # add buy
            "34200.2,1,12,50,5853500,-1",  # add sell
            "34200.3,2,11,30,5853300,1",  # partial cancel 30
            "34200.4,4,12,20,5853500,-1",  # execution of visible sell order
            "34200.5,5,0,7,5853400,1",  # hidden execution against a hidden buy: seller-initiated
            "34200.6,6,0,40,5853450,-1",  # cross trade
            "34200.7,7,0,0,-1,-1",  # halt
            "34200.8,7,0,0,0,-1",  # quoting resumes
            "34200.9,7,0,0,1,-1",  # trading resumes
            "34201.0,3,11,70,5853300,1",  # full delete
        ],
    )
    r = LobsterReader(m)
    e = read(r)
    assert rows_of(e) == [
        (34200_100000000, 11, 5853300, 100, ADD, BUY, F_LAST),
        (34200_200000000, 12, 5853500, 50, ADD, SELL, F_LAST),
        (34200_300000000, 11, 5853300, 30, CANCEL, BUY, F_LAST),
        (34200_400000000, 12, 5853500, 20, EXECUTE, SELL, F_LAST),
        (34200_500000000, 0, 5853400, 7, TRADE, SELL, F_HIDDEN | F_LAST),
        (34200_600000000, 0, 5853450, 40, TRADE, BUY, F_CROSS | F_LAST),
        (34201_000000000, 11, 5853300, 0, CANCEL, BUY, F_LAST),
    ]
    st = r.stats
    assert st.records == 10 and st.events == 7 and st.malformed == 0 and not st.findings
    assert st.by_type == {"add": 2, "cancel": 1, "execute": 1, "hidden_execute": 1, "cross": 1, "halt": 3, "delete": 1}
    assert [(h["line"], h["state"]) for h in st.info["halts"]] == [
        (7, "halt"),
        (8, "quote_resume"),
        (9, "trade_resume"),
    ]
    assert st.info["rows_without_events"] == [7, 8, 9]
    assert (st.info["buy"], st.info["sell"]) == (4, 3)
    assert st.info["first_time"] == "34200.1" and st.info["last_time"] == "34201.0"
    assert validate([e]).ok


def test_tick_size_converts_prices(tmp_path: Path) -> None:
    m, _ = write(tmp_path, ["34200.1,1,1,10,5853300,1"])
    assert int(read(LobsterReader(m, tick_size=0.01))["price"][0]) == 58533
    assert int(read(LobsterReader(m, tick_size=0.00005))["price"][0]) == 11706600
    m2, _ = write(tmp_path, ["34200.1,1,1,10,5853350,1"])
    with pytest.raises(DataError, match=r"line 1: price 5853350 is not a multiple of the tick size"):
        read(LobsterReader(m2, tick_size=0.01))
    # Hidden and cross executions may print between ticks (midpoint fills): rounded and counted.
    m3, _ = write(tmp_path, ["34200.1,5,0,10,5853350,1", "34200.2,6,0,10,5853349,-1"])
    r = LobsterReader(m3, tick_size=0.01)
    assert read(r)["price"].tolist() == [58534, 58533]
    assert r.stats.findings["rounded_trade_price"] == 2


def test_unknown_ids_without_snapshot_keep_their_id(tmp_path: Path) -> None:
    m, _ = write(tmp_path, ["34200.1,4,99,10,5853300,-1"])
    r = LobsterReader(m)
    e = read(r)
    assert rows_of(e) == [(34200_100000000, 99, 5853300, 10, EXECUTE, SELL, F_LAST)]
    assert r.stats.findings["unmapped_unknown_id"] == 1
    assert "line 1: order 99 is unknown" in r.stats.examples[0]


def test_initial_snapshot_is_row_one_with_message_one_undone(tmp_path: Path) -> None:
    # Message 1 executes 10 of a pre-existing sell order at 5853500; row 1 (after it) shows 40 left.
    m, o = write(
        tmp_path,
        ["34200.1,4,7,10,5853500,-1", "34200.2,3,8,40,5853500,-1"],
        ["5853500,40,5853300,25", f"{E},0,5853300,25"],
    )
    r = LobsterReader(m, o)
    e = read(r)
    s1, s2 = SYNTHETIC_ID_BASE + 1, SYNTHETIC_ID_BASE + 2
    assert rows_of(e) == [
        (34200_100000000, s1, 5853300, 25, ADD, BUY, F_SNAPSHOT),
        (34200_100000000, s2, 5853500, 50, ADD, SELL, F_SNAPSHOT | F_LAST),
        (34200_100000000, s2, 5853500, 10, EXECUTE, SELL, F_LAST),  # order 7 -> the snapshot order
        (34200_200000000, s2, 5853500, 40, CANCEL, SELL, F_LAST),  # order 8 -> what is left of it
    ]
    assert r.stats.info["snapshot_orders"] == 2
    assert r.stats.info["reconcile_rows"] == 0
    assert validate([e]).ok
    assert r.check_against_orderbook().mismatched == 0


def test_snapshot_undoes_an_add_and_a_delete(tmp_path: Path) -> None:
    m, o = write(tmp_path, ["34200.1,1,5,10,5853400,1"], ["5853500,40,5853400,10"])
    e = read(LobsterReader(m, o))
    # The add made the best bid; the book before it has no bid at all.
    assert [(x[4], x[5], x[2], x[3]) for x in rows_of(e)] == [(ADD, SELL, 5853500, 40), (ADD, BUY, 5853400, 10)]
    m, o = write(tmp_path, ["34200.1,3,5,10,5853400,1"], ["5853500,40,5853300,7"])
    e = read(LobsterReader(m, o))
    # The delete removed the 5853400 level: the snapshot has it, and the delete maps onto it.
    assert [(x[4], x[5], x[2], x[3]) for x in rows_of(e)] == [
        (ADD, BUY, 5853400, 10),
        (ADD, BUY, 5853300, 7),
        (ADD, SELL, 5853500, 40),
        (CANCEL, BUY, 5853400, 10),
    ]


def test_reconciliation_adds_emerging_levels_and_removes_stale_orders(tmp_path: Path) -> None:
    m, o = write(
        tmp_path,
        [
            "34200.1,1,1,10,5853300,1",  # bid 10 @ 5853300
            "34200.2,1,2,5,5853400,1",  # better bid: 5853300 leaves the (1-level) window
            "34200.3,3,2,5,5853400,1",  # delete: 5853300 is back in view, but only 4 are left there
            "34200.4,3,3,4,5853300,1",  # an order we never saw at the emerged level
            "34200.5,3,4,6,5853200,1",  # an order we never saw at a level that emerges with 6
        ],
        [
            f"{E},0,5853300,10",
            f"{E},0,5853400,5",
            f"{E},0,5853300,4",
            f"{E},0,5853200,6",
            f"{E},0,-9999999999,0",
        ],
    )
    r = LobsterReader(m, o)
    e = read(r)
    s1 = SYNTHETIC_ID_BASE + 1
    assert rows_of(e) == [
        (34200_100000000, 1, 5853300, 10, ADD, BUY, F_LAST),
        (34200_200000000, 2, 5853400, 5, ADD, BUY, F_LAST),
        (34200_300000000, 2, 5853400, 0, CANCEL, BUY, 0),
        (34200_300000000, 1, 5853300, 6, CANCEL, BUY, F_SNAPSHOT | F_LAST),  # order 1 lost 6 out of view
        (34200_400000000, 1, 5853300, 4, CANCEL, BUY, 0),  # unknown order 3 -> the stale order 1
        (34200_400000000, s1, 5853200, 6, ADD, BUY, F_SNAPSHOT | F_LAST),  # the level that emerged
        (34200_500000000, s1, 5853200, 6, CANCEL, BUY, F_LAST),  # unknown order 4 -> the synthetic order
    ]
    info = r.stats.info
    assert info["reconcile_rows"] == 2 and info["reconcile_added_qty"] == 6 and info["reconcile_removed_qty"] == 6
    assert info["unknown_ids_mapped_to_stale_orders"] == 4
    assert validate([e]).ok
    assert r.check_against_orderbook().mismatched == 0
    plain = LobsterReader(m, o, reconcile=False)
    res = check_against_orderbook(list(plain.chunks()), o, levels=1)
    assert res.mismatched == 3 and res.first_mismatch_row == 3


def test_chunks_are_bounded_and_concatenate_to_the_same_stream(tmp_path: Path) -> None:
    msgs = [f"34200.{i:03d},1,{i + 1},10,{5800000 - 100 * i},1" for i in range(50)]
    m, _ = write(tmp_path, msgs)
    whole = read(LobsterReader(m))
    chunks = list(LobsterReader(m).chunks(7))
    assert all(len(c) <= 7 for c in chunks) and len(chunks) == 8
    assert np.array_equal(np.concatenate(chunks), whole)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("line", "what"),
    [
        ("34200.2,1,2,10,5853300", "expected 6 fields, got 5"),
        ("34200.2,1,2,ten,5853300,1", "non-integer field"),
        ("34200.2x,1,2,10,5853300,1", "bad time '34200.2x'"),
        ("34200.2,8,2,10,5853300,1", "unknown event type 8"),
        ("34200.2,1,2,10,5853300,0", "direction 0, expected 1 or -1"),
        ("34200.2,1,2,0,5853300,1", "size 0 <= 0"),
        ("34200.2,1,2,10,-5,1", "price -5 <= 0"),
        ("34200.2,7,0,0,5,-1", "trading halt (type 7) with price 5"),
        ("34199.9,1,2,10,5853300,1", "time 34199.9 goes backwards"),
    ],
)
def test_strict_errors_name_file_and_line(tmp_path: Path, line: str, what: str) -> None:
    m, _ = write(tmp_path, ["34200.1,1,1,10,5853300,1", line, "34200.3,1,3,10,5853300,1"])
    with pytest.raises(DataError) as ei:
        read(LobsterReader(m))
    assert str(ei.value) == f"{m}, line 2: {what}" or str(ei.value).startswith(f"{m}, line 2: {what}")
    lenient = LobsterReader(m, strict=False)
    e = read(lenient)
    if "backwards" in what:  # lenient clamps the time and keeps the message
        assert len(e) == 3 and lenient.stats.findings["time_backwards"] == 1
        assert int(e["ts"][1]) == int(e["ts"][0])
        return
    assert len(e) == 2 and e["order_id"].tolist() == [1, 3]
    assert lenient.stats.malformed == 1
    assert lenient.stats.examples[0].startswith(f"{m}, line 2: {what}")
    assert lenient.stats.info["rows_without_events"] == [2]


def test_orderbook_errors_name_the_orderbook_file(tmp_path: Path) -> None:
    m, o = write(
        tmp_path, ["34200.1,1,1,10,5853300,1", "34200.2,1,2,10,5853300,1"], ["9999999999,0,5853300,10", "x,0,1"]
    )
    with pytest.raises(DataError, match=rf"^{o}, line 2: non-integer field"):
        read(LobsterReader(m, o))
    lenient = LobsterReader(m, o, strict=False)
    assert len(read(lenient)) == 2 and lenient.stats.malformed == 1
    m, o = write(tmp_path, ["34200.1,1,1,10,5853300,1", "34200.2,1,2,10,5853300,1"], ["9999999999,0,5853300,10"])
    with pytest.raises(DataError, match=rf"^{o}, line 2: missing"):
        read(LobsterReader(m, o))
    m, o = write(tmp_path, ["34200.1,1,1,10,5853300,1"], ["9999999999,0,5853300,10", "9999999999,0,5853300,10"])
    with pytest.raises(DataError, match="more rows than the message file"):
        read(LobsterReader(m, o))
    m, o = write(tmp_path, ["34200.1,1,1,10,5853300,1"], ["9999999999,0,5853300"])
    with pytest.raises(DataError, match="expected a multiple of 4"):
        read(LobsterReader(m, o))


# --------------------------------------------------------------------------- real samples (MANIFEST.md)


@pytest.fixture(scope="module")
def aapl(lobster_dir: Path) -> tuple[LobsterReader, list[np.ndarray]]:
    r = LobsterReader(
        lobster_dir / "AAPL_2012-06-21_34200000_57600000_message_1.csv",
        lobster_dir / "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv",
    )
    return r, list(r.chunks())


@pytest.fixture(scope="module")
def goog(lobster_dir: Path) -> tuple[LobsterReader, list[np.ndarray]]:
    r = LobsterReader(
        lobster_dir / "GOOG_2012-06-21_34200000_57600000_message_10.csv",
        lobster_dir / "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv",
    )
    return r, list(r.chunks())


MANIFEST = {
    "AAPL": dict(
        rows=118_497,
        types=(54_818, 252, 28_437, 23_658, 11_332),
        buy_sell=(57_004, 61_493),
        times=("34200.004241176", "57599.913117637"),
    ),
    "GOOG": dict(
        rows=147_916,
        types=(71_258, 19, 64_961, 7_765, 3_913),
        buy_sell=(71_735, 76_181),
        times=("34200.015105074", "57599.871751084"),
    ),
}


@pytest.mark.parametrize("ticker", ["AAPL", "GOOG"])
def test_real_sample_counts_match_the_manifest(ticker: str, aapl: tuple, goog: tuple) -> None:
    r, chunks = aapl if ticker == "AAPL" else goog
    want = MANIFEST[ticker]
    st = r.stats
    assert st.records == want["rows"] and st.malformed == 0
    names = ("add", "cancel", "delete", "execute", "hidden_execute")
    assert tuple(st.by_type[k] for k in names) == want["types"]
    assert "cross" not in st.by_type and "halt" not in st.by_type and st.info["halts"] == []
    assert (st.info["buy"], st.info["sell"]) == want["buy_sell"]
    assert (st.info["first_time"], st.info["last_time"]) == want["times"]
    e = np.concatenate(chunks)
    first_s, last_s = (int(t.replace(".", "")) * 10 ** (9 - len(t.split(".")[1])) for t in want["times"])
    assert int(e["ts"][0]) == MIDNIGHT + first_s and int(e["ts"][-1]) == MIDNIGHT + last_s
    assert bool(np.all(np.diff(e["ts"]) >= 0))
    assert st.info["rows_without_events"] == []
    assert st.events == len(e) and (e["flags"] & F_LAST).sum() == want["rows"] + 1  # + the snapshot group
    # Hidden executions are TRADE events flagged F_HIDDEN, one per type-5 message.
    assert int(((e["action"] == TRADE) & (e["flags"] & F_HIDDEN > 0)).sum()) == want["types"][4]


@pytest.mark.parametrize(("ticker", "levels"), [("AAPL", 1), ("GOOG", 10)])
def test_real_sample_book_matches_every_orderbook_row(ticker: str, levels: int, aapl: tuple, goog: tuple) -> None:
    r, chunks = aapl if ticker == "AAPL" else goog
    res = check_against_orderbook(chunks, r.orderbook_csv, levels=levels, skip_rows=r.stats.info["rows_without_events"])
    assert res.compared == MANIFEST[ticker]["rows"]
    assert res.mismatched == 0, str(res)
    rep = validate(chunks, source=str(r.message_csv))
    assert rep.ok, str(rep)  # no crossed/locked book, no unknown ids, no over-executions


def test_real_sample_without_reconciliation_is_explained(lobster_dir: Path, tmp_path: Path) -> None:
    """Only the initial snapshot: liquidity outside the 1-level window is unknown to the message file.

    Runs on the first 20,000 rows (copied to a temporary folder, never into the repository)."""
    src = lobster_dir / "AAPL_2012-06-21_34200000_57600000_message_1.csv"
    m = tmp_path / src.name
    o = orderbook_path_for(m)
    for a, b in ((src, m), (orderbook_path_for(src), o)):
        with open(a) as fa:
            b.write_text("".join(next(fa) for _ in range(20_000)))
    plain = LobsterReader(m, o, reconcile=False)
    chunks = list(plain.chunks())
    res = check_against_orderbook(chunks, o, levels=1)
    assert res.first_mismatch_row == 3  # message 3 deletes the best ask; the next level was never announced
    assert res.mismatched > 15_000
    assert plain.stats.findings["unmapped_unknown_id"] > 0
    assert validate(chunks).count("crossed_book") > 0
    full = LobsterReader(m, o)
    chunks = list(full.chunks())
    assert check_against_orderbook(chunks, o, levels=1).mismatched == 0 and validate(chunks).ok
    assert full.stats.info["reconcile_rows"] > 0
