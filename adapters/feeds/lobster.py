"""LOBSTER message (+ orderbook) files -> canonical market-data events.

LOBSTER (https://lobsterdata.com) reconstructs NASDAQ books from TotalView-ITCH
and publishes, per ticker and day, a *message* file (one event per row) and an
*orderbook* file (row *i* = the top ``L`` levels after message *i*).  Standard
names: ``AAPL_2012-06-21_34200000_57600000_message_1.csv`` (ticker, date,
start and end in ms after midnight, number of levels); the date and the symbol
are taken from the name unless given.

Message columns: time (seconds after midnight, decimal, US Eastern local time
of the trading day), type 1..7, order id, size (shares), price (dollars x
10000) and direction (1 buy / -1 sell limit order).  Mapping (``ts`` = local
midnight of ``date`` in ``tz`` + time, exact to the nanosecond):

=====  ==========================================  ===========================================
type   meaning                                     canonical event
=====  ==========================================  ===========================================
1      new limit order                             ADD (id, side = direction, price, size)
2      partial cancel                              CANCEL qty = cancelled size
3      full delete                                 CANCEL qty = 0 (remove entirely) - a delete
                                                   of a snapshot order carries the deleted size
4      execution of a visible order                EXECUTE qty = size, side = the resting
                                                   order's side, price = its price
5      execution of a hidden order                 TRADE, side = aggressor (-direction),
                                                   flags |= :data:`F_HIDDEN`
6      cross trade (auction)                       TRADE, side = -direction, flags |= :data:`F_CROSS`
7      trading halt indicator                      no event; ``stats.info["halts"]`` records it:
                                                   price -1 = halt, 0 = quoting resumes,
                                                   1 = trading resumes
=====  ==========================================  ===========================================

Every message's events end with :data:`~kernel.events.F_LAST`.

**Orders resting before the file starts.**  LOBSTER starts mid-session and only
lists messages that touch the requested levels (in the samples every message
but a hidden execution changes the orderbook row), so orders placed before
09:30 - and anything that happens deeper than ``L`` levels - are unknown to the
message file, yet such orders are executed and cancelled later.  With an
orderbook file the reader therefore

1. emits an initial **snapshot** before message 1: the book of row 1 with
   message 1 undone (the book *before* message 1), one synthetic ADD per price
   level, flagged :data:`~kernel.events.F_SNAPSHOT`, with synthetic order ids
   ``2**60 + n`` (n = 1, 2, ... in order of creation, for every synthetic
   order; see :data:`~adapters.feeds.validate.SYNTHETIC_ID_BASE`);
2. maps a CANCEL / delete / EXECUTE of an *unknown* order id at a price level
   onto the level's synthetic orders (oldest first): the event carries the
   synthetic id and the consumed qty.  Without enough synthetic liquidity
   the remainder keeps the original id (counted as ``unmapped_unknown_id``),
   so nothing is lost;
3. with ``reconcile=True`` (the default) compares, after every message, the
   top ``L`` levels of its book with the orderbook row and emits corrections
   right after the message's own events, at its timestamp, flagged
   F_SNAPSHOT (the message's F_LAST moves to the last correction):

   * a synthetic ADD for liquidity the row shows and the book lacks (a level
     emerging from below the visible range: pre-existing orders, or orders
     placed while the level was out of range);
   * a CANCEL for liquidity the book has and the row does not (orders that
     went while their level was out of range), taken from the level's
     synthetic orders (newest first), then from its *possibly stale* real
     orders - those added before the level last left the visible window -
     (oldest first), then from its other real orders (newest first);

   and, because the level totals are known to be right, an unknown id (step
   2) or a known order reduced by more than the book holds for it is mapped
   onto the level's synthetic and possibly stale orders too.  After this the
   rebuilt book equals every orderbook row on all ``L`` levels (and, on the
   AAPL and GOOG samples, :func:`~adapters.feeds.validate.validate` finds
   nothing: no unknown ids, no crossed book, no over-execution).  ``stats.info`` reports ``reconcile_rows``,
   ``reconcile_added_qty``, ``reconcile_removed_qty``,
   ``reconcile_removed_real_qty``, ``unknown_ids_mapped_to_stale_orders`` and
   ``excess_mapped_qty``.  ``reconcile=False`` keeps only steps 1 and 2.

Malformed rows: ``strict=True`` raises :class:`~kernel.errors.DataError`
``"<file>, line <n>: <what>"``; ``strict=False`` skips the row, counts it in
``stats.malformed`` and keeps its message in ``stats.examples`` (the matching
orderbook row is still used to reconcile).  Time going backwards is malformed
(the format guarantees non-decreasing time); lenient mode clamps it.  Data
inconsistencies that can be carried through (duplicate ids, sizes that
disagree with the book, unknown ids) are counted in ``stats.findings``.

Prices: LOBSTER's integer price is in 1e-4 dollars; ``tick_size`` (default
0.0001, so ticks = LOBSTER's integer) converts to ticks, and a price off the
tick is malformed.  Sizes are shares = lots.

Speed (Python 3.11, 2-CPU development machine, CPU time): AAPL 118k messages
with the 1-level orderbook and reconciliation ~125k messages/s (~230k/s
without reconciliation, ~270k/s without an orderbook); GOOG with the 10-level
orderbook ~95k messages/s.  Memory is bounded by the book, not the file.
"""

