"""NASDAQ TotalView-ITCH 5.0 reader: BinaryFILE or MoldUDP64-in-pcap to canonical events.

Inputs (sniffed from the first bytes; gzip-compressed files are read transparently):

* **BinaryFILE**, NASDAQ's daily file format: ``[u16 length][message]`` repeated.
* **pcap / pcapng captures of MoldUDP64 packets** (see :mod:`adapters.feeds.pcap`):
  Ethernet (802.1Q/802.1ad tags), Linux SLL/SLL2 or raw IP; IPv4/IPv6; UDP.
  Sequence numbers are checked per MoldUDP64 session: gaps (expected vs got)
  are reported in ``stats.gaps``; messages already delivered (retransmission,
  A/B copies) are counted in ``stats.duplicates`` and dropped (``dedupe=True``).
  Heartbeats and end-of-session packets are counted and skipped. Packets
  with sequence number 0 (invalid in MoldUDP64, whose numbering starts at 1)
  are delivered unchecked and counted in ``stats.unsequenced_packets``.
  Gaps and duplicates are reported, never raised: the data that did arrive is
  still good.

All 23 ITCH 5.0 message types are parsed with their exact lengths
(:data:`MESSAGE_FIELDS`, :func:`decode_message`). Order-book messages become
canonical :data:`~kernel.events.MD_DTYPE` events:

======  ==============================================================================
ITCH    canonical event(s)
======  ==============================================================================
A, F    ADD (order ref -> order_id, B/S -> BUY/SELL, price -> ticks, shares -> qty)
E       EXECUTE qty=executed shares; price and side of the resting order
C       EXECUTE price=execution price, flags ``F_EXEC_PRICE`` (+ ``F_NON_PRINTABLE``
        when the execution is marked non-printable)
X       CANCEL qty=cancelled shares (price/side of the resting order)
D       CANCEL qty=0 (the whole order leaves the book)
U       CANCEL(original ref, qty 0) then ADD(new ref, new price, new shares, same side).
        A replace gives the order a new reference number and puts it at the back of
        the queue, which is exactly a delete plus an add; a canonical MODIFY would
        keep the old order id. The CANCEL has no ``F_LAST`` so the pair is atomic.
P       TRADE (order ref, B/S indicator, price, shares) -- a non-displayed order
        matched. The spec says NASDAQ has sent "B" here since 2014 whatever the
        resting side (every P in the shared samples has "B"), so do not trust it.
Q       TRADE order_id 0, side 0, cross price and shares, flags ``F_CROSS``
B       no event; counted and listed in ``reader.broken_trades`` (match numbers)
others  no event; counted, and kept in ``stock_directory``, ``trading_status``,
        ``reg_sho``, ``operational_halts``, ``system_events``, ``mwcb_levels``,
        ``mwcb_breaches``; ``on_message`` sees every one of them decoded
======  ==============================================================================

Every event carries ``F_LAST`` except the CANCEL half of a replace. The
instrument id is the message's stock locate code. To fill in price and side,
the reader keeps live orders (ref -> price, side, remaining shares); an order
leaves the map when it is deleted, replaced, or executed/cancelled to zero,
so the map holds only the book. Events about a reference the reader never saw
(the stream starts mid-day, or a gap lost the add) carry ``F_UNKNOWN_ORDER``
with price 0 and side 0 (a replace of such an order yields an ADD with side 0
as well); ``stats.unknown_refs`` counts them.

Timestamps: ITCH gives nanoseconds since midnight (US Eastern); events get
``midnight(date, tz) + ts`` as int64 ns since the epoch. The date comes from
``date=`` or from the file name (``01302019.NASDAQ_ITCH50``, ``*_20190130*``),
or else from the parent directory's name; without any, the reader raises.

Prices: raw ITCH prices have 4 implied decimals. ``tick_size`` (default
0.0001: ticks = raw) must be a multiple of 0.0001; raw prices are divided by
``tick_size / 0.0001`` and a price that does not divide is a finding.

Validation findings -- a message whose length does not match its type, an
unknown type, a bad side/printable code, an off-tick price, an execution or
cancel larger than the remaining order (``overfills``), an add reusing a live
reference (``duplicate_refs``), a truncated last message, a malformed
packet -- raise :class:`~kernel.errors.DataError` when ``strict`` (naming file,
packet, record index, byte offset and type). Otherwise they are counted in
``stats`` (the first 100 texts in ``stats.findings``): malformed records and
packets are skipped, an off-tick price is rounded down, an overfill or a
reused reference still yields its event. Offsets are into the decompressed
stream; record indices count messages from 0.

Speed: by default (``fast=True``) one numba kernel (:mod:`adapters.feeds.itch_fast`)
frames, decodes and keeps the live-order map; Python sees only the few
non-book messages whose content is kept, and the findings. 1,000,000
synthetic messages (A 45 %, D 28 %, U 8 %, E 6 %, X 5 %, P 5 %, C 2 %, Q 1 %;
32.6 MB; the book grows to ~170,000 live orders) take 0.14 s of CPU,
~7 M msgs/s (CPython 3.11, numba 0.68, 2-core machine shared with other
jobs, so wall time ran 0.2-0.3 s); on the flat book of
:mod:`adapters.feeds.itch_synth` files it is ~15 M msgs/s of CPU. The first
read of a process also loads the compiled kernel from numba's cache
(~0.5-1 s; the first run after a change of the kernel compiles it, ~10 s).
The reference path (``fast=False``) frames blocks with a short Python loop,
decodes every field of a block at once with numpy, and sends only the
messages that touch resting orders through a Python loop over a dict:
~870,000 msgs/s on an idle machine (230,000-530,000 under load)::

    python -m adapters.feeds.itch --bench 1000000

The same command line inspects a file:
``python -m adapters.feeds.itch FILE [--date D] [--symbols A,B] [--lenient]``
prints the stats as JSON.
"""

from __future__ import annotations

import argparse
import re
import struct
import sys
import time
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from adapters.feeds import itch_fast as _nb
from adapters.feeds.pcap import (
    MOLD_END_OF_SESSION,
    MOLD_HEADER_LEN,
    MOLD_HEARTBEAT,
    FrameError,
    Gap,
    MoldSequencer,
    PcapFile,
    is_capture_magic,
    open_stream,
    parse_mold_header,
    udp_payload,
)
from kernel.errors import DataError
from kernel.events import ADD, CANCEL, EXECUTE, F_LAST, MD_DTYPE, TRADE

# Flags this reader sets in addition to kernel.events.F_LAST (0x01) / F_SNAPSHOT (0x02).
F_EXEC_PRICE = 0x04
"""EXECUTE from ITCH 'C': ``price`` is the execution price, which may differ from the resting order's price."""
F_NON_PRINTABLE = 0x08
"""EXECUTE from ITCH 'C' marked non-printable: leave it out of volume and last-sale (the print comes elsewhere)."""
F_CROSS = 0x10
"""TRADE from ITCH 'Q': an opening/closing/halt/IPO cross, not a continuous-book trade."""
F_UNKNOWN_ORDER = 0x20
"""The event refers to an order reference the reader never saw added: price and side are 0."""

ITCH_FLAGS = {
    "F_EXEC_PRICE": F_EXEC_PRICE,
    "F_NON_PRINTABLE": F_NON_PRINTABLE,
    "F_CROSS": F_CROSS,
    "F_UNKNOWN_ORDER": F_UNKNOWN_ORDER,
}

