"""The numba ITCH path (``ItchReader(fast=True)``, the default) against the reference decoder (``fast=False``).

Seeded random streams hold every message type, malformed frames (zero
length, unknown type, wrong length, bad side / printable bytes), unknown,
reused and overfilled references, replaces (also onto a live reference and
onto themselves), references at and above 2**63, off-tick prices and a
truncated tail; they are read with and without a symbols filter, strict and
lenient, at several chunk and block sizes, as BinaryFILE, gzip and MoldUDP64
pcap. Both paths must give identical events, chunk sizes, stats (findings
texts included), side tables and ``on_message`` calls, or raise the same
DataError. Hypothesis adds raw and mutated byte streams.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.feeds import itch_fast
from adapters.feeds.itch import MESSAGE_FIELDS, MESSAGE_LENGTHS, ItchReader
from adapters.feeds.itch_encoder import encode_message, frame, write_moldudp64_pcap
from kernel.errors import DataError

NAME = "feed_20190130.itch"
T0 = 34_200_000_000_000
SYMBOLS = ["AAA", "BBB", "CCC", "DDDDDDDD", "E"]
BOOK = "AFECXDUPQ"
OTHER = "SRHYLVWKJhBINO"
HUGE = [2**63, 2**63 + 5, 2**64 - 1, 2**63 - 1]


def random_stream(seed: int, n: int = 1500, leading_r: bool = True, malformed: float = 0.03) -> bytes:
    """A BinaryFILE of ``n`` random messages (see the module docstring); same seed, same bytes."""
    rnd = random.Random(seed)
    ts = T0
    live: list[int] = []
    out: list[bytes] = []
    if leading_r:
        for loc, s in enumerate(SYMBOLS, 1):
            out.append(frame(encode_message("R", stock_locate=loc, timestamp=ts, stock=s)))

    def ref() -> int:
        r = rnd.random()
        if live and r < 0.75:
            return rnd.choice(live)
        if r < 0.8:
            return rnd.choice(HUGE)
        return rnd.randrange(1, 400)

    def price() -> int:
        return rnd.randrange(9000, 11000) * (100 if rnd.random() < 0.9 else 1)

    for _ in range(n):
        ts += rnd.randrange(0, 5000)
        loc = rnd.randrange(1, len(SYMBOLS) + 2)  # one locate no R names
        side = rnd.choice([b"B", b"S", b"B", b"S", b"X"] if rnd.random() < malformed * 5 else [b"B", b"S"])
        hdr = {"stock_locate": loc, "timestamp": ts, "tracking_number": rnd.randrange(4)}
        t = rnd.choice(BOOK * 4 + OTHER)
        if t in "AF":
            r = ref() if rnd.random() < 0.1 else rnd.randrange(1, 2**40)
            if rnd.random() < 0.03:
                r = rnd.choice(HUGE)
            live.append(r)
            extra = {"attribution": "MPID"} if t == "F" else {}
            f = {"order_reference_number": r, "shares": rnd.randrange(1, 500), "stock": "AAA", "price": price()}
            m = encode_message(t, **hdr, **f, buy_sell_indicator=side, **extra)
        elif t in "EXC":
            r = ref()
            q = rnd.randrange(1, 300)
            if t == "X":
                m = encode_message(t, **hdr, order_reference_number=r, cancelled_shares=q)
            elif t == "E":
                m = encode_message(t, **hdr, order_reference_number=r, executed_shares=q, match_number=7)
            else:
                pr = rnd.choice([b"Y", b"N", b"Y", b"N", b"?"] if rnd.random() < malformed * 5 else [b"Y", b"N"])
                m = encode_message(
                    t, **hdr, order_reference_number=r, executed_shares=q, match_number=8, printable=pr,
                    execution_price=price(),
                )  # fmt: skip
        elif t == "D":
            m = encode_message(t, **hdr, order_reference_number=ref())
        elif t == "U":
            old = ref()
            new = rnd.choice([old, ref(), rnd.randrange(1, 2**40), rnd.randrange(1, 2**40)])
            live.append(new)
            m = encode_message(
                t, **hdr, original_order_reference_number=old, new_order_reference_number=new,
                shares=rnd.randrange(1, 500), price=price(),
            )  # fmt: skip
        elif t == "P":
            m = encode_message(
                t, **hdr, order_reference_number=rnd.choice([0, ref()]), buy_sell_indicator=side,
                shares=rnd.randrange(1, 100), stock="AAA", price=price(), match_number=9,
            )  # fmt: skip
        elif t == "Q":
            m = encode_message(
                t, **hdr, shares=rnd.randrange(1, 2**34), stock="AAA", cross_price=price(), cross_type="O"
            )
        elif t == "R":
            m = encode_message(t, **hdr, stock=rnd.choice(SYMBOLS + ["ZZZ"]))
        elif t == "S":
            m = encode_message(t, **hdr, event_code=rnd.choice("OSQMEC"))
        elif t == "H":
            m = encode_message(t, **hdr, stock=rnd.choice(SYMBOLS), trading_state=rnd.choice("HPQT"), reason="LUDP")
        elif t == "V":
            m = encode_message(t, **hdr, level1=rnd.randrange(2**40), level2=2, level3=3)
        elif t == "W":
            m = encode_message(t, **hdr, breached_level=rnd.choice("123"))
        elif t == "B":
            m = encode_message(t, **hdr, match_number=rnd.randrange(2**40))
        else:
            m = encode_message(
                t, **hdr, **({"stock": rnd.choice(SYMBOLS)} if "stock" in dict(MESSAGE_FIELDS[t]) else {})
            )
        if len(live) > 300:
            del live[: len(live) // 2]
        r = rnd.random()
        if r < malformed:  # a malformed frame
            kind = rnd.randrange(4)
            if kind == 0:
                m = b""
            elif kind == 1:
                m = bytes([rnd.choice(b"abGMTZ0!")]) + m[1:]
            elif kind == 2:
                m = m[:-1]
            else:
                m = m + b"\0"
        out.append(frame(m))
    data = b"".join(out)
    if rnd.random() < 0.3:
        data += frame(encode_message("A", stock_locate=1, timestamp=ts, order_reference_number=1))[:20]
    return data


def outcome(path: Path, fast: bool, chunk_size: int = 65536, watch: bool = True, **kw: Any) -> dict[str, Any]:
    """Everything a read gives: events, chunk sizes, stats, tables and (``watch``) on_message calls, or the error."""
    seen: list[dict] = []
    try:
        r = ItchReader(path, fast=fast, on_message=seen.append if watch else None, **kw)
        chunks = list(r.chunks(chunk_size))
    except DataError as e:
        return {"error": str(e)}
    return {
        "events": np.concatenate(chunks).tobytes() if chunks else b"",
        "sizes": [len(c) for c in chunks],
        "stats": r.stats.as_dict(),
        "stats_events": r.stats.events,
        "tables": (
            r.stock_directory, r.instruments, r.trading_status, r.reg_sho, r.operational_halts, r.system_events,
            r.mwcb_levels, r.mwcb_breaches, r.broken_trades,
        ),
        "seen": seen,
        "live_orders": r.live_orders,
    }  # fmt: skip


def assert_same(path: Path, **kw: Any) -> dict[str, Any]:
    fast = outcome(path, True, **kw)
    ref = outcome(path, False, **kw)
    assert fast.keys() == ref.keys(), (fast.get("error"), ref.get("error"))
    for key in ref:
        assert fast[key] == ref[key], key
    return fast


@pytest.mark.parametrize("seed", range(12))
def test_random_streams_give_identical_results(tmp_path: Path, seed: int) -> None:
    path = tmp_path / NAME
    path.write_bytes(random_stream(seed))
    rnd = random.Random(seed)
    lenient = assert_same(path, strict=False, chunk_size=rnd.choice([1, 7, 500, 65536]))
    assert lenient["stats"]["malformed"] and lenient["stats"]["unknown_refs"] and lenient["stats"]["findings"]
    strict = assert_same(path, strict=True)
    assert "error" in strict
    assert_same(path, strict=False, tick_size=0.01, block_size=rnd.choice([1, 50, 4096]), chunk_size=333)
    assert_same(path, strict=False, watch=False)
    assert_same(path, strict=False, symbols={"AAA", "DDDDDDDD", "E "}, chunk_size=64)
    assert_same(path, strict=True, symbols={"BBB"}, tick_size=0.01)


@pytest.mark.parametrize("seed", range(4))
def test_well_formed_streams(tmp_path: Path, seed: int) -> None:
    path = tmp_path / NAME
    path.write_bytes(random_stream(100 + seed, n=3000, malformed=0.0))
    got = assert_same(path, strict=False, chunk_size=1000)
    assert got["stats"]["malformed"] == 0 and got["stats"]["events"] > 2000


def test_symbols_filter_without_directory_raises_in_both(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_bytes(random_stream(7, leading_r=False, malformed=0.0))
    for strict in (True, False):
        fast = outcome(path, True, symbols={"AAA"}, strict=strict)
        ref = outcome(path, False, symbols={"AAA"}, strict=strict)
        assert "no stock directory" in fast.get("error", "")
        if not strict:
            assert fast == ref


def test_gzip_and_pcap_inputs(tmp_path: Path) -> None:
    data = random_stream(21, malformed=0.0)
    gz = tmp_path / "feed_20190130.itch.gz"
    gz.write_bytes(gzip.compress(data))
    assert_same(gz, strict=False, block_size=777, chunk_size=100)
    msgs, pos = [], 0
    while pos + 2 <= len(data):
        n = (data[pos] << 8) | data[pos + 1]
        if pos + 2 + n > len(data):
            break
        msgs.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    pcap = tmp_path / "feed_20190130.pcap"
    write_moldudp64_pcap(msgs, pcap, max_payload=600)
    got = assert_same(pcap, strict=False, chunk_size=50, block_size=2000)
    assert got["stats"]["packets"] > 10
    assert_same(pcap, strict=False, symbols={"CCC"})


def test_huge_references_and_map_growth(tmp_path: Path) -> None:
    """2**63 is the one key the kernel's table cannot hold in a slot; 40k live orders make the map grow."""
    msgs = [encode_message("R", stock_locate=1, stock="AAA")]
    refs = [2**63, 2**63 + 1, 2**64 - 1, 0, *range(1, 40_000)]
    for r in refs:
        msgs.append(encode_message("A", stock_locate=1, order_reference_number=r, buy_sell_indicator=b"B",
                                   shares=10, stock="AAA", price=100))  # fmt: skip
    for r in refs[::3]:
        msgs.append(encode_message("E", stock_locate=1, order_reference_number=r, executed_shares=4))
    for r in refs[::2]:
        msgs.append(encode_message("U", stock_locate=1, original_order_reference_number=r,
                                   new_order_reference_number=r ^ (1 << 62), shares=5, price=200))  # fmt: skip
    for r in refs[1::2]:
        msgs.append(encode_message("D", stock_locate=1, order_reference_number=r))
    path = tmp_path / NAME
    path.write_bytes(b"".join(frame(m) for m in msgs))
    got = assert_same(path, strict=True)
    assert got["stats"]["unknown_refs"] == 0 and got["live_orders"] == len(refs[::2])


