"""Input streams for the hardware path: random ITCH streams (valid and
malformed), bundled scenarios rendered to ITCH, and the real ITCH samples.

Every stream is a list of packets (``bytes``); the bench ends each packet
with ``tlast``. A packet holds ``[u16 length][message]`` frames.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adapters.feeds.itch_encoder import encode_events, encode_message, frame, split_binaryfile
from hardware.model import HwConfig, SlotConfig
from kernel.events import ADD, CANCEL, CLEAR, EXECUTE, MARKET, MD_DTYPE, MODIFY
from kernel.orders import STPMode
from kernel.risk import RiskLimits
from scenarios.schema import Scenario
from venues.matching import MatchingEngine, ReportKind

OPEN_NS = 34_200_000_000_000  # 09:30:00 in ns since midnight
TICK = 100  # one cent in ITCH price units
OTHER_TYPES = "RYLPQIBNhVWKJO"


def _noop() -> None:
    pass


# --------------------------------------------------------------------------- random streams


@dataclass
class _Side:
    levels: dict[int, int] = field(default_factory=dict)  # price -> live orders at it

    def add(self, px: int) -> None:
        self.levels[px] = self.levels.get(px, 0) + 1

    def remove(self, px: int) -> None:
        n = self.levels[px] - 1
        if n:
            self.levels[px] = n
        else:
            del self.levels[px]


@dataclass
class _Book:
    mid: int
    orders: dict[int, list[int]] = field(default_factory=dict)  # ref -> [side, price, shares]
    bids: _Side = field(default_factory=_Side)
    asks: _Side = field(default_factory=_Side)

    def side(self, s: int) -> _Side:
        return self.bids if s > 0 else self.asks

    def best(self, s: int) -> int | None:
        lv = self.side(s).levels
        if not lv:
            return None
        return max(lv) if s > 0 else min(lv)


class RandomItch:
    """A seeded random ITCH 5.0 stream generator with a shadow book.

    Valid messages keep every book uncrossed and within ``max_levels``
    distinct prices per side (the RTL's exactness domain); they include
    duplicates, unknown references, zero-share adds, overfilling executions,
    S and H messages and other message types. With ``malformed > 0`` a share
    of the frames is malformed: zero length, unknown type, wrong length, bad
    side or printable flag, over-long frames, and frames truncated by the end
    of their packet.
    """

    def __init__(
        self,
        seed: int,
        locates: tuple[int, ...] = (1, 2, 3, 4, 9),
        max_levels: int = 32,
        malformed: float = 0.0,
        max_packet_frames: int = 24,
        truncate: float | None = None,
        mid: int = 1_000_000,
        replaces: bool = True,
    ) -> None:
        self.rng = random.Random(seed)
        self.locates = locates
        self.max_levels = max_levels
        self.malformed = malformed
        self.max_packet_frames = max_packet_frames
        self.truncate = malformed if truncate is None else truncate
        self.books = {loc: _Book(mid + self.rng.randrange(-20, 21) * TICK) for loc in locates}
        self.ts = OPEN_NS
        self.next_ref = self.rng.randrange(1, 1 << 20)
        self.symbols = {loc: f"SYM{loc}" for loc in locates}
        self.replaces = replaces

    # -- helpers --
    def _ts(self) -> int:
        self.ts += self.rng.randrange(1, 3000)
        return self.ts

    def _ref(self) -> int:
        r = self.rng.random()
        self.next_ref += 1 if r < 0.9 else self.rng.randrange(2, 1 << 12 if r < 0.999 else 1 << 40)
        return self.next_ref

    def _price(self, bk: _Book, side: int) -> int:
        rng = self.rng
        bk.mid += rng.choice((-TICK, 0, 0, 0, TICK))
        opp = bk.best(-side)
        s = bk.side(side)
        if side > 0:
            top = (opp - TICK) if opp is not None else bk.mid - TICK
            px = min(top, bk.mid - TICK * (1 + int(rng.expovariate(0.35))))
            px = max(px, TICK)
        else:
            bot = (opp + TICK) if opp is not None else bk.mid + TICK
            px = max(bot, bk.mid + TICK * int(rng.expovariate(0.35)))
        if px not in s.levels and len(s.levels) >= self.max_levels:
            # a new level would leave the RTL's exactness domain: join a tracked one
            px = rng.choice(sorted(s.levels))
        return px

    def _live(self, bk: _Book) -> int | None:
        return self.rng.choice(tuple(bk.orders)) if bk.orders else None

    def _drop(self, bk: _Book, ref: int) -> None:
        side, px, _ = bk.orders.pop(ref)
        bk.side(side).remove(px)

    def _reduce(self, bk: _Book, ref: int, q: int) -> Callable[[], None]:
        """Shadow update of an execution / cancel of ``q`` shares (the book's semantics)."""

        def apply() -> None:
            o = bk.orders.get(ref)
            if o is None or q == 0:
                return
            if q >= o[2]:
                self._drop(bk, ref)
            else:
                o[2] -= q

        return apply

    # -- messages --
    def _valid(self) -> tuple[bytes, Callable[[], None]]:
        """One valid message and the shadow-book update to apply if it is delivered whole."""
        rng = self.rng
        loc = rng.choice(self.locates)
        bk = self.books[loc]
        hdr = {"stock_locate": loc, "timestamp": self._ts(), "tracking_number": rng.randrange(1 << 16)}
        r = rng.random()
        target = self._live(bk)
        if target is None or r < 0.36:  # add
            side = rng.choice((1, -1))
            px = self._price(bk, side)
            shares = rng.randrange(1, 600) if rng.random() > 0.01 else 0
            if bk.orders and rng.random() < 0.01:
                # a live order sent again (a retransmission): ignored as a duplicate. The same
                # side, price and shares, so that a book which dropped the original (order-table
                # overflow) and now takes this one still holds what the shadow book holds.
                ref = rng.choice(tuple(bk.orders))
                side, px, shares = bk.orders[ref]
                apply = _noop
            else:
                ref = self._ref()

                def apply() -> None:
                    if shares:
                        bk.orders[ref] = [side, px, shares]
                        bk.side(side).add(px)

            t = "F" if rng.random() < 0.15 else "A"
            extra = {"attribution": "MPID"} if t == "F" else {}
            m = encode_message(
                t, **hdr, order_reference_number=ref, buy_sell_indicator="B" if side > 0 else "S",
                shares=shares, stock=self.symbols[loc], price=px, **extra,
            )  # fmt: skip
            return m, apply
        if r < 0.40:  # a reference the book does not hold
            t = rng.choice("ECXDU" if self.replaces else "ECXD")
            ref = self._ref() + (1 << 50)
            m, _ = self._ref_msg(t, hdr, ref, [1, bk.mid, 100], bk)
            return m, _noop
        o = bk.orders[target]
        if r < 0.66:
            t = "X" if r >= 0.54 else ("E" if rng.random() < 0.7 else "C")
            m, q = self._ref_msg(t, hdr, target, o, bk)
            return m, self._reduce(bk, target, q)
        if r < 0.82 or (r < 0.93 and not self.replaces):
            return encode_message("D", **hdr, order_reference_number=target), lambda: self._drop(bk, target)
        if r < 0.93:  # replace: a new reference, price and size on the same side
            side = o[0]
            new = self._ref()
            px = self._price_after_drop(bk, target, side)
            shares = rng.randrange(1, 600)
            m = encode_message(
                "U", **hdr, original_order_reference_number=target, new_order_reference_number=new,
                shares=shares, price=px,
            )  # fmt: skip

            def apply() -> None:
                self._drop(bk, target)
                bk.orders[new] = [side, px, shares]
                bk.side(side).add(px)

            return m, apply
        if r < 0.95:
            return encode_message("S", **hdr, event_code=rng.choice("OSQMEC")), _noop
        if r < 0.975:
            state = "T" if rng.random() < 0.6 else rng.choice("HPQ")
            return encode_message("H", **hdr, stock=self.symbols[loc], trading_state=state), _noop
        t = rng.choice(OTHER_TYPES)
        fields: dict = {"stock": self.symbols[loc]} if t in "RYLPQINhKJO" else {}
        if t == "P":
            fields.update(price=bk.mid, shares=rng.randrange(1, 1000), buy_sell_indicator="B")
        elif t == "Q":
            fields.update(cross_price=bk.mid, shares=rng.randrange(1, 1000))
        return encode_message(t, **hdr, **fields), _noop

    def _price_after_drop(self, bk: _Book, ref: int, side: int) -> int:
        """A new price for a replace (the original's level counts as freed)."""
        px0 = bk.orders[ref][1]
        s = bk.side(side)
        s.remove(px0)
        try:
            return self._price(bk, side)
        finally:
            s.add(px0)

    def _ref_msg(self, t: str, hdr: dict, ref: int, o: list[int], bk: _Book) -> tuple[bytes, int]:
        """An E / C / X / D / U about ``ref`` and the shares it takes off."""
        rng = self.rng
        left = o[2]
        if t == "D":
            return encode_message("D", **hdr, order_reference_number=ref), left
        if t == "U":
            m = encode_message(
                "U", **hdr, original_order_reference_number=ref, new_order_reference_number=self._ref(),
                shares=rng.randrange(1, 600), price=bk.mid,
            )  # fmt: skip
            return m, left
        r = rng.random()
        if t == "X":  # never 0 shares: ITCH cancels are of at least one share
            q = rng.randrange(1, left + 1) if r < 0.85 else left + rng.randrange(0, 50)
            return encode_message("X", **hdr, order_reference_number=ref, cancelled_shares=q), q
        q = rng.randrange(1, left + 1) if r < 0.85 else (0 if r < 0.88 else left + rng.randrange(1, 50))
        match = rng.randrange(1 << 30)
        if t == "E":
            return encode_message("E", **hdr, order_reference_number=ref, executed_shares=q, match_number=match), q
        m = encode_message(
            "C", **hdr, order_reference_number=ref, executed_shares=q, match_number=match,
            printable=rng.choice("YN"), execution_price=o[1] + rng.choice((0, TICK)),
        )  # fmt: skip
        return m, q

    def _malformed(self) -> bytes:
        """A malformed frame (prefix included)."""
        rng = self.rng
        k = rng.randrange(6)
        loc = rng.choice(self.locates)
        hdr = {"stock_locate": loc, "timestamp": self._ts()}
        if k == 0:
            return b"\x00\x00"
        if k == 1:  # unknown type
            t = rng.choice(b"abcdfgZ!Tz")
            body = bytes([t]) + rng.randbytes(rng.randrange(0, 45))
            return frame(body)
        if k == 2:  # a known type with the wrong length
            t = rng.choice("AFECXDUSHRP")
            m = encode_message(t, **hdr)
            m = m + rng.randbytes(rng.randrange(1, 6)) if rng.random() < 0.5 else m[: rng.randrange(1, len(m))]
            return frame(m)
        if k == 3:  # bad side
            m = bytearray(encode_message(rng.choice("AF"), **hdr, buy_sell_indicator="B", shares=100, price=TICK * 50))
            m[19] = rng.choice(b"XbsZ ")
            return frame(bytes(m))
        if k == 4:  # bad printable flag
            m = bytearray(encode_message("C", **hdr, order_reference_number=1, printable="Y"))
            m[31] = rng.choice(b"yn ?")
            return frame(bytes(m))
        n = rng.randrange(63, 400)  # over-long frame
        return n.to_bytes(2, "big") + rng.randbytes(n)

    def packets(self, n_messages: int) -> list[bytes]:
        """``n_messages`` frames in packets of 1..max_packet_frames frames."""
        rng = self.rng
        out: list[bytes] = []
        left = n_messages
        while left:
            k = min(left, rng.randrange(1, self.max_packet_frames + 1))
            left -= k
            parts: list[bytes] = []
            for j in range(k):
                if self.malformed and rng.random() < self.malformed:
                    parts.append(self._malformed())
                    continue
                m, apply = self._valid()
                if j == k - 1 and self.truncate and rng.random() < self.truncate * 4:
                    f = frame(m)
                    parts.append(f[: rng.randrange(1, len(f))])  # cut by the end of the packet: never applied
                    continue
                apply()
                parts.append(frame(m))
            out.append(b"".join(parts))
        return out


def random_config(seed: int, locates: tuple[int, ...] = (1, 2, 3, 4), **limits) -> HwConfig:
    """A trigger / risk configuration for random streams: orders fire often and every
    risk check gets exercised."""
    rng = random.Random(seed ^ 0x5EED)
    slots = []
    for loc in locates:
        mid = 1_000_000
        slots.append(
            SlotConfig(
                locate=loc,
                symbol=f"SYM{loc}",
                qty=rng.choice((100, 200, 300, 500)) if rng.random() > 0.15 else 0,
                buy_limit=mid + rng.randrange(-5, 10) * TICK,
                sell_limit=mid + rng.randrange(-10, 5) * TICK,
                max_spread=rng.choice((0, 0, 5 * TICK, 20 * TICK)),
            )
        )
    lim = {
        "max_order_qty": 450,
        "max_position": 10_000,
        "price_band_bps": 3,
        "max_orders_per_sec": 60_000.0,
        "burst": 6,
    }
    lim.update(limits)
    return HwConfig(slots, RiskLimits(**{k: v for k, v in lim.items() if v is not None}))


# --------------------------------------------------------------------------- scenarios


def hw_scenarios(kinds: tuple[str, ...] = ("synthetic",)) -> list[str]:
    """Bundled scenarios whose every [[data]] feed is of one of ``kinds`` (and no agent
    populations): the ones the hardware tests replay. Synthetic by default; file-backed
    L3 data (e.g. "lobster") renders too, as long as the prices fit ITCH's 32 bits."""
    from scenarios.loader import bundled_scenarios, load_scenario

    out = []
    for name in sorted(bundled_scenarios()):
        try:
            sc, _ = load_scenario(name)
        except Exception:  # noqa: BLE001 - a scenario that does not load is not ours to judge here
            continue
        if sc.data and all(d.kind in kinds for d in sc.data) and not getattr(sc, "agents", None):
            out.append(name)
    return out


def scenario_events(scenario: Scenario, max_events: int | None = None) -> list[np.ndarray]:
    """The market data of every [[data]] entry, as ``scenarios.runner.Run`` opens it
    (:func:`scenarios.sources.open_source`, the same RNG streams), at most
    ``max_events`` events each."""
    from kernel.rng import RngStreams
    from scenarios.sources import open_source

    rng = RngStreams(scenario.seed)
    by_symbol = {i.symbol: i for i in scenario.instruments}
    out = []
    for k, cfg in enumerate(scenario.data):
        inst = by_symbol[cfg.instrument]
        chunks = open_source(cfg, k, _instrument(inst), rng, scenario.base_dir, scenario.start_ns, scenario.duration_ns)
        parts, n = [], 0
        for chunk in chunks:
            parts.append(chunk)
            n += len(chunk)
            if max_events is not None and n >= max_events:
                break
        ev = np.concatenate(parts) if parts else np.zeros(0, MD_DTYPE)
        out.append(ev[:max_events] if max_events is not None else ev)
    return out


def _instrument(cfg):
    from kernel.instruments import Instrument

    return Instrument(cfg.id, cfg.symbol, cfg.tick_size, cfg.lot_size, cfg.multiplier, cfg.currency)


def resting_book_events(events: np.ndarray) -> tuple[np.ndarray, MatchingEngine]:
    """Order flow -> the L3 events of the resting book an exchange feed shows.

    Crossing adds and market orders trade on arrival; an ITCH feed shows that
    as executions of the resting orders hit, then the add of what is left.
    The flow is replayed through the project's MatchingEngine (every order as
    a participant, so each fill names the resting order): EXECUTE of every
    resting order a trade hits, ADD of what rests, CANCEL (qty 0 = delete) of
    what is removed, MODIFY of a repriced order that still rests. Trade prints
    (TRADE) do not touch the book and are left out. Returns the events and the
    engine (the book at the end)."""
    reports: list = []
    inst0 = int(events["instrument"][0]) if len(events) else 0
    eng = MatchingEngine(inst0, STPMode.NONE, on_report=reports.append)
    rows: list[tuple] = []
    cols = zip(
        events["ts"].tolist(), events["order_id"].tolist(), events["price"].tolist(), events["qty"].tolist(),
        events["instrument"].tolist(), events["action"].tolist(), events["side"].tolist(), strict=True,
    )  # fmt: skip
    for ts, oid, px, qty, inst, action, side in cols:
        reports.clear()
        if action == ADD:
            eng.add(ts, oid, side, px, qty, owner=1)
        elif action == MARKET:
            eng.market(ts, side, qty, owner=1)
        elif action == CANCEL:
            eng.remove(ts, oid, qty)
        elif action == EXECUTE:
            eng.execute(ts, oid, qty, px)
        elif action == MODIFY:
            eng.modify(ts, oid, px, qty)
        elif action == CLEAR:
            eng.clear(ts)
        else:  # TRADE prints
            continue
        for r in reports:
            if r.kind == ReportKind.FILL and r.liquidity == "M":
                rows.append((ts, r.order_id, r.price, r.qty, inst, EXECUTE, 0, 0, 0))
            elif r.kind == ReportKind.CANCEL:
                rows.append((ts, r.order_id, r.price, 0 if r.leaves == 0 else r.qty, inst, CANCEL, 0, 0, 0))
        if action == ADD:
            rest = eng.open_qty(oid)
            if rest > 0:
                rows.append((ts, oid, px, rest, inst, ADD, side, 0, 0))
        elif action == MODIFY:
            info = eng.order_info(oid)
            if info is not None:
                rows.append((ts, oid, info[1], info[2] + info[3], inst, MODIFY, info[0], 0, 0))
    out = np.array(rows, dtype=MD_DTYPE) if rows else np.zeros(0, MD_DTYPE)
    return out, eng


@dataclass
class ScenarioStream:
    packets: list[bytes]
    config: HwConfig
    symbols: dict[int, str]  # locate -> symbol
    events: int  # scenario events rendered
    book_events: int  # resting-book events encoded


def scenario_stream(scenario: Scenario, max_events: int | None = 4000, packet_bytes: int = 1400) -> ScenarioStream:
    """A scenario's market data rendered to ITCH by the project's encoder
    (:func:`adapters.feeds.itch_encoder.encode_events`) after
    :func:`resting_book_events`, cut into packets of at most ``packet_bytes``, and
    the hardware configuration derived from the scenario (:func:`scenario_config`).
    Instrument ids become stock locates 1, 2, ... in id order."""
    per_entry = scenario_events(scenario, max_events)
    locate = {i.id: k + 1 for k, i in enumerate(sorted(scenario.instruments, key=lambda i: i.id))}
    parts, tops = [], {}
    for ev in per_entry:
        if not len(ev):
            continue
        book, eng = resting_book_events(ev[: min(len(ev), 200)])
        tops[int(ev["instrument"][0])] = eng.top()
        book, _ = resting_book_events(ev)
        book["instrument"] = locate[int(ev["instrument"][0])]
        parts.append(book)
    ev = np.concatenate(parts) if parts else np.zeros(0, MD_DTYPE)
    ev = ev[np.argsort(ev["ts"], kind="stable")]
    ticks = {i.tick_size for i in scenario.instruments}
    if len(ticks) != 1:
        raise ValueError("scenario instruments with different tick sizes cannot share one ITCH rendering")
    symbols = {locate[i.id]: i.symbol for i in scenario.instruments}
    day = _session_date(int(ev["ts"][0])) if len(ev) else "2026-01-05"
    data = encode_events(ev, symbols, day, tick_size=ticks.pop())
    packets = _pack([frame(m) for m in split_binaryfile(data)], packet_bytes)
    n_in = sum(len(e) for e in per_entry)
    return ScenarioStream(packets, scenario_config(scenario, locate, tops), symbols, n_in, len(ev))


def _session_date(ts_ns: int) -> str:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    return datetime.fromtimestamp(ts_ns / 1e9, UTC).astimezone(ZoneInfo("America/New_York")).date().isoformat()


def scenario_config(scenario: Scenario, locate: dict[int, int], tops: dict[int, tuple[int, int, int, int]]) -> HwConfig:
    """The trigger and risk settings the hardware runs a scenario with.

    The trigger takes liquidity around the opening book (the top after the
    first 200 events): BUY when the best ask is at or below the opening best
    bid, SELL when the best bid is at or above the opening best ask, spread at
    most 2 ticks; order size: the scenario strategy's ``qty`` (default 2).
    Risk: the scenario's max_order_qty, max_position, price_band_bps (whole
    bps), max_orders_per_sec and burst - the limits the risk gate implements.
    Time in force IOC.
    """
    qty = int(scenario.strategy.params.get("qty", 2) if scenario.strategy else 2)
    slots = []
    for inst in sorted(scenario.instruments, key=lambda i: i.id):
        t = round(inst.tick_size / 0.0001)
        bid, _, ask, _ = tops.get(inst.id, (0, 0, 0, 0))
        bid = bid or ask - 1
        ask = ask or bid + 1
        slots.append(
            SlotConfig(
                locate=locate[inst.id],
                symbol=inst.symbol,
                qty=qty,
                buy_limit=max(bid, 0) * t,
                sell_limit=max(ask, 0) * t,
                max_spread=2 * t,
            )  # fmt: skip
        )
    r = scenario.risk
    band = r.price_band_bps
    limits = RiskLimits(
        max_order_qty=r.max_order_qty,
        max_position=r.max_position,
        price_band_bps=float(int(band)) if band is not None and band >= 1 else None,
        max_orders_per_sec=r.max_orders_per_sec,
        burst=r.burst,
    )
    return HwConfig(slots, limits)


# --------------------------------------------------------------------------- real samples


def shared_itch_dir() -> Path | None:
    """The real ITCH samples: ``$PARITY_SHARED_DATA/itch``, else ``../shared/data/itch`` beside
    the repository or ``/work/shared/data/itch``; None when absent."""
    import os

    env = os.environ.get("PARITY_SHARED_DATA")
    roots = [Path(env)] if env else [Path(__file__).resolve().parents[2] / "shared" / "data", Path("/work/shared/data")]
    for r in roots:
        if (r / "itch").is_dir():
            return r / "itch"
    return None


def sample_files(root: Path | None = None) -> list[Path]:
    """The real ITCH samples (BinaryFILE and pcap) under ``root``, sorted; [] when absent."""
    root = root if root is not None else shared_itch_dir()
    if root is None or not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and (p.suffix in (".pcap", ".itch")))


def sample_packets(path: Path) -> list[bytes]:
    """A sample as packets: each MoldUDP64 packet of a pcap becomes one packet
    (its messages keep their 2-byte length prefixes); a BinaryFILE is cut into
    packets of at most 1400 bytes on frame boundaries."""
    from adapters.feeds.pcap import MOLD_HEADER_LEN, PcapFile, parse_mold_header, udp_payload

    if path.suffix != ".pcap":
        return _pack([frame(m) for m in split_binaryfile(path.read_bytes())], 1400)
    packets = []
    for rec in PcapFile(path).packets():
        loc = udp_payload(rec.buf, rec.start, rec.end, rec.linktype)
        if loc is None:
            continue
        start, end, _port = loc
        _session, _seq, count = parse_mold_header(rec.buf, start, end)
        if count in (0, 0xFFFF):  # heartbeat / end of session
            continue
        pos = start + MOLD_HEADER_LEN
        body = bytes(rec.buf[pos:end])
        used = 0
        for _ in range(count):
            used += 2 + int.from_bytes(body[used : used + 2], "big")
        packets.append(body[:used])
    return packets


def _pack(frames: list[bytes], packet_bytes: int) -> list[bytes]:
    """Frames grouped into packets of at most ``packet_bytes`` (a longer frame goes alone)."""
    packets, cur = [], b""
    for f in frames:
        if cur and len(cur) + len(f) > packet_bytes:
            packets.append(cur)
            cur = b""
        cur += f
    return packets + ([cur] if cur else [])


def samples_packets(root: Path | None = None) -> list[bytes]:
    """Every real sample's packets, file after file (sorted by path)."""
    return [p for f in sample_files(root) for p in sample_packets(f)]


def samples_config(packets: list[bytes], num_instr: int = 4) -> HwConfig:
    """Trade the instruments with the most adds and replaces in ``packets``: an order
    on every change of the best bid (SELL) or best ask (BUY), 100 shares; risk: max
    order qty, max position and the order-rate limit (no price band: the samples
    rarely show both sides of a book)."""
    from collections import Counter

    from hardware.model import split_frames

    adds: Counter = Counter()
    for f in split_frames(packets):
        if f.kind == "decoded" and f.mtype in "AFU":
            adds[int.from_bytes(f.msg[1:3], "big")] += 1
    slots = [
        SlotConfig(locate=loc, symbol=f"LOC{loc}", qty=100, buy_limit=(1 << 32) - 1, sell_limit=0)
        for loc, _ in sorted(adds.items(), key=lambda kv: (-kv[1], kv[0]))[:num_instr]
    ]
    limits = RiskLimits(max_order_qty=1000, max_position=2000, max_orders_per_sec=1000.0, burst=5)
    return HwConfig(slots, limits)


# --------------------------------------------------------------------------- directed streams


def spaced_trigger_stream(triggers: int, fillers: int = 3, locate: int = 1) -> tuple[list[bytes], HwConfig]:
    """A stream in which every ``fillers + 1``-th message moves the best ask of the
    configured instrument (so it triggers a BUY) and the messages between them do
    not touch its book: each order finds the risk gate and the output idle. One
    frame per packet."""
    ts = OPEN_NS
    frames: list[bytes] = []

    def msg(t: str, **f) -> None:
        nonlocal ts
        ts += 250
        frames.append(frame(encode_message(t, timestamp=ts, **f)))

    sym = "LAT"
    msg("A", stock_locate=locate, order_reference_number=1, buy_sell_indicator="B", shares=500, stock=sym,
        price=990_000)  # fmt: skip
    msg("A", stock_locate=locate, order_reference_number=2, buy_sell_indicator="S", shares=500, stock=sym,
        price=1_010_000)  # fmt: skip
    ref = 10
    for j in range(fillers + 3):  # the opening ask triggered: let its order leave first
        msg("R", stock_locate=locate + 1 + j, stock=f"FILL{j}")
    for k in range(triggers):
        if k % 2 == 0:  # a better ask: the best ask changes
            ref += 1
            msg("A", stock_locate=locate, order_reference_number=ref, buy_sell_indicator="S", shares=300,
                stock=sym, price=1_009_900)  # fmt: skip
        else:  # it leaves again: the best ask changes back
            msg("D", stock_locate=locate, order_reference_number=ref)
        for j in range(fillers):  # other instruments / other message types
            if j % 2:
                msg("R", stock_locate=locate + 1 + j, stock=f"FILL{j}")
            else:
                msg("A", stock_locate=locate + 1000, order_reference_number=1_000_000 + ref * 8 + j,
                    buy_sell_indicator="B", shares=100, stock="OTHER", price=500_000)  # fmt: skip
    cfg = HwConfig([SlotConfig(locate=locate, symbol=sym, qty=100, buy_limit=(1 << 32) - 1, sell=False)])
    return frames, cfg


def short_frame_stream(n: int, frame_bytes: int = 8) -> list[bytes]:
    """``n`` frames of ``frame_bytes`` (prefix included) in one packet: no ITCH 5.0
    message is that short, so they are malformed (unknown type 'z') and dropped -
    the parser's framing rate with one whole frame per 64-bit beat."""
    body = b"z" + bytes(frame_bytes - 3)
    return [((frame_bytes - 2).to_bytes(2, "big") + body) * n]
