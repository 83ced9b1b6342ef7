"""Tests of adapters.feeds.dbn: exact MBO mapping on hand-made DBN files, errors, and the real ESH4 files."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import databento_dbn as dbn
import numpy as np
import pytest
import zstandard

from adapters.feeds.dbn import F_FILL, DbnMboReader
from adapters.feeds.validate import validate
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, CLEAR, EXECUTE, F_LAST, F_SNAPSHOT, MD_DTYPE, MODIFY, SELL, TRADE

INST = 17077
PX = 1_000_000_000  # 1.0 in DBN fixed point
LAST = 0x80
SNAP = 0x20


@pytest.fixture(scope="module")
def dbn_dir(shared_data: Path) -> Path:
    """The Databento samples (``shared_data`` from conftest skips when the shared folder is absent)."""
    d = shared_data / "databento"
    if not d.is_dir():
        pytest.skip(f"{d} not found")
    return d


def metadata(schema: dbn.Schema = dbn.Schema.MBO) -> bytes:
    iv = SimpleNamespace(start_date=dt.date(2023, 12, 25), end_date=dt.date(2023, 12, 26), symbol=str(INST))
    return dbn.Metadata(
        dataset="GLBX.MDP3",
        start=1703462400000000000,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=schema,
        symbols=["ESH4"],
        mappings=[SimpleNamespace(raw_symbol="ESH4", intervals=[iv])],
        version=1,
    ).encode()


ACT = {"A": dbn.Action.ADD, "C": dbn.Action.CANCEL, "M": dbn.Action.MODIFY, "T": dbn.Action.TRADE, "F": dbn.Action.FILL}
ACT["R"] = dbn.Action.CLEAR
ACT["N"] = dbn.Action.NONE
SIDE = {"B": dbn.Side.BID, "A": dbn.Side.ASK, "N": dbn.Side.NONE}


def rec(ts: int, action: str, side: str, oid: int, price: float, size: int, flags: int = LAST) -> bytes:
    return bytes(
        dbn.MBOMsg(
            publisher_id=1,
            instrument_id=INST,
            ts_event=ts + 1_000_000,
            order_id=oid,
            price=round(price * PX),
            size=size,
            action=ACT[action],
            side=SIDE[side],
            ts_recv=ts,
            flags=flags,
        )
    )


def write(tmp: Path, records: list[bytes], zst: bool = False, name: str = "f.mbo.dbn") -> Path:
    meta = metadata()
    body = b"".join(records)
    p = tmp / (name + (".zst" if zst else ""))
    if zst:  # like Databento's files: the metadata and the records in two zstd frames
        c = zstandard.ZstdCompressor()
        p.write_bytes(c.compress(meta) + c.compress(body))
    else:
        p.write_bytes(meta + body)
    return p


def read(r: DbnMboReader, chunk_size: int = 65536) -> np.ndarray:
    chunks = list(r.chunks(chunk_size))
    return np.concatenate(chunks) if chunks else np.zeros(0, MD_DTYPE)


def rows_of(e: np.ndarray) -> list[tuple[int, ...]]:
    """(ts, order_id, price, qty, action, side, flags) per event."""
    return [
        (
            int(x["ts"]),
            int(x["order_id"]),
            int(x["price"]),
            int(x["qty"]),
            int(x["action"]),
            int(x["side"]),
            int(x["flags"]),
        )
        for x in e
    ]


def book_of(e: np.ndarray) -> dict[int, tuple[int, int, int]]:
    """The resting orders (id -> side, price, qty) after replaying canonical events."""
    book: dict[int, list[int]] = {}
    for x in e:
        a, oid, p, q, s = int(x["action"]), int(x["order_id"]), int(x["price"]), int(x["qty"]), int(x["side"])
        if a == ADD:
            book[oid] = [s, p, q]
        elif a in (CANCEL, EXECUTE) and oid in book:
            if q <= 0 or q >= book[oid][2]:
                del book[oid]
            else:
                book[oid][2] -= q
        elif a == MODIFY and oid in book:
            if q <= 0:
                del book[oid]
            else:
                book[oid][1:] = [p, q]
        elif a == CLEAR:
            book.clear()
    return {k: tuple(v) for k, v in book.items()}  # type: ignore[misc]


SESSION = [
    rec(100, "A", "B", 1, 4800.0, 5, SNAP),  # snapshot
    rec(100, "A", "A", 2, 4800.5, 3, SNAP | LAST),
    rec(200, "A", "A", 3, 4800.5, 7),
    rec(300, "T", "B", 9, 4800.5, 4, 0),  # an aggressive buy of 4 ...
    rec(300, "F", "A", 2, 4800.5, 3, 0),  # ... fills order 2 completely
    rec(300, "F", "A", 3, 4800.5, 1, 0),  # ... and 1 of order 3
    rec(301, "C", "A", 2, 4800.5, 3, 0),  # the book effect of the full fill: folded
    rec(301, "M", "A", 3, 4800.5, 6, LAST),  # the book effect of the partial fill: folded
    rec(400, "M", "B", 1, 4799.75, 4),  # a real modify
    rec(500, "C", "A", 3, 4800.5, 2),  # a real partial cancel (size = removed qty)
    rec(600, "N", "N", 0, 0.0, 0, LAST),  # no action
    rec(700, "R", "N", 0, 0.0, 0),  # clear
]


def test_every_action_maps_exactly(tmp_path: Path) -> None:
    r = DbnMboReader(write(tmp_path, SESSION), tick_size=0.25)
    e = read(r)
    t = 4 * 4800  # 4800.00 in quarter ticks
    assert rows_of(e) == [
        (100, 1, t, 5, ADD, BUY, F_SNAPSHOT),
        (100, 2, t + 2, 3, ADD, SELL, F_SNAPSHOT | F_LAST),
        (200, 3, t + 2, 7, ADD, SELL, F_LAST),
        (300, 9, t + 2, 4, TRADE, BUY, 0),
        (300, 2, t + 2, 3, EXECUTE, SELL, 0),
        (300, 3, t + 2, 1, EXECUTE, SELL, F_LAST),  # F_LAST moved here from the folded modify
        (400, 1, t - 1, 4, MODIFY, BUY, F_LAST),
        (500, 3, t + 2, 2, CANCEL, SELL, F_LAST),
        (700, 0, 0, 0, CLEAR, 0, F_LAST),
    ]
    st = r.stats
    assert st.by_type == {"A": 3, "T": 1, "F": 2, "C": 2, "M": 2, "N": 1, "R": 1}
    assert st.records == 12 and st.events == 9 and not st.findings
    info = st.info
    assert (info["folded_cancels"], info["folded_modifies"], info["none_actions"]) == (1, 1, 1)
    assert info["unresolved_fills"] == 0 and info["dbn_version"] == 1 and info["dataset"] == "GLBX.MDP3"
    assert r.instruments == {INST: "ESH4"}
    assert validate([e]).ok


def test_fills_as_trades_rebuild_the_same_book(tmp_path: Path) -> None:
    p = write(tmp_path, SESSION[:-1])
    ex = read(DbnMboReader(p))
    tr = read(DbnMboReader(p, fills="trade"))
    assert book_of(ex) == book_of(tr) == {1: (BUY, 4799_750_000_000, 4), 3: (SELL, 4800_500_000_000, 4)}
    fills = tr[(tr["action"] == TRADE) & (tr["flags"] & F_FILL > 0)]
    # Side = the aggressor: the opposite of the filled (resting) order's side.
    assert fills["order_id"].tolist() == [2, 3] and fills["side"].tolist() == [BUY, BUY]
    assert int((tr["action"] == CANCEL).sum()) == 2 and int((tr["action"] == MODIFY).sum()) == 2


def test_iceberg_fills_and_refills(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        [
            rec(1, "A", "B", 5, 10.0, 1),
            rec(2, "F", "B", 5, 10.0, 3, 0),  # fills 1 displayed + 2 hidden
            rec(3, "M", "B", 5, 10.0, 2),  # a new displayed slice of 2: back of the queue
            rec(4, "F", "B", 5, 10.0, 2, 0),
            rec(5, "C", "B", 5, 10.0, 2),  # the final fill's book effect: folded
        ],
    )
    r = DbnMboReader(p, tick_size=1)
    e = read(r)
    assert rows_of(e) == [
        (1, 5, 10, 1, ADD, BUY, F_LAST),
        (2, 5, 10, 1, EXECUTE, BUY, 0),
        (2, 5, 10, 2, TRADE, SELL, F_FILL),  # the hidden part never was in the book
        (3, 5, 10, 2, ADD, BUY, F_LAST),
        (4, 5, 10, 2, EXECUTE, BUY, F_LAST),
    ]
    assert r.stats.info["refill_adds"] == 1 and r.stats.info["fill_beyond_displayed_qty"] == 2
    assert validate([e]).ok and book_of(e) == {}


def test_unknown_ids_and_side_none(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        [
            rec(1, "A", "A", 1, 10.0, 4),
            rec(2, "F", "N", 1, 10.0, 4, 0),  # auction fill with side N: the side comes from the book
            rec(2, "F", "N", 77, 10.0, 1, 0),  # fill of an order never seen
            rec(2, "T", "N", 0, 10.0, 5, 0),
            rec(3, "C", "A", 1, 10.0, 4),
            rec(4, "C", "B", 88, 9.0, 1),  # cancel of an unknown order: kept
            rec(5, "M", "B", 89, 9.0, 2),  # modify of an unknown order: an add
        ],
    )
    r = DbnMboReader(p, tick_size=1)
    e = read(r)
    assert rows_of(e) == [
        (1, 1, 10, 4, ADD, SELL, F_LAST),
        (2, 1, 10, 4, EXECUTE, SELL, 0),
        (2, 77, 10, 1, TRADE, 0, F_FILL),
        (2, 0, 10, 5, TRADE, 0, F_LAST),
        (4, 88, 9, 1, CANCEL, BUY, F_LAST),
        (5, 89, 9, 2, ADD, BUY, F_LAST),
    ]
    f = r.stats.findings
    assert (f["fill_unknown_id"], f["cancel_unknown_id"], f["modify_unknown_as_add"]) == (1, 1, 1)
    assert "record 2: fill of unknown order 77" in r.stats.examples[0]


def test_zstd_multi_frame_and_chunking(tmp_path: Path) -> None:
    recs = [rec(i + 1, "A", "B", i + 1, 100.0 - i * 0.25, 1) for i in range(100)]
    plain = read(DbnMboReader(write(tmp_path, recs)))
    z = DbnMboReader(write(tmp_path, recs, zst=True))
    chunks = list(z.chunks(16))
    assert all(len(c) <= 16 for c in chunks) and len(chunks) == 7
    assert np.array_equal(np.concatenate(chunks), plain) and len(plain) == 100


def test_ts_event_option_and_clamping(tmp_path: Path) -> None:
    p = write(tmp_path, [rec(10, "A", "B", 1, 1.0, 1), rec(5, "A", "B", 2, 1.0, 1)])
    r = DbnMboReader(p)
    e = read(r)
    assert e["ts"].tolist() == [10, 10] and r.stats.info["ts_clamped"] == 1
    assert read(DbnMboReader(p, ts_field="ts_event"))["ts"].tolist() == [1_000_010, 1_000_010]


# --------------------------------------------------------------------------- errors


def test_strict_and_lenient_record_errors(tmp_path: Path) -> None:
    bad = bytearray(rec(2, "A", "B", 2, 1.0, 1))
    bad[38] = ord("Z")  # the action byte
    p = write(tmp_path, [rec(1, "A", "B", 1, 1.0, 1), bytes(bad), rec(3, "A", "B", 3, 1.0, 1)])
    with pytest.raises(DataError, match=rf"^{p}, record 1 \(byte 56\): unknown MBO action 'Z'"):
        read(DbnMboReader(p))
    r = DbnMboReader(p, strict=False)
    assert read(r)["order_id"].tolist() == [1, 3]
    assert r.stats.malformed == 1 and r.stats.examples[0].startswith(f"{p}, record 1 (byte 56)")
    off = write(tmp_path, [rec(1, "A", "B", 1, 1.1, 1)])
    with pytest.raises(
        DataError, match=r"record 0 \(byte 0\): price 1.100000000 is not a multiple of the tick size 0.250000000"
    ):
        read(DbnMboReader(off, tick_size=0.25))
    undef = bytearray(rec(1, "A", "B", 1, 1.0, 1))
    undef[24:32] = ((1 << 63) - 1).to_bytes(8, "little")
    with pytest.raises(DataError, match="record 0 .* undefined price"):
        read(DbnMboReader(write(tmp_path, [bytes(undef)])))


def test_framing_errors(tmp_path: Path) -> None:
    good = rec(1, "A", "B", 1, 1.0, 1)
    trunc = write(tmp_path, [good, good[:30]])
    with pytest.raises(DataError, match=r"record 1 \(byte 56\): truncated record \(30 bytes"):
        read(DbnMboReader(trunc))
    r = DbnMboReader(trunc, strict=False)
    assert len(read(r)) == 1 and r.stats.malformed == 1
    zero = write(tmp_path, [good, b"\x00" * 56])
    with pytest.raises(DataError, match=r"record 1 \(byte 56\): record length 0"):
        read(DbnMboReader(zero))
    rtype = bytearray(good)
    rtype[1] = 0x99
    with pytest.raises(DataError, match=r"record 1 \(byte 56\): undecodable record"):
        read(DbnMboReader(write(tmp_path, [good, bytes(rtype)])))
    junk = tmp_path / "junk.dbn"
    junk.write_bytes(b"not dbn at all")
    with pytest.raises(DataError, match="not a DBN file"):
        read(DbnMboReader(junk))
    short = tmp_path / "short.dbn"
    short.write_bytes(metadata()[:50])
    with pytest.raises(DataError, match="truncated DBN metadata"):
        read(DbnMboReader(short))
    trades = tmp_path / "trades.dbn"
    trades.write_bytes(metadata(dbn.Schema.TRADES))
    with pytest.raises(DataError, match="schema is trades, expected mbo"):
        read(DbnMboReader(trades))
    with pytest.raises(ValueError):
        DbnMboReader(junk, fills="maybe")


# --------------------------------------------------------------------------- the real files (MANIFEST.md)


def decoder_counts(path: Path) -> tuple[Counter[str], Counter[str], list]:
    """Independent counts straight from databento_dbn: by action, by side, and the records."""
    dec = dbn.DBNDecoder(compression=dbn.Compression.ZSTD)
    dec.write(path.read_bytes())
    recs = [r for r in dec.decode() if isinstance(r, dbn.MBOMsg)]
    return Counter(str(r.action) for r in recs), Counter(str(r.side) for r in recs), recs


def test_real_snapshot_file(dbn_dir: Path) -> None:
    p = dbn_dir / "esh4-glbx-mdp3-20231224.mbo.dbn.zst"
    r = DbnMboReader(p, tick_size=0.25)
    e = read(r)
    actions, sides, recs = decoder_counts(p)
    assert len(recs) == 8_725 and dict(r.stats.by_type) == dict(actions) == {"A": 8_725}
    assert (int((e["side"] == BUY).sum()), int((e["side"] == SELL).sum())) == (sides["B"], sides["A"]) == (5_192, 3_533)
    assert bool(np.all(e["action"] == ADD)) and bool(np.all(e["flags"] & F_SNAPSHOT))
    assert int((e["flags"] & F_LAST > 0).sum()) == 1 and e["flags"][-1] & F_LAST
    assert {r_.ts_event for r_ in recs} == {1703422805243925307}  # 2023-12-24T13:00:05.243925307Z
    assert r.instruments == {17077: "ESH4"} and r.stats.info["dbn_version"] == 1
    assert validate([e]).ok


def test_real_session_file(dbn_dir: Path) -> None:
    p = dbn_dir / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    r = DbnMboReader(p, tick_size=0.25)
    chunks = list(r.chunks())
    e = np.concatenate(chunks)
    actions, sides, recs = decoder_counts(p)
    assert dict(r.stats.by_type) == dict(actions)
    assert dict(actions) == {"A": 29_216, "C": 17_999, "M": 12_233, "T": 2_973, "F": 6_371}
    assert sides["N"] == 36 and r.stats.malformed == 0
    info = r.stats.info
    n = Counter(e["action"].tolist())
    fills_unknown = r.stats.findings["fill_unknown_id"]
    # Every F is an EXECUTE (or a TRADE for an unknown order); its Cancel/Modify twin is folded.
    assert n[EXECUTE] + fills_unknown == actions["F"]
    assert n[CANCEL] == actions["C"] - info["folded_cancels"]
    assert n[MODIFY] == actions["M"] - info["folded_modifies"] - info["refill_adds"]
    assert n[ADD] == actions["A"] + info["refill_adds"] + r.stats.findings["modify_unknown_as_add"]
    assert info["unresolved_fills"] == 0
    # ts_recv never decreases; time range 2023-12-25 00:00:00 (snapshot) .. 23:59:59.446 UTC.
    assert info["ts_clamped"] == 0 and bool(np.all(np.diff(e["ts"]) >= 0))
    assert int(e["ts"][0]) == 1703462400000000000 and int(e["ts"][-1]) // 10**6 == 1703548799446
    # Price range 85.00 .. 5792.50 in 0.25 ticks.
    priced = e[np.isin(e["action"], (ADD, MODIFY))]
    assert (int(priced["price"].min()), int(priced["price"].max())) == (340, 23_170)
    assert r.instruments == {17077: "ESH4"}
    # Crossed books only in the pre-open, before the 23:00 UTC reopen auction uncrosses the book.
    reopen = 1703545200105900877
    cut = int(np.searchsorted(e["ts"], reopen))
    whole = validate(chunks)
    pre = validate([e[:cut]])
    assert whole.count("crossed_book") == pre.count("crossed_book") > 0
    assert set(whole.findings) == {"crossed_book"}
    # Both fill conventions rebuild the same book.
    tr = read(DbnMboReader(p, tick_size=0.25, fills="trade"))
    assert book_of(tr) == book_of(e) and len(book_of(e)) == info["resting_orders_at_end"]


def test_a_decoder_panic_is_a_finding_not_terminal_noise(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A trade record (rtype 0x00) that claims 20 bytes makes databento_dbn panic; the reader
    reports the record, and the Rust panic hook's text does not reach stderr."""
    short_trade = bytes([5, 0x00, 1, 0]) + (INST).to_bytes(4, "little") + (10).to_bytes(8, "little") + b"\0" * 4
    p = write(tmp_path, [rec(100, "A", "B", 1, 4800.0, 2), short_trade, rec(300, "A", "A", 2, 4800.25, 3)])
    r = DbnMboReader(p, tick_size=0.25, strict=False)
    e = read(r)
    assert [x[1] for x in rows_of(e)] == [1, 2]
    assert r.stats.malformed == 1 and "record 1" in r.stats.examples[0]
    err = capfd.readouterr().err
    assert "panicked" not in err and "Malformed" not in err
    with pytest.raises(DataError, match=r"record 1"):
        read(DbnMboReader(p, tick_size=0.25))
    assert "panicked" not in capfd.readouterr().err