# --- ITCH 5.0 message layouts ------------------------------------------------------------------
# Field codes: H u16, I u32, Q u64, T 6-byte timestamp (ns since midnight), c one ASCII character,
# sN an N-byte alpha field padded with spaces on the right. Prices are u32 with 4 implied
# decimals, except the MWCB levels (V), which are u64 with 8 implied decimals.
HEADER_FIELDS = (("stock_locate", "H"), ("tracking_number", "H"), ("timestamp", "T"))

MESSAGE_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "S": (("event_code", "c"),),
    "R": (
        ("stock", "s8"),
        ("market_category", "c"),
        ("financial_status_indicator", "c"),
        ("round_lot_size", "I"),
        ("round_lots_only", "c"),
        ("issue_classification", "c"),
        ("issue_sub_type", "s2"),
        ("authenticity", "c"),
        ("short_sale_threshold_indicator", "c"),
        ("ipo_flag", "c"),
        ("luld_reference_price_tier", "c"),
        ("etp_flag", "c"),
        ("etp_leverage_factor", "I"),
        ("inverse_indicator", "c"),
    ),
    "H": (("stock", "s8"), ("trading_state", "c"), ("reserved", "c"), ("reason", "s4")),
    "Y": (("stock", "s8"), ("reg_sho_action", "c")),
    "L": (
        ("mpid", "s4"),
        ("stock", "s8"),
        ("primary_market_maker", "c"),
        ("market_maker_mode", "c"),
        ("market_participant_state", "c"),
    ),
    "V": (("level1", "Q"), ("level2", "Q"), ("level3", "Q")),
    "W": (("breached_level", "c"),),
    "K": (
        ("stock", "s8"),
        ("ipo_quotation_release_time", "I"),
        ("ipo_quotation_release_qualifier", "c"),
        ("ipo_price", "I"),
    ),
    "J": (
        ("stock", "s8"),
        ("auction_collar_reference_price", "I"),
        ("upper_auction_collar_price", "I"),
        ("lower_auction_collar_price", "I"),
        ("auction_collar_extension", "I"),
    ),
    "h": (("stock", "s8"), ("market_code", "c"), ("operational_halt_action", "c")),
    "A": (
        ("order_reference_number", "Q"),
        ("buy_sell_indicator", "c"),
        ("shares", "I"),
        ("stock", "s8"),
        ("price", "I"),
    ),
    "F": (
        ("order_reference_number", "Q"),
        ("buy_sell_indicator", "c"),
        ("shares", "I"),
        ("stock", "s8"),
        ("price", "I"),
        ("attribution", "s4"),
    ),
    "E": (("order_reference_number", "Q"), ("executed_shares", "I"), ("match_number", "Q")),
    "C": (
        ("order_reference_number", "Q"),
        ("executed_shares", "I"),
        ("match_number", "Q"),
        ("printable", "c"),
        ("execution_price", "I"),
    ),
    "X": (("order_reference_number", "Q"), ("cancelled_shares", "I")),
    "D": (("order_reference_number", "Q"),),
    "U": (
        ("original_order_reference_number", "Q"),
        ("new_order_reference_number", "Q"),
        ("shares", "I"),
        ("price", "I"),
    ),
    "P": (
        ("order_reference_number", "Q"),
        ("buy_sell_indicator", "c"),
        ("shares", "I"),
        ("stock", "s8"),
        ("price", "I"),
        ("match_number", "Q"),
    ),
    "Q": (("shares", "Q"), ("stock", "s8"), ("cross_price", "I"), ("match_number", "Q"), ("cross_type", "c")),
    "B": (("match_number", "Q"),),
    "I": (
        ("paired_shares", "Q"),
        ("imbalance_shares", "Q"),
        ("imbalance_direction", "c"),
        ("stock", "s8"),
        ("far_price", "I"),
        ("near_price", "I"),
        ("current_reference_price", "I"),
        ("cross_type", "c"),
        ("price_variation_indicator", "c"),
    ),
    "N": (("stock", "s8"), ("interest_flag", "c")),
    "O": (
        ("stock", "s8"),
        ("open_eligibility_status", "c"),
        ("minimum_allowable_price", "I"),
        ("maximum_allowable_price", "I"),
        ("near_execution_price", "I"),
        ("near_execution_time", "Q"),
        ("lower_price_range_collar", "I"),
        ("upper_price_range_collar", "I"),
    ),
}

MESSAGE_NAMES = {
    "S": "system event",
    "R": "stock directory",
    "H": "stock trading action",
    "Y": "Reg SHO restriction",
    "L": "market participant position",
    "V": "MWCB decline level",
    "W": "MWCB status",
    "K": "IPO quoting period update",
    "J": "LULD auction collar",
    "h": "operational halt",
    "A": "add order",
    "F": "add order with MPID",
    "E": "order executed",
    "C": "order executed with price",
    "X": "order cancel",
    "D": "order delete",
    "U": "order replace",
    "P": "trade (non-cross)",
    "Q": "cross trade",
    "B": "broken trade",
    "I": "net order imbalance indicator",
    "N": "retail interest",
    "O": "DLCR price discovery",
}


def _struct_for(fields: tuple[tuple[str, str], ...]) -> struct.Struct:
    codes = {"H": "H", "I": "I", "Q": "Q", "T": "HI", "c": "c"}
    return struct.Struct(">" + "".join(codes.get(c) or c[1:] + "s" for _, c in fields))


MESSAGE_STRUCTS = {t: _struct_for(HEADER_FIELDS + f) for t, f in MESSAGE_FIELDS.items()}
"""Big-endian struct of each message type, after the type byte."""
MESSAGE_LENGTHS = {t: 1 + s.size for t, s in MESSAGE_STRUCTS.items()}
"""Exact length of each message type, type byte included."""

_LEN_BY_BYTE = [-1] * 256
for _t, _n in MESSAGE_LENGTHS.items():
    _LEN_BY_BYTE[ord(_t)] = _n

# Fast-path structs of the order-book messages, from the byte after the type: they skip the
# tracking number and the fields the canonical event does not need (stock, match number).
_ADD = struct.Struct(">H2xHIQBI8xI")  # A, F, P: locate, ts_hi, ts_lo, ref, side, shares, price
_REF_QTY = struct.Struct(">H2xHIQI")  # E, X: locate, ts_hi, ts_lo, ref, shares
_REF = struct.Struct(">H2xHIQ")  # D, B: locate, ts_hi, ts_lo, ref / match number
_EXEC_PX = struct.Struct(">H2xHIQI8xBI")  # C: locate, ts_hi, ts_lo, ref, shares, printable, price
_REPLACE = struct.Struct(">H2xHIQQII")  # U: locate, ts_hi, ts_lo, old ref, new ref, shares, price
_CROSS = struct.Struct(">H2xHIQ8xI")  # Q: locate, ts_hi, ts_lo, shares, price

MAX_FINDINGS = 100