def test_kernel_map_primitives() -> None:
    """Insert, overwrite, remove with backward shift, growth: against a dict."""
    st = itch_fast.new_state(0, 1, True, False)
    table = itch_fast.new_table(st, 8)
    model: dict[int, tuple[int, int, int]] = {}
    rnd = random.Random(3)
    keys = [rnd.randrange(-(2**63), 2**63) for _ in range(40)] + [itch_fast.EMPTY, 0, 1]
    for step in range(4000):
        k = rnd.choice(keys)
        if rnd.random() < 0.55:
            if 2 * (st[itch_fast.P_MAPN] + 1) > table.shape[0] - 1:
                table = itch_fast.grow_table(st, table)
            itch_fast.map_put(st, table, k, step, step + 1, -1)
            model[k] = (step, step + 1, -1)
        else:
            i = itch_fast.map_find(st, table, k)
            assert (i >= 0) == (k in model)
            if i >= 0:
                assert tuple(table[i, 1:]) == model.pop(k)
                itch_fast.map_remove(st, table, i)
        assert st[itch_fast.P_MAPN] == len(model)
    for k, v in model.items():
        i = itch_fast.map_find(st, table, k)
        assert i >= 0 and tuple(table[i, 1:]) == v


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=0, max_size=600))
def test_fuzz_raw_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / NAME
    path.write_bytes(data)
    assert_same(path, strict=False, chunk_size=3)
    assert_same(path, strict=True)


_BASE = random_stream(5, n=120, malformed=0.0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, len(_BASE) - 1), st.integers(0, 255)), max_size=8))
# A length byte that makes the last frame run past the end: the final events come out of the
# kernel one more than a chunk (its last message gave two), and must still be split.
@example(edits=[(2560, 7)])
def test_fuzz_mutated_stream(tmp_path: Path, edits: list[tuple[int, int]]) -> None:
    data = bytearray(_BASE)
    for pos, value in edits:
        data[pos] = value
    path = tmp_path / NAME
    path.write_bytes(bytes(data))
    assert_same(path, strict=False, chunk_size=10, block_size=97)
    assert_same(path, strict=False, symbols={"AAA"})


def test_message_lengths_agree() -> None:
    assert {chr(i): int(n) for i, n in enumerate(itch_fast.LEN) if n > 0} == MESSAGE_LENGTHS