from __future__ import annotations

import datetime as _dt
import re
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from adapters.feeds.validate import (
    LOBSTER_EMPTY_ASK,
    LOBSTER_EMPTY_BID,
    SYNTHETIC_ID_BASE,
    EventBuffer,
    FeedStats,
    OrderbookCheck,
    check_against_orderbook,
    nano_units,
)
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, EXECUTE, F_SNAPSHOT, SELL, TRADE

F_HIDDEN = 0x10
"""Flag on a TRADE from LOBSTER type 5: execution of a hidden (non-displayed) order."""
F_CROSS = 0x20
"""Flag on a TRADE from LOBSTER type 6: cross (auction) trade."""

_NAME_RE = re.compile(
    r"^(?P<symbol>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_(?P<kind>message|orderbook)_(?P<level>\d+)\.csv$"
)
_HALT_STATES = {-1: "halt", 0: "quote_resume", 1: "trade_resume"}
_MAX_FIELD = 1 << 62  # sizes and prices beyond this cannot be real and would overflow int64 events
_MAX_SECONDS_DIGITS = 6  # seconds after midnight: a day has 86,400
_TYPE_NAMES = {1: "add", 2: "cancel", 3: "delete", 4: "execute", 5: "hidden_execute", 6: "cross", 7: "halt"}


def parse_lobster_name(name: str) -> dict[str, str] | None:
    """Fields of a standard LOBSTER file name (symbol, date, start, end, kind, level), or None."""
    m = _NAME_RE.match(Path(name).name)
    return m.groupdict() if m else None


def orderbook_path_for(message_csv: str | Path) -> Path:
    """The orderbook file that belongs to a message file (same name with ``orderbook``)."""
    p = Path(message_csv)
    if "_message_" not in p.name:
        raise DataError(f"{p}: not a LOBSTER message file name (no '_message_')")
    return p.with_name(p.name.replace("_message_", "_orderbook_"))


