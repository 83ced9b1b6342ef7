"""ITCH encoder <-> reader round trips: byte-exact on encoder-made files, and the LOBSTER samples.

Directions checked:

* bytes -> events -> bytes: for a BinaryFILE (or MoldUDP64 pcap) that
  :func:`~adapters.feeds.itch_encoder.encode_events` wrote, encoding what the
  reader parses from it (``join_replaces=True``) gives back the very same
  bytes, replaces ('U') included; events -> bytes -> events is then a fixed
  point on the reader's own output. (tests/test_itch.py checks events ->
  bytes -> events on arbitrary valid streams, with the normalizations of the
  encoder's docstring.)
* LOBSTER -> ITCH -> canonical: the AAPL level-1 and GOOG level-10 samples,
  read by :class:`~adapters.feeds.lobster.LobsterReader` (orderbook file,
  reconciliation on), rendered by the encoder and parsed back by
  :class:`~adapters.feeds.itch.ItchReader` give exactly the same events -
  ts, order id, price, qty, instrument, action and side of every one - with
  one normalization, the flags:

  - every event comes back with ``F_LAST`` alone: ITCH marks each message
    atomic, so LOBSTER's grouping (F_LAST only on a message's last event) and
    ``F_SNAPSHOT`` are not carried;
  - hidden executions (LOBSTER type 5, TRADE ``F_HIDDEN``) go out as ITCH
    'P' and come back as plain TRADEs with the same aggressor side and order
    id. They must go through :func:`~adapters.feeds.itch_encoder.from_lobster`
    first: LOBSTER's ``F_HIDDEN`` bit (0x10) is ITCH's ``F_CROSS``, and sent
    as is every hidden execution would become a cross ('Q');
  - the orders resting before the file starts - the reader's snapshot ADDs
    (synthetic ids >= 2**60, at the time of the first message) - become 'A'
    messages at the file's start, and its reconciliation ADDs / CANCELs
    (levels entering the visible window) become 'A' / 'X' messages.

  No TRADE side, price or id changes: the samples hold no cross trades, and
  every CANCEL / EXECUTE names an order the ITCH reader knows (no
  F_UNKNOWN_ORDER).
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.feeds.itch import ItchReader
from adapters.feeds.itch_encoder import (
    encode_events,
    from_lobster,
    random_l3_events,
    split_binaryfile,
    write_moldudp64_pcap,
)
from adapters.feeds.lobster import F_HIDDEN, LobsterReader
from adapters.feeds.validate import SYNTHETIC_ID_BASE
from kernel.events import ADD, CANCEL, EXECUTE, F_LAST, F_SNAPSHOT, MD_DTYPE, MODIFY, TRADE
from tests.test_itch import l3_streams

DAY = date(2019, 1, 30)
SYMBOLS = {i: f"SYM{i}" for i in range(1, 5)}
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def reparse(tmp: Path, data: bytes, name: str = "rt_20190130.itch", **kw) -> tuple[np.ndarray, ItchReader]:
    p = tmp / name
    p.write_bytes(data)
    r = ItchReader(p, **kw)
    return r.read(), r


@SETTINGS
@given(n=st.integers(0, 600), seed=st.integers(0, 2**32 - 1), n_inst=st.integers(1, 4))
def test_bytes_events_bytes_is_exact(tmp_path: Path, n: int, seed: int, n_inst: int) -> None:
    """Encoder-made files with every book message type, replaces included, re-encode to the same bytes."""
    events = random_l3_events(n, seed=seed, day=DAY, n_instruments=n_inst)
    symbols = {i: SYMBOLS[i] for i in range(1, n_inst + 1)}
    data = encode_events(events, symbols, DAY)
    back, r = reparse(tmp_path, data)
    assert r.instruments == symbols
    assert encode_events(back, r.instruments, DAY, join_replaces=True) == data
    # ... and the reader's output is a fixed point of encode + parse.
    again, _ = reparse(tmp_path, encode_events(back, r.instruments, DAY, join_replaces=True), "again_20190130.itch")
    assert np.array_equal(again, back)


@SETTINGS
@given(events=l3_streams())
def test_bytes_events_bytes_on_hand_made_streams(tmp_path: Path, events: np.ndarray) -> None:
    """The strategy of tests/test_itch.py (huge ids, prices and cross sizes, C with either printable flag)."""
    symbols = {1: "AAA", 2: "BBB", 3: "CCCCCCCC"}
    data = encode_events(events, symbols, DAY)
    back, r = reparse(tmp_path, data)
    assert encode_events(back, r.instruments, DAY, join_replaces=True) == data


def test_replace_pairs_join_only_when_asked(tmp_path: Path) -> None:
    events = random_l3_events(3000, seed=11, day=DAY, n_instruments=2)
    assert (events["action"] == MODIFY).sum() > 100
    data = encode_events(events, {1: "A", 2: "B"}, DAY)
    types = Counter(m[:1] for m in split_binaryfile(data))
    back, _ = reparse(tmp_path, data)
    plain = Counter(m[:1] for m in split_binaryfile(encode_events(back, {1: "A", 2: "B"}, DAY)))
    # Without join_replaces each U goes out as D + A (the same book).
    assert plain[b"U"] == 0 and plain[b"D"] == types[b"D"] + types[b"U"] and plain[b"A"] == types[b"A"] + types[b"U"]


def test_pcap_bytes_events_bytes_is_exact(tmp_path: Path) -> None:
    events = random_l3_events(2000, seed=5, day=DAY, n_instruments=3)
    data = encode_events(events, {1: "A", 2: "B", 3: "C"}, DAY)
    cap = tmp_path / "cap_20190130.pcap"
    write_moldudp64_pcap(data, cap, max_messages=9, end_of_session=True)
    r = ItchReader(cap)
    back = r.read()
    again = tmp_path / "again_20190130.pcap"
    write_moldudp64_pcap(encode_events(back, r.instruments, DAY, join_replaces=True), again, max_messages=9,
                         end_of_session=True)  # fmt: skip
    assert again.read_bytes() == cap.read_bytes()


# --------------------------------------------------------------------------- LOBSTER samples -> ITCH

SAMPLES = {
    "AAPL": ("AAPL_2012-06-21_34200000_57600000_{}_1.csv", 118_497),
    "GOOG": ("GOOG_2012-06-21_34200000_57600000_{}_10.csv", 147_916),
}


@pytest.mark.parametrize("ticker", sorted(SAMPLES))
def test_lobster_samples_through_itch_give_the_same_events(shared_data: Path, tmp_path: Path, ticker: str) -> None:
    name, n_messages = SAMPLES[ticker]
    d = shared_data / "lobster"
    if not (d / name.format("message")).is_file():
        pytest.skip(f"{d / name.format('message')} not found")
    lob = LobsterReader(d / name.format("message"), d / name.format("orderbook"), instrument=1, tick_size=0.01)
    ev = np.concatenate(list(lob.chunks()))
    info = lob.stats.info
    assert lob.stats.records == n_messages and lob.stats.malformed == 0

    itch = encode_events(from_lobster(ev), {1: ticker}, "2012-06-21", tick_size=0.01)
    back, r = reparse(tmp_path, itch, f"{ticker}_20120621.itch", tick_size=0.01)

    # Exactly the same events; the flags normalize to F_LAST (one ITCH message = one atomic update).
    assert len(back) == len(ev)
    for col in ("ts", "order_id", "price", "qty", "instrument", "action", "side"):
        assert np.array_equal(back[col], ev[col]), col
    assert bool(np.all(back["flags"] == F_LAST))
    assert r.stats.unknown_refs == 0 and r.stats.findings == [] and r.live_orders == info["resting_orders_at_end"]

    # One ITCH message per event, by type.
    hidden = (ev["action"] == TRADE) & (ev["flags"] & F_HIDDEN != 0)
    act = Counter(ev["action"].tolist())
    cancels = ev["action"] == CANCEL
    assert r.stats.messages == {
        "S": 2,
        "R": 1,
        "A": act[ADD],
        "D": int((cancels & (ev["qty"] == 0)).sum()),
        "X": int((cancels & (ev["qty"] > 0)).sum()),
        "E": act[EXECUTE],
        "P": int(hidden.sum()),
    }
    assert act[TRADE] == hidden.sum() > 0  # hidden executions only: no crosses in the samples

    # The orders resting before the file starts are Add Orders at its start.
    k = info["snapshot_orders"]
    snap = back[:k]
    assert k > 0 and bool(np.all(snap["action"] == ADD)) and bool(np.all(snap["order_id"] >= SYNTHETIC_ID_BASE))
    assert bool(np.all(snap["ts"] == info["first_ts"])) and bool(np.all(ev["flags"][:k] & F_SNAPSHOT))
    msgs = split_binaryfile(itch)
    assert [m[:1] for m in msgs[2 : 2 + k]] == [b"A"] * k

    # Sent without translating the flags, every hidden execution would become a cross ('Q').
    raw = Counter(m[:1] for m in split_binaryfile(encode_events(ev, {1: ticker}, "2012-06-21", tick_size=0.01)))
    assert raw[b"Q"] == hidden.sum() and raw[b"P"] == 0

    # And the ITCH rendering itself re-encodes byte for byte.
    assert encode_events(back, r.instruments, "2012-06-21", tick_size=0.01, join_replaces=True) == itch


def test_from_lobster_maps_the_flags() -> None:
    from adapters.feeds.itch import F_CROSS as ITCH_CROSS
    from adapters.feeds.lobster import F_CROSS as LOBSTER_CROSS

    ev = np.zeros(4, MD_DTYPE)
    ev["flags"] = [F_LAST | F_HIDDEN, LOBSTER_CROSS, F_SNAPSHOT | F_LAST, 0]
    assert from_lobster(ev)["flags"].tolist() == [F_LAST, ITCH_CROSS, F_SNAPSHOT | F_LAST, 0]
    assert ev["flags"][0] == F_LAST | F_HIDDEN  # a copy
