"""Render canonical L3 events as NASDAQ TotalView-ITCH 5.0 (BinaryFILE or MoldUDP64 pcap).

The encoder is the reader's inverse for the order-book subset, so scenarios can
become ITCH byte streams (for the hardware path and for round-trip tests).

:func:`encode_events` writes, as ``[u16 length][message]`` frames:

1. a system event 'S' with code 'O' (start of messages) at the first event's time;
2. one stock directory 'R' per instrument of ``symbols`` (locate = instrument id,
   which must be 1..65535; the other R fields get plain defaults: market
   category 'Q', round lot 100, ...);
3. one message per event:

   =========================================  ==========================================
   canonical event                            ITCH 5.0 message
   =========================================  ==========================================
   ADD                                        A (order ref = order_id)
   CANCEL qty > 0 / qty == 0                  X (cancelled shares) / D
   EXECUTE                                    E; C if flags has ``F_EXEC_PRICE`` (printable
                                              'N' if ``F_NON_PRINTABLE``, else 'Y')
   TRADE                                      P (order ref = order_id); Q if ``F_CROSS``
                                              (cross type 'O')
   MODIFY (order_id, price, qty)              U: original ref -> a new ref, shares, price
   with ``join_replaces=True``: CANCEL qty 0  U: the CANCEL's ref -> the ADD's id, its shares
   without ``F_LAST``, then an ADD at the     and price (what the reader makes of a 'U')
   same ts, instrument and side
   CLEAR, MARKET                              not representable: DataError
   =========================================  ==========================================

4. a system event 'S' with code 'C' (end of messages) at the last event's time.

MODIFY needs a new order reference, because ITCH replaces an order by a new
one. New references are allocated upwards from ``max(order_id) + 1``, so they
never collide with ids of the input; afterwards the encoder sends that
order's CANCEL/EXECUTE/MODIFY under its current ITCH reference. Match numbers
count from 1; tracking numbers are 0.

Round trip (``ItchReader`` on the output) gives back ts, action, side, price,
qty, order_id and instrument of every event, with these normalizations:

* flags: every event comes back with ``F_LAST`` (the reader marks each ITCH
  message atomic); ``F_EXEC_PRICE``/``F_NON_PRINTABLE``/``F_CROSS`` survive,
  other input flags do not; ``_pad`` is 0;
* CANCEL and plain EXECUTE come back with the resting order's price and side
  (ITCH X/D/E carry neither);
* MODIFY comes back as CANCEL(old ref, qty 0, old price, side) without
  ``F_LAST`` + ADD(new ref, price, qty, side), and later events of that order
  carry the new reference;
* a cross TRADE comes back with order_id 0 and side 0; a non-cross TRADE with
  side 0 is sent as 'B' and so comes back BUY (NASDAQ itself always sends 'B'
  in P messages);
* prices are ticks of ``tick_size`` both ways, so they must be whole numbers
  of ITCH price units (0.0001) and fit in 32 bits.

The other direction is byte-exact: for a file this encoder wrote, encoding
what the reader parses from it with ``join_replaces=True`` gives back the same
bytes (the replace-pair rule turns the reader's CANCEL + ADD back into the
'U'; match numbers are renumbered from 1 in the same order; the R defaults
are the same). Without ``join_replaces`` such a pair is sent as 'D' + 'A',
which rebuilds the same book.

Flags are read in the ITCH reader's meaning (:data:`~adapters.feeds.itch.ITCH_FLAGS`).
Other readers use the free bits differently (LOBSTER's ``F_HIDDEN`` is 0x10,
ITCH's ``F_CROSS``): :func:`from_lobster` translates LOBSTER reader events.

:func:`write_moldudp64_pcap` packs ITCH messages into MoldUDP64 packets in a
classic pcap file of Ethernet/IPv4/UDP frames.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from datetime import date as Date
from pathlib import Path
from typing import Any

import numpy as np

from adapters.feeds.itch import (
    F_CROSS,
    F_EXEC_PRICE,
    F_NON_PRINTABLE,
    HEADER_FIELDS,
    MESSAGE_FIELDS,
    MESSAGE_STRUCTS,
    midnight_ns,
    parse_date,
    tick_divisor,
)
from adapters.feeds.pcap import MOLD_END_OF_SESSION, ethernet_ipv4_udp, pack_moldudp64, write_pcap
from kernel.errors import DataError
from kernel.events import (
    ACTION_NAMES,
    ADD,
    BUY,
    CANCEL,
    EXECUTE,
    F_LAST,
    F_SNAPSHOT,
    MD_DTYPE,
    MODIFY,
    SELL,
    TRADE,
)

_U32 = 1 << 32
_TS_LIMIT = 1 << 48

# Full message structs (type byte included) for the per-event messages.
_A = struct.Struct(">cHHHIQcI8sI")
_X = struct.Struct(">cHHHIQI")
_D = struct.Struct(">cHHHIQ")
_E = struct.Struct(">cHHHIQIQ")
_C = struct.Struct(">cHHHIQIQcI")
_U = struct.Struct(">cHHHIQQII")
_P = struct.Struct(">cHHHIQcI8sIQ")
_Q = struct.Struct(">cHHHIQ8sIQc")


def encode_message(mtype: str, **fields: Any) -> bytes:
    """One ITCH 5.0 message (type byte first, no length prefix) from field values.

    Field names are those of :data:`~adapters.feeds.itch.MESSAGE_FIELDS` plus
    ``stock_locate``, ``tracking_number`` and ``timestamp`` (ns since
    midnight). Missing numbers default to 0, characters to a space, alpha
    fields to spaces. Inverse of :func:`~adapters.feeds.itch.decode_message`.
    """
    spec = MESSAGE_FIELDS.get(mtype)
    if spec is None:
        raise ValueError(f"unknown ITCH 5.0 message type {mtype!r}")
    names = {n for n, _ in HEADER_FIELDS + spec}
    extra = set(fields) - names
    if extra:
        raise ValueError(f"message type {mtype!r} has no field(s) {sorted(extra)}")
    vals: list[Any] = []
    for name, code in HEADER_FIELDS + spec:
        v = fields.get(name)
        if code == "T":
            v = int(v or 0)
            if not 0 <= v < _TS_LIMIT:
                raise ValueError(f"timestamp {v} does not fit in 6 bytes")
            vals += [v >> 32, v & 0xFFFFFFFF]
        elif code == "c":
            b = (v if v is not None else " ").encode("latin-1") if not isinstance(v, bytes) else v
            if len(b) != 1:
                raise ValueError(f"field {name} takes one character, got {v!r}")
            vals.append(b)
        elif code[0] == "s":
            width = int(code[1:])
            b = (v or "").encode("ascii") if not isinstance(v, bytes) else v
            if len(b) > width:
                raise ValueError(f"field {name} takes at most {width} characters, got {v!r}")
            vals.append(b.ljust(width, b" "))
        else:
            vals.append(int(v or 0))
    return mtype.encode("ascii") + MESSAGE_STRUCTS[mtype].pack(*vals)


def frame(msg: bytes) -> bytes:
    """A BinaryFILE frame: 2-byte big-endian length, then the message."""
    return len(msg).to_bytes(2, "big") + msg


def split_binaryfile(data: bytes) -> list[bytes]:
    """The messages of a BinaryFILE byte string (DataError if it does not end on a frame boundary)."""
    out, pos, end = [], 0, len(data)
    while pos < end:
        if pos + 2 > end:
            raise DataError(f"BinaryFILE data ends inside a length prefix at byte offset {pos}")
        n = (data[pos] << 8) | data[pos + 1]
        if pos + 2 + n > end:
            raise DataError(f"BinaryFILE data ends inside a message at byte offset {pos}")
        out.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    return out


def _is_replace(rows: list[tuple[int, ...]], i: int) -> bool:
    """Whether event ``i + 1`` is an ADD at the same time, instrument and side as the CANCEL at ``i``."""
    if i + 1 >= len(rows):
        return False
    ts, _, _, _, loc, _, side, _ = rows[i]
    nts, _, _, _, nloc, naction, nside, _ = rows[i + 1]
    return naction == ADD and nts == ts and nloc == loc and nside == side and side in (BUY, SELL)


def encode_events(
    events: np.ndarray,
    symbols: Mapping[int, str],
    date: Date | str,
    tick_size: float = 0.0001,
    *,
    tz: str | None = "America/New_York",
    join_replaces: bool = False,
) -> bytes:
    """Encode canonical L3 events as ITCH 5.0 BinaryFILE bytes (see the module docstring).

    ``join_replaces``: send a CANCEL (qty 0, no ``F_LAST``) directly followed by an ADD at
    the same ts, instrument and side as one 'U', as the reader splits a 'U'.
    """
    ev = np.asarray(events)
    if ev.dtype != MD_DTYPE:
        raise DataError(f"events must have dtype MD_DTYPE, got {ev.dtype}")
    day_ns = midnight_ns(parse_date(date), tz)
    div = tick_divisor(tick_size)
    for inst, sym in symbols.items():
        if not 1 <= int(inst) <= 0xFFFF:
            raise DataError(f"instrument {inst} cannot be an ITCH stock locate (1..65535)")
        if not sym or len(sym) > 8 or not sym.isascii():
            raise DataError(f"symbol {sym!r} of instrument {inst} is not 1-8 ASCII characters")
    missing = sorted(set(np.unique(ev["instrument"]).tolist()) - {int(i) for i in symbols})
    if missing:
        raise DataError(f"instruments {missing} have no symbol in `symbols`")
    rel = ev["ts"] - day_ns
    bad = np.flatnonzero((rel < 0) | (rel >= _TS_LIMIT))
    if len(bad):
        raise DataError(f"event {bad[0]}: ts {ev['ts'][bad[0]]} is not on or after midnight of {date} ({tz})")

    out = bytearray()
    put = out.extend
    first = int(rel[0]) if len(ev) else 0
    last = int(rel[-1]) if len(ev) else 0
    put(frame(encode_message("S", timestamp=first, event_code="O")))
    for inst in sorted(int(i) for i in symbols):
        r = encode_message(
            "R",
            stock_locate=inst,
            timestamp=first,
            stock=symbols[inst],
            market_category="Q",
            financial_status_indicator="N",
            round_lot_size=100,
            round_lots_only="N",
            issue_classification="C",
            issue_sub_type="Z",
            authenticity="P",
            short_sale_threshold_indicator="N",
            ipo_flag="N",
            luld_reference_price_tier="1",
            etp_flag="N",
            etp_leverage_factor=0,
            inverse_indicator="N",
        )
        put(frame(r))

    stock = {int(i): s.encode("ascii").ljust(8) for i, s in symbols.items()}
    next_ref = int(ev["order_id"].max()) + 1 if len(ev) else 1
    refs: dict[int, int] = {}  # canonical order id -> its ITCH reference after a MODIFY
    match = 0
    rows = list(
        zip(
            rel.tolist(),
            ev["order_id"].tolist(),
            ev["price"].tolist(),
            ev["qty"].tolist(),
            ev["instrument"].tolist(),
            ev["action"].tolist(),
            ev["side"].tolist(),
            ev["flags"].tolist(),
            strict=True,
        )
    )
    skip = False
    for i, (ts, oid, price, qty, loc, action, side, flags) in enumerate(rows):
        if skip:  # the ADD half of a replace, sent with its CANCEL as one 'U'
            skip = False
            continue
        hi, lo = ts >> 32, ts & 0xFFFFFFFF
        raw = price * div
        if not 0 <= raw < _U32:
            raise DataError(f"event {i}: price {price} ticks ({raw} ITCH units) does not fit an ITCH price")
        if not 0 <= qty < (_U32 if not (action == TRADE and flags & F_CROSS) else 1 << 64):
            raise DataError(f"event {i}: qty {qty} does not fit an ITCH share count")
        if action == ADD:
            if side not in (BUY, SELL):
                raise DataError(f"event {i}: ADD needs side BUY or SELL, got {side}")
            refs.pop(oid, None)
            m = _A.pack(b"A", loc, 0, hi, lo, oid, b"B" if side == BUY else b"S", qty, stock[loc], raw)
        elif join_replaces and action == CANCEL and not qty and not flags & F_LAST and _is_replace(rows, i):
            # What the reader makes of a 'U': CANCEL(old ref, qty 0, no F_LAST) + ADD(new ref): send the 'U'.
            _, new, new_price, new_qty = rows[i + 1][:4]
            new_raw = new_price * div
            if not 0 <= new_raw < _U32 or not 0 <= new_qty < _U32:
                raise DataError(f"event {i + 1}: price {new_price} or qty {new_qty} does not fit an ITCH replace")
            old = refs.pop(oid, oid)
            refs.pop(new, None)
            m = _U.pack(b"U", loc, 0, hi, lo, old, new, new_qty, new_raw)
            skip = True
        elif action == CANCEL:
            ref = refs.get(oid, oid)
            if qty:
                m = _X.pack(b"X", loc, 0, hi, lo, ref, qty)
            else:
                refs.pop(oid, None)
                m = _D.pack(b"D", loc, 0, hi, lo, ref)
        elif action == EXECUTE:
            match += 1
            ref = refs.get(oid, oid)
            if flags & F_EXEC_PRICE:
                printable = b"N" if flags & F_NON_PRINTABLE else b"Y"
                m = _C.pack(b"C", loc, 0, hi, lo, ref, qty, match, printable, raw)
            else:
                m = _E.pack(b"E", loc, 0, hi, lo, ref, qty, match)
        elif action == TRADE:
            match += 1
            if flags & F_CROSS:
                m = _Q.pack(b"Q", loc, 0, hi, lo, qty, stock[loc], raw, match, b"O")
            else:
                m = _P.pack(b"P", loc, 0, hi, lo, oid, b"S" if side == SELL else b"B", qty, stock[loc], raw, match)
        elif action == MODIFY:
            old = refs.get(oid, oid)
            refs[oid] = new = next_ref
            next_ref += 1
            m = _U.pack(b"U", loc, 0, hi, lo, old, new, qty, raw)
        else:
            name = ACTION_NAMES.get(action, str(action))
            raise DataError(f"event {i}: action {name!r} has no ITCH 5.0 equivalent")
        put(len(m).to_bytes(2, "big"))
        put(m)
    put(frame(encode_message("S", timestamp=last, event_code="C")))
    return bytes(out)


def from_lobster(events: np.ndarray) -> np.ndarray:
    """LOBSTER reader events with their flags in the encoder's (ITCH) meaning; a copy.

    A LOBSTER hidden execution (type 5, TRADE flagged ``lobster.F_HIDDEN`` = 0x10) is
    what ITCH sends as a 'P' (a non-displayed order matched), so the flag is dropped
    (left as it is, 0x10 would read as ITCH's ``F_CROSS`` and become a 'Q'); a LOBSTER
    cross trade (type 6, ``lobster.F_CROSS`` = 0x20) becomes ITCH ``F_CROSS`` (a 'Q').
    ``F_LAST`` and ``F_SNAPSHOT`` mean the same to every reader and are kept.
    """
    from adapters.feeds.lobster import F_CROSS as LOBSTER_F_CROSS  # noqa: N811 (both are named F_CROSS)

    out = np.array(events, dtype=MD_DTYPE, copy=True)
    f = out["flags"]
    out["flags"] = (f & (F_LAST | F_SNAPSHOT)) | np.where(f & LOBSTER_F_CROSS, F_CROSS, 0).astype(np.uint8)
    return out


def write_moldudp64_pcap(
    messages: bytes | Iterable[bytes],
    path: str | Path,
    session: bytes = b"PARITY0001",
    *,
    first_seq: int = 1,
    max_payload: int = 1400,
    max_messages: int = 0xFFFE,
    ts_ns: int = 0,
    end_of_session: bool = False,
    nanosecond: bool = True,
    big_endian: bool = False,
    vlan: int | None = None,
) -> int:
    """Pack ITCH messages into MoldUDP64 packets written to a classic pcap; return the packet count.

    ``messages`` is a BinaryFILE byte string (as :func:`encode_events` returns)
    or an iterable of messages without length prefixes. Packets are filled up
    to ``max_payload`` UDP payload bytes and ``max_messages`` messages;
    sequence numbers run from ``first_seq``. Record timestamps are ``ts_ns``
    plus the packet index (nanoseconds); ``end_of_session`` appends an
    end-of-session packet.
    """
    msgs = split_binaryfile(messages) if isinstance(messages, bytes | bytearray) else list(messages)
    packets: list[bytes] = []
    seq = first_seq
    batch: list[bytes] = []
    size = 20
    for m in msgs:
        if batch and (size + 2 + len(m) > max_payload or len(batch) >= max_messages):
            packets.append(pack_moldudp64(session, seq, batch))
            seq += len(batch)
            batch, size = [], 20
        batch.append(m)
        size += 2 + len(m)
    if batch:
        packets.append(pack_moldudp64(session, seq, batch))
        seq += len(batch)
    if end_of_session:
        packets.append(pack_moldudp64(session, seq, count=MOLD_END_OF_SESSION))
    records = ((ts_ns + i, ethernet_ipv4_udp(p, vlan=vlan)) for i, p in enumerate(packets))
    return write_pcap(path, records, nanosecond=nanosecond, big_endian=big_endian)


def random_l3_events(
    n: int,
    seed: int = 0,
    day: Date | str = Date(2019, 1, 30),
    n_instruments: int = 4,
    *,
    tz: str | None = "America/New_York",
) -> np.ndarray:
    """A deterministic, internally consistent canonical L3 stream of ``n`` events (for tests and benches).

    Mix: ADD ~45 %, full CANCEL ~28 %, MODIFY ~8 %, EXECUTE ~8 % (a fifth of
    them at an explicit price), partial CANCEL ~5 %, TRADE ~6 % (some cross).
    Prices are whole cents (multiples of 100 ITCH units) around $100;
    instruments are 1..n_instruments; times start at 09:30 ET.
    """
    rng = np.random.default_rng(seed)
    u = rng.random(n).tolist()
    pick = rng.random(n).tolist()
    inst_r = rng.integers(1, n_instruments + 1, n).tolist()
    px_r = rng.integers(9900, 10100, n).tolist()
    qty_r = rng.integers(1, 50, n).tolist()
    side_r = rng.integers(0, 2, n).tolist()
    dt_r = rng.integers(0, 3000, n).tolist()
    ts = midnight_ns(parse_date(day), tz) + 34_200_000_000_000
    rows: list[tuple] = []
    live: list[int] = []  # order ids, for uniform picking
    where: dict[int, int] = {}  # order id -> index in live
    book: dict[int, list[int]] = {}  # order id -> [price, side, qty, instrument]
    next_id = 1

    def drop(oid: int) -> None:
        i = where.pop(oid)
        last = live.pop()
        if last != oid:
            live[i] = last
            where[last] = i
        del book[oid]

    for k in range(n):
        ts += dt_r[k]
        r = u[k]
        if not live or r < 0.45:
            oid, next_id = next_id, next_id + 1
            o = [px_r[k] * 100, BUY if side_r[k] else SELL, qty_r[k] * 100, inst_r[k]]
            book[oid] = o
            where[oid] = len(live)
            live.append(oid)
            rows.append((ts, oid, o[0], o[2], o[3], ADD, o[1], 0, 0))
            continue
        if r >= 0.94:
            if r >= 0.99:  # cross: no order reference, no side
                rows.append((ts, 0, px_r[k] * 100, qty_r[k] * 100, inst_r[k], TRADE, 0, F_CROSS, 0))
            else:  # non-displayed order matched: reference mostly 0, as NASDAQ sends it
                ref = 0 if pick[k] < 0.8 else int(pick[k] * 1e12)
                rows.append((ts, ref, px_r[k] * 100, qty_r[k], inst_r[k], TRADE, BUY if side_r[k] else SELL, 0, 0))
            continue
        oid = live[int(pick[k] * len(live))]
        price, side, qty, inst = book[oid]
        if r < 0.73:
            rows.append((ts, oid, price, 0, inst, CANCEL, side, 0, 0))
            drop(oid)
        elif r < 0.81:
            new_px = px_r[k] * 100
            new_qty = qty_r[k] * 100
            rows.append((ts, oid, new_px, new_qty, inst, MODIFY, side, 0, 0))
            book[oid][0], book[oid][2] = new_px, new_qty
        else:
            part = max(1, qty // 2) if qty > 1 else 1
            if r < 0.89:
                flags = F_EXEC_PRICE if r < 0.826 else 0
                rows.append((ts, oid, price, part, inst, EXECUTE, side, flags, 0))
            else:
                rows.append((ts, oid, price, part, inst, CANCEL, side, 0, 0))
            if part >= qty:
                drop(oid)
            else:
                book[oid][2] = qty - part
    return np.array(rows, dtype=MD_DTYPE) if rows else np.zeros(0, dtype=MD_DTYPE)
