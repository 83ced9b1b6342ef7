"""Reference model of the RTL tick-to-trade pipeline (``hardware/rtl``).

The model is the software path of the same pipeline, built from the project's
own parts, not from a second copy of them:

* ITCH decoding: :class:`adapters.feeds.itch.ItchReader` (order-book events)
  and :func:`adapters.feeds.itch.decode_message` (S and H messages);
* the book: one :class:`venues.matching.MatchingEngine` per instrument;
* pre-trade risk: :class:`kernel.risk.RiskEngine` with :class:`kernel.risk.RiskLimits`
  and a :class:`kernel.portfolio.Portfolio`.

What the model adds is the glue the RTL documents as its own policy: the
framing rules of the AXI-Stream input (packets end at ``tlast``), the trigger
(the strategy), the order table's bounded capacity (the same hash, so the
adds the RTL drops are dropped here too), the fill assumption (without fill
feedback an accepted order counts as filled in full) and the OUCH 5.0 bytes.
For any ITCH stream :meth:`ReferenceModel.run` returns the exact OUCH messages
the RTL must send, in order, with the counters the RTL keeps.

Units: the model reads ITCH with ``tick_size=0.0001``, so prices are raw ITCH
price units (4 implied decimals) exactly as the RTL sees them; quantities are
ITCH shares. Instrument ids are ITCH stock locate codes.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from adapters.feeds.itch import MESSAGE_LENGTHS, ItchReader, decode_message
from kernel.events import ADD, CANCEL, EXECUTE, TRADE
from kernel.orders import Order, OrderType, Side, TimeInForce
from kernel.portfolio import Portfolio
from kernel.risk import RiskEngine, RiskLimits, _TokenBucket
from venues.matching import MatchingEngine

__all__ = [
    "COUNTER_ADDRESSES",
    "Frame",
    "HwConfig",
    "HwParams",
    "ModelOrder",
    "ModelResult",
    "ReferenceModel",
    "SlotConfig",
    "cancel_order",
    "enter_order",
    "split_frames",
]

DECODED_TYPES = "AFECXDUSH"
BOOK_TYPES = "AFECXDU"
ITCH_DATE = "2026-01-05"  # the session date the model reads ITCH with (only time differences matter)
ENTER_LEN = 47
CANCEL_LEN = 9
U32 = 1 << 32
RISK_CHECKS = (
    "trading_state",
    "qty",
    "max_order_qty",
    "reference_price",
    "price_band_bps",
    "max_position",
    "max_orders_per_sec",
)
# stat_addr of every counter of the RTL (top.v STAT_*), by the model's counter name.
COUNTER_ADDRESSES: dict[str, int] = {
    **{f"msg_{t}": i for i, t in enumerate(DECODED_TYPES)},
    "msg_other": 9,
    "malformed": 10,
    "stored": 16,
    "duplicate": 17,
    "overflow": 18,
    "unknown": 19,
    "filtered": 20,
    "evict": 24,
    "untracked": 25,
    "miss": 26,
    "accepted": 32,
    **{f"reject_{c}": 33 + i for i, c in enumerate(RISK_CHECKS)},
    "enter_orders": 40,
    "cancel_orders": 41,
    "open_overwritten": 42,
    "candidates": 48,
    "candidate_fifo_overflow": 49,
    "order_fifo_overflow": 50,
}
STAT_STATUS = 56
STAT_POSITION = 64


# --------------------------------------------------------------------------- parameters / config


@dataclass(frozen=True)
class HwParams:
    """Verilog parameters of ``top`` (the model needs the ones that change behaviour)."""

    data_bytes: int = 8
    num_instr: int = 4
    levels: int = 32
    ot_addr_bits: int = 10
    ot_ways: int = 4
    cand_depth: int = 8
    ord_depth: int = 4
    open_slots: int = 8

    def __post_init__(self) -> None:
        if self.open_slots & (self.open_slots - 1):
            raise ValueError(f"open_slots must be a power of two, got {self.open_slots}")
        if self.cand_depth < 5:
            raise ValueError("cand_depth must be at least 5 (four messages can be in flight)")
        if not 1 <= self.num_instr <= 64:
            raise ValueError("num_instr must be 1..64")

    @property
    def max_frame(self) -> int:
        """Longest frame (prefix included) consumed whole; longer ones are skipped as malformed."""
        return 64

    def verilog(self) -> dict[str, int]:
        return {
            "DATA_BYTES": self.data_bytes,
            "NUM_INSTR": self.num_instr,
            "LEVELS": self.levels,
            "OT_ADDR_BITS": self.ot_addr_bits,
            "OT_WAYS": self.ot_ways,
            "CAND_DEPTH": self.cand_depth,
            "ORD_DEPTH": self.ord_depth,
            "OPEN_SLOTS": self.open_slots,
        }


@dataclass(frozen=True)
class SlotConfig:
    """One instrument slot: its ITCH stock locate, OUCH symbol and trigger."""

    locate: int
    symbol: str
    qty: int = 100  # order size (capped by the size at the best level)
    buy_limit: int = 0  # BUY when the best ask <= this (raw ITCH price units)
    sell_limit: int = U32 - 1  # SELL when the best bid >= this
    max_spread: int = 0  # 0 = off, else also need both sides and ask - bid <= this
    buy: bool = True
    sell: bool = True


_SUPPORTED_LIMITS = ("max_order_qty", "max_position", "price_band_bps", "max_orders_per_sec", "burst")


@dataclass
class HwConfig:
    """Everything written through the config port, plus the risk limits (the RiskEngine's own class)."""

    slots: list[SlotConfig]
    limits: RiskLimits = field(default_factory=RiskLimits)
    tif: str = "3"  # OUCH time in force: '3' IOC, '0' day (day orders are cancelled on kill)
    display: str = "Y"
    capacity: str = "P"
    intermarket_sweep: str = "N"
    cross_type: str = "N"
    clordid_prefix: str = "PARITY"
    first_user_ref: int = 1
    cancel_on_kill: bool = True

    def check(self, params: HwParams) -> None:
        """Raise ValueError if the RTL cannot represent this configuration."""
        if len(self.slots) > params.num_instr:
            raise ValueError(f"{len(self.slots)} instrument slots configured, the RTL has {params.num_instr}")
        if len({s.locate for s in self.slots}) != len(self.slots):
            raise ValueError("instrument slots need distinct stock locates")
        for s in self.slots:
            if not 0 <= s.locate < 1 << 16:
                raise ValueError(f"stock locate {s.locate} does not fit 16 bits")
            if len(s.symbol) > 8 or not s.symbol.isascii():
                raise ValueError(f"symbol {s.symbol!r} is not 1-8 ASCII characters")
            for name in ("qty", "buy_limit", "sell_limit", "max_spread"):
                if not 0 <= getattr(s, name) < U32:
                    raise ValueError(f"slot {s.symbol}: {name} does not fit 32 bits")
        lim = self.limits
        unsupported = [
            f.name for f in fields(RiskLimits) if f.name not in _SUPPORTED_LIMITS and getattr(lim, f.name) != f.default
        ]
        if unsupported:
            raise ValueError(f"the risk gate does not implement {', '.join(sorted(unsupported))}")
        if lim.price_band_bps is not None and lim.price_band_bps != int(lim.price_band_bps):
            raise ValueError(f"price_band_bps must be a whole number for the RTL, got {lim.price_band_bps}")
        for name in ("max_order_qty", "max_position", "price_band_bps"):
            v = getattr(lim, name)
            if v is not None and not 0 < v < U32:
                raise ValueError(f"{name} {v} does not fit 32 bits")
        for ch in (self.tif, self.display, self.capacity, self.intermarket_sweep, self.cross_type):
            if len(ch) != 1 or not ch.isascii():
                raise ValueError(f"OUCH option {ch!r} is not one ASCII character")
        if len(self.clordid_prefix) != 6 or not self.clordid_prefix.isascii():
            raise ValueError("clordid_prefix must be 6 ASCII characters")
        if lim.max_orders_per_sec is not None:
            per_ns, unit, cap = self.bucket()
            if per_ns >= U32 or unit >= 1 << 64 or cap >= 1 << 64:
                raise ValueError("max_orders_per_sec / burst do not fit the RTL token bucket registers")

    def bucket(self) -> tuple[int, int, int]:
        """(units per ns, units per order, capacity) of the RiskEngine's token bucket for these limits."""
        lim = self.limits
        if lim.max_orders_per_sec is None:
            return 0, 0, 0
        b = _TokenBucket(lim.max_orders_per_sec, lim.burst)
        return b.per_ns, b.unit, b.capacity

    def register_writes(self, params: HwParams) -> list[tuple[int, int]]:
        """(address, value) writes of the config port that set the RTL up like this model."""
        self.check(params)
        w: list[tuple[int, int]] = []
        for i, s in enumerate(self.slots):
            w.append((0x100 + i, (1 << 16) | s.locate))
            w.append((0x200 + 4 * i, s.qty | (int(s.buy) << 32) | (int(s.sell) << 33)))
            w.append((0x201 + 4 * i, s.buy_limit))
            w.append((0x202 + 4 * i, s.sell_limit))
            w.append((0x203 + 4 * i, s.max_spread))
            w.append((0x400 + i, int.from_bytes(s.symbol.encode("ascii").ljust(8), "big")))
        lim = self.limits
        w.append((0x300, lim.max_order_qty or 0))
        w.append((0x301, lim.max_position or 0))
        w.append((0x302, int(lim.price_band_bps or 0)))
        per_ns, unit, cap = self.bucket()
        w += [(0x303, per_ns), (0x304, unit), (0x305, cap)]
        w.append((0x440, self.first_user_ref))
        opts = (self.tif, self.display, self.capacity, self.intermarket_sweep, self.cross_type)
        w.append((0x441, sum(ord(c) << (8 * i) for i, c in enumerate(opts))))
        w.append((0x442, int.from_bytes(self.clordid_prefix.encode("ascii"), "big")))
        w.append((0x443, int(self.cancel_on_kill)))
        return w


# --------------------------------------------------------------------------- OUCH 5.0


def enter_order(cfg: HwConfig, user_ref: int, side: int, qty: int, symbol: str, price: int) -> bytes:
    """OUCH 5.0 Enter Order (47 bytes, no appendage)."""
    return b"".join(
        (
            b"O",
            user_ref.to_bytes(4, "big"),
            b"B" if side > 0 else b"S",
            qty.to_bytes(4, "big"),
            symbol.encode("ascii").ljust(8),
            price.to_bytes(8, "big"),
            (cfg.tif + cfg.display + cfg.capacity + cfg.intermarket_sweep + cfg.cross_type).encode("ascii"),
            cfg.clordid_prefix.encode("ascii") + f"{user_ref:08X}".encode("ascii"),
            b"\x00\x00",
        )
    )


def cancel_order(user_ref: int, qty: int = 0) -> bytes:
    """OUCH 5.0 Cancel Order (9 bytes); qty 0 cancels whatever is left."""
    return b"X" + user_ref.to_bytes(4, "big") + qty.to_bytes(4, "big")


# --------------------------------------------------------------------------- framing


@dataclass(frozen=True, slots=True)
class Frame:
    """One length-prefixed frame of the input stream as the RTL frames it."""

    index: int  # frame number in the stream
    packet: int  # packet (tlast-delimited) it belongs to
    start: int  # byte offset of its length prefix in the whole stream
    end: int  # offset after its last byte present
    kind: str  # "decoded", "other" or "malformed"
    msg: bytes  # the message (type byte first); b"" when truncated at the packet end
    truncated: bool = False

    @property
    def mtype(self) -> str:
        return chr(self.msg[0]) if self.msg else ""


def _classify(msg: bytes) -> str:
    if not msg:
        return "malformed"
    t = chr(msg[0])
    if MESSAGE_LENGTHS.get(t) != len(msg):
        return "malformed"
    if t in "AF" and msg[19:20] not in (b"B", b"S"):
        return "malformed"
    if t == "C" and msg[31:32] not in (b"Y", b"N"):
        return "malformed"
    return "decoded" if t in DECODED_TYPES else "other"


def split_frames(packets: Sequence[bytes]) -> list[Frame]:
    """Frame each packet like the RTL: ``[u16 length][message]`` frames, and
    whatever is left at the end of a packet that is not a whole frame is one
    truncated (malformed) frame. Zero-length frames, unknown types, lengths
    other than the type's, A/F sides other than B/S and C printable flags other
    than Y/N are malformed; well-formed types other than A F E C X D U S H are "other"."""
    out: list[Frame] = []
    base = 0
    for p, data in enumerate(packets):
        pos = 0
        n = len(data)
        while pos < n:
            if pos + 2 > n:
                out.append(Frame(len(out), p, base + pos, base + n, "malformed", b"", True))
                break
            ln = int.from_bytes(data[pos : pos + 2], "big")
            if pos + 2 + ln > n:
                out.append(Frame(len(out), p, base + pos, base + n, "malformed", b"", True))
                break
            msg = bytes(data[pos + 2 : pos + 2 + ln])
            out.append(Frame(len(out), p, base + pos, base + pos + 2 + ln, _classify(msg), msg))
            pos += 2 + ln
        base += n
    return out


# --------------------------------------------------------------------------- the model


@dataclass
class ModelOrder:
    """One expected OUCH message."""

    data: bytes
    kind: str  # "enter" or "cancel"
    user_ref: int
    frame: int = -1  # index of the frame whose message triggered it (enter orders)
    slot: int = -1
    side: int = 0
    price: int = 0
    qty: int = 0


@dataclass
class ModelResult:
    orders: list[ModelOrder]
    counters: Counter
    frames: list[Frame]
    max_levels: int = 0  # most distinct prices seen on one side of one instrument
    crossed_adds: int = 0  # adds that would have crossed the book (outside the RTL's domain)
    positions: dict[int, int] = field(default_factory=dict)  # slot -> position (fill assumption)
    day_orders: list[ModelOrder] = field(default_factory=list)  # enter orders that may rest
    candidate_frames: list[int] = field(default_factory=list)  # frames that triggered (accepted or not)

    @property
    def enter_orders(self) -> list[ModelOrder]:
        return [o for o in self.orders if o.kind == "enter"]


def _bucket_of(ref: int, bits: int) -> int:
    """The order table's hash: XOR-fold of the 64-bit reference to ``bits`` bits."""
    h = 0
    b = 0
    while ref:
        if ref & 1:
            h ^= 1 << (b % bits)
        ref >>= 1
        b += 1
    return h


class ReferenceModel:
    """The software tick-to-trade pipeline with the RTL's configuration."""

    def __init__(self, config: HwConfig, params: HwParams | None = None) -> None:
        self.params = params or HwParams()
        config.check(self.params)
        self.config = config

    # -- reading --
    def _events(self, frames: list[Frame], tmpdir: str) -> list[tuple]:
        """The project's ITCH reader over every whole frame, in stream order."""
        path = Path(tmpdir) / "stream.itch"
        with open(path, "wb") as f:
            for fr in frames:
                if not fr.truncated:
                    f.write(len(fr.msg).to_bytes(2, "big") + fr.msg)
        reader = ItchReader(path, date=ITCH_DATE, strict=False)
        rows: list[tuple] = []
        for chunk in reader.chunks():
            rows.extend(
                zip(
                    chunk["ts"].tolist(),
                    chunk["order_id"].tolist(),
                    chunk["price"].tolist(),
                    chunk["qty"].tolist(),
                    chunk["instrument"].tolist(),
                    chunk["action"].tolist(),
                    chunk["side"].tolist(),
                    chunk["flags"].tolist(),
                    strict=True,
                )
            )
        self.reader = reader
        return rows

    def run(self, packets: Sequence[bytes] | bytes, kill_before_frame: int | None = None) -> ModelResult:
        """Expected OUCH output for ``packets`` (one ``bytes`` = one packet).

        ``kill_before_frame``: the kill switch trips before that frame (the
        risk engine halts; remembered day orders get cancel orders).
        """
        if isinstance(packets, (bytes, bytearray)):
            packets = [bytes(packets)]
        frames = split_frames(packets)
        with tempfile.TemporaryDirectory(prefix="parity-hw-") as tmp:
            events = self._events(frames, tmp)
        return self._run(frames, events, kill_before_frame)

    def _run(self, frames: list[Frame], events: list[tuple], kill_before_frame: int | None) -> ModelResult:
        cfg = self.config
        params = self.params
        slots = {s.locate: (i, s) for i, s in enumerate(cfg.slots)}
        day_ns = self.reader.day_ns
        portfolio = Portfolio({s.locate: 1.0 for s in cfg.slots})
        risk = RiskEngine(cfg.limits, portfolio)
        engines = {s.locate: MatchingEngine(s.locate) for s in cfg.slots}
        trading = {s.locate: True for s in cfg.slots}
        market_open = True
        occupancy: Counter = Counter()
        bits = params.ot_addr_bits
        ways = params.ot_ways
        c: Counter = Counter()
        orders: list[ModelOrder] = []
        day_orders: list[ModelOrder] = []
        next_ref = cfg.first_user_ref
        next_oid = 1
        max_levels = 0
        crossed = 0
        candidates: list[int] = []
        ev_i = 0
        n_ev = len(events)

        def take(expect_action: int, ts: int, ref: int, fr: Frame) -> tuple:
            nonlocal ev_i
            if ev_i >= n_ev:
                raise AssertionError(f"frame {fr.index} ({fr.mtype}): the ITCH reader emitted no event for it")
            e = events[ev_i]
            if e[5] != expect_action or e[0] != ts or e[1] != ref:
                raise AssertionError(
                    f"frame {fr.index} ({fr.mtype} ref {ref}): the ITCH reader's next event is {e}, "
                    "so the reader and the RTL framing rules disagree about this frame"
                )
            ev_i += 1
            return e

        def live(eng: MatchingEngine, ref: int) -> bool:
            return eng.order_info(ref) is not None

        def add(eng: MatchingEngine, ts: int, ref: int, side: int, price: int, qty: int) -> None:
            nonlocal crossed
            if qty <= 0:
                return
            if live(eng, ref):
                c["duplicate"] += 1
                eng.add(ts, ref, side, price, qty)  # ignored by the engine (counted as a duplicate)
                return
            h = _bucket_of(ref, bits)
            if occupancy[h] >= ways:
                c["overflow"] += 1
                return
            bb, _, ba, _ = eng.top()
            if (side > 0 and ba and price >= ba) or (side < 0 and bb and price <= bb):
                crossed += 1
            occupancy[h] += 1
            c["stored"] += 1
            eng.add(ts, ref, side, price, qty)

        def removed(eng: MatchingEngine, ref: int) -> None:
            if not live(eng, ref):
                occupancy[_bucket_of(ref, bits)] -= 1

        for fr in frames:
            if kill_before_frame is not None and fr.index == kill_before_frame:
                risk.kill(0, "kill switch")
            if fr.kind != "decoded":
                c["malformed" if fr.kind == "malformed" else "msg_other"] += 1
                t = fr.mtype
                if fr.kind == "other" and t in "PQ":  # trades: the reader emits one TRADE, the book ignores it
                    if ev_i < n_ev and events[ev_i][5] == TRADE:
                        ev_i += 1
                continue
            t = fr.mtype
            c[f"msg_{t}"] += 1
            msg = fr.msg
            locate = int.from_bytes(msg[1:3], "big")
            ts = day_ns + int.from_bytes(msg[5:11], "big")
            ref = int.from_bytes(msg[11:19], "big")
            if t == "S":
                code = decode_message(msg)["event_code"]
                if code == "Q":
                    market_open = True
                elif code == "M":
                    market_open = False
                continue
            # book messages: consume the reader's events whatever the instrument
            if t in "AF":
                evs = [take(ADD, ts, ref, fr)]
            elif t in "EC":
                evs = [take(EXECUTE, ts, ref, fr)]
            elif t in "XD":
                evs = [take(CANCEL, ts, ref, fr)]
            elif t == "U":
                new = int.from_bytes(msg[19:27], "big")
                evs = [take(CANCEL, ts, ref, fr), take(ADD, ts, new, fr)]
            else:  # H
                evs = []
            if locate not in slots:
                c["filtered"] += 1
                continue
            slot, sc = slots[locate]
            if t == "H":
                trading[locate] = decode_message(msg)["trading_state"] == "T"
                continue
            eng = engines[locate]
            before = eng.top()
            side = 0
            e = evs[0]
            if t in "AF":
                side = e[6]
                add(eng, e[0], e[1], e[6], e[2], e[3])
            elif not live(eng, ref):
                c["unknown"] += 1  # E/C/X/D/U of an order the book does not hold: no change
                continue
            else:
                side = eng.order_info(ref)[0]
                if t in "EC":
                    eng.execute(e[0], ref, e[3], e[2])
                elif t == "X":
                    eng.remove(e[0], ref, e[3])
                elif t == "D":
                    eng.remove(e[0], ref, 0)
                else:  # U: delete the original, add the new reference on the same side
                    eng.remove(e[0], ref, 0)
                    removed(eng, ref)
                    a = evs[1]
                    add(eng, a[0], a[1], side, a[2], a[3])
                if t != "U":
                    removed(eng, ref)
            max_levels = max(max_levels, len(eng.depth(1, params.levels + 1)), len(eng.depth(-1, params.levels + 1)))
            after = eng.top()
            # the trigger: the touched side's top changed
            if side > 0:
                changed = before[0:2] != after[0:2]
            else:
                changed = before[2:4] != after[2:4]
            if not changed or not trading[locate] or not market_open:
                continue
            bid_px, bid_qty, ask_px, ask_qty = after
            if sc.max_spread and not (bid_px and ask_px and ask_px - bid_px <= sc.max_spread):
                continue
            if side < 0 and sc.buy and ask_px and ask_px <= sc.buy_limit:
                o_side, price, qty = 1, ask_px, min(sc.qty, ask_qty)
            elif side > 0 and sc.sell and bid_px and bid_px >= sc.sell_limit:
                o_side, price, qty = -1, bid_px, min(sc.qty, bid_qty)
            else:
                continue
            c["candidates"] += 1
            candidates.append(fr.index)
            ref_px = (bid_px + ask_px) // 2 if bid_px and ask_px else None
            order = Order(next_oid, locate, Side(o_side), qty, price, OrderType.LIMIT, TimeInForce.IOC)
            next_oid += 1
            decision = risk.check_order(order, ts - day_ns, ref_px, 0, 0, 0)
            if not decision.accepted:
                c[f"reject_{decision.check}"] += 1
                continue
            c["accepted"] += 1
            portfolio.on_fill(locate, o_side, qty, price, 0.0, ts - day_ns)
            data = enter_order(cfg, next_ref, o_side, qty, sc.symbol, price)
            mo = ModelOrder(data, "enter", next_ref, fr.index, slot, o_side, price, qty)
            next_ref = (next_ref + 1) % U32
            orders.append(mo)
            c["enter_orders"] += 1
            if cfg.tif != "3":
                day_orders.append(mo)
        if kill_before_frame is not None and cfg.cancel_on_kill:
            for mo in self.cancels_after(day_orders):
                orders.append(mo)
                c["cancel_orders"] += 1
        c["open_overwritten"] = max(0, len(day_orders) - params.open_slots) if cfg.tif != "3" else 0
        positions = {slots[loc][0]: portfolio.position(loc) for loc in slots}
        return ModelResult(orders, c, frames, max_levels, crossed, positions, day_orders, candidates)

    def cancels_after(self, sent_day_orders: Iterable[ModelOrder]) -> list[ModelOrder]:
        """Cancel orders the RTL sends on a kill after sending ``sent_day_orders``:
        one per remembered (last ``open_slots``) resting order, oldest first."""
        kept = list(sent_day_orders)[-self.params.open_slots :]
        return [ModelOrder(cancel_order(o.user_ref), "cancel", o.user_ref) for o in kept]


def describe_mismatch(expected: Sequence[bytes], got: Sequence[bytes]) -> str | None:
    """None if equal, else a description of the first differing OUCH message."""
    for i, (e, g) in enumerate(zip(expected, got, strict=False)):
        if e != g:
            at = next((k for k in range(min(len(e), len(g))) if e[k] != g[k]), min(len(e), len(g)))
            return (
                f"OUCH message {i} differs at byte {at}: expected {e.hex()} ({_summary(e)}), "
                f"RTL sent {g.hex()} ({_summary(g)})"
            )
    if len(expected) != len(got):
        i = min(len(expected), len(got))
        head = f"RTL sent {len(got)} OUCH messages, expected {len(expected)}"
        if len(got) < len(expected):
            return f"{head}; first missing: message {i} {_summary(expected[i])}"
        return f"{head}; first extra: message {i} {_summary(got[i])}"
    return None


def _summary(m: bytes) -> str:
    if len(m) == ENTER_LEN and m[:1] == b"O":
        return (
            f"Enter ref={int.from_bytes(m[1:5], 'big')} {chr(m[5])} qty={int.from_bytes(m[6:10], 'big')} "
            f"{m[10:18].decode('ascii', 'replace').strip()} px={int.from_bytes(m[18:26], 'big')}"
        )
    if len(m) == CANCEL_LEN and m[:1] == b"X":
        return f"Cancel ref={int.from_bytes(m[1:5], 'big')} qty={int.from_bytes(m[5:9], 'big')}"
    return f"{len(m)} bytes"


def decode_ouch(m: bytes) -> dict[str, Any]:
    """Fields of an OUCH Enter / Cancel Order (for reports)."""
    if m[:1] == b"O":
        return {
            "type": "O",
            "user_ref": int.from_bytes(m[1:5], "big"),
            "side": chr(m[5]),
            "qty": int.from_bytes(m[6:10], "big"),
            "symbol": m[10:18].decode("ascii").rstrip(),
            "price": int.from_bytes(m[18:26], "big"),
            "tif": chr(m[26]),
            "clordid": m[31:45].decode("ascii"),
        }
    return {"type": "X", "user_ref": int.from_bytes(m[1:5], "big"), "qty": int.from_bytes(m[5:9], "big")}
