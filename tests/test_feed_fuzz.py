"""Fuzzing the feed readers: bad input gives a DataError naming file and place, or nothing.

Every reader (ITCH BinaryFILE and pcap, LOBSTER, DBN, Binance) is fed random
and mutated inputs in strict and lenient mode. The only exception allowed out
of a reader is :class:`~kernel.errors.DataError`, and its message must name
the file and where in it (line, record, packet or byte offset). In lenient
mode the findings the reader keeps must name the place too.

The hypothesis tests are bounded (40 examples each) so the module stays well
within its time budget under ``pytest -n auto``; ``PARITY_FUZZ_EXAMPLES=2000``
runs a deep fuzz (the bugs below were found with thousands of examples). The
regression tests after each fuzz test pin the reader bugs fuzzing found:

* LOBSTER: non-ASCII bytes raised UnicodeDecodeError; fields beyond int64
  raised OverflowError when the chunk was built; a 5,000-digit time raised
  ValueError from int(); an orderbook row with a negative size tripped an
  AssertionError in reconciliation; one short and one long orderbook row in a
  block paired up into two "valid" rows silently.
* Binance: a cut-off gzip capture raised EOFError; trade ids, event times,
  prices beyond int64 raised OverflowError.
* DBN: an MBO record (or another rtype) too short for its type made the
  ``databento-dbn`` decoder panic (``pyo3_runtime.PanicException``, a
  BaseException that ``except Exception`` does not catch); an undefined
  ts_recv (2**64 - 1) raised OverflowError; a symbol-mapping record with a
  non-UTF-8 symbol raised ``databento_dbn.DBNError``.
* pcap: a capture cut inside a record, and bad global headers, gave
  DataErrors that did not say where.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import struct
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.feeds.binance import BinanceDepthReader
from adapters.feeds.dbn import DbnMboReader
from adapters.feeds.itch import MESSAGE_FIELDS, ItchReader
from adapters.feeds.itch_encoder import encode_events, encode_message, frame, random_l3_events
from adapters.feeds.lobster import LobsterReader
from kernel.errors import DataError
from tests.test_dbn import SESSION as DBN_SESSION
from tests.test_dbn import metadata as dbn_metadata

DAY = date(2019, 1, 30)
PLACE = re.compile(r"\b(line \d+|record \d+|packet \d+|byte offset \d+|byte \d+|bytes \d+-\d+)")
N_EXAMPLES = int(os.environ.get("PARITY_FUZZ_EXAMPLES", "40"))  # raise it for a deep run
FUZZ = settings(
    max_examples=N_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_names_place(text: str, *paths: Path) -> None:
    """``text`` names one of ``paths`` and a place in it."""
    assert any(str(p) in text for p in paths), f"no file named in {text!r}"
    assert PLACE.search(text), f"no line/record/offset in {text!r}"


def exercise(make: Callable[[bool], Any], *paths: Path, chunk_size: int = 7) -> dict[bool, Any]:
    """Read to the end in strict and lenient mode: only DataError may escape, and it names file and place.

    Returns the reader (or the DataError) per mode. Lenient findings that name the file must name a place.
    """
    out: dict[bool, Any] = {}
    for strict in (True, False):
        reader = None
        try:
            reader = make(strict)
            for _ in reader.chunks(chunk_size):
                pass
        except DataError as e:
            assert_names_place(str(e), *paths)
            out[strict] = e
            continue
        out[strict] = reader
        if not strict:
            st_ = reader.stats
            texts = st_.findings if isinstance(st_.findings, list) else st_.examples
            for t in texts:
                if any(str(p) in t for p in paths):
                    assert PLACE.search(t), t
    return out


def mutate(data: bytes, ops: list[tuple[int, float, int]]) -> bytes:
    """Apply byte-level mutations: (op, position as a fraction of the length, value)."""
    b = bytearray(data)
    for op, where, value in ops:
        i = int(where * len(b))
        if op == 0 and b:  # overwrite a byte
            b[min(i, len(b) - 1)] = value
        elif op == 1:  # truncate
            del b[i:]
        elif op == 2:  # insert bytes
            b[i:i] = bytes([value]) * (1 + value % 7)
        elif op == 3:  # delete a run
            del b[i : i + 1 + value % 40]
        elif op == 4 and b:  # flip one bit
            b[min(i, len(b) - 1)] ^= 1 << (value % 8)
    return bytes(b)


MUTATIONS = st.lists(
    st.tuples(st.integers(0, 4), st.floats(0, 1, allow_nan=False), st.integers(0, 255)), min_size=1, max_size=6
)


# --------------------------------------------------------------------------- ITCH 5.0


@pytest.fixture(scope="module")
def itch_base() -> bytes:
    """A small, valid encoder-produced BinaryFILE (every book message type)."""
    ev = random_l3_events(120, seed=3, day=DAY, n_instruments=2)
    return encode_events(ev, {1: "AAA", 2: "BBB"}, DAY)


@FUZZ
@given(data=st.binary(max_size=400))
def test_itch_random_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "rand_20190130.itch"
    p.write_bytes(data)
    exercise(lambda strict: ItchReader(p, strict=strict, block_size=64), p)


@FUZZ
@given(ops=MUTATIONS, gz=st.booleans())
def test_itch_mutated_binaryfile(tmp_path: Path, itch_base: bytes, ops: list, gz: bool) -> None:
    data = mutate(itch_base, ops)
    p = tmp_path / "mut_20190130.itch"
    p.write_bytes(gzip.compress(data) if gz else data)
    exercise(lambda strict: ItchReader(p, strict=strict, block_size=256), p)


@FUZZ
@given(
    frames=st.lists(
        st.one_of(
            st.sampled_from(list("SRHYLVWKJhAFECXDUPQBINO")).map(lambda t: (t, None)),  # a well-formed message
            st.tuples(st.integers(0, 255).map(lambda b: bytes([b]).decode("latin-1")), st.integers(0, 60)),  # any
        ),
        max_size=12,
    ),
    cut=st.integers(0, 60),
)
def test_itch_unknown_types_bad_lengths_truncation(tmp_path: Path, frames: list, cut: int) -> None:
    """Frames of unknown types, wrong lengths, zero length, and a message cut short at the end."""
    out = bytearray()
    for t, n in frames:
        if n is None:
            names = {name for name, _ in MESSAGE_FIELDS[t]}
            extra = {k: v for k, v in (("buy_sell_indicator", "B"), ("printable", "Y")) if k in names}
            out += frame(encode_message(t, stock_locate=1, timestamp=1000, **extra))
        else:
            out += n.to_bytes(2, "big") + (t.encode("latin-1") + bytes(n))[:n]
    if cut and out:
        out = out[: max(0, len(out) - cut)]
    p = tmp_path / "frames_20190130.itch"
    p.write_bytes(bytes(out))
    exercise(lambda strict: ItchReader(p, strict=strict), p)


def test_itch_findings_name_record_offset_and_type(tmp_path: Path) -> None:
    good = frame(encode_message("S", timestamp=1, event_code="O"))
    cases = {
        "unknown": (good + frame(b"z" + bytes(10)), r"record 1, byte offset 14, message type 'z': unknown ITCH"),
        "length": (
            good + frame(b"A" + bytes(20)),
            r"record 1, byte offset 14, message type 'A': length 21, expected 36",
        ),
        "zero": (good + b"\x00\x00", r"record 1, byte offset 14: zero-length message"),
        "truncated": (good + frame(b"A" + bytes(35))[:20], r"record 1, byte offset 14, .*file ends inside a message"),
    }
    for name, (data, want) in cases.items():
        p = tmp_path / f"{name}_20190130.itch"
        p.write_bytes(data)
        with pytest.raises(DataError, match=re.escape(str(p)) + ": " + want):
            ItchReader(p).read()
        r = ItchReader(p, strict=False)
        r.read()
        assert len(r.stats.findings) == 1 and re.search(want, r.stats.findings[0])


@pytest.fixture(scope="module")
def real_itch_files(shared_data: Path) -> list[bytes]:
    d = shared_data / "itch"
    files = sorted(d.rglob("*.pcap")) + sorted(d.rglob("*.itch"))
    if not files:
        pytest.skip(f"no ITCH samples in {d}")
    return [f.read_bytes() for f in files]


@FUZZ
@given(which=st.integers(0, 100), ops=MUTATIONS)
def test_itch_mutated_real_captures(tmp_path: Path, real_itch_files: list[bytes], which: int, ops: list) -> None:
    """The shared pcap captures and BinaryFILE fragment, mutated: framing, IP/UDP and MoldUDP64 errors."""
    p = tmp_path / "real_20230822.pcap"
    p.write_bytes(mutate(real_itch_files[which % len(real_itch_files)], ops))
    exercise(lambda strict: ItchReader(p, strict=strict), p)


def test_pcap_errors_name_the_offset(tmp_path: Path, itch_base: bytes) -> None:
    from adapters.feeds.itch_encoder import write_moldudp64_pcap

    p = tmp_path / "cap_20190130.pcap"
    write_moldudp64_pcap(itch_base, p)
    whole = p.read_bytes()
    p.write_bytes(whole[:-5])
    with pytest.raises(DataError, match=r"byte offset \d+: capture ends inside a record \(\d+ bytes left\)"):
        ItchReader(p).read()
    p.write_bytes(whole[:10])
    with pytest.raises(DataError, match=r"byte offset 0: truncated pcap global header \(10 of 24 bytes\)"):
        ItchReader(p).read()


# --------------------------------------------------------------------------- LOBSTER

LOB_MSG = "TEST_2012-06-21_34200000_57600000_message_2.csv"
LOB_BOOK = "TEST_2012-06-21_34200000_57600000_orderbook_2.csv"
E = 9999999999
MESSAGES = [
    "34200.000000001,1,11,100,1000000,1",
    "34200.000000002,1,12,50,1000100,-1",
    "34200.1,1,13,30,999900,1",
    "34200.2,2,11,40,1000000,1",
    "34200.3,4,12,20,1000100,-1",
    "34200.4,3,13,30,999900,1",
    "34200.5,5,0,10,1000050,1",
    "34200.6,1,14,70,1000200,-1",
    "34200.7,7,0,0,-1,-1",
    "34200.8,4,99,5,1000000,1",
]
PRE_ASK = (1000100, 10)  # an ask resting before the file starts
TOKENS = ["", "x", "-1", "0", "1.5", "nan", " ", "99999999999999999999999", "1e3", "9" * 30, "\x00", "é", "+1", "7"]


def lobster_rows(messages: list[str], levels: int = 2) -> list[str]:
    """The orderbook rows (``levels`` levels) of a LOBSTER message list, starting from PRE_ASK."""
    book: dict[int, dict[int, int]] = {1: {}, -1: {PRE_ASK[0]: PRE_ASK[1]}}
    rows = []
    for line in messages:
        _, typ, _, size, price, d = (int(float(x)) if i == 0 else int(x) for i, x in enumerate(line.split(",")))
        lv = book[d]
        if typ == 1:
            lv[price] = lv.get(price, 0) + size
        elif typ in (2, 3, 4):
            lv[price] -= size
            if lv[price] <= 0:
                del lv[price]
        asks = sorted(book[-1].items())[:levels]
        bids = sorted(book[1].items(), reverse=True)[:levels]
        row = []
        for k in range(levels):
            row += list(asks[k]) if k < len(asks) else [E, 0]
            row += list(bids[k]) if k < len(bids) else [-E, 0]
        rows.append(",".join(map(str, row)))
    return rows


BOOKS = lobster_rows(MESSAGES)


def mutate_lines(lines: list[str], ops: list[tuple[int, float, int]]) -> list[str]:
    out = list(lines)
    for op, where, v in ops:
        if not out:
            break
        i = min(int(where * len(out)), len(out) - 1)
        parts = out[i].split(",")
        if op == 0:
            parts[v % len(parts)] = TOKENS[v % len(TOKENS)]
        elif op == 1:
            parts.append(TOKENS[v % len(TOKENS)])
        elif op == 2 and len(parts) > 1:
            del parts[v % len(parts)]
        elif op == 3:
            out[i] = out[i][: v % (len(out[i]) + 1)]
            continue
        elif op == 4:
            out.insert(i, "".join(chr(32 + (v * k) % 200) for k in range(v % 30)))
            continue
        out[i] = ",".join(parts)
    return out


@FUZZ
@given(mops=st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.integers(0, 10**6)), max_size=4),
       bops=st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.integers(0, 10**6)), max_size=4),
       encoding=st.sampled_from(["ascii", "utf-8", "latin-1"]), tick=st.sampled_from([0.0001, 0.01]))  # fmt: skip
def test_lobster_mutated_csvs(tmp_path: Path, mops: list, bops: list, encoding: str, tick: float) -> None:
    """Bad columns, non-numeric fields, wrong column counts, junk lines, non-ASCII bytes in both files."""
    m = tmp_path / LOB_MSG
    o = tmp_path / LOB_BOOK
    m.write_bytes("".join(x + "\n" for x in mutate_lines(MESSAGES, mops)).encode(encoding, "replace"))
    o.write_bytes("".join(x + "\n" for x in mutate_lines(BOOKS, bops)).encode(encoding, "replace"))
    exercise(lambda strict: LobsterReader(m, o, strict=strict, tick_size=tick), m, o)
    exercise(lambda strict: LobsterReader(m, None, strict=strict, tick_size=tick), m)


@pytest.fixture(scope="module")
def real_lobster_head(shared_data: Path) -> tuple[list[str], list[str]]:
    """The first 40 rows of the GOOG level-10 sample (a 40-column orderbook)."""
    d = shared_data / "lobster"
    msg = d / "GOOG_2012-06-21_34200000_57600000_message_10.csv"
    book = d / "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv"
    if not msg.is_file() or not book.is_file():
        pytest.skip(f"LOBSTER GOOG sample not found in {d}")
    with open(msg) as f1, open(book) as f2:
        return [next(f1).rstrip("\n") for _ in range(40)], [next(f2).rstrip("\n") for _ in range(40)]


@FUZZ
@given(mops=st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.integers(0, 10**6)), max_size=3),
       bops=st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1), st.integers(0, 10**6)), max_size=3))  # fmt: skip
def test_lobster_mutated_real_sample(tmp_path: Path, real_lobster_head: tuple, mops: list, bops: list) -> None:
    msgs, rows = real_lobster_head
    m = tmp_path / "GOOG_2012-06-21_34200000_57600000_message_10.csv"
    o = tmp_path / "GOOG_2012-06-21_34200000_57600000_orderbook_10.csv"
    m.write_text("".join(x + "\n" for x in mutate_lines(msgs, mops)))
    o.write_text("".join(x + "\n" for x in mutate_lines(rows, bops)))
    exercise(lambda strict: LobsterReader(m, o, strict=strict, tick_size=0.01), m, o)


def _lobster(tmp: Path, msgs: list[str], rows: list[str] | None) -> tuple[Path, Path | None]:
    m = tmp / LOB_MSG
    m.write_text("".join(x + "\n" for x in msgs))
    if rows is None:
        return m, None
    o = tmp / LOB_BOOK
    o.write_text("".join(x + "\n" for x in rows))
    return m, o


def test_lobster_non_ascii_bytes_are_a_bad_field_on_their_line(tmp_path: Path) -> None:
    m = tmp_path / LOB_MSG
    m.write_bytes(b"34200.1,1,11,100,1000000,1\n34200.2,1,12,1\xe900,1000100,-1\n")
    with pytest.raises(DataError, match=re.escape(f"{m}, line 2: non-integer field")):
        list(LobsterReader(m).chunks())
    m, o = _lobster(tmp_path, MESSAGES[:2], BOOKS[:2])
    assert o is not None
    o.write_bytes(o.read_bytes().replace(b"1000100,", b"1000100,\xc3", 1))
    with pytest.raises(DataError, match=re.escape(f"{o}, line 1: non-integer field")):
        list(LobsterReader(m, o).chunks())


def test_lobster_out_of_range_fields(tmp_path: Path) -> None:
    for line, what in [
        ("34200.1,1,11,99999999999999999999999,1000000,1", "size 99999999999999999999999 out of range"),
        ("34200.1,1,11,100,99999999999999999999999,1", "price 99999999999999999999999 out of range"),
        ("9" * 5000 + ".1,1,11,100,1000000,1", "bad time"),
    ]:
        m, _ = _lobster(tmp_path, [line], None)
        with pytest.raises(DataError, match=re.escape(f"{m}, line 1: {what}")):
            list(LobsterReader(m).chunks())
        r = LobsterReader(m, strict=False)
        assert [len(c) for c in r.chunks()] == [] and r.stats.malformed == 1


@pytest.mark.parametrize(
    "row, what",
    [
        (f"1000100,-1,1000000,100,{E},0,{-E},0", "ask level 1: size -1 out of range"),
        (f"1000100,10,1000000,100,{E},5,{-E},0", "ask level 2 is empty (price 9999999999) but has size 5"),
        (f"1000100,10,1000000,100,1000000,5,{-E},0", "ask level 2: price 1000000 does not come after 1000100"),
        (f"{E},0,1000000,100,1000100,5,{-E},0", "ask level 2 has a price after an empty level"),
        (f"1000100,10,1000000,100,{E},0,{-E},0,7", "9 fields, expected 8"),
        (f"1000150,10,1000000,100,{E},0,{-E},0", "ask level 1: price 1000150 is not a multiple of the tick size"),
    ],
)
def test_lobster_bad_orderbook_rows(tmp_path: Path, row: str, what: str) -> None:
    """Rows that are not a LOBSTER book: strict names file and line; lenient skips the row (once an
    AssertionError in reconciliation for a negative size)."""
    m, o = _lobster(tmp_path, MESSAGES[:3], [BOOKS[0], row, BOOKS[0]])
    with pytest.raises(DataError, match=re.escape(f"{o}, line 2: {what}")):
        list(LobsterReader(m, o, tick_size=0.01).chunks())
    r = LobsterReader(m, o, tick_size=0.01, strict=False)
    assert sum(len(c) for c in r.chunks()) > 0
    assert r.stats.malformed == 1 and r.stats.examples[0].startswith(f"{o}, line 2: ")


def test_lobster_short_and_long_rows_do_not_pair_up(tmp_path: Path) -> None:
    """One row with a field too few and the next with one too many hold whole rows' worth of numbers:
    the block parser used to realign them silently."""
    short = "1000100,10,1000000,100,9999999999,0,-9999999999"
    long_ = "0," + BOOKS[0]
    m, o = _lobster(tmp_path, MESSAGES[:3], [BOOKS[0], short, long_])
    with pytest.raises(DataError, match=re.escape(f"{o}, line 2: 7 fields, expected 8")):
        list(LobsterReader(m, o).chunks())


# --------------------------------------------------------------------------- Databento DBN


def _dbn_file(tmp: Path, body: bytes, zst: bool, name: str = "f.mbo.dbn") -> Path:
    meta = dbn_metadata()
    p = tmp / (name + (".zst" if zst else ""))
    if zst:
        c = zstandard.ZstdCompressor()
        p.write_bytes(c.compress(meta) + c.compress(body))
    else:
        p.write_bytes(meta + body)
    return p


@FUZZ
@given(ops=MUTATIONS, zst=st.booleans(), tick=st.sampled_from(["0.000000001", "0.25"]))
def test_dbn_mutated_records(tmp_path: Path, ops: list, zst: bool, tick: str) -> None:
    """Hand-made MBO records (every action), mutated after the metadata: framing, rtypes, actions, sides."""
    p = _dbn_file(tmp_path, mutate(b"".join(DBN_SESSION), ops), zst)
    exercise(lambda strict: DbnMboReader(p, tick_size=tick, strict=strict), p)


@FUZZ
@given(ops=MUTATIONS)
def test_dbn_mutated_whole_file(tmp_path: Path, ops: list) -> None:
    """Mutations anywhere, the metadata and the zstd framing included."""
    p = _dbn_file(tmp_path, b"".join(DBN_SESSION), True)
    p.write_bytes(mutate(p.read_bytes(), ops))
    exercise(lambda strict: DbnMboReader(p, strict=strict), p)


@pytest.fixture(scope="module")
def esh4_snapshot(shared_data: Path) -> bytes:
    p = shared_data / "databento" / "esh4-glbx-mdp3-20231224.mbo.dbn.zst"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p.read_bytes()


@settings(FUZZ, max_examples=max(1, N_EXAMPLES * 5 // 8))
@given(
    flips=st.lists(st.tuples(st.floats(0, 1, allow_nan=False), st.integers(1, 255)), min_size=1, max_size=4),
    cut=st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
)
def test_dbn_corrupted_real_zst(tmp_path: Path, esh4_snapshot: bytes, flips: list, cut: float | None) -> None:
    """The real ESH4 .dbn.zst with bytes flipped and/or cut off."""
    b = bytearray(esh4_snapshot)
    for where, x in flips:
        b[min(int(where * len(b)), len(b) - 1)] ^= x
    if cut is not None:
        del b[int(cut * len(b)) :]
    p = tmp_path / "esh4.mbo.dbn.zst"
    p.write_bytes(bytes(b))
    exercise(lambda strict: DbnMboReader(p, tick_size=0.25, strict=strict), p, chunk_size=65536)


def test_dbn_truncated_real_zst(tmp_path: Path, esh4_snapshot: bytes) -> None:
    p = tmp_path / "esh4.mbo.dbn.zst"
    p.write_bytes(esh4_snapshot[: len(esh4_snapshot) // 2])
    with pytest.raises(DataError, match=re.escape(str(p)) + r".*(record \d+|byte \d+)"):
        list(DbnMboReader(p, tick_size=0.25).chunks())


def _sym_mapping_v1(symbol: bytes) -> bytes:
    """A DBN v1 symbol-mapping record (80 bytes) with a raw stype_in symbol."""
    head = bytes([20, 0x16]) + struct.pack("<HIQ", 1, 17077, 0)
    return head + symbol.ljust(22, b"\0") + b"ESH4".ljust(22, b"\0") + bytes(4) + struct.pack("<QQ", 0, 1)


@pytest.mark.parametrize(
    "bad, what",
    [
        (bytes([12, 0xA0]) + DBN_SESSION[1][2:48], "MBO record of 48 bytes, expected 56"),  # decoder panicked
        (bytes([4, 0x00]) + bytes(14), "undecodable record: .*TradeMsg"),  # decoder panicked
        (DBN_SESSION[1][:40] + b"\xff" * 8 + DBN_SESSION[1][48:], "ts_recv 18446744073709551615 is undefined"),
        (_sym_mapping_v1(b"\xff\xfeES"), "symbol mapping with a bad symbol"),
    ],
)
def test_dbn_record_errors_found_by_fuzzing(tmp_path: Path, bad: bytes, what: str) -> None:
    p = _dbn_file(tmp_path, DBN_SESSION[0] + bad + DBN_SESSION[1], zst=False)
    with pytest.raises(DataError, match=re.escape(f"{p}, record 1 (byte 56): ") + what):
        list(DbnMboReader(p).chunks())
    r = DbnMboReader(p, strict=False)
    e = np.concatenate(list(r.chunks()))
    assert r.stats.malformed == 1 and len(e) >= 2 and r.stats.examples[0].startswith(f"{p}, record 1 (byte 56): ")


# --------------------------------------------------------------------------- Binance


def _binance_lines(n_levels: int = 5) -> list[bytes]:
    t0 = 1723161256000
    recs: list[Any] = [
        {"stream": "btcusdt@depth@0ms", "data": {"e": "depthUpdate", "E": t0, "T": t0, "s": "BTCUSDT", "U": 90,
                                                   "u": 95, "pu": 89, "b": [["100.0", "9"]], "a": []}},
        {"lastUpdateId": 100, "E": t0 + 1, "T": t0 + 1,
         "bids": [[f"{100 - i * 0.1:.1f}", "1.000"] for i in range(n_levels)],
         "asks": [[f"{100.1 + i * 0.1:.1f}", "2.000"] for i in range(n_levels)]},
        {"stream": "btcusdt@depth@0ms", "data": {"e": "depthUpdate", "E": t0 + 2, "T": t0 + 2, "s": "BTCUSDT",
                                                   "U": 96, "u": 101, "pu": 95, "b": [["99.9", "0"]],
                                                   "a": [["100.1", "1.5"]]}},
        {"stream": "btcusdt@trade", "data": {"e": "trade", "E": t0 + 3, "T": t0 + 3, "s": "BTCUSDT", "t": 7,
                                               "p": "100.1", "q": "0.004", "X": "MARKET", "m": False}},
        {"stream": "btcusdt@bookTicker", "data": {"e": "bookTicker", "u": 101, "s": "BTCUSDT", "b": "100.0",
                                                    "B": "1.000", "a": "100.1", "A": "1.500", "T": t0 + 3,
                                                    "E": t0 + 3}},
    ]  # fmt: skip
    return [f"{(t0 + i) * 10**6} {json.dumps(r)}\n".encode() for i, r in enumerate(recs)]


JUNK_LINES = [b"", b" ", b"x y", b"123", b"-5 {}", b"1 null", b"1 [1]", b'1 "s"', b"\xff\xfe"]
JUNK = [None, True, 0, -1, 1.5, "x", "", "NaN", [], {}, [[]], [["1"]], 2**70, "1" * 40, [["1", "2", "3"]], 1e308]


def _mutate_json(obj: Any, path: list[int], value: int) -> None:
    """Delete or replace the value reached by following ``path`` (indices into keys / items)."""
    for step in path:
        items = list(obj) if isinstance(obj, dict) else list(range(len(obj))) if isinstance(obj, list) else []
        if not items:
            return
        key = items[step % len(items)]
        child = obj[key]
        if not isinstance(child, dict | list) or step % 3 == 0:
            if value % 4 == 0:
                del obj[key]
            else:
                obj[key] = JUNK[value % len(JUNK)]
            return
        obj = child


@FUZZ
@given(
    edits=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 5), st.lists(st.integers(0, 50), max_size=4), st.integers(0, 99)),
        min_size=1,
        max_size=4,
    ),
    gz_cut=st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
)
def test_binance_broken_lines(tmp_path: Path, edits: list, gz_cut: float | None) -> None:
    """Broken JSON, wrong types and missing fields, bad prefixes, junk lines; gzip cut off."""
    lines = _binance_lines()
    for kind, i, path, v in edits:
        i %= len(lines)
        head, _, body = lines[i].partition(b" ")
        if kind == 0:  # broken JSON: cut the line
            lines[i] = lines[i][: v % len(lines[i])] + b"\n"
        elif kind == 1:  # one byte replaced
            b = bytearray(lines[i])
            b[v % len(b)] = (v * 37) % 256
            lines[i] = bytes(b)
        elif kind == 2:  # a value of the wrong type, or gone
            try:
                obj = json.loads(body)
            except ValueError:  # already broken by an earlier edit
                continue
            if not isinstance(obj, dict):
                continue
            _mutate_json(obj, [1, *path] if "data" in obj else path, v)
            lines[i] = head + b" " + json.dumps(obj).encode() + b"\n"
        elif kind == 3:  # a junk line
            lines.insert(i, JUNK_LINES[v % len(JUNK_LINES)] + b"\n")
        else:  # a bad local timestamp
            lines[i] = str(v - 50).encode() + b"x " + body
    data = b"".join(lines)
    if gz_cut is not None:
        data = gzip.compress(data)
        data = data[: int(gz_cut * len(data))]
    p = tmp_path / "cap.gz"
    p.write_bytes(data)
    exercise(lambda strict: BinanceDepthReader(p, strict=strict), p)


@pytest.fixture(scope="module")
def real_binance_head(shared_data: Path) -> list[bytes]:
    """The first 80 lines of the BTCUSDT capture (the REST snapshot at line 55 cut to 20 levels a side)."""
    p = shared_data / "binance" / "usdm" / "btcusdt_20240808.gz"
    if not p.is_file():
        pytest.skip(f"{p} not found")
    out = []
    with gzip.open(p, "rb") as f:
        for _, line in zip(range(80), f, strict=False):
            head, _, body = line.partition(b" ")
            if b"lastUpdateId" in body:
                o = json.loads(body)
                o["bids"], o["asks"] = o["bids"][:20], o["asks"][:20]
                line = head + b" " + json.dumps(o).encode() + b"\n"
            out.append(line)
    return out


@FUZZ
@given(ops=st.lists(st.tuples(st.integers(0, 79), st.integers(0, 10**6)), min_size=1, max_size=5))
def test_binance_mutated_real_capture(tmp_path: Path, real_binance_head: list[bytes], ops: list) -> None:
    lines = list(real_binance_head)
    for i, v in ops:
        line = lines[i % len(lines)]
        if v % 2:
            lines[i % len(lines)] = line[: v % len(line)] + b"\n"
        else:
            b = bytearray(line)
            b[v % len(b)] = v % 251
            lines[i % len(lines)] = bytes(b)
    p = tmp_path / "btc.txt"
    p.write_bytes(b"".join(lines))
    exercise(lambda strict: BinanceDepthReader(p, strict=strict), p)


def test_binance_cut_off_gzip(tmp_path: Path) -> None:
    """A capture whose gzip stream ends early (a collector killed mid-write) used to raise EOFError."""
    data = gzip.compress(b"".join(_binance_lines() * 50))
    p = tmp_path / "cap.gz"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=re.escape(str(p)) + r", line \d+: decompression failed"):
        list(BinanceDepthReader(p).chunks())
    r = BinanceDepthReader(p, strict=False, require_snapshot=False)
    n = sum(len(c) for c in r.chunks())
    assert n > 0 and r.stats.findings["truncated_stream"] == 1


@pytest.mark.parametrize(
    "field, value, what",
    [
        ("t", 2**70, "bad trade id"),
        ("E", 10**30, "bad event time"),
        ("p", "1" * 40, "price 1111111111111111111111111111111111111111 out of range"),
        ("q", "1" * 40, "quantity 1111111111111111111111111111111111111111 out of range"),
    ],
)
def test_binance_values_beyond_int64(tmp_path: Path, field: str, value: Any, what: str) -> None:
    lines = _binance_lines()
    head, _, body = lines[3].partition(b" ")
    obj = json.loads(body)
    obj["data"][field] = value
    lines[3] = head + b" " + json.dumps(obj).encode() + b"\n"
    p = tmp_path / "cap.txt"
    p.write_bytes(b"".join(lines))
    with pytest.raises(DataError, match=re.escape(f"{p}, line 4: {what}")):
        list(BinanceDepthReader(p).chunks())
    r = BinanceDepthReader(p, strict=False)
    assert sum(len(c) for c in r.chunks()) > 0 and r.stats.malformed == 1


def test_dbn_truncated_metadata_read_is_bounded(tmp_path: Path) -> None:
    """A metadata length of 4 GB in a tiny file: read in bounded pieces, reported as truncated."""
    p = tmp_path / "big.dbn"
    p.write_bytes(b"DBN\x01" + struct.pack("<I", 0xFFFFFFF0) + bytes(100))
    with pytest.raises(DataError, match=re.escape(f"{p}, metadata (byte 8): truncated DBN metadata")):
        list(DbnMboReader(p).chunks())