def decode_message(msg: bytes) -> dict[str, Any]:
    """Decode one ITCH 5.0 message (type byte first, no length prefix) into a dict of its fields.

    Keys: ``type`` and the field names of :data:`MESSAGE_FIELDS` (header fields
    ``stock_locate``, ``tracking_number``, ``timestamp`` in ns since midnight).
    Alpha fields are str with trailing spaces removed, one-character fields
    str, numbers int (prices raw, 4 implied decimals). Raises DataError for an
    unknown type or a wrong length.
    """
    if not msg:
        raise DataError("empty ITCH message")
    t = chr(msg[0])
    s = MESSAGE_STRUCTS.get(t)
    if s is None:
        raise DataError(f"unknown ITCH 5.0 message type {t!r}")
    if len(msg) != 1 + s.size:
        raise DataError(f"ITCH message type {t!r} ({MESSAGE_NAMES[t]}) has length {len(msg)}, expected {1 + s.size}")
    vals = iter(s.unpack_from(msg, 1))
    out: dict[str, Any] = {"type": t}
    for name, code in HEADER_FIELDS + MESSAGE_FIELDS[t]:
        v = next(vals)
        if code == "T":
            v = (v << 32) | next(vals)
        elif code == "c":
            v = v.decode("latin-1")
        elif code[0] == "s":
            v = v.decode("latin-1").rstrip(" ")
        out[name] = v
    return out


# --- dates -------------------------------------------------------------------------------------

_DATE_RE = re.compile(r"(?<!\d)(\d{8})(?!\d)")


def infer_date(path: str | Path) -> date | None:
    """The session date from a file name (MMDDYYYY as NASDAQ names its files, or YYYYMMDD), else
    from the parent directory's name; None if neither holds one."""
    p = Path(path)
    for name in (p.name, p.parent.name):
        for m in _DATE_RE.finditer(name):
            s = m.group(1)
            # Only years 1990-2099 count, which also makes the two layouts unambiguous
            # (as MMDDYYYY, a YYYYMMDD string would have month 19/20).
            for y, mo, d in ((s[4:], s[:2], s[2:4]), (s[:4], s[4:6], s[6:])):
                try:
                    found = date(int(y), int(mo), int(d))
                except ValueError:
                    continue
                if 1990 <= found.year < 2100:
                    return found
    return None


def parse_date(value: date | str) -> date:
    """A date from a ``date``/``datetime`` or a ``YYYY-MM-DD`` / ``YYYYMMDD`` string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    s = str(value).strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(s, fmt).date()
        except ValueError:
            pass
    raise DataError(f"cannot read date {value!r}: use YYYY-MM-DD")


def midnight_ns(day: date, tz: str | None = "America/New_York") -> int:
    """Epoch nanoseconds of midnight starting ``day`` in time zone ``tz`` (None or "UTC": UTC)."""
    if tz is None or tz == "UTC":
        tzinfo: Any = UTC
    else:
        try:
            tzinfo = ZoneInfo(tz)
        except ZoneInfoNotFoundError as e:
            raise DataError(f"unknown time zone {tz!r} (is tzdata installed?)") from e
    dt = datetime(day.year, day.month, day.day, tzinfo=tzinfo)
    return (dt - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def tick_divisor(tick_size: float) -> int:
    """How many raw ITCH price units (0.0001) make one tick; ValueError unless a whole number."""
    div = round(tick_size * 10_000)
    if div < 1 or abs(div - tick_size * 10_000) > 1e-6 * div:
        raise ValueError(f"tick_size {tick_size} is not a positive multiple of 0.0001 (the ITCH price unit)")
    return div


# --- format sniffing ---------------------------------------------------------------------------


def detect_format(path: str | Path, sniff_bytes: int = 65536) -> str | None:
    """``"itch-pcap"``, ``"itch-binaryfile"`` or None, from the first ``sniff_bytes`` of the file.

    A capture counts as ITCH if one of its first packets is a UDP datagram
    holding a MoldUDP64 packet whose messages are well-formed ITCH (or a
    heartbeat). A BinaryFILE counts if its first frames are all well-formed
    ITCH messages.
    """
    p = Path(path)
    try:
        with open_stream(p) as f:
            head = f.read(sniff_bytes)
    except OSError:
        return None
    if not head:
        return None
    if is_capture_magic(head):
        return "itch-pcap" if _sniff_pcap(p, len(head)) else None
    return "itch-binaryfile" if _frames_ok(head, 0, len(head), partial_tail=True) else None


def _frames_ok(buf: bytes, pos: int, end: int, partial_tail: bool = False, limit: int = 1 << 30) -> bool:
    n = 0
    while pos + 2 <= end and n < limit:
        mlen = (buf[pos] << 8) | buf[pos + 1]
        if pos + 2 + mlen > end:
            return partial_tail and n > 0
        if mlen == 0 or _LEN_BY_BYTE[buf[pos + 2]] != mlen:
            return False
        pos += 2 + mlen
        n += 1
    return n > 0 and (partial_tail or pos == end)


def _sniff_pcap(path: Path, budget: int) -> bool:
    try:
        for rec in PcapFile(path, block_size=budget).packets():
            if rec.offset > budget:
                return False
            try:
                r = udp_payload(rec.buf, rec.start, rec.end, rec.linktype)
                if r is None:
                    continue
                ps, pe, _ = r
                _, _, count = parse_mold_header(rec.buf, ps, pe)
            except FrameError:
                continue
            if count in (MOLD_HEARTBEAT, MOLD_END_OF_SESSION):
                if pe - ps == MOLD_HEADER_LEN:
                    return True
                continue
            if _frames_ok(rec.buf, ps + MOLD_HEADER_LEN, pe, limit=count):
                return True
    except DataError:
        return False
    return False


# --- the reader --------------------------------------------------------------------------------


@dataclass
class ItchStats:
    """What an :class:`ItchReader` saw (complete once ``chunks()`` is exhausted)."""

    type_counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))  # well-formed, by type byte
    events: int = 0  # canonical events produced
    filtered: int = 0  # order-book messages dropped by the symbols filter
    unknown_refs: int = 0  # events about an order reference never seen added
    # findings (raised in strict mode):
    malformed: int = 0
    malformed_by_type: Counter[str] = field(default_factory=Counter)
    off_tick: int = 0
    overfills: int = 0
    duplicate_refs: int = 0
    truncated: int = 0  # incomplete message / record at the end of the file
    bad_packets: int = 0  # capture frames or MoldUDP64 packets that do not parse
    findings: list[str] = field(default_factory=list)  # the first MAX_FINDINGS finding texts
    # captures only:
    packets: int = 0  # capture records read
    skipped_frames: int = 0  # records that are not (wanted) UDP: ARP, TCP, other ports, IP fragments
    sequencer: MoldSequencer | None = None

    @property
    def messages(self) -> dict[str, int]:
        """Well-formed messages by type letter (including those the symbols filter dropped)."""
        return {chr(i): int(n) for i, n in enumerate(self.type_counts) if n}

    @property
    def total_messages(self) -> int:
        return int(self.type_counts.sum())

    @property
    def gaps(self) -> list[Gap]:
        return self.sequencer.gaps if self.sequencer else []

    @property
    def duplicates(self) -> int:
        return self.sequencer.duplicates if self.sequencer else 0

    @property
    def heartbeats(self) -> int:
        return self.sequencer.heartbeats if self.sequencer else 0

    @property
    def end_of_session(self) -> int:
        return self.sequencer.end_of_session if self.sequencer else 0

    @property
    def unsequenced_packets(self) -> int:
        return self.sequencer.unsequenced_packets if self.sequencer else 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary."""
        return {
            "messages": self.messages,
            "events": self.events,
            "filtered": self.filtered,
            "unknown_refs": self.unknown_refs,
            "malformed": self.malformed,
            "malformed_by_type": dict(self.malformed_by_type),
            "off_tick": self.off_tick,
            "overfills": self.overfills,
            "duplicate_refs": self.duplicate_refs,
            "truncated": self.truncated,
            "bad_packets": self.bad_packets,
            "packets": self.packets,
            "skipped_frames": self.skipped_frames,
            "gaps": [
                {"session": g.session.decode("latin-1"), "expected": g.expected, "got": g.got, "packet": g.packet}
                for g in self.gaps
            ],
            "duplicates": self.duplicates,
            "heartbeats": self.heartbeats,
            "end_of_session": self.end_of_session,
            "unsequenced_packets": self.unsequenced_packets,
            "findings": list(self.findings),
        }


