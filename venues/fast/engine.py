"""FastMatchingEngine: the reference engine's API over the numba kernels of :mod:`venues.fast.core`.

Split of the work:

* compiled (``core``): the book (order pool, levels, id map), matching, STP,
  FOK availability, icebergs, every background action and the batch loop
  ``apply_events``. Callbacks produced in compiled code are written, in the
  reference's firing order, to an output buffer that :meth:`_flush` turns into
  ``on_trade`` / ``on_report`` calls (and ``on_top`` snapshots for the venue).
* Python (this module, rare paths): argument validation, post-only checks,
  ACK / REJECT / amend / cancel / expire reports, the owner memory for late
  rejects, DAY/GTD bookkeeping and the stop book. The compiled loop knows the
  lowest buy and highest sell stop price and returns here when the last trade
  price crosses one; :meth:`_check_stops` then runs exactly the reference's
  trigger procedure.

Callbacks are therefore fired at the end of each compiled call rather than in
the middle of it; their contents and order are identical, and the reference
already forbids callbacks from calling back into the engine.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numba import njit
from sortedcontainers import SortedList

import kernel.jit  # noqa: F401  (numba cache location; before any @njit(cache=True))
from kernel.errors import DataError
from kernel.events import MD_DTYPE
from kernel.orders import OrderType, STPMode, TimeInForce
from venues.fast import core as C
from venues.matching import (
    ExecReport,
    OrderEntry,
    ReportKind,
    _as_int,
    _Stop,
    order_fields_problem,
)

__all__ = ["FastMatchingEngine"]

_FIELDS = ("ts", "order_id", "price", "qty", "action", "side")
_NEED_ROOM = C.NEED_ROOM
_GTD = int(TimeInForce.GTD)
_DAY = int(TimeInForce.DAY)
_LIMIT = int(OrderType.LIMIT)
_STOP = int(OrderType.STOP)
_STOP_LIMIT = int(OrderType.STOP_LIMIT)
_KINDS = (None, *(ReportKind(k) for k in range(1, 8)))
_LIQ = ("", "M", "T")
_STP_REASON = "self-trade prevention"
_OWNER_MEMORY = 1 << 17
_ID_MIN = -(1 << 63) + 1  # -2**63 is the id map's empty key
_ID_MAX = (1 << 63) - 1

_ST_DONE, _ST_BOUND, _S_NBUF, _K_TOP = C.ST_DONE, C.ST_BOUND, C.S_NBUF, C.K_TOP

_ACK = ReportKind.ACK
_REJECT = ReportKind.REJECT
_CANCEL = ReportKind.CANCEL
_EXPIRE = ReportKind.EXPIRE
_REPLACE = ReportKind.REPLACE
_TRIGGER = ReportKind.TRIGGER

_FIXED_REASONS = {
    C.RS_NONE: "",
    C.RS_STP: _STP_REASON,
    C.RS_REMOVED: "removed by market data",
    C.RS_REDUCED: "reduced by market data",
    C.RS_MODIFIED: "modified by market data",
    C.RS_CLEARED: "book cleared",
}


def _reason(code: int, px: int, a1: int, a2: int, a3: int) -> str:
    text = _FIXED_REASONS.get(code)
    if text is not None:
        return text
    if code == C.RS_STP_OLDEST:
        return f"{_STP_REASON}: resting order {a1} cancelled (CANCEL_OLDEST) against incoming order {a2}"
    if code == C.RS_STP_DEC:
        return f"{_STP_REASON}: decremented by {a1} (DECREMENT_BOTH, orders {a2} and {a3})"
    if code == C.RS_NO_LIQ:
        return f"no liquidity: market order {a1} has {a2} unfilled"
    if code == C.RS_FOK:
        return f"FOK order {a1} for {a2} killed: only {a3} available at {px} or better"
    if code == C.RS_IOC:
        return f"IOC order {a1}: unfilled remainder {a2} cancelled"
    raise AssertionError(f"unknown reason code {code}")


class _EntryPoints:
    """Compiled entry points of the kernels the wrapper calls: they skip numba's argument
    type dispatch (~0.3 us a call); every kernel has one signature, so the types are known."""

    def __init__(self, names: tuple[str, ...]) -> None:
        for name in names:
            fn = getattr(C, name)
            setattr(self, name, fn.overloads[fn.signatures[0]].entry_point)


_E = _EntryPoints(
    ("apply_events", "order_row", "room", "cancel_resting", "queue_ahead", "depth_into", "x_op", "x_process")
)  # fmt: skip


@njit("UniTuple(int64, 4)(int64[::1], int64[:, ::1], int64[:, ::1])", cache=True, nogil=True, _nrt=False)
def _top4(st, lvls, book):
    return st[C.S_BB], C.top_bq(st, lvls, book), st[C.S_BA], C.top_aq(st, lvls, book)


_top_ep = _top4.overloads[_top4.signatures[0]].entry_point


class FastMatchingEngine(OrderEntry):
    """Drop-in, compiled twin of :class:`venues.matching.MatchingEngine` (same API and reports).

    Extra API for the simulated venue: :meth:`apply_events` (MD_DTYPE arrays
    without column conversion), :meth:`run_events`, :attr:`on_top` and the window interface
    (:attr:`compiled`, :attr:`apply_compiled`, :meth:`fire`, :meth:`resume`).
    ``capacity`` sizes the initial pools (they double on demand).
    """

    def __init__(
        self,
        instrument: int = 0,
        stp_mode: STPMode = STPMode.NONE,
        on_report: Callable[[ExecReport], None] | None = None,
        on_trade: Callable[[int, int, int, int], None] | None = None,
        capacity: int = 1024,
    ) -> None:
        self.instrument = instrument
        cap = 1 << max(4, int(capacity - 1).bit_length())
        st = np.zeros(C.NS, np.int64)
        self._st = st
        self._ords = np.zeros((cap, C.NF), np.int64)
        self._lvls = np.zeros((cap, C.NL), np.int64)
        self._book = C.new_book_rows(2 * cap)
        self._omap = np.full((2 * cap, 2), C.EMPTY, np.int64)
        self._buf = np.zeros((max(1024, cap), C.NR), np.int64)
        C.init_state(st, cap)
        C.link_free_orders(st, self._ords, 0, cap)
        C.link_free_levels(st, self._lvls, 0, cap)
        self._stops: dict[int, _Stop] = {}
        self._buy_stops: SortedList = SortedList()
        self._sell_stops: SortedList = SortedList()
        self._timed: dict[int, int | _Stop] = {}  # DAY/GTD: order id -> resting record id, or the stop
        self._owners: OrderedDict[int, int] = OrderedDict()  # participant id -> owner, for late rejects
        self._seq = 0
        self._in_stops = False
        self._ev_ok: np.ndarray | None = None
        self._on_report = None
        self._on_trade = None
        # M_RECORD_TOP: (ts, bid_px, bid_qty, ask_px, ask_qty, index of the event that changed it)
        self.on_top: Callable[[int, int, int, int, int, int], None] | None = None
        # True once a Python entry point (order entry, cancel, expire, ...) ran: the top may
        # have changed outside market-data windows. The venue clears it when it publishes.
        self.touched = False
        self.stp_mode = stp_mode
        self.on_report = on_report
        self.on_trade = on_trade
        self.generation = -1  # of the arrays in ``compiled``: moved by every replacement
        self._rebind()

    # ------------------------------------------------------------ attributes

    @property
    def stp_mode(self) -> STPMode:
        return STPMode(int(self._st[C.S_STP]))

    @stp_mode.setter
    def stp_mode(self, mode: STPMode) -> None:
        self._st[C.S_STP] = int(STPMode(mode))

    @property
    def on_report(self) -> Callable[[ExecReport], None] | None:
        return self._on_report

    @on_report.setter
    def on_report(self, cb: Callable[[ExecReport], None] | None) -> None:
        self._on_report = cb
        self._st[C.S_REC_REPORTS] = cb is not None

    @property
    def on_trade(self) -> Callable[[int, int, int, int], None] | None:
        return self._on_trade

    @on_trade.setter
    def on_trade(self, cb: Callable[[int, int, int, int], None] | None) -> None:
        self._on_trade = cb
        self._st[C.S_REC_TRADES] = cb is not None

    def _stat(self, k: int) -> int:
        return int(self._st[k])

    last_trade_price = property(lambda self: self._stat(C.S_LAST), lambda self, v: self._set(C.S_LAST, v))
    trade_count = property(lambda self: self._stat(C.S_TCOUNT), lambda self, v: self._set(C.S_TCOUNT, v))
    traded_qty = property(lambda self: self._stat(C.S_TQTY), lambda self, v: self._set(C.S_TQTY, v))
    unknown_ids = property(lambda self: self._stat(C.S_UNKNOWN), lambda self, v: self._set(C.S_UNKNOWN, v))
    duplicate_ids = property(lambda self: self._stat(C.S_DUP), lambda self, v: self._set(C.S_DUP, v))
    rest_crossing = property(
        lambda self: bool(self._st[C.S_REST]),
        lambda self, v: self._set(C.S_REST, int(bool(v))),
        doc="Recorded data: market-data adds / modifies that cross rest (see the reference).",
    )

    def _set(self, k: int, v: int) -> None:
        self._st[k] = v

    # ------------------------------------------------------------ plumbing

    def _rebind(self) -> None:
        """Publish the current arrays in :attr:`compiled` (after any of them is replaced)."""
        # A caller that runs windows itself (the simulated venue) keeps these arrays and calls
        # apply_events directly: one Python frame per window. It re-reads them when the
        # generation moves.
        self.compiled = (self._st, self._ords, self._lvls, self._book, self._omap, self._buf)
        self.generation += 1

    apply_compiled = staticmethod(_E.apply_events)
    """``apply_compiled(*compiled, ev, start, stop, mode, bound, lookahead)``: the compiled loop
    itself (:func:`venues.fast.core.apply_events`: ``code >> 4`` next index, ``code & 7`` a
    ``core.ST_*`` status, and a top row it took out with ``core.M_TAKE_TOP``). A caller that
    gets ``ST_DONE`` / ``ST_BOUND`` fires the buffered rows (:meth:`fire`); any other status
    goes on through :meth:`resume`."""

    def resume(self, ev: np.ndarray, code: int, stop: int, mode: int) -> int:
        """Finish a window after :attr:`apply_compiled` returned ``code``; return the next index."""
        status = code & 15
        if status == _ST_DONE or status == _ST_BOUND:
            n = self._st.item(_S_NBUF)
            if n:
                self._flush(n)
            return code >> 4
        return self._go_on(ev, code, stop, mode, 0)[0]

    def check_events(self, ev: np.ndarray) -> None:
        """Raise DataError unless ``ev`` is what the compiled loop reads: a C-contiguous MD_DTYPE array."""
        if ev is not self._ev_ok:
            if ev.dtype != MD_DTYPE or not ev.flags.c_contiguous:
                raise DataError(f"market data must be a C-contiguous MD_DTYPE array, got {ev.dtype} {ev.flags}")
            self._ev_ok = ev

    def _grow(self, mask: int) -> None:
        st = self._st
        if mask & C.G_ORDERS:
            n = len(self._ords)
            new = np.zeros((2 * n, C.NF), np.int64)
            new[:n] = self._ords
            self._ords = new
            C.link_free_orders(st, new, n, 2 * n)
        if mask & C.G_LEVELS:
            n = len(self._lvls)
            new = np.zeros((2 * n, C.NL), np.int64)
            new[:n] = self._lvls
            self._lvls = new
            C.link_free_levels(st, new, n, 2 * n)
            self._book = C.rebuild_levels_table(st, new, C.new_book_rows(4 * n))  # (two slots per level row)
        if mask & C.G_MAP:
            old = self._omap
            new = np.full((2 * len(old), 2), C.EMPTY, np.int64)
            st[C.S_MAPSHIFT] -= 1
            C.map_rehash(st, old, new)
            self._omap = new
        self._rebind()

    def _make_room(self, q: int) -> None:
        st = self._st
        mask = C.grow_mask(st, self._ords, self._lvls, self._book, self._omap)
        if mask:
            self._grow(mask)
        need = C.buf_need(st, q)
        if st[C.S_NBUF] + need > len(self._buf):
            self._flush()
            if need > len(self._buf):
                C.recount_hidden(st, self._ords, self._lvls, self._book)
                need = C.buf_need(st, q)
                size = len(self._buf)
                while size < need:
                    size *= 2
                if size > len(self._buf):
                    self._buf = np.zeros((size, C.NR), np.int64)
                    self._rebind()

    def _call(self, fn, q: int, *args):
        """``fn(arrays..., *args)``, making room (grow, flush) and calling again when it asks."""
        self.touched = True
        r = fn(self._st, self._ords, self._lvls, self._book, self._omap, self._buf, *args)
        if r == _NEED_ROOM:
            self._make_room(q if 0 < q < 1 << 40 else (1 if q <= 0 else 1 << 40))
            r = fn(self._st, self._ords, self._lvls, self._book, self._omap, self._buf, *args)
        if self._st[C.S_NBUF]:
            self._flush()
        return r

    def _flush(self, n: int = -1) -> None:
        """Fire the callbacks buffered by compiled code (``n`` rows when known), in order."""
        st = self._st
        if n < 0:
            n = st.item(_S_NBUF)
            if not n:
                return
        rows = self._buf[:n].tolist()
        st[_S_NBUF] = 0
        self.fire(rows)

    def fire(self, rows: list[list[int]]) -> None:
        """Fire the callbacks of output-buffer rows (taken out of the buffer), in order."""
        on_top = self.on_top
        for r in rows:
            k = r[0]
            if k == _K_TOP:  # the most frequent row where a venue watches the book
                on_top(r[1], r[2], r[3], r[4], r[5], r[8])
            elif k == 0:
                self._on_trade(r[1], r[4], r[5], r[8])
            elif self._on_report is not None:
                code = r[7]
                text = _FIXED_REASONS.get(code)
                if text is None:
                    text = _reason(code, r[4], r[8], r[9], r[10])
                self._on_report(ExecReport(_KINDS[k], r[1], r[2], r[3], r[4], r[5], r[6], text, _LIQ[r[11]]))

    def _emit(self, kind, ts, oid, owner, price, qty, leaves, reason="", liquidity="") -> None:
        cb = self._on_report
        if owner and cb is not None:
            cb(ExecReport(kind, ts, oid, owner, price, qty, leaves, reason, liquidity))

    def _remember(self, oid: int, owner: int) -> None:
        owners = self._owners
        owners[oid] = owner
        if len(owners) > _OWNER_MEMORY:
            owners.popitem(last=False)  # O(1), as the reference

    def _row(self, order_id: Any) -> int:
        """Pool row of a resting order, or -1."""
        oid = _as_int(order_id)
        if oid is None or not _ID_MIN <= oid <= _ID_MAX:
            return -1
        return int(_E.order_row(self._st, self._omap, oid))

    def _rec(self, order_id: Any) -> list[int] | None:
        o = self._row(order_id)
        return None if o < 0 else self._ords[o].tolist()

    def _crosses(self, side: int, price: int) -> int:
        st = self._st
        if side > 0:
            ba = int(st[C.S_BA])
            return ba if ba and price >= ba else 0
        bb = int(st[C.S_BB])
        return bb if bb and price <= bb else 0

    def _sync_stops(self) -> None:
        """Mirror the stop book's count and nearest triggers into the compiled state."""
        st = self._st
        st[C.S_NSTOPS] = len(self._stops)
        st[C.S_STOP_BUY] = self._buy_stops[0][0] if self._buy_stops else C.I64_MAX
        st[C.S_STOP_SELL] = -self._sell_stops[0][0] if self._sell_stops else C.I64_MIN

    _stops_changed = _sync_stops

    # ------------------------------------------------------------ stops

    def _after(self, ts: int) -> None:
        if self._stops:
            self._check_stops(ts)

    def _process(
        self, ts, oid, owner, side, qty, price, otype, tif, display, expire_ts, post_only: bool = False
    ) -> None:
        rid = self._call(
            _E.x_process, qty, ts, oid, owner, side, qty, price, otype, tif, display, expire_ts, int(bool(post_only))
        )
        if rid and (tif == _DAY or tif == _GTD):
            self._timed[oid] = int(rid)

    # -------------------------------------------------------------- order entry

    def _validate(self, ts, order_id, side, qty, price, order_type, tif, stop_price, post_only, display_qty, expire_ts):
        problem = order_fields_problem(
            ts, order_id, side, qty, price, order_type, tif, stop_price, post_only, display_qty, expire_ts
        )
        if problem:
            return problem
        if self._row(order_id) >= 0 or order_id in self._stops or order_id in self._owners:
            return f"order {order_id}: duplicate order id {order_id}"
        return ""

    def _accept_id(self, order_id: Any) -> None:
        if not _ID_MIN <= int(order_id) <= _ID_MAX:
            raise ValueError(f"order {order_id}: the fast engine needs order ids in [-2**63 + 1, 2**63 - 1]")

    def cancel(self, ts: int, order_id: int, reason: str = "cancelled by request") -> None:
        """Cancel a resting or waiting-stop order (see the reference)."""
        st = self._st
        if self._row(order_id) >= 0:
            self.touched = True
            _E.cancel_resting(st, self._ords, self._lvls, self._book, self._omap, int(order_id))
            owner, price, leaves = int(st[C.S_TOP0]), int(st[C.S_TOP0 + 1]), int(st[C.S_TOP0 + 2])
            self._emit(_CANCEL, ts, order_id, owner, price, leaves, 0, reason)
            return
        if self._cancel_stop(ts, order_id, reason):
            return
        self._reject_unknown(ts, order_id, "cancel")

    def _reject_unknown(self, ts: int, order_id: int, what: str) -> None:
        owner = self._owners.get(order_id)
        if owner:
            self._emit(_REJECT, ts, order_id, owner, 0, 0, 0, f"{what} rejected: order {order_id} is not working")
        else:
            self._st[C.S_UNKNOWN] += 1

    def _resting_fields(self, order_id: Any) -> tuple[int, int, int, int, bool] | None:
        rec = self._rec(order_id)
        if rec is None:
            return None
        return rec[C.O_OWN], rec[C.O_SIDE], rec[C.O_PX], rec[C.O_VIS] + rec[C.O_HID], bool(rec[C.O_POST])

    def _amend_resting(self, ts: int, order_id: int, price: int, leaves: int) -> None:
        self._call(_E.x_op, leaves, C.X_REPRICE, ts, int(order_id), price, leaves, 0, 0)

    def _timed_fields(self, order_id: int, rid: int) -> tuple[int, int, int, int, int] | None:
        rec = self._rec(order_id)
        if rec is None or rec[C.O_RID] != rid:
            return None
        return rec[C.O_TIF], rec[C.O_EXP], rec[C.O_OWN], rec[C.O_PX], rec[C.O_VIS] + rec[C.O_HID]

    def _expire_resting(self, order_id: int, rid: int) -> None:
        self.touched = True
        _E.cancel_resting(self._st, self._ords, self._lvls, self._book, self._omap, order_id)

    # ------------------------------------------------------- background flow

    def add(self, ts: int, order_id: int, side: int, price: int, qty: int, owner: int = 0) -> None:
        """Add a plain GTC limit order (market data); crossing orders trade first."""
        if qty <= 0:
            return
        if owner:
            if self._row(order_id) >= 0:
                self._st[C.S_DUP] += 1
                return
            self._remember(order_id, owner)
        self._call(_E.x_op, qty, C.X_ADD, ts, int(order_id), int(side), int(price), int(qty), int(owner))
        if self._stops:
            self._check_stops(ts)

    def remove(self, ts: int, order_id: int, qty: int = 0) -> bool:
        """Reduce a resting order by ``qty`` (0 or >= leaves: delete it); False if unknown."""
        oid = _as_int(order_id)
        if oid is None or not _ID_MIN <= oid <= _ID_MAX:
            self._st[C.S_UNKNOWN] += 1
            return False
        return bool(self._call(_E.x_op, 1, C.X_REMOVE, ts, oid, int(qty), 0, 0, 0))

    def market(self, ts: int, side: int, qty: int, owner: int = 0) -> int:
        """Sweep the book with a market order of ``qty``; return the filled quantity."""
        if qty <= 0:
            return 0
        filled = self._call(_E.x_op, qty, C.X_MARKET, ts, int(side), int(qty), int(owner), 0, 0)
        if filled and self._stops:
            self._check_stops(ts)
        return filled

    def execute(self, ts: int, order_id: int, qty: int, price: int = 0) -> bool:
        """Replay an execution of a resting order (see the reference); False if unknown.

        An execution of a background order first fills the participant orders
        with priority over it (reference: ``_fill_participants_ahead``). In
        compiled code unless stops are waiting: they may trigger between
        those fills, so that case runs here, fill by fill.
        """
        o = self._row(order_id)
        if o < 0:
            self._st[C.S_UNKNOWN] += 1
            return False
        ahead = True
        if self._stops and self._st[C.S_NPART] and qty > 0 and not self._ords[o, C.O_OWN]:
            qty -= self._fill_participants_ahead(ts, o, qty)
            if qty <= 0 or self._row(order_id) < 0:
                # Gone: a stop triggered by those fills traded it away (the reference then
                # finds its record emptied and does nothing more).
                return True
            ahead = False
        self._call(_E.x_op, 1, C.X_EXECUTE, ts, int(order_id), int(qty), int(price), int(bool(ahead)), 0)
        self._after(ts)
        return True

    def _fill_participants_ahead(self, ts: int, o: int, qty: int) -> int:
        ords = self._ords
        oids = [int(ords[q, C.O_OID]) for q in C.ahead_rows(self._st, ords, self._lvls, self._book, o)]
        taken = 0
        for oid in oids:
            if taken >= qty:
                break
            rec = self._rec(oid)  # stops triggered by an earlier fill may have changed it
            f = min(qty - taken, rec[C.O_VIS]) if rec is not None else 0
            if f > 0:
                self.execute(ts, oid, f, rec[C.O_PX])
                taken += f
        return taken

    def modify(self, ts: int, order_id: int, price: int, qty: int, rest: bool = False) -> bool:
        """Replay a modify (see the reference); False if unknown."""
        if self._row(order_id) < 0:
            self._st[C.S_UNKNOWN] += 1
            return False
        self._call(_E.x_op, qty, C.X_MODIFY, ts, int(order_id), int(price), int(qty), int(not rest), 0)
        self._after(ts)
        return True

    def trade_print(self, ts: int, price: int, qty: int, aggressor_side: int) -> None:
        """A trade that does not touch the book (see the reference)."""
        self._call(_E.x_op, 1, C.X_TRADE_PRINT, ts, int(price), int(qty), int(aggressor_side), 0, 0)
        self._after(ts)

    def clear(self, ts: int) -> None:
        """Empty the book; participants get CANCEL "book cleared"; waiting stops stay."""
        self._call(_E.x_op, 1, C.X_CLEAR, ts, 0, 0, 0, 0, 0)

    # ---------------------------------------------------------------- hot path

    def apply_batch(
        self,
        ts: Sequence[int] | np.ndarray,
        order_id: Sequence[int] | np.ndarray,
        price: Sequence[int] | np.ndarray,
        qty: Sequence[int] | np.ndarray,
        action: Sequence[int] | np.ndarray,
        side: Sequence[int] | np.ndarray,
        start: int,
        stop: int,
        watch_top: bool,
    ) -> int:
        """Apply events ``start .. stop-1`` given as columns (see the reference); return the next index.

        The columns are packed into an MD_DTYPE array chunk by chunk (small
        first chunks with ``watch_top``); :meth:`apply_events` takes such an
        array directly.
        """
        cols = (ts, order_id, price, qty, action, side)
        i = start
        step = 64 if watch_top else max(stop - start, 1)
        while i < stop:
            j = min(i + step, stop)
            ev = np.zeros(j - i, MD_DTYPE)
            for name, col in zip(_FIELDS, cols, strict=True):
                ev[name] = col[i:j]
            k, _ = self.run_events(ev, 0, j - i, C.M_WATCH if watch_top else 0, offset=i)
            if k < j - i:
                return i + k
            i = j
            step = min(step * 2, 16384)
        return stop

    def apply_events(self, events: np.ndarray, start: int, stop: int, watch_top: bool) -> int:
        """:meth:`apply_batch` over an MD_DTYPE array (no column conversion)."""
        return self.run_events(events, start, stop, C.M_WATCH if watch_top else 0)[0]

    def run_events(
        self, ev: np.ndarray, start: int, stop: int, mode: int, bound: int = -1, lookahead: int = 0, offset: int = 0
    ) -> tuple[int, int]:
        """Apply MD_DTYPE events from ``start`` (``core.M_*`` mode bits); return (next index, ``core.ST_*``).

        Statuses: ``ST_DONE`` (reached ``stop``), ``ST_TOP`` (after a top
        change; ``M_WATCH`` without ``M_RECORD_TOP``), ``ST_BOUND`` (the next
        event is past the bound). With ``M_RECORD_TOP`` top changes go to
        :attr:`on_top` ``(ts, bid_px, bid_qty, ask_px, ask_qty, event index)`` in callback order.
        ``bound >= 0`` arms a time window: events with ts past ``bound`` are not applied
        (``M_BOUND``), and the first event that produces a callback (report, trade, top
        change) tightens the bound to its ts + ``lookahead``, the soonest its deliveries
        can land, so that the caller can run them before any later market data; ``-1``
        goes on in the window armed before.
        ``offset`` is added to event indexes in error messages.
        """
        if ev is not self._ev_ok:  # the entry point trusts its argument types: check once per array
            self.check_events(ev)
        st = self._st
        code = _E.apply_events(st, self._ords, self._lvls, self._book, self._omap, self._buf, ev, start, stop, mode,
                               bound, lookahead)[0]  # fmt: skip
        status = code & 15
        if status == _ST_DONE or status == _ST_BOUND:  # the common returns (once per window)
            n = st.item(_S_NBUF)
            if n:
                self._flush(n)
            return code >> 4, status
        return self._go_on(ev, code, stop, mode, offset)

    def _go_on(self, ev: np.ndarray, code: int, stop: int, mode: int, offset: int) -> tuple[int, int]:
        """:meth:`run_events` past a status that needs Python: grow, flush, stops, rare events."""
        apply = _E.apply_events
        st = self._st
        while True:
            i = code >> 4
            status = code & 15
            if status == C.ST_DONE or status == C.ST_BOUND or status == C.ST_TOP:
                if st[C.S_NBUF]:
                    self._flush()
                if status == C.ST_TOP and mode & C.M_BOUND:  # the caller publishes it: a callback
                    self._tighten(int(ev[i - 1]["ts"]))
                return i, status
            if status == C.ST_GROW:
                self._grow(int(st[C.S_RET]))
            elif status == C.ST_FLUSH:
                need = int(st[C.S_RET])
                self._flush()
                if need > len(self._buf):
                    C.recount_hidden(st, self._ords, self._lvls, self._book)
                    size = len(self._buf)
                    while size < need:
                        size *= 2
                    self._buf = np.zeros((size, C.NR), np.int64)
                    self._rebind()
            elif status == C.ST_STOPS:
                self._flush()
                ts = int(ev[i - 1]["ts"])
                self._check_stops(ts)
                if mode & C.M_BOUND:
                    self._tighten(ts)
                if mode & C.M_WATCH:
                    before = (int(st[C.S_TOP0]), int(st[C.S_TOP0 + 1]), int(st[C.S_TOP0 + 2]), int(st[C.S_TOP0 + 3]))
                    now = self.top()
                    if now != before:
                        if not mode & C.M_RECORD_TOP:
                            return i, C.ST_TOP
                        self.on_top(ts, *now, i - 1)
            elif status == C.ST_PYEVENT:
                e = ev[i]
                ts = int(e["ts"])
                before = self.top()
                self.execute(ts, int(e["order_id"].astype(np.int64)), int(e["qty"]), int(e["price"]))
                i += 1
                if mode & C.M_BOUND:
                    self._tighten(ts)
                if mode & C.M_WATCH:
                    now = self.top()
                    if now != before:
                        if not mode & C.M_RECORD_TOP:
                            return i, C.ST_TOP
                        self.on_top(ts, *now, i - 1)
            elif status == C.ST_BADACTION:
                self._flush()
                if i < 0 or stop > len(ev):
                    raise IndexError(
                        f"market-data events {i + offset}..{stop + offset}: not inside the {len(ev):,} events given"
                    )
                a = int(ev[i]["action"])
                raise DataError(f"market-data event {i + offset}: unknown action {a!r}")
            code = apply(st, self._ords, self._lvls, self._book, self._omap, self._buf, ev, i, stop, mode, -1, 0)[0]

    def _tighten(self, ts: int) -> None:
        st = self._st
        if not st[C.S_FIRSTCB]:
            st[C.S_FIRSTCB] = 1
            t = ts + int(st[C.S_LOOKAHEAD])
            if t < st[C.S_BOUND]:
                st[C.S_BOUND] = t

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> tuple[int, int] | None:
        bb, bq, _, _ = self.top()
        return (bb, bq) if bb else None

    def best_ask(self) -> tuple[int, int] | None:
        _, _, ba, aq = self.top()
        return (ba, aq) if ba else None

    def top(self) -> tuple[int, int, int, int]:
        """(bid_px, bid_qty, ask_px, ask_qty), zeros for an empty side."""
        return _top_ep(self._st, self._lvls, self._book)

    def depth(self, side: int, levels: int) -> list[tuple[int, int]]:
        """Up to ``levels`` (price, visible qty) pairs of one side, best first."""
        if levels <= 0:
            return []
        n = int(self._st[C.S_NLV + (0 if side > 0 else 1)])
        k = min(n, levels)
        out = np.empty((k, 2), np.int64)
        _E.depth_into(self._st, self._lvls, self._book, 1 if side > 0 else -1, k, out)
        return [tuple(r) for r in out.tolist()]

    def level_orders(self, side: int, price: int) -> list[int]:
        """Order ids resting at ``price`` on ``side``, in queue order."""
        return C.level_ids(self._st, self._ords, self._lvls, self._book, 1 if side > 0 else -1, int(price)).tolist()

    def queue_ahead(self, order_id: int) -> int:
        """Visible quantity ahead of this order at its level (-1 if it is not resting)."""
        if self._row(order_id) < 0:
            return -1
        return int(_E.queue_ahead(self._st, self._ords, self._lvls, self._omap, int(order_id)))

    def order_info(self, order_id: int) -> tuple[int, int, int, int] | None:
        """(side, price, visible qty, hidden qty) of a resting order, or None."""
        rec = self._rec(order_id)
        if rec is None:
            return None
        return (rec[C.O_SIDE], rec[C.O_PX], rec[C.O_VIS], rec[C.O_HID])

    def open_qty(self, order_id: int) -> int:
        """Leaves of a working order (resting or waiting stop), 0 if it is not working."""
        rec = self._rec(order_id)
        if rec is not None:
            return rec[C.O_VIS] + rec[C.O_HID]
        st = self._stops.get(order_id)
        return st.qty if st is not None else 0

    @property
    def stop_count(self) -> int:
        return len(self._stops)

    def __len__(self) -> int:
        return int(self._st[C.S_NORD])

    def check_integrity(self) -> None:
        """Raise AssertionError if an internal invariant is broken."""
        code = C.check_integrity(self._st, self._ords, self._lvls, self._book, self._omap)
        assert code == 0, f"fast engine invariant {code} broken"
        assert len(self._stops) == len(self._buy_stops) + len(self._sell_stops), "stop index out of sync"
        assert self._st[C.S_NSTOPS] == len(self._stops), "stop count out of sync"