class LobsterReader:
    """Reads a LOBSTER message file (and optionally its orderbook file) as canonical chunks.

    Parameters: ``message_csv``; ``orderbook_csv`` (enables the initial
    snapshot and reconciliation, see the module docstring); ``date``
    (``YYYY-MM-DD`` or :class:`datetime.date`, default from the file name);
    ``symbol`` (default from the file name); ``instrument`` (id written into
    every event); ``tick_size`` in dollars (default 0.0001); ``strict``;
    ``reconcile``; ``tz`` (the exchange's time zone, default America/New_York).
    """

    def __init__(
        self,
        message_csv: str | Path,
        orderbook_csv: str | Path | None = None,
        date: str | _dt.date | None = None,
        symbol: str | None = None,
        instrument: int = 0,
        tick_size: float = 0.0001,
        strict: bool = True,
        reconcile: bool = True,
        tz: str = "America/New_York",
    ) -> None:
        self.message_csv = Path(message_csv)
        self._mname = str(self.message_csv)
        self.orderbook_csv = Path(orderbook_csv) if orderbook_csv is not None else None
        info = parse_lobster_name(self.message_csv.name)
        if date is None:
            if info is None:
                raise DataError(f"{self.message_csv}: cannot infer the date from the file name; pass date=")
            date = info["date"]
        if isinstance(date, str):
            try:
                date = _dt.date.fromisoformat(date)
            except ValueError:
                raise DataError(f"{self.message_csv}: bad date {date!r} (want YYYY-MM-DD)") from None
        self.date: _dt.date = date
        self.symbol = symbol if symbol is not None else (info["symbol"] if info else self.message_csv.stem)
        self.instrument = instrument
        self.instruments: dict[int, str] = {instrument: self.symbol}
        self.strict = strict
        self.reconcile = reconcile
        try:
            zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise DataError(f"unknown time zone {tz!r} (install tzdata?)") from None
        midnight = _dt.datetime(date.year, date.month, date.day, tzinfo=zone)
        self._midnight_ns = int(midnight.timestamp()) * 1_000_000_000
        try:
            tick9 = nano_units(tick_size, "tick_size")
        except ValueError as e:
            raise DataError(f"{self.message_csv}: {e}") from None
        # LOBSTER prices are in 1e-4 units = 100000 nano-units.
        self._px_mul, self._px_div = (100_000 // tick9, 1) if 100_000 % tick9 == 0 else (100_000, tick9)
        self.stats = FeedStats(str(self.message_csv))

    # ------------------------------------------------------------------ API

    def check_against_orderbook(self, levels: int | None = None) -> OrderbookCheck:
        """Re-read the file and compare the rebuilt book with the orderbook rows (all levels by default)."""
        if self.orderbook_csv is None:
            raise DataError(f"{self.message_csv}: no orderbook file given")
        chunks = list(self.chunks())
        lv = levels if levels is not None else self.stats.info.get("levels", 1)
        return check_against_orderbook(
            chunks,
            self.orderbook_csv,
            levels=lv,
            skip_rows=self.stats.info.get("rows_without_events", ()),
            tick_size=self._tick_size(),
        )

    def _tick_size(self) -> float:
        return 0.0001 * self._px_div / self._px_mul

    def chunks(self, chunk_size: int = 65536) -> Iterator[np.ndarray]:
        """Yield MD_DTYPE chunks of about ``chunk_size`` events, in time order (streams the files)."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._reset()
        buf = self._buf
        # Bytes that are not ASCII decode to U+FFFD, which no field accepts: reported with their line.
        ob = (
            open(self.orderbook_csv, encoding="ascii", errors="replace", newline="")
            if self.orderbook_csv is not None
            else None
        )
        rows = self._rows(ob) if ob is not None else None
        try:
            with open(self.message_csv, encoding="ascii", errors="replace", newline="") as mf:
                for n, line in enumerate(mf, 1):
                    msg = self._parse(n, line)
                    row = None
                    if rows is not None:
                        got = next(rows, None)
                        if got is None:
                            rows = None
                            self._fail(f"{self.orderbook_csv}, line {n}: missing (the message file is longer)")
                        else:
                            row = got[1]
                    if n == 1 and row is not None and msg is not None:
                        self._snapshot(row, msg)
                    out = buf.rows
                    before = len(out)
                    emitted = self._apply(n, msg) if msg is not None else 0
                    if row is not None and self.reconcile:
                        self._reconcile(row)
                    if len(out) > before:
                        buf.mark_last()
                    if not emitted:
                        self._rows_without_events.append(n)
                    if len(out) >= chunk_size:
                        yield buf.take()
                if rows is not None and next(rows, None) is not None:
                    n_msg = self.stats.records
                    self._fail(f"{self.orderbook_csv}, line {n_msg + 1}: more rows than the message file ({n_msg})")
        finally:
            if ob is not None:
                ob.close()
        self._finish()
        if len(buf):
            yield buf.take()

    # ------------------------------------------------------------------ state

    def _reset(self) -> None:
        self.stats = st = FeedStats(str(self.message_csv))
        st.info.update(symbol=self.symbol, date=self.date.isoformat())
        self._buf = EventBuffer(st)
        # order id -> [side, price, qty, message number of its ADD]
        self._orders: dict[int, list[int]] = {}
        # per side: key (price for asks, -price for bids) -> [level qty, {order id: None} in time priority]
        self._lv: dict[int, dict[int, list]] = {BUY: {}, SELL: {}}
        # per side: the sorted level keys (best first); plain lists (bisect) beat a tree at these depths
        self._keys: dict[int, list[int]] = {BUY: [], SELL: []}
        # (side, price) -> number of the message after which the level last left the visible window
        self._out: dict[tuple[int, int], int] = {}
        self._bound: dict[int, int | None] = {BUY: None, SELL: None}
        self._next_synth = SYNTHETIC_ID_BASE
        self._n = 0
        self._last_ts: int | None = None
        self._levels = 0
        self._width = 0
        self._rows_without_events: list[int] = []
        self._by_dir = {BUY: 0, SELL: 0}
        self._halts: list[dict[str, object]] = []
        self._rec = {"rows": 0, "added": 0, "removed": 0, "removed_real": 0, "mapped_stale": 0, "excess_mapped": 0}
        self._first_time: str | None = None
        self._last_time: str | None = None

    def _finish(self) -> None:
        st = self.stats
        st.info.update(
            levels=self._levels,
            first_time=self._first_time,
            last_time=self._last_time,
            first_ts=st.info.get("first_ts"),
            last_ts=self._last_ts,
            buy=self._by_dir[BUY],
            sell=self._by_dir[SELL],
            halts=self._halts,
            rows_without_events=self._rows_without_events,
            resting_orders_at_end=len(self._orders),
        )
        if self.orderbook_csv is not None:
            st.info.update(
                reconcile_rows=self._rec["rows"],
                reconcile_added_qty=self._rec["added"],
                reconcile_removed_qty=self._rec["removed"],
                reconcile_removed_real_qty=self._rec["removed_real"],
                unknown_ids_mapped_to_stale_orders=self._rec["mapped_stale"],
                excess_mapped_qty=self._rec["excess_mapped"],
            )

    def _fail(self, msg: str) -> None:
        if self.strict:
            raise DataError(msg)
        self.stats.bad(msg)

    def _px(self, raw: int) -> int:
        if self._px_div == 1:
            return raw * self._px_mul
        return (raw * self._px_mul) // self._px_div  # divisibility checked when parsing

    # ------------------------------------------------------------------ book

    def _insert(self, oid: int, side: int, price: int, qty: int) -> None:
        self._orders[oid] = [side, price, qty, self._n]
        d = self._lv[side]
        k = -price if side == BUY else price
        lvl = d.get(k)
        if lvl is None:
            d[k] = [qty, {oid: None}]
            insort(self._keys[side], k)
        else:
            lvl[0] += qty
            lvl[1][oid] = None

    def _take(self, oid: int, qty: int) -> int:
        """Reduce a resting order by ``qty`` (capped at its qty; <= 0: all of it); return the qty taken."""
        o = self._orders[oid]
        side, price, rest = o[0], o[1], o[2]
        take = rest if qty <= 0 or qty >= rest else qty
        d = self._lv[side]
        k = -price if side == BUY else price
        lvl = d[k]
        lvl[0] -= take
        if take == rest:
            del self._orders[oid]
            del lvl[1][oid]
            if not lvl[1]:
                del d[k]
                keys = self._keys[side]
                del keys[bisect_left(keys, k)]
        else:
            o[2] = rest - take
        return take

    def _level(self, side: int, price: int) -> list | None:
        return self._lv[side].get(-price if side == BUY else price)

    def _stale(self, side: int, price: int, oids: list[int]) -> list[int]:
        """Real orders among ``oids`` added before the level last left the visible window (maybe gone)."""
        out = self._out.get((side, price))
        if out is None:
            return []
        orders = self._orders
        return [oid for oid in oids if oid < SYNTHETIC_ID_BASE and orders[oid][3] < out]

    def _emit(self, ts: int, oid: int, price: int, qty: int, action: int, side: int, flags: int = 0) -> None:
        self._buf.add(ts, oid, self._px(price), qty, self.instrument, action, side, flags)

    def _add_synth(self, ts: int, side: int, price: int, qty: int) -> None:
        self._next_synth += 1
        sid = self._next_synth
        self._insert(sid, side, price, qty)
        self._emit(ts, sid, price, qty, ADD, side, F_SNAPSHOT)

    def _mappable(self, side: int, price: int, exclude: int = -1) -> int:
        """Qty at a level that unknown-id events may be mapped onto (synthetic + possibly stale orders)."""
        lvl = self._level(side, price)
        if lvl is None:
            return 0
        oids = [oid for oid in lvl[1] if oid != exclude]
        cands = [oid for oid in oids if oid >= SYNTHETIC_ID_BASE]
        if self.reconcile:
            cands += self._stale(side, price, oids)
        return sum(self._orders[oid][2] for oid in cands)

    def _map_unknown(self, ts: int, side: int, price: int, qty: int, action: int) -> int:
        """An EXECUTE / CANCEL of an unknown order at a level: take it from the level's synthetic orders
        (oldest first), then (with reconciliation) from real orders that may have gone while the level was
        out of view (oldest first).  Return the qty that could not be mapped."""
        lvl = self._level(side, price)
        if lvl is None:
            return qty
        oids = list(lvl[1])
        cands = [oid for oid in oids if oid >= SYNTHETIC_ID_BASE]
        if self.reconcile:
            cands += self._stale(side, price, oids)
        for oid in cands:
            if qty <= 0:
                break
            take = self._take(oid, qty)
            if oid < SYNTHETIC_ID_BASE:
                self._rec["mapped_stale"] += take
            self._emit(ts, oid, price, take, action, side)
            qty -= take
        return qty

    def _remove_level_qty(self, ts: int, side: int, price: int, qty: int) -> None:
        """Reconciliation: remove ``qty`` at a level - synthetic orders first (newest first), then real
        orders that may have gone while out of view (oldest first), then other real orders (newest first)."""
        self._rec["removed"] += qty
        lvl = self._level(side, price)
        oids = list(lvl[1]) if lvl is not None else []
        synth = [oid for oid in reversed(oids) if oid >= SYNTHETIC_ID_BASE]
        stale = self._stale(side, price, oids)
        rest = [oid for oid in reversed(oids) if oid < SYNTHETIC_ID_BASE and oid not in set(stale)]
        for group, real in ((synth, False), (stale, True), (rest, True)):
            for oid in group:
                if qty <= 0:
                    return
                take = self._take(oid, qty)
                if real:
                    self._rec["removed_real"] += take
                self._emit(ts, oid, price, take, CANCEL, side, F_SNAPSHOT)
                qty -= take
        if qty > 0:  # the level aggregate said more than its orders hold: cannot happen
            raise AssertionError(f"level {side}/{price} short by {qty}")

    # ------------------------------------------------------------------ messages

    def _parse(self, n: int, line: str) -> tuple[int, int, int, int, int, int] | None:
        """Parse and check message line ``n``: (ts, type, order id, size, price, direction), or None if skipped."""
        st = self.stats
        st.records += 1
        parts = line.rstrip("\r\n").split(",")
        if len(parts) != 6:
            self._fail(f"{self._mname}, line {n}: expected 6 fields, got {len(parts)}: {line.strip()[:80]!r}")
            return None
        t, typ_s, oid_s, size_s, price_s, dir_s = parts
        sec, dot, frac = t.partition(".")
        bad_time = not sec.isdigit() or (frac and not frac.isdigit()) or (dot and not frac) or frac[9:].strip("0")
        if bad_time or len(sec) > _MAX_SECONDS_DIGITS:
            self._fail(f"{self._mname}, line {n}: bad time {t!r}")
            return None
        frac = frac[:9]
        ts = self._midnight_ns + int(sec) * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)
        try:
            typ = int(typ_s)
            oid = int(oid_s)
            size = int(size_s)
            price = int(price_s)
            direction = int(dir_s)
        except ValueError:
            self._fail(f"{self._mname}, line {n}: non-integer field in {line.strip()[:80]!r}")
            return None
        if typ == 7:
            if price not in _HALT_STATES:
                self._fail(f"{self._mname}, line {n}: trading halt (type 7) with price {price}, expected -1, 0 or 1")
                return None
        else:
            problem = None
            if typ < 1 or typ > 7:
                problem = f"unknown event type {typ}"
            elif direction not in (BUY, SELL):
                problem = f"direction {direction}, expected 1 or -1"
            elif size <= 0:
                problem = f"size {size} <= 0"
            elif price <= 0:
                problem = f"price {price} <= 0"
            elif oid < 0 or oid >= SYNTHETIC_ID_BASE:
                problem = f"order id {oid} out of range [0, 2**60)"
            elif size > _MAX_FIELD:
                problem = f"size {size} out of range (at most 2**62)"
            elif (price * self._px_mul) // self._px_div > _MAX_FIELD:
                problem = f"price {price} out of range (at most 2**62 ticks)"
            elif self._px_div != 1 and (price * self._px_mul) % self._px_div:
                if typ in (5, 6):
                    # Hidden and cross executions print at sub-tick prices (e.g. midpoint
                    # fills); they never touch the book, so the print is rounded to the
                    # nearest tick and counted rather than refused.
                    ticks = (price * self._px_mul * 2 + self._px_div) // (2 * self._px_div)
                    rounded = ticks * self._px_div // self._px_mul
                    if (rounded * self._px_mul) % self._px_div:
                        problem = f"price {price} is not a multiple of the tick size"
                    else:
                        st.note("rounded_trade_price", f"{self._mname}, line {n}: trade price {price} rounded")
                        price = rounded
                else:
                    problem = f"price {price} is not a multiple of the tick size"
            if problem:
                self._fail(f"{self._mname}, line {n}: {problem}")
                return None
        last = self._last_ts
        if last is not None and ts < last:
            if self.strict:
                raise DataError(f"{self._mname}, line {n}: time {t} goes backwards")
            st.note("time_backwards", f"{self._mname}, line {n}: time {t} goes backwards (clamped)")
            ts = last
        if last is None:
            st.info["first_ts"] = ts
            self._first_time = t
        self._last_ts = ts
        self._last_time = t
        st.by_type[_TYPE_NAMES[typ]] += 1
        return ts, typ, oid, size, price, direction

    def _apply(self, n: int, msg: tuple[int, int, int, int, int, int]) -> int:
        """Apply a parsed message; return the number of events it emitted."""
        ts, typ, oid, size, price, direction = msg
        st = self.stats
        self._n = n
        if typ == 7:
            self._halts.append({"line": n, "ts": ts, "state": _HALT_STATES[price]})
            return 0
        self._by_dir[direction] += 1
        out = self._buf.rows
        before = len(out)
        orders = self._orders
        if typ == 1:
            if oid in orders:
                st.note("duplicate_add", f"{self._mname}, line {n}: order {oid} is already resting; replaced")
                o = orders[oid]
                self._take(oid, 0)
                self._emit(ts, oid, o[1], 0, CANCEL, o[0])
            self._insert(oid, direction, price, size)
            self._emit(ts, oid, price, size, ADD, direction)
        elif typ <= 4:
            action = EXECUTE if typ == 4 else CANCEL
            o = orders.get(oid)
            if o is not None:
                side, opx, rest = o[0], o[1], o[2]
                if opx != price or side != direction:
                    st.note(
                        "price_mismatch",
                        f"{self._mname}, line {n}: order {oid} rests at {side}/{opx}, message says {direction}/{price}",
                    )
                excess = size - rest
                mappable = excess > 0 and self._mappable(side, opx, oid) >= excess
                if typ == 3:
                    if size != rest:
                        st.note(
                            "delete_size_mismatch",
                            f"{self._mname}, line {n}: delete of order {oid} size {size}, resting {rest}",
                        )
                    self._emit(ts, oid, opx, 0, CANCEL, side)
                    self._take(oid, 0)
                elif excess > 0 and not mappable:
                    st.note(
                        "exceeds_resting", f"{self._mname}, line {n}: order {oid} reduced by {size}, resting {rest}"
                    )
                    self._emit(ts, oid, opx, size, action, side)
                    self._take(oid, size)
                else:
                    self._emit(ts, oid, opx, min(size, rest), action, side)
                    self._take(oid, size)
                if mappable:
                    # The level total was right, so the excess sits in orders that are in fact gone.
                    self._rec["excess_mapped"] += excess
                    self._map_unknown(ts, side, opx, excess, action)
            else:
                left = self._map_unknown(ts, direction, price, size, action)
                if left:
                    st.note(
                        "unmapped_unknown_id",
                        f"{self._mname}, line {n}: order {oid} is unknown and its level {direction}/{price} "
                        f"lacks {left} of snapshot liquidity; emitted with the original id",
                    )
                    self._emit(ts, oid, price, left, action, direction)
        else:  # 5 hidden execution, 6 cross trade
            self._emit(ts, oid, price, size, TRADE, -direction, F_HIDDEN if typ == 5 else F_CROSS)
        return len(out) - before

    # ------------------------------------------------------------------ orderbook rows

    def _rows(self, fh: TextIO) -> Iterator[tuple[int, list[int] | None]]:
        """(line number, row or None if malformed) for every orderbook line; parsed in blocks with numpy."""
        n = 0
        while True:
            lines = fh.readlines(1 << 20)
            if not lines:
                return
            if not self._width:
                self._width = len(lines[0].split(","))
                if self._width % 4:
                    raise DataError(f"{self.orderbook_csv}, line 1: {self._width} fields, expected a multiple of 4")
                self._levels = self._width // 4
            text = "".join(lines)
            # Every line must have width - 1 commas (else one short line and one long one could
            # pair up into whole rows), and every value must be a valid level (see _row_problem).
            commas = self._width - 1
            ok = all(line.count(",") == commas for line in lines)
            if ok:
                try:
                    flat = np.fromstring(text.replace("\n", ","), dtype=np.int64, sep=",")
                    ok = flat.size == len(lines) * self._width
                except ValueError:
                    ok = False
            if ok:
                block = flat.reshape(len(lines), self._width)
                ok = bool(self._rows_valid(block).all())
            if ok:
                for row in block.tolist():
                    n += 1
                    yield n, row
            else:
                for line in lines:
                    n += 1
                    yield n, self._row(n, line)

    def _row(self, n: int, line: str) -> list[int] | None:
        where = f"{self.orderbook_csv}, line {n}"
        try:
            row = [int(x) for x in line.split(",")]
        except ValueError:
            self._fail(f"{where}: non-integer field in {line.strip()[:80]!r}")
            return None
        if len(row) != self._width:
            self._fail(f"{where}: {len(row)} fields, expected {self._width}")
            return None
        problem = self._row_problem(row)
        if problem:
            self._fail(f"{where}: {problem}")
            return None
        return row

    def _rows_valid(self, block: np.ndarray) -> np.ndarray:
        """Which rows of an int64 block pass :meth:`_row_problem` (vectorised; False rows get the exact check)."""
        ok = np.ones(len(block), bool)
        for col, empty, sign in ((0, LOBSTER_EMPTY_ASK, 1), (2, LOBSTER_EMPTY_BID, -1)):
            px = block[:, col::4]
            qty = block[:, col + 1 :: 4]
            is_empty = px == empty
            real = (px > 0) & (px < 1 << 40) & (qty > 0) & (qty <= _MAX_FIELD)  # larger prices: exact check
            if self._px_div != 1:
                real &= (px * self._px_mul) % self._px_div == 0
            ok &= np.all(np.where(is_empty, qty == 0, real), axis=1)
            if px.shape[1] > 1:
                # Strictly better-to-worse prices, and empty levels only after the real ones.
                step = sign * np.diff(px, axis=1) > 0
                ok &= np.all(step | is_empty[:, 1:], axis=1) & np.all(~is_empty[:, :-1] | is_empty[:, 1:], axis=1)
        return ok

    def _row_problem(self, row: list[int]) -> str | None:
        """Why an orderbook row is not a valid LOBSTER book, or None.

        Each level is either empty (price 9999999999 ask / -9999999999 bid, size 0) or a
        price in (0, 2**62] on the tick with a size in (0, 2**62]; levels go from the best
        price outwards, strictly, and empty levels come only after the real ones.
        """
        for col, empty, name, sign in ((0, LOBSTER_EMPTY_ASK, "ask", 1), (2, LOBSTER_EMPTY_BID, "bid", -1)):
            prev: int | None = None
            seen_empty = False
            for lvl, j in enumerate(range(col, len(row), 4), 1):
                px, qty = row[j], row[j + 1]
                if px == empty:
                    if qty != 0:
                        return f"{name} level {lvl} is empty (price {px}) but has size {qty}"
                    seen_empty = True
                    continue
                if seen_empty:
                    return f"{name} level {lvl} has a price after an empty level"
                if not 0 < px <= _MAX_FIELD:
                    return f"{name} level {lvl}: price {px} out of range"
                if not 0 < qty <= _MAX_FIELD:
                    return f"{name} level {lvl}: size {qty} out of range"
                if self._px_div != 1 and (px * self._px_mul) % self._px_div:
                    return f"{name} level {lvl}: price {px} is not a multiple of the tick size"
                if prev is not None and sign * (px - prev) <= 0:
                    return f"{name} level {lvl}: price {px} does not come after {prev}"
                prev = px
        return None

    @staticmethod
    def _sides(row: list[int]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        asks = [(row[j], row[j + 1]) for j in range(0, len(row), 4) if row[j] != LOBSTER_EMPTY_ASK]
        bids = [(row[j + 2], row[j + 3]) for j in range(0, len(row), 4) if row[j + 2] != LOBSTER_EMPTY_BID]
        return asks, bids

    def _snapshot(self, row1: list[int], msg: tuple[int, int, int, int, int, int]) -> None:
        """The initial snapshot, before message 1: row 1 with message 1 undone."""
        asks, bids = self._sides(row1)
        book = {SELL: dict(asks), BUY: dict(bids)}
        ts, typ, _oid, size, price, d = msg
        lv = book.get(d)
        if lv is not None and typ == 1:
            left = lv.get(price, 0) - size
            if left > 0:
                lv[price] = left
            else:
                lv.pop(price, None)
        elif lv is not None and typ in (2, 3, 4):
            lv[price] = lv.get(price, 0) + size
        for side, levels in ((BUY, sorted(book[BUY].items(), reverse=True)), (SELL, sorted(book[SELL].items()))):
            for p, s in levels:
                if s > 0:
                    self._add_synth(ts, side, p, s)
        self.stats.info["snapshot_orders"] = len(self._buf)
        self._buf.mark_last()

    def _reconcile(self, row: list[int]) -> None:
        """Make the book's top levels equal the orderbook row (corrections flagged F_SNAPSHOT), then note
        which levels left the visible window."""
        levels = self._levels
        lv = self._lv
        asks = lv[SELL]
        bids = lv[BUY]
        if levels == 1:
            ka = self._keys[SELL]
            kb = self._keys[BUY]
            flat = [ka[0], asks[ka[0]][0]] if ka else [LOBSTER_EMPTY_ASK, 0]
            flat += [-kb[0], bids[kb[0]][0]] if kb else [LOBSTER_EMPTY_BID, 0]
            same = flat == row
        else:
            ak = self._keys[SELL][:levels]
            bk = self._keys[BUY][:levels]
            same = (
                row[0::4] == ak + [LOBSTER_EMPTY_ASK] * (levels - len(ak))
                and row[2::4] == [-k for k in bk] + [LOBSTER_EMPTY_BID] * (levels - len(bk))
                and row[1::4] == [asks[k][0] for k in ak] + [0] * (levels - len(ak))
                and row[3::4] == [bids[k][0] for k in bk] + [0] * (levels - len(bk))
            )
        if not same:
            self._rec["rows"] += 1
            ts = self._last_ts if self._last_ts is not None else self._midnight_ns
            row_asks, row_bids = self._sides(row)
            for side, want in ((SELL, row_asks), (BUY, row_bids)):
                d = lv[side]
                keys = self._keys[side]
                sign = 1 if side == SELL else -1
                if len(want) == levels:
                    window = [sign * k for k in keys[: bisect_right(keys, sign * want[-1][0])]]
                else:
                    window = [sign * k for k in keys]
                wanted = dict(want)
                for p in window:
                    if p not in wanted:
                        self._remove_level_qty(ts, side, p, d[sign * p][0])
                for p, s in want:
                    lvl = d.get(sign * p)
                    have = lvl[0] if lvl is not None else 0
                    if s > have:
                        self._rec["added"] += s - have
                        self._add_synth(ts, side, p, s - have)
                    elif s < have:
                        self._remove_level_qty(ts, side, p, have - s)
        # Levels beyond the L-th row level are out of view; mark those that just left the window.
        j = 4 * (levels - 1)
        for side, px, empty in ((SELL, row[j], LOBSTER_EMPTY_ASK), (BUY, row[j + 2], LOBSTER_EMPTY_BID)):
            k_new = None if px == empty else (px if side == SELL else -px)
            k_old = self._bound[side]
            if k_new != k_old:
                self._bound[side] = k_new
                if k_new is not None and (k_old is None or k_new < k_old):
                    sign = 1 if side == SELL else -1
                    keys = self._keys[side]
                    hi = len(keys) if k_old is None else bisect_right(keys, k_old)
                    for k in keys[bisect_right(keys, k_new) : hi]:
                        self._out[(side, sign * k)] = self._n + 1