# Order-book message kinds of the vectorized decoder (0: any other message).
_K_ADD, _K_TRADE, _K_CROSS, _K_EXEC, _K_CANCEL, _K_DELETE, _K_EXEC_PX, _K_REPLACE = range(1, 9)
_KIND = np.zeros(256, np.int8)
for _c, _k in (("A", 1), ("F", 1), ("P", 2), ("Q", 3), ("E", 4), ("X", 5), ("D", 6), ("C", 7), ("U", 8)):
    _KIND[ord(_c)] = _k
_LEN = np.array(_LEN_BY_BYTE, np.int64)
# Per kind (index 0 unused): offset of the share count and the price from the type byte; 11 stands in
# where a kind has no such field (the value is then ignored) because every kind is at least 19 bytes long.
_SHARES_AT = np.array([11, 20, 20, 11, 19, 19, 11, 19, 27], np.int64)
_PRICE_AT = np.array([11, 32, 32, 27, 11, 11, 11, 32, 31], np.int64)
_HAS_PRICE = np.array([0, 1, 1, 1, 0, 0, 0, 1, 1], bool)
_TOUCHES_BOOK = np.array([0, 1, 0, 0, 1, 1, 1, 1, 1], bool)  # needs the live-order map, in order
_RESTING_PRICE = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1], bool)  # event price is the resting order's
_ACTION = np.array([0, ADD, TRADE, TRADE, EXECUTE, CANCEL, CANCEL, EXECUTE, CANCEL], np.uint8)
_FLAGS = np.array([0, F_LAST, F_LAST, F_LAST | F_CROSS, F_LAST, F_LAST, F_LAST, F_LAST | F_EXEC_PRICE, 0], np.uint8)
_ARANGE = {w: np.arange(w, dtype=np.int64) for w in (2, 4, 6, 8)}
_NEVER = np.iinfo(np.int64).max


def _be(a: np.ndarray, pos: np.ndarray, width: int) -> np.ndarray:
    """Big-endian unsigned integers of ``width`` bytes at positions ``pos`` of the byte array ``a``, as int64."""
    b = a[pos[:, None] + _ARANGE[width]]
    if width == 6:
        b = np.concatenate((np.zeros((len(pos), 2), np.uint8), b), axis=1)
        width = 8
    return b.view(f">u{width}").reshape(-1).astype(np.int64)


def _walk(buf: bytes, pos: int, end: int) -> tuple[list[int], int]:
    """Offsets of the whole ``[u16 length][message]`` frames of ``buf[pos:end]`` and the end of the last one."""
    offs: list[int] = []
    app = offs.append
    while pos + 2 <= end:
        nxt = pos + 2 + ((buf[pos] << 8) | buf[pos + 1])
        if nxt > end:
            break
        app(pos)
        pos = nxt
    return offs, pos


# (message index in the batch, stats attribute, type byte or None, text)
_Finding = tuple[int, str, int | None, str]
# Where a frame offset of a decoded batch lies: (context such as "packet 3", byte offset in the file).
_Where = Callable[[int], tuple[str, int]]


class ItchReader:
    """Streaming TotalView-ITCH 5.0 reader (see the module docstring for the mapping).

    ``chunks()`` reads the file from the start each time it is called (state
    and stats are reset) and yields MD_DTYPE arrays of exactly ``chunk_size``
    events, the last one shorter; the concatenation does not depend on
    ``chunk_size`` or ``block_size``. Memory stays bounded by one read block,
    one chunk and the live-order map.

    ``fast=True`` (the default): one numba kernel (:mod:`adapters.feeds.itch_fast`)
    frames each block of ``block_size`` bytes, decodes the order-book messages
    straight into the output chunk and keeps the live-order map in a hash
    table of int64 arrays; Python only sees the non-book messages whose
    content it keeps (stock directory, trading status, system events, ...)
    and the findings. ``fast=False``: the reference decoder, where a Python
    loop finds the frames, numpy decodes every field of the block at once,
    and a second Python loop, over the messages that touch resting orders
    only, keeps the live-order map (a dict). Both give the same events,
    stats, findings and tables (``tests/test_itch_fast.py``); in strict mode
    both raise on the first finding, though when one block holds several
    the reference may name a later one (it reports a block's symbols-filter
    error before the block's other findings).
    """

    def __init__(
        self,
        path: str | Path,
        date: date | str | None = None,
        symbols: Iterable[str] | None = None,
        tick_size: float = 0.0001,
        strict: bool = True,
        *,
        tz: str | None = "America/New_York",
        block_size: int = 1 << 20,
        dedupe: bool = True,
        udp_ports: Iterable[int] | None = None,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        fast: bool = True,
    ) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: ITCH file not found")
        if date is not None:
            self.date = parse_date(date)
        else:
            found = infer_date(self.path)
            if found is None:
                raise DataError(
                    f"{self.path}: cannot tell the session date (ITCH timestamps count from midnight); "
                    "pass date=YYYY-MM-DD or name the file like 01302019.NASDAQ_ITCH50 or *_20190130*"
                )
            self.date = found
        self.tz = tz
        self.day_ns = midnight_ns(self.date, tz)
        self.tick_size = tick_size
        self._div = tick_divisor(tick_size)
        self.symbols = frozenset(symbols) if symbols is not None else None
        self.strict = strict
        if block_size < 1:
            raise ValueError("block_size must be positive")
        self.block_size = block_size
        self.dedupe = dedupe
        self.udp_ports = frozenset(udp_ports) if udp_ports is not None else None
        self.on_message = on_message
        self.fast = fast
        with open_stream(self.path) as f:
            self.format = "itch-pcap" if is_capture_magic(f.read(4)) else "itch-binaryfile"
        self._reset()

    def _reset(self) -> None:
        self.stats = ItchStats()
        self.stock_directory: dict[int, str] = {}  # locate -> symbol, every R message
        self.instruments: dict[int, str] = {}  # instrument id (locate) -> symbol, kept instruments only
        self.trading_status: dict[str, tuple[str, str]] = {}  # symbol -> (trading state, reason), from H
        self.reg_sho: dict[str, str] = {}  # symbol -> Reg SHO action, from Y
        self.operational_halts: dict[str, tuple[str, str]] = {}  # symbol -> (market code, action), from h
        self.system_events: list[tuple[int, str]] = []  # (epoch ns, event code), from S
        self.mwcb_levels: tuple[int, int, int] | None = None  # from V, 8 implied decimals
        self.mwcb_breaches: list[tuple[int, str]] = []  # (epoch ns, level), from W
        self.broken_trades: list[int] = []  # match numbers, from B
        self._orders: dict[int, list[int]] = {}  # live order ref -> [price ticks, side, remaining shares]
        # Symbols filter: the record index from which each locate is kept (its R message), and of the first R.
        self._keep_since = np.full(65536, _NEVER, np.int64)
        self._first_r = _NEVER
        self._parts: list[np.ndarray] = []  # decoded events not yet handed out
        self._pending = 0
        self._rec = 0  # index of the next message
        if self.fast:
            self._fast_reset()

    @property
    def missing_symbols(self) -> set[str]:
        """Symbols asked for that no stock-directory message named (so far)."""
        return set(self.symbols or ()) - set(self.instruments.values())

    @property
    def live_orders(self) -> int:
        """Orders currently on the book as far as the reader knows."""
        if self.fast:
            return int(self._st[_nb.P_MAPN])
        return len(self._orders)

    def chunks(self, chunk_size: int = 65536) -> Iterator[np.ndarray]:
        """Yield the canonical events in MD_DTYPE arrays of ``chunk_size`` (the last one shorter)."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._chunk_size = chunk_size
        self._reset()
        if self.fast:
            yield from self._fast_chunks()
            return
        source = self._pcap() if self.format == "itch-pcap" else self._binaryfile()
        for _ in source:
            if self._pending >= chunk_size:
                ev = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
                full = len(ev) // chunk_size * chunk_size
                self._parts = [ev[full:]] if full < len(ev) else []
                self._pending = len(ev) - full
                for i in range(0, full, chunk_size):
                    self.stats.events += chunk_size
                    yield ev[i : i + chunk_size]
        if self._pending:
            ev = np.concatenate(self._parts)
            self._parts, self._pending = [], 0
            self.stats.events += len(ev)
            yield ev

    def read(self) -> np.ndarray:
        """All events in one array."""
        parts = list(self.chunks())
        return np.concatenate(parts) if parts else np.zeros(0, dtype=MD_DTYPE)

    # -- framing --

    def _binaryfile(self) -> Iterator[None]:
        if self.fast:
            yield from self._binaryfile_fast()
            return
        with open_stream(self.path) as f:
            pending = b""
            base = 0  # file offset of pending[0]
            while True:
                block = f.read(self.block_size)
                if not block:
                    break
                buf = pending + block if pending else block
                offs, pos = _walk(buf, 0, len(buf))
                if offs:
                    self._decode(buf, offs, lambda p, base=base: ("", base + p))
                pending = buf[pos:]
                base += pos
                yield
            if pending:
                t = pending[2] if len(pending) > 2 else None
                text = f"file ends inside a message ({len(pending)} of its bytes present)"
                self._finding("truncated", base, self._rec, t, text)
        yield

    def _pcap(self) -> Iterator[None]:
        cap = PcapFile(self.path, self.block_size)
        seq = MoldSequencer(dedupe=self.dedupe)
        st = self.stats
        st.sequencer = seq
        ports = self.udp_ports
        # Messages of many packets are staged in one buffer (the message blocks of a MoldUDP64
        # packet are BinaryFILE frames already) and decoded together.
        stage = bytearray()
        offs: list[int] = []
        seg_at: list[int] = []  # stage offset where each packet's messages start
        seg_info: list[tuple[int, int]] = []  # (file offset minus stage offset, packet index)

        def where(p: int) -> tuple[str, int]:
            delta, packet = seg_info[bisect_right(seg_at, p) - 1]
            return f"packet {packet}", p + delta

        def flush() -> None:
            nonlocal stage, offs, seg_at, seg_info
            if offs and self.fast:  # the staged messages are consecutive frames: the kernel frames them again
                self._decode_fast(np.frombuffer(stage, np.uint8), 0, len(stage), where)
            elif offs:
                self._decode(bytes(stage), offs, where)
            stage, offs, seg_at, seg_info = bytearray(), [], [], []

        for rec in cap.packets():
            st.packets += 1
            buf = rec.buf
            try:
                found = udp_payload(buf, rec.start, rec.end, rec.linktype)
                if found is None:
                    st.skipped_frames += 1
                    continue
                ps, pe, dport = found
                if ports is not None and dport not in ports:
                    st.skipped_frames += 1
                    continue
                session, seqno, count = parse_mold_header(buf, ps, pe)
            except FrameError as e:
                flush()
                self._finding("bad_packets", rec.offset, None, None, str(e), f"packet {rec.index}")
                continue
            skip = seq.accept(session, seqno, count, rec.index)
            if count in (MOLD_HEARTBEAT, MOLD_END_OF_SESSION):
                continue
            pos = ps + MOLD_HEADER_LEN
            for _ in range(skip):  # messages delivered before: step over them
                if pos + 2 > pe:
                    break
                pos += 2 + ((buf[pos] << 8) | buf[pos + 1])
            want = count - skip
            s0 = len(stage) - pos
            p, n = pos, 0
            while n < want and p + 2 <= pe:
                nxt = p + 2 + ((buf[p] << 8) | buf[p + 1])
                if nxt > pe:
                    break
                offs.append(s0 + p)
                n += 1
                p = nxt
            if p > pos:
                seg_at.append(len(stage))
                seg_info.append((rec.offset - rec.start - s0, rec.index))
                stage += buf[pos:p]
            if n != want or p != pe:
                flush()
                text = (
                    f"MoldUDP64 packet (session {session!r}, sequence {seqno}) declares {count} messages "
                    f"but its {pe - ps} bytes hold {n + skip} whole ones and {pe - p} bytes more"
                )
                self._finding("bad_packets", rec.offset + (ps - rec.start), None, None, text, f"packet {rec.index}")
            if len(stage) >= self.block_size:
                flush()
                yield
            elif self.fast and self._ready:
                yield
        flush()
        if cap.trailing_bytes:
            text = f"capture ends inside a record ({cap.trailing_bytes} bytes left)"
            self._finding("truncated", cap.trailing_offset, None, None, text)
        yield

    # -- findings --

    def _finding(self, kind: str, off: int | None, rec: int | None, t: int | None, text: str, ctx: str = "") -> None:
        st = self.stats
        setattr(st, kind, getattr(st, kind) + 1)
        if kind == "malformed":
            st.malformed_by_type[chr(t) if t is not None else "?"] += 1
        parts = [ctx] if ctx else []
        if rec is not None:
            parts.append(f"record {rec}")
        if off is not None:
            parts.append(f"byte offset {off}")
        if t is not None:
            parts.append(f"message type {chr(t)!r}")
        msg = f"{self.path}: {', '.join(parts)}: {text}" if parts else f"{self.path}: {text}"
        if self.strict:
            raise DataError(msg)
        if len(st.findings) < MAX_FINDINGS:
            st.findings.append(msg)

    # -- decoding --

    def _decode(self, buf: bytes, offs: list[int], where: _Where) -> None:
        """Decode the whole frames starting at ``offs`` in ``buf`` and queue their events."""
        rec0 = self._rec
        self._rec += len(offs)
        a = np.frombuffer(buf, np.uint8)
        o = np.asarray(offs, np.int64)
        lens = (a[o].astype(np.int64) << 8) | a[o + 1]
        m = o + 2  # type byte of each message
        t = np.where(lens > 0, a[np.minimum(m, len(a) - 1)], 0)
        ok = _LEN[t] == lens
        findings: list[_Finding] = []
        if not ok.all():
            for i in np.flatnonzero(~ok).tolist():
                ti, li = int(t[i]), int(lens[i])
                if li == 0:
                    findings.append((i, "malformed", None, "zero-length message"))
                elif _LEN_BY_BYTE[ti] < 0:
                    findings.append((i, "malformed", ti, "unknown ITCH 5.0 message type"))
                else:
                    findings.append((i, "malformed", ti, f"length {li}, expected {_LEN_BY_BYTE[ti]} for this type"))
        kind = np.where(ok, _KIND[t], 0)
        # Non-book messages first, in order: the stock directory decides what the symbols filter keeps.
        for i in np.flatnonzero(ok & (kind == 0)).tolist():
            mi = int(m[i])
            self._admin(buf[mi : mi + int(lens[i])], rec0 + i)
        bi = np.flatnonzero(kind)
        if len(bi):
            self._decode_book(a, bi, m[bi], t[bi], kind[bi], rec0, findings, lambda i: where(offs[i]))
        elif findings:
            self._report(findings, rec0, lambda i: where(offs[i]))

    def _report(self, findings: list[_Finding], rec0: int, where: Callable[[int], tuple[str, int]]) -> None:
        for i, kind, t, text in sorted(findings, key=lambda f: f[0]):
            ctx, off = where(i)
            self._finding(kind, off, rec0 + i, t, text, ctx)

    def _decode_book(
        self,
        a: np.ndarray,
        bi: np.ndarray,
        mb: np.ndarray,
        tb: np.ndarray,
        kb: np.ndarray,
        rec0: int,
        findings: list[_Finding],
        where: Callable[[int], tuple[str, int]],
    ) -> None:
        """Order-book messages ``bi`` (indices into the batch) with type bytes at ``mb``."""
        st = self.stats
        loc = _be(a, mb + 1, 2)
        if self.symbols is not None:
            recs = rec0 + bi
            kept = self._keep_since[loc] < recs
            if not kept.all():
                dropped = ~kept
                nodir = np.flatnonzero(dropped & (recs < self._first_r))
                if len(nodir):
                    ctx, off = where(int(bi[nodir[0]]))
                    raise DataError(
                        f"{self.path}: {ctx + ', ' if ctx else ''}record {int(recs[nodir[0]])}, byte offset {off}: "
                        f"cannot filter by symbols {sorted(self.symbols)}: no stock directory (R) message came "
                        "before this order message, so locate codes cannot be mapped to symbols"
                    )
                st.filtered += int(dropped.sum())
                st.type_counts += np.bincount(tb[dropped], minlength=256)
                bi, mb, tb, kb, loc = bi[kept], mb[kept], tb[kept], kb[kept], loc[kept]
        nb = len(bi)
        ts = self.day_ns + _be(a, mb + 5, 6)
        ref = _be(a, mb + 11, 8)  # order reference (Q: its 8-byte share count)
        shares = _be(a, mb + _SHARES_AT[kb], 4)
        is_cross = kb == _K_CROSS
        shares[is_cross] = ref[is_cross]
        shares[kb == _K_DELETE] = 0
        raw = np.where(_HAS_PRICE[kb], _be(a, mb + _PRICE_AT[kb], 4), 0)
        # Side of A/F/P, printable flag of C, new reference of U (read only where the field exists).
        side = np.zeros(nb, np.int64)
        sided = np.flatnonzero((kb == _K_ADD) | (kb == _K_TRADE))
        sb = a[mb[sided] + 19]
        side[sided] = np.where(sb == 66, 1, np.where(sb == 83, -1, 0))
        bad = np.zeros(nb, bool)
        for j in sided[side[sided] == 0].tolist():
            findings.append((int(bi[j]), "malformed", int(tb[j]), f"buy/sell indicator {chr(a[mb[j] + 19])!r}"))
            bad[j] = True
        is_c = np.flatnonzero(kb == _K_EXEC_PX)
        pb = a[mb[is_c] + 31]
        non_printable = np.zeros(nb, bool)
        non_printable[is_c] = pb == 78
        for j in is_c[(pb != 78) & (pb != 89)].tolist():
            findings.append((int(bi[j]), "malformed", int(tb[j]), f"printable flag {chr(a[mb[j] + 31])!r}"))
            bad[j] = True
        is_u = kb == _K_REPLACE
        new_ref = np.zeros(nb, np.int64)
        new_ref[is_u] = _be(a, mb[is_u] + 19, 8)
        div = self._div
        if div != 1:
            price, rem = np.divmod(raw, div)
            for j in np.flatnonzero(rem).tolist():
                text = f"price {int(raw[j]) / 10_000:.4f} is not a multiple of tick {self.tick_size}"
                findings.append((int(bi[j]), "off_tick", int(tb[j]), text))
        else:
            price = raw
        st.type_counts += np.bincount(tb[~bad], minlength=256)

        # The live-order map, in message order, for the messages that touch resting orders.
        touch = np.flatnonzero(_TOUCHES_BOOK[kb] & ~bad)
        if findings and self.strict:
            touch = touch[bi[touch] < min(f[0] for f in findings)]  # stop where the first error is
        rest_px = [0] * nb
        rest_side = [0] * nb
        unknown = bytearray(nb)
        orders = self._orders
        seq_findings: list[_Finding] = []
        cols = (
            touch.tolist(),
            kb[touch].tolist(),
            ref[touch].tolist(),
            shares[touch].tolist(),
            price[touch].tolist(),
            side[touch].tolist(),
            new_ref[touch].tolist(),
        )
        for j, k, r, q, px, sd, nr in zip(*cols, strict=True):
            if k == 1:  # literals, not the _K_* globals: this loop is the hot spot
                if r in orders:
                    seq_findings.append(
                        (int(bi[j]), "duplicate_refs", int(tb[j]), f"order reference {r} is already live")
                    )
                    if self.strict:
                        break
                orders[r] = [px, sd, q]
            elif k == 6 or k == 8:  # D, U
                o = orders.pop(r, None)
                if o is None:
                    unknown[j] = 1
                    continue
                rest_px[j] = o[0]
                rest_side[j] = o[1]
                if k == 8:
                    if nr in orders:
                        text = f"order reference {nr} is already live"
                        seq_findings.append((int(bi[j]), "duplicate_refs", int(tb[j]), text))
                        if self.strict:
                            break
                    orders[nr] = [px, o[1], q]
            else:  # E, X, C
                o = orders.get(r)
                if o is None:
                    unknown[j] = 1
                    continue
                rest_px[j] = o[0]
                rest_side[j] = o[1]
                left = o[2] - q
                if left > 0:
                    o[2] = left
                else:
                    del orders[r]
                    if left < 0:
                        text = f"{q} shares taken from order {r}, which had {o[2]} left"
                        seq_findings.append((int(bi[j]), "overfills", int(tb[j]), text))
                        if self.strict:
                            break
        if findings or seq_findings:
            self._report(findings + seq_findings, rec0, where)  # raises on the first one when strict

        # Assemble the events: one per message, two for U (CANCEL of the old reference, ADD of the new).
        keep = ~bad
        if not keep.all():
            kb, ts, loc, ref, shares, price, side, new_ref, non_printable, is_u = (
                x[keep] for x in (kb, ts, loc, ref, shares, price, side, new_ref, non_printable, is_u)
            )
        rp = np.array(rest_px, np.int64)[keep]
        rs = np.array(rest_side, np.int64)[keep]
        unk = np.frombuffer(bytes(unknown), np.uint8)[keep].astype(bool)
        st.unknown_refs += int(unk.sum() + unk[is_u].sum())
        count = 1 + is_u
        first = np.cumsum(count) - count
        ev = np.zeros(int(count.sum()), MD_DTYPE)
        flags = _FLAGS[kb] | np.where(non_printable, F_NON_PRINTABLE, 0) | np.where(unk, F_UNKNOWN_ORDER, 0)
        ev["ts"][first] = ts
        ev["order_id"][first] = np.where(kb == _K_CROSS, 0, ref)
        ev["price"][first] = np.where(_RESTING_PRICE[kb], rp, price)
        ev["qty"][first] = np.where(is_u, 0, shares)
        ev["instrument"][first] = loc
        ev["action"][first] = _ACTION[kb]
        ev["side"][first] = np.where(_TOUCHES_BOOK[kb] & (kb != _K_ADD), rs, side)
        ev["flags"][first] = flags
        if is_u.any():
            second = first[is_u] + 1
            ev["ts"][second] = ts[is_u]
            ev["order_id"][second] = new_ref[is_u]
            ev["price"][second] = price[is_u]
            ev["qty"][second] = shares[is_u]
            ev["instrument"][second] = loc[is_u]
            ev["action"][second] = ADD
            ev["side"][second] = rs[is_u]
            ev["flags"][second] = F_LAST | np.where(unk[is_u], F_UNKNOWN_ORDER, 0)
        self._parts.append(ev)
        self._pending += len(ev)

    def _admin(self, msg: bytes, rec: int, count: bool = True) -> None:
        """Non-book messages (and B): decode and keep the state they carry (``count``: add to type_counts)."""
        m = decode_message(msg)
        t = m["type"]
        ts = self.day_ns + m["timestamp"]
        if t == "R":
            loc, sym = m["stock_locate"], m["stock"]
            self.stock_directory[loc] = sym
            self._first_r = min(self._first_r, rec)
            if self.symbols is None:
                self.instruments[loc] = sym
            elif sym in self.symbols:
                self.instruments[loc] = sym
                self._keep_since[loc] = min(int(self._keep_since[loc]), rec)
        elif t == "S":
            self.system_events.append((ts, m["event_code"]))
        elif t == "H":
            self.trading_status[m["stock"]] = (m["trading_state"], m["reason"])
        elif t == "Y":
            self.reg_sho[m["stock"]] = m["reg_sho_action"]
        elif t == "h":
            self.operational_halts[m["stock"]] = (m["market_code"], m["operational_halt_action"])
        elif t == "V":
            self.mwcb_levels = (m["level1"], m["level2"], m["level3"])
        elif t == "W":
            self.mwcb_breaches.append((ts, m["breached_level"]))
        elif t == "B":
            self.broken_trades.append(m["match_number"])
        if count:
            self.stats.type_counts[msg[0]] += 1
        if self.on_message is not None:
            self.on_message(m)

    # -- the numba path (adapters.feeds.itch_fast) --

    def _fast_reset(self) -> None:
        """Fresh kernel state; the buffers (a few MB) are allocated by :meth:`_fast_buffers` when reading starts."""
        self._st = _nb.new_state(self.day_ns, self._div, self.strict, self.symbols is not None)
        self._ready: deque[np.ndarray] = deque()

    def _fast_buffers(self) -> None:
        self._table = _nb.new_table(self._st)
        self._want = _symbol_keys(self.symbols or ())
        collect = np.zeros(256, np.uint8)
        kept = "RSHYhVWB" if self.on_message is None else "".join(MESSAGE_FIELDS) + "B"
        for c in kept:
            if not _KIND[ord(c)]:
                collect[ord(c)] = 1
        self._collect = collect
        self._admin_rows = np.zeros((4096, 2), np.int64)
        self._find_rows = np.zeros((256, _nb.NFCOL), np.int64)
        self._out = np.empty(self._chunk_size + 1, MD_DTYPE)

    def _fast_chunks(self) -> Iterator[np.ndarray]:
        self._fast_buffers()
        st = self.stats
        source = self._pcap() if self.format == "itch-pcap" else self._binaryfile_fast()
        for _ in source:
            while self._ready:
                chunk = self._ready.popleft()
                st.events += len(chunk)
                yield chunk
        n = int(self._st[_nb.P_NOUT])
        out = self._out
        # Done: let the buffers go (the order map's size stays in the state for live_orders).
        self._table = self._out = self._admin_rows = self._find_rows = None  # type: ignore[assignment]
        if n:
            self._st[_nb.P_NOUT] = 0
            # The kernel may have left one event more than a chunk (a two-event message written
            # last): chunks hold chunk_size events, as everywhere else.
            size = len(out) - 1
            for k in range(0, n, size):
                part = out[k : min(n, k + size)]
                st.events += len(part)
                yield part

    def _binaryfile_fast(self) -> Iterator[None]:
        """BinaryFILE through the kernel: blocks read into one buffer, a partial last frame moved to its front."""
        bs = self.block_size
        buf = np.empty(bs + 65538, np.uint8)  # a partial frame is at most 2 + 65535 - 1 bytes
        view = memoryview(buf)
        carry = 0  # bytes of a partial frame at buf[0:carry]
        base = 0  # file offset of buf[0]
        with open_stream(self.path) as f:
            while True:
                n = f.readinto(view[carry : carry + bs])
                if not n:
                    break
                end = carry + n
                self._decode_fast(buf, 0, end, lambda p, base=base: ("", base + p))
                pos = int(self._st[_nb.P_POS])
                carry = end - pos
                if carry:
                    buf[:carry] = buf[pos:end].copy()
                base += pos
                yield
        if carry:
            t = int(buf[2]) if carry > 2 else None
            text = f"file ends inside a message ({carry} of its bytes present)"
            self._finding("truncated", base, self._rec, t, text)
        yield

    def _decode_fast(self, buf: np.ndarray, start: int, end: int, where: _Where) -> None:
        """Run the kernel over the whole frames of ``buf[start:end]``, handling each reason it stops for;
        ``st[P_POS]`` ends where a partial frame starts (``end`` when there is none)."""
        st = self._st
        st[_nb.P_POS] = start
        while True:
            status = _nb.decode(
                buf, end, self._out, st, self._table, self.stats.type_counts, self._keep_since,
                self._want, self._collect, self._admin_rows, self._find_rows,
            )  # fmt: skip
            self._rec = int(st[_nb.P_REC])
            self.stats.filtered = int(st[_nb.P_FILTERED])
            self.stats.unknown_refs = int(st[_nb.P_UNKNOWN])
            if st[_nb.P_NADMIN]:
                self._fast_admin(buf)
            if st[_nb.P_NFIND]:
                self._fast_findings(buf, where)
            if status == _nb.DONE:
                return
            if status == _nb.OUT_FULL:
                size = len(self._out) - 1
                out = np.empty(size + 1, MD_DTYPE)
                extra = int(st[_nb.P_NOUT]) - size
                if extra:
                    out[0] = self._out[size]
                self._ready.append(self._out[:size])
                self._out = out
                st[_nb.P_NOUT] = extra
            elif status == _nb.GROW:
                self._table = _nb.grow_table(st, self._table)
            elif status == _nb.STOP:  # pragma: no cover - the findings above raised
                raise AssertionError("ITCH kernel stopped without a finding to raise")

    def _fast_admin(self, buf: np.ndarray) -> None:
        st = self._st
        n = int(st[_nb.P_NADMIN])
        st[_nb.P_NADMIN] = 0
        quick = self.on_message is None
        for rec, pos in self._admin_rows[:n].tolist():
            mlen = (int(buf[pos]) << 8) | int(buf[pos + 1])
            msg = buf[pos + 2 : pos + 2 + mlen].tobytes()
            if quick and msg[0] == 82:  # R, the most frequent (one per symbol): only locate and symbol matter
                loc = (msg[1] << 8) | msg[2]
                sym = msg[11:19].decode("latin-1").rstrip(" ")
                self.stock_directory[loc] = sym
                if self.symbols is None or sym in self.symbols:
                    self.instruments[loc] = sym  # the kernel has updated the symbols filter
            else:
                self._admin(msg, rec, count=False)

    def _fast_findings(self, buf: np.ndarray, where: _Where) -> None:
        st = self._st
        n = int(st[_nb.P_NFIND])
        st[_nb.P_NFIND] = 0
        for rec, code, t, pos, v1, v2, v3 in self._find_rows[:n].tolist():
            ctx, off = where(pos)
            ti = None if t < 0 else t
            if code == _nb.FD_NO_DIRECTORY:
                raise DataError(
                    f"{self.path}: {ctx + ', ' if ctx else ''}record {rec}, byte offset {off}: "
                    f"cannot filter by symbols {sorted(self.symbols or ())}: no stock directory (R) message came "
                    "before this order message, so locate codes cannot be mapped to symbols"
                )
            kind = "malformed"
            if code == _nb.FD_ZERO_LENGTH:
                text = "zero-length message"
            elif code == _nb.FD_UNKNOWN_TYPE:
                text = "unknown ITCH 5.0 message type"
            elif code == _nb.FD_BAD_LENGTH:
                text = f"length {v1}, expected {_LEN_BY_BYTE[t]} for this type"
            elif code == _nb.FD_BAD_SIDE:
                text = f"buy/sell indicator {chr(v1)!r}"
            elif code == _nb.FD_BAD_PRINTABLE:
                text = f"printable flag {chr(v1)!r}"
            elif code == _nb.FD_OFF_TICK:
                kind, text = "off_tick", f"price {v1 / 10_000:.4f} is not a multiple of tick {self.tick_size}"
            elif code == _nb.FD_DUPLICATE:
                kind, text = "duplicate_refs", f"order reference {v1} is already live"
            else:
                kind, text = "overfills", f"{v1} shares taken from order {v2}, which had {v3} left"
            self._finding(kind, off, rec, ti, text, ctx)


def _symbol_keys(symbols: Iterable[str]) -> np.ndarray:
    """The wanted symbols as sorted big-endian int64 of their 8 space-padded bytes (what an R message holds).

    A symbol that no stock field can equal after trailing spaces are stripped
    (longer than 8, ending in a space, not latin-1) is left out.
    """
    keys = set()
    for s in symbols:
        try:
            raw = s.encode("latin-1")
        except UnicodeEncodeError:
            continue
        if len(raw) > 8 or raw.endswith(b" "):
            continue
        keys.add(int.from_bytes(raw.ljust(8), "big", signed=True))
    return np.array(sorted(keys), np.int64)


def read_itch(
    path: str | Path,
    date: date | str | None = None,
    symbols: Iterable[str] | None = None,
    tick_size: float = 0.0001,
    strict: bool = True,
    **kwargs: Any,
) -> np.ndarray:
    """Read a whole ITCH file (BinaryFILE or capture) into one MD_DTYPE array."""
    return ItchReader(path, date, symbols, tick_size, strict, **kwargs).read()


# --- command line: inspect a file, or measure speed --------------------------------------------


def _time_read(path: Path, fast: bool, repeat: int) -> dict[str, float]:
    """Best of ``repeat`` full reads of ``path`` (wall and CPU seconds), plus the first read's wall time."""
    best: tuple[float, float] | None = None
    first = 0.0
    for k in range(max(1, repeat)):
        reader = ItchReader(path, fast=fast)
        c0 = time.process_time()
        t0 = time.perf_counter()
        count = sum(len(c) for c in reader.chunks())
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        first = wall if k == 0 else first
        if best is None or wall < best[0]:
            best = (wall, cpu)
    assert best is not None
    msgs = reader.stats.total_messages
    return {
        "messages": msgs, "events": count, "seconds": best[0], "cpu_seconds": best[1], "first_seconds": first,
        "msgs_per_s": msgs / best[0], "msgs_per_cpu_s": msgs / best[1] if best[1] else 0.0,
    }  # fmt: skip


def _bench(n: int, repeat: int = 3, reference: bool = True) -> dict[str, Any]:
    """Encode ``n`` synthetic messages to a BinaryFILE, then time reading it: the numba path (best of
    ``repeat``; its first read, which loads the compiled kernel, is ``first_seconds``) and the
    reference path (one read)."""
    import tempfile

    from adapters.feeds.itch_encoder import encode_events, random_l3_events  # only the bench needs the encoder

    day = date(2019, 1, 30)
    events = random_l3_events(n - 11, seed=7, day=day, n_instruments=8)  # + S, 8 R, S = n messages
    data = encode_events(events, {i: f"SYM{i}" for i in range(1, 9)}, day)
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "bench_20190130.itch"
        f.write_bytes(data)
        out = {"bytes": len(data), "fast": _time_read(f, True, repeat)}
        if reference:
            out["reference"] = _time_read(f, False, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m adapters.feeds.itch", description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", help="BinaryFILE or pcap/pcapng of MoldUDP64 ITCH 5.0")
    ap.add_argument("--date", help="session date YYYY-MM-DD (else inferred from the file name)")
    ap.add_argument("--symbols", help="comma-separated symbols to keep")
    ap.add_argument("--tick-size", type=float, default=0.0001)
    ap.add_argument("--lenient", action="store_true", help="count malformed records instead of failing")
    ap.add_argument("--bench", type=int, metavar="N", help="time parsing N synthetic messages")
    ap.add_argument("--repeat", type=int, default=3, help="--bench: reads of the numba path (the best counts)")
    ap.add_argument("--no-reference", action="store_true", help="--bench: skip the reference path")
    a = ap.parse_args(argv)
    if a.bench:
        res = _bench(a.bench, a.repeat, not a.no_reference)
        for name in ("fast", "reference"):
            r = res.get(name)
            if r is None:
                continue
            label = "numba kernel" if name == "fast" else "reference (numpy + Python)"
            print(
                f"{label:<27} {r['messages']:,} messages ({res['bytes']:,} bytes) -> {r['events']:,} events in "
                f"{r['seconds']:.3f} s: {r['msgs_per_s']:,.0f} msgs/s ({r['msgs_per_cpu_s']:,.0f} per CPU-second; "
                f"first read {r['first_seconds']:.3f} s)"
            )
        return 0
    if not a.file:
        ap.error("give a file or --bench N")
    try:
        syms = a.symbols.split(",") if a.symbols else None
        reader = ItchReader(a.file, a.date, syms, a.tick_size, strict=not a.lenient)
        for _ in reader.chunks():
            pass
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import json

    print(json.dumps({"format": reader.format, "date": str(reader.date), **reader.stats.as_dict()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
