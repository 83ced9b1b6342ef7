"""Reference L3 order book and price-time matching engine for one instrument.

The engine keeps every resting order (level 3) and matches incoming orders by
price-time priority; the fill price is always the resting order's price.  It
serves two kinds of order flow into the same book:

* participant / general order entry (:meth:`MatchingEngine.submit`,
  :meth:`~MatchingEngine.cancel`, :meth:`~MatchingEngine.amend`,
  :meth:`~MatchingEngine.expire`) with full validation, every order type and
  time in force, icebergs, stops, post-only and self-trade prevention, and an
  :class:`ExecReport` stream for orders whose ``owner != 0``;
* background market flow (:meth:`~MatchingEngine.add`,
  :meth:`~MatchingEngine.remove`, :meth:`~MatchingEngine.market`,
  :meth:`~MatchingEngine.execute`, :meth:`~MatchingEngine.modify`,
  :meth:`~MatchingEngine.clear` and the batch hot path
  :meth:`~MatchingEngine.apply_batch`), which does no validation and emits
  reports only when it touches a participant order.

Data layout (chosen for the speed of the pure-Python hot path):

* an order record is a plain list indexed by the ``_PX`` .. ``_POST``
  constants below (a list literal is ~5x cheaper to build than a slotted
  object);
* each side maps ``price -> level`` where a level is ``[visible_qty, {order_id:
  record}]``; the dict keeps insertion order, so it is the FIFO queue, and the
  aggregate visible quantity makes top of book O(1);
* each side keeps its prices in a :class:`sortedcontainers.SortedList` and the
  best price cached in ``_bb`` / ``_ba`` (0 when the side is empty).

Design choices (see also the method docstrings):

* Per match the order of callbacks is ``on_trade`` then the maker FILL then the
  taker FILL.  Callbacks must not call back into the engine synchronously.
* FOK availability is computed by a side-effect-free dry run of the match that
  applies the self-trade-prevention rule: same-owner orders that STP would
  block are *not* counted (with CANCEL_NEWEST nothing beyond the first one
  counts; with DECREMENT_BOTH the decremented part counts as not filled).  So a
  FOK that passes the check always fills completely.
* DECREMENT_BOTH decrements by ``min(incoming remaining, resting visible)`` -
  exactly the quantity that would have traded - so an iceberg's hidden part
  refreshes as if it had traded.  The incoming order gets a REPLACE (or CANCEL
  at zero) report too, so a participant's leaves always add up.
* Stops trigger on the last trade price (which any trade updates, including
  TRADE prints in :meth:`~MatchingEngine.apply_batch`).  All stops triggered
  by one check are taken off the stop book at once and processed buys first in
  ascending stop price, then sells in descending stop price (the order in which
  a moving market crosses them), ties by arrival; then the check repeats for
  cascades.  Waiting stops honour DAY/GTD expiry; after triggering a STOP is a
  market order (TIF ignored) and a STOP_LIMIT a limit order with its TIF.
* :meth:`~MatchingEngine.clear` cancels every resting order (participants get
  CANCEL "book cleared") but keeps waiting stops, which are not in the book.
* :meth:`~MatchingEngine.market` has no order id: with ``owner != 0`` it
  applies STP and reports taker FILLs with ``order_id`` 0.
* Queries about orders that are not resting: :meth:`~MatchingEngine.queue_ahead`
  returns -1 and :meth:`~MatchingEngine.order_info` None (also for waiting
  stops; :meth:`~MatchingEngine.open_qty` covers them).

Beyond the specified API: :meth:`~MatchingEngine.trade_print` (the TRADE
action), :meth:`~MatchingEngine.level_orders` (queue order of a level),
:meth:`~MatchingEngine.open_qty`, :attr:`~MatchingEngine.stop_count`,
:attr:`~MatchingEngine.duplicate_ids`, :meth:`~MatchingEngine.check_integrity`
and the benchmark helpers :func:`make_benchmark_events` / :func:`benchmark`.

Benchmark of :meth:`~MatchingEngine.apply_batch`, measured with
``python -m venues.matching`` (Python 3.11.7, 2-CPU development machine,
best of 3 over 1,000,000 synthetic events: 47.6% adds within 30 ticks of a
mid, 41.9% cancels of live ids, 10.5% market orders of 1-5 lots, ~340 resting
orders on ~40 levels, 143k trades):

* list columns, ``watch_top=False``: ~3.0M events/s (requirement: 700k);
* numpy MD_DTYPE columns, ``watch_top=False``: ~2.2M events/s (incl. tolist);
* list columns, ``watch_top=True`` re-entered after every top change: ~1.35M events/s.
"""

from __future__ import annotations

import operator
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sortedcontainers import SortedList

from kernel.errors import DataError
from kernel.orders import OrderType, STPMode, TimeInForce
from kernel.reports import ExecReport, ReportKind  # one report type for every venue, sim or live

__all__ = ["ExecReport", "MatchingEngine", "ReportKind"]


# Order record layout (a list, see the module docstring).
_PX = 0  # limit price
_VIS = 1  # visible quantity (counted in the level aggregate)
_HID = 2  # hidden (iceberg reserve) quantity
_SIDE = 3  # +1 / -1
_OWN = 4  # owner, 0 = background
_OID = 5  # order id
_DISP = 6  # iceberg display size (0 = fully visible)
_TIF = 7  # TimeInForce value
_EXP = 8  # expire_ts for GTD
_POST = 9  # post-only flag

_GTC = int(TimeInForce.GTC)
_DAY = int(TimeInForce.DAY)
_GTD = int(TimeInForce.GTD)
_IOC = int(TimeInForce.IOC)
_FOK = int(TimeInForce.FOK)
_LIMIT = int(OrderType.LIMIT)
_MARKET = int(OrderType.MARKET)
_STOP = int(OrderType.STOP)
_STOP_LIMIT = int(OrderType.STOP_LIMIT)
_CANCEL_NEWEST = int(STPMode.CANCEL_NEWEST)
_CANCEL_OLDEST = int(STPMode.CANCEL_OLDEST)

_ACK = ReportKind.ACK
_REJECT = ReportKind.REJECT
_FILL = ReportKind.FILL
_CANCEL = ReportKind.CANCEL
_EXPIRE = ReportKind.EXPIRE
_REPLACE = ReportKind.REPLACE
_TRIGGER = ReportKind.TRIGGER

_STP_REASON = "self-trade prevention"
# Participant order ids remembered for late cancel/amend rejects (oldest evicted first).
_OWNER_MEMORY = 1 << 17


class _Stop:
    """A stop / stop-limit order waiting off-book for its trigger."""

    __slots__ = (
        "oid",
        "owner",
        "side",
        "qty",
        "price",
        "otype",
        "tif",
        "stop_px",
        "display",
        "expire_ts",
        "seq",
    )

    def __init__(
        self,
        oid: int,
        owner: int,
        side: int,
        qty: int,
        price: int,
        otype: int,
        tif: int,
        stop_px: int,
        display: int,
        expire_ts: int,
        seq: int,
    ) -> None:
        self.oid = oid
        self.owner = owner
        self.side = side
        self.qty = qty
        self.price = price
        self.otype = otype
        self.tif = tif
        self.stop_px = stop_px
        self.display = display
        self.expire_ts = expire_ts
        self.seq = seq

    def key(self) -> tuple[int, int, int]:
        """Sort key in the stop book: the first key triggers first."""
        return (self.stop_px if self.side > 0 else -self.stop_px, self.seq, self.oid)


def _as_int(x: Any) -> int | None:
    """``x`` as a Python int, or None if it is not an integer (bools are not)."""
    if isinstance(x, bool):
        return None
    try:
        return operator.index(x)
    except TypeError:
        return None


def _side_name(side: int) -> str:
    return "bid" if side > 0 else "ask"


def amend_fields_problem(
    order_id, new_price, new_qty, price: int, leaves: int, stop_without_limit: bool
) -> tuple[str, int, int]:
    """Check an amend of a working order (current ``price`` and ``leaves``):
    ``(reject reason or "", new price, new leaves)``. ``stop_without_limit``: the order
    is a waiting STOP, which has no limit price. Shared by the reference and the fast
    engine so both refuse alike."""
    q = _as_int(new_qty) if new_qty is not None else leaves
    p = _as_int(new_price) if new_price is not None else price
    if new_price is None and new_qty is None:
        return f"amend rejected: order {order_id}: nothing to change (new_price and new_qty are None)", 0, 0
    if q is None or q <= 0:
        return f"amend rejected: order {order_id}: new_qty must be a positive integer, got {new_qty!r}", 0, 0
    if p is None or p <= 0:
        return f"amend rejected: order {order_id}: new_price must be a positive integer, got {new_price!r}", 0, 0
    if new_price is not None and stop_without_limit:
        return f"amend rejected: order {order_id}: a STOP order has no limit price to amend", 0, 0
    return "", p, q


def order_fields_problem(
    ts: int, order_id, side, qty, price, order_type, tif, stop_price, post_only, display_qty, expire_ts
) -> str:
    """The reject reason of a new order's fields (not its id's uniqueness), or "" if they are
    acceptable. Shared by the reference and the fast engine so both refuse alike."""
    oid = order_id
    if _as_int(order_id) is None:
        return f"order_id must be an integer, got {order_id!r}"
    if side not in (1, -1) or isinstance(side, bool):
        return f"order {oid}: unknown side {side!r} (expected 1 buy or -1 sell)"
    try:
        ot = OrderType(order_type)
    except ValueError:
        return f"order {oid}: unknown order_type {order_type!r}"
    try:
        TimeInForce(tif)
    except ValueError:
        return f"order {oid}: unknown tif {tif!r}"
    q = _as_int(qty)
    if q is None or q <= 0:
        return f"order {oid}: qty must be a positive integer, got {qty!r}"
    if ot == OrderType.LIMIT or ot == OrderType.STOP_LIMIT:
        p = _as_int(price)
        if p is None or p <= 0:
            return f"order {oid}: price must be a positive integer for {ot.name} orders, got {price!r}"
    if ot == OrderType.STOP or ot == OrderType.STOP_LIMIT:
        sp = _as_int(stop_price)
        if sp is None or sp <= 0:
            return f"order {oid}: {ot.name} order requires a positive integer stop_price, got {stop_price!r}"
    d = _as_int(display_qty)
    if d is None or d < 0 or d > q:
        return f"order {oid}: display_qty must be an integer between 0 and qty {q}, got {display_qty!r}"
    if post_only and ot != OrderType.LIMIT:
        return f"order {oid}: post_only requires a LIMIT order, got {ot.name}"
    if tif == _GTD and ot != OrderType.MARKET:
        e = _as_int(expire_ts)
        if e is None or e <= 0:
            return f"order {oid}: GTD order requires expire_ts, got {expire_ts!r}"
        if e <= ts:
            return f"order {oid}: GTD expire_ts {e} is not after ts {ts}"

    return ""


class OrderEntry:
    """What both matching engines share in front of their books: order entry (field
    checks, REJECT, post-only, ACK), amends and the stop book (STOP / STOP_LIMIT orders waiting
    off-book, triggered with cascades by the last trade price, cancelled by request).

    An engine supplies ``_validate``, ``_crosses``, ``_remember``, ``_emit``, ``_process``,
    ``_after``, ``_reject_unknown``, ``_resting_fields`` / ``_amend_resting`` (a resting
    order's owner, side, price, leaves and post-only flag / its repricing) and
    ``last_trade_price``, ``_timed_fields`` / ``_expire_resting`` (a DAY/GTD resting
    order's fields / its removal), and the state ``_stops``, ``_buy_stops``, ``_sell_stops``,
    ``_timed``, ``_seq`` and ``_in_stops``. Two hooks, no-ops here:
    :meth:`_accept_id` (refuse an id the engine cannot hold) and :meth:`_stops_changed`
    (the fast engine mirrors the stop book's bounds into its compiled state).
    """

    def _accept_id(self, order_id: Any) -> None:
        """Raise if the engine cannot hold ``order_id`` (called once its fields passed)."""

    def _stops_changed(self) -> None:
        """The stop book changed (a stop was added, triggered or cancelled)."""

    def submit(
        self,
        ts: int,
        order_id: int,
        owner: int,
        side: int,
        qty: int,
        price: int = 0,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
        stop_price: int = 0,
        post_only: bool = False,
        display_qty: int = 0,
        expire_ts: int = 0,
    ) -> None:
        """Enter a new order of any type (reports: REJECT, or ACK then fills/cancel).

        MARKET orders ignore ``tif`` and ``price``; their unfilled rest is
        cancelled ("no liquidity").  STOP / STOP_LIMIT orders wait off-book
        until the last trade price reaches ``stop_price``.  An iceberg shows
        ``display_qty`` (0 < display_qty < qty) at a time.
        """
        reason = self._validate(
            ts, order_id, side, qty, price, order_type, tif, stop_price, post_only, display_qty, expire_ts
        )
        q_rep = _as_int(qty) or 0
        p_rep = _as_int(price) or 0
        if reason:
            if owner and "duplicate order id" not in reason and _as_int(order_id) is not None:
                self._remember(order_id, owner)
            self._emit(_REJECT, ts, order_id, owner, p_rep, q_rep, 0, reason)
            return
        self._accept_id(order_id)
        order_id = int(order_id)
        side = int(side)
        otype = int(order_type)
        tif = int(tif)
        qty = q_rep
        price = p_rep if otype in (_LIMIT, _STOP_LIMIT) else 0
        display = int(display_qty)
        expire_ts = int(expire_ts) if tif == _GTD else 0
        if post_only:
            crossed = self._crosses(side, price)
            if crossed:
                if owner:
                    self._remember(order_id, owner)
                self._emit(
                    _REJECT,
                    ts,
                    order_id,
                    owner,
                    price,
                    qty,
                    0,
                    f"post-only order {order_id} would cross best {_side_name(-side)} {crossed}",
                )
                return
        if owner:
            self._remember(order_id, owner)
        self._seq += 1
        self._emit(_ACK, ts, order_id, owner, price, qty, qty)
        if otype == _STOP or otype == _STOP_LIMIT:
            st = _Stop(order_id, owner, side, qty, price, otype, tif, int(stop_price), display, expire_ts, self._seq)
            self._stops[order_id] = st
            (self._buy_stops if side > 0 else self._sell_stops).add(st.key())
            if tif == _DAY or tif == _GTD:
                self._timed[order_id] = st
            self._stops_changed()
            self._check_stops(ts)  # it may already be crossed
            return
        self._process(ts, order_id, owner, side, qty, price, otype, tif, display, expire_ts, bool(post_only))
        self._after(ts)

    def _check_stops(self, ts: int) -> None:
        """Trigger every stop the last trade price has crossed, with cascades."""
        if self._in_stops:
            return  # the outer loop re-checks after each batch
        self._in_stops = True
        try:
            buys = self._buy_stops
            sells = self._sell_stops
            while True:
                last = self.last_trade_price
                if not last:
                    return
                batch = []
                while buys and buys[0][0] <= last:
                    batch.append(buys.pop(0)[2])
                while sells and sells[0][0] <= -last:
                    batch.append(sells.pop(0)[2])
                if not batch:
                    return
                for oid in batch:
                    st = self._stops.pop(oid)
                    self._stops_changed()
                    self._emit(
                        _TRIGGER,
                        ts,
                        oid,
                        st.owner,
                        st.price,
                        st.qty,
                        st.qty,
                        f"stop {st.stop_px} triggered by last trade {last}",
                    )
                    self._process(
                        ts, oid, st.owner, st.side, st.qty, st.price, st.otype, st.tif, st.display, st.expire_ts
                    )
        finally:
            self._in_stops = False
            self._stops_changed()

    def amend(self, ts: int, order_id: int, new_price: int | None = None, new_qty: int | None = None) -> None:
        """Change price and/or total open quantity (``new_qty`` = new leaves).

        Reducing the quantity at an unchanged price keeps queue priority; a
        price change or a quantity increase moves the order to the back of its
        (new) level, and a crossing new price trades first as a taker.  Reports
        REPLACE (new price, new leaves) or REJECT.  Waiting stops can be amended
        too (``new_price`` is the STOP_LIMIT limit price).
        """
        rec = self._resting_fields(order_id)
        st = self._stops.get(order_id) if rec is None else None
        if rec is None and st is None:
            self._reject_unknown(ts, order_id, "amend")
            return
        if rec is not None:
            owner, side, price, leaves, post = rec
        else:
            owner, side, price, leaves, post = st.owner, st.side, st.price, st.qty, False
        bad, new_p, new_l = amend_fields_problem(
            order_id, new_price, new_qty, price, leaves, st is not None and st.otype == _STOP
        )
        if bad:
            self._emit(_REJECT, ts, order_id, owner, price, leaves, leaves, bad)
            return
        if st is not None:
            st.price = new_p
            st.qty = new_l
            self._emit(_REPLACE, ts, order_id, owner, new_p, new_l, new_l)
            return
        if post:
            crossed = self._crosses(side, new_p)
            if crossed:
                self._emit(
                    _REJECT,
                    ts,
                    order_id,
                    owner,
                    price,
                    leaves,
                    leaves,
                    f"amend rejected: post-only order {order_id} at {new_p} would cross best "
                    f"{_side_name(-side)} {crossed}",
                )
                return
        self._emit(_REPLACE, ts, order_id, owner, new_p, new_l, new_l)
        self._amend_resting(ts, order_id, new_p, new_l)
        self._after(ts)

    def expire(self, ts: int, day_end: bool = False) -> None:
        """Expire GTD orders with ``expire_ts <= ts`` and, if ``day_end``, all DAY orders (EXPIRE reports)."""
        timed = self._timed
        for oid, obj in list(timed.items()):
            if isinstance(obj, _Stop):
                if self._stops.get(oid) is not obj:
                    del timed[oid]
                    continue
                tif, exp, owner, price, leaves = obj.tif, obj.expire_ts, obj.owner, obj.price, obj.qty
            else:
                fields = self._timed_fields(oid, obj)
                if fields is None:
                    del timed[oid]
                    continue
                tif, exp, owner, price, leaves = fields
            if tif == _GTD and exp <= ts:
                reason = f"GTD order {oid} expired at {ts} (expire_ts {exp})"
            elif day_end and tif == _DAY:
                reason = f"DAY order {oid} expired at end of day {ts}"
            else:
                continue
            del timed[oid]
            if isinstance(obj, _Stop):
                del self._stops[oid]
                (self._buy_stops if obj.side > 0 else self._sell_stops).remove(obj.key())
                self._stops_changed()
            else:
                self._expire_resting(oid, obj)
            self._emit(_EXPIRE, ts, oid, owner, price, leaves, 0, reason)

    def _cancel_stop(self, ts: int, order_id: int, reason: str) -> bool:
        """Cancel a waiting stop (CANCEL with its quantity); False if ``order_id`` is not one."""
        st = self._stops.pop(order_id, None)
        if st is None:
            return False
        (self._buy_stops if st.side > 0 else self._sell_stops).remove(st.key())
        self._stops_changed()
        self._emit(_CANCEL, ts, order_id, st.owner, st.price, st.qty, 0, reason)
        return True


class MatchingEngine(OrderEntry):
    """Price-time priority L3 order book and matching engine for one instrument.

    ``on_report(report)`` is called only for reports about orders whose owner is
    not 0; ``on_trade(ts, price, qty, aggressor_side)`` for every trade.
    """

    def __init__(
        self,
        instrument: int = 0,
        stp_mode: STPMode = STPMode.NONE,
        on_report: Callable[[ExecReport], None] | None = None,
        on_trade: Callable[[int, int, int, int], None] | None = None,
    ) -> None:
        self.instrument = instrument
        self.stp_mode = STPMode(stp_mode)
        self.on_report = on_report
        self.on_trade = on_trade
        self.last_trade_price = 0
        self.trade_count = 0
        self.traded_qty = 0
        self.unknown_ids = 0  # cancels/removes/executes/modifies of ids the engine does not know
        self.duplicate_ids = 0  # background adds of an id that is already live (ignored)
        # Recorded exchange data: an ADD or MODIFY that crosses the book rests instead of
        # trading (auctions, pre-open, feed-ordering artefacts); the exchange's own trades come
        # as EXECUTE / TRADE events. Synthetic flow leaves it False: crossing adds trade.
        self.rest_crossing = False
        self._orders: dict[int, list] = {}
        self._own_resting: dict[int, list] = {}  # resting participant orders (L3 replay queue realism)
        self._bids: dict[int, list] = {}  # price -> [visible qty, {order_id: record}]
        self._asks: dict[int, list] = {}
        self._bid_px: SortedList = SortedList()
        self._ask_px: SortedList = SortedList()
        self._bb = 0  # cached best bid price (0: none)
        self._ba = 0  # cached best ask price (0: none)
        self._stops: dict[int, _Stop] = {}
        self._buy_stops: SortedList = SortedList()  # _Stop.key() tuples
        self._sell_stops: SortedList = SortedList()
        # DAY/GTD orders (resting records or stops); stale entries are pruned lazily in expire().
        self._timed: dict[int, list | _Stop] = {}
        self._owners: OrderedDict[int, int] = OrderedDict()  # participant order id -> owner, for late rejects
        self._seq = 0
        self._in_stops = False

    # ------------------------------------------------------------------ reports

    def _emit(
        self,
        kind: ReportKind,
        ts: int,
        oid: int,
        owner: int,
        price: int,
        qty: int,
        leaves: int,
        reason: str = "",
        liquidity: str = "",
    ) -> None:
        cb = self.on_report
        if owner and cb is not None:
            cb(ExecReport(kind, ts, oid, owner, price, qty, leaves, reason, liquidity))

    def _remember(self, oid: int, owner: int) -> None:
        owners = self._owners
        owners[oid] = owner
        if len(owners) > _OWNER_MEMORY:
            owners.popitem(last=False)  # O(1); deleting a plain dict's first key degrades to O(n)

    # ------------------------------------------------------------ book plumbing

    def _insert(self, rec: list) -> None:
        """Put ``rec`` at the back of its price level."""
        p = rec[_PX]
        oid = rec[_OID]
        if rec[_SIDE] > 0:
            lvl = self._bids.get(p)
            if lvl is None:
                self._bids[p] = [rec[_VIS], {oid: rec}]
                self._bid_px.add(p)
                if p > self._bb:
                    self._bb = p
            else:
                lvl[0] += rec[_VIS]
                lvl[1][oid] = rec
        else:
            lvl = self._asks.get(p)
            if lvl is None:
                self._asks[p] = [rec[_VIS], {oid: rec}]
                self._ask_px.add(p)
                if not self._ba or p < self._ba:
                    self._ba = p
            else:
                lvl[0] += rec[_VIS]
                lvl[1][oid] = rec
        self._orders[oid] = rec
        if rec[_OWN]:
            self._own_resting[oid] = rec

    def _unlink(self, rec: list) -> None:
        """Take ``rec`` out of the book (its quantities are left untouched)."""
        p = rec[_PX]
        oid = rec[_OID]
        del self._orders[oid]
        if rec[_OWN]:
            del self._own_resting[oid]
        if rec[_SIDE] > 0:
            lvl = self._bids[p]
            q = lvl[1]
            del q[oid]
            if q:
                lvl[0] -= rec[_VIS]
            else:
                del self._bids[p]
                prices = self._bid_px
                prices.remove(p)
                if p == self._bb:
                    self._bb = prices[-1] if prices else 0
        else:
            lvl = self._asks[p]
            q = lvl[1]
            del q[oid]
            if q:
                lvl[0] -= rec[_VIS]
            else:
                del self._asks[p]
                prices = self._ask_px
                prices.remove(p)
                if p == self._ba:
                    self._ba = prices[0] if prices else 0

    def _level(self, rec: list) -> list:
        return (self._bids if rec[_SIDE] > 0 else self._asks)[rec[_PX]]

    def _rest(
        self,
        oid: int,
        owner: int,
        side: int,
        price: int,
        leaves: int,
        display: int,
        tif: int,
        expire_ts: int,
        post_only: bool,
    ) -> None:
        """Rest ``leaves`` at ``price`` with the iceberg display rule."""
        vis = display if 0 < display < leaves else leaves
        rec = [price, vis, leaves - vis, side, owner, oid, display, tif, expire_ts, post_only]
        self._insert(rec)
        if tif == _DAY or tif == _GTD:
            self._timed[oid] = rec

    def _crosses(self, side: int, price: int) -> int:
        """The opposite best price a limit at ``price`` would cross, else 0."""
        if side > 0:
            return self._ba if self._ba and price >= self._ba else 0
        return self._bb if self._bb and price <= self._bb else 0

    # ------------------------------------------------------------------ matching

    def _match(self, ts: int, oid: int, owner: int, side: int, qty: int, limit: int) -> tuple[int, bool]:
        """Match an incoming order of ``qty`` against the opposite side.

        ``limit`` is the worst acceptable price (0: market).  Returns the
        remaining quantity and whether STP CANCEL_NEWEST stopped the match
        (the caller then cancels the remainder).
        """
        stp = int(self.stp_mode) if owner else 0
        on_trade = self.on_trade
        emit = self._emit
        orders = self._orders
        own = self._own_resting
        if side > 0:
            levels = self._asks
            prices = self._ask_px
        else:
            levels = self._bids
            prices = self._bid_px
        while qty:
            best = self._ba if side > 0 else self._bb
            if not best or (limit and (best > limit if side > 0 else best < limit)):
                break
            lvl = levels[best]
            queue = lvl[1]
            while qty and queue:
                roid = next(iter(queue))
                rec = queue[roid]
                rown = rec[4]
                vis = rec[1]
                if stp and rown == owner:
                    if stp == _CANCEL_NEWEST:
                        return qty, True
                    if stp == _CANCEL_OLDEST:
                        leaves = vis + rec[2]
                        del queue[roid]
                        del orders[roid]
                        own.pop(roid, None)
                        lvl[0] -= vis
                        emit(
                            _CANCEL,
                            ts,
                            roid,
                            rown,
                            best,
                            leaves,
                            0,
                            f"{_STP_REASON}: resting order {roid} cancelled (CANCEL_OLDEST) "
                            f"against incoming order {oid}",
                        )
                        continue
                    # DECREMENT_BOTH: remove what would have traded, without a trade.
                    d = qty if qty < vis else vis
                    qty -= d
                    vis -= d
                    rec[1] = vis
                    lvl[0] -= d
                    hid = rec[2]
                    if vis == 0:
                        del queue[roid]
                        if hid:
                            s = rec[6] if rec[6] < hid else hid
                            rec[2] = hid - s
                            rec[1] = s
                            lvl[0] += s
                            queue[roid] = rec
                        else:
                            del orders[roid]
                            own.pop(roid, None)
                    reason = f"{_STP_REASON}: decremented by {d} (DECREMENT_BOTH, orders {roid} and {oid})"
                    if vis or hid:
                        emit(_REPLACE, ts, roid, rown, best, vis + hid, vis + hid, reason)
                    else:
                        emit(_CANCEL, ts, roid, rown, best, d, 0, reason)
                    if qty:
                        emit(_REPLACE, ts, oid, owner, limit, qty, qty, reason)
                    else:
                        emit(_CANCEL, ts, oid, owner, limit, d, 0, reason)
                    continue
                f = qty if qty < vis else vis
                qty -= f
                vis -= f
                rec[1] = vis
                lvl[0] -= f
                self.last_trade_price = best
                self.trade_count += 1
                self.traded_qty += f
                hid = rec[2]
                if vis == 0:
                    del queue[roid]
                    if hid:
                        # Iceberg refresh: a new slice at the back of the queue.
                        s = rec[6] if rec[6] < hid else hid
                        hid -= s
                        rec[2] = hid
                        rec[1] = vis = s
                        lvl[0] += s
                        queue[roid] = rec
                    else:
                        del orders[roid]
                        if rown:
                            own.pop(roid, None)
                if on_trade is not None:
                    on_trade(ts, best, f, side)
                if rown:
                    emit(_FILL, ts, roid, rown, best, f, vis + hid, "", "M")
                if owner:
                    emit(_FILL, ts, oid, owner, best, f, qty, "", "T")
            if not queue:
                del levels[best]
                if side > 0:
                    prices.pop(0)
                    self._ba = prices[0] if prices else 0
                else:
                    prices.pop()
                    self._bb = prices[-1] if prices else 0
        return qty, False

    def _fok_available(self, owner: int, side: int, qty: int, limit: int) -> int:
        """Quantity (up to ``qty``) a FOK order would trade: a dry run of :meth:`_match`."""
        stp = int(self.stp_mode) if owner else 0
        if side > 0:
            levels = self._asks
            it = iter(self._ask_px)
        else:
            levels = self._bids
            it = reversed(self._bid_px)
        need = qty
        got = 0
        for p in it:
            if (p > limit) if side > 0 else (p < limit):
                break
            queue = levels[p][1]
            if not stp or all(r[_OWN] != owner for r in queue.values()):
                take = min(need, sum(r[_VIS] + r[_HID] for r in queue.values()))
                got += take
                need -= take
            else:
                # Replay the round-robin of visible slices (icebergs refresh at the back).
                dq = deque([r[_VIS], r[_HID], r[_DISP], r[_OWN] == owner] for r in queue.values())
                while need and dq:
                    vis, hid, disp, mine = dq.popleft()
                    d = min(need, vis)
                    if mine:
                        if stp == _CANCEL_NEWEST:
                            return got
                        if stp == _CANCEL_OLDEST:
                            continue
                        need -= d  # DECREMENT_BOTH: leaves the incoming without a trade
                    else:
                        need -= d
                        got += d
                    vis -= d
                    if vis == 0 and hid:
                        s = min(disp, hid)
                        dq.append([s, hid - s, disp, mine])
            if not need:
                break
        return got

    def _after(self, ts: int) -> None:
        """Post-operation hook: stops may have been crossed by new trades."""
        if self._stops:
            self._check_stops(ts)

    def _process(
        self,
        ts: int,
        oid: int,
        owner: int,
        side: int,
        qty: int,
        price: int,
        otype: int,
        tif: int,
        display: int,
        expire_ts: int,
        post_only: bool = False,
    ) -> None:
        """Execute an accepted (or just triggered) order: match, then rest or cancel the rest."""
        if otype == _MARKET or otype == _STOP:
            rem, stp_hit = self._match(ts, oid, owner, side, qty, 0)
            if rem:
                reason = _STP_REASON if stp_hit else f"no liquidity: market order {oid} has {rem} unfilled"
                self._emit(_CANCEL, ts, oid, owner, 0, rem, 0, reason)
            return
        if tif == _FOK:
            avail = self._fok_available(owner, side, qty, price)
            if avail < qty:
                reason = f"FOK order {oid} for {qty} killed: only {avail} available at {price} or better"
                self._emit(_CANCEL, ts, oid, owner, price, qty, 0, reason)
                return
        rem, stp_hit = self._match(ts, oid, owner, side, qty, price)
        if not rem:
            return
        if stp_hit:
            self._emit(_CANCEL, ts, oid, owner, price, rem, 0, _STP_REASON)
        elif tif == _IOC or tif == _FOK:
            self._emit(_CANCEL, ts, oid, owner, price, rem, 0, f"IOC order {oid}: unfilled remainder {rem} cancelled")
        else:
            self._rest(oid, owner, side, price, rem, display, tif, expire_ts, post_only)

    # -------------------------------------------------------------- order entry

    def _validate(
        self,
        ts: int,
        order_id: Any,
        side: Any,
        qty: Any,
        price: Any,
        order_type: Any,
        tif: Any,
        stop_price: Any,
        post_only: bool,
        display_qty: Any,
        expire_ts: Any,
    ) -> str:
        """Return the reject reason for a new order, or "" if it is acceptable."""
        problem = order_fields_problem(
            ts, order_id, side, qty, price, order_type, tif, stop_price, post_only, display_qty, expire_ts
        )
        if problem:
            return problem
        if order_id in self._orders or order_id in self._stops or order_id in self._owners:
            return f"order {order_id}: duplicate order id {order_id}"
        return ""

    def cancel(self, ts: int, order_id: int, reason: str = "cancelled by request") -> None:
        """Cancel a resting or waiting-stop order (CANCEL with the removed leaves).

        A known participant order that is no longer working gets a REJECT
        ("cancel rejected: order N is not working"); an id the engine never saw
        is only counted in :attr:`unknown_ids`.
        """
        rec = self._orders.get(order_id)
        if rec is not None:
            self._unlink(rec)
            self._emit(_CANCEL, ts, order_id, rec[_OWN], rec[_PX], rec[_VIS] + rec[_HID], 0, reason)
            return
        if self._cancel_stop(ts, order_id, reason):
            return
        self._reject_unknown(ts, order_id, "cancel")

    def _reject_unknown(self, ts: int, order_id: int, what: str) -> None:
        owner = self._owners.get(order_id)
        if owner:
            self._emit(_REJECT, ts, order_id, owner, 0, 0, 0, f"{what} rejected: order {order_id} is not working")
        else:
            self.unknown_ids += 1

    def _resting_fields(self, order_id: Any) -> tuple[int, int, int, int, bool] | None:
        rec = self._orders.get(order_id)
        if rec is None:
            return None
        return rec[_OWN], rec[_SIDE], rec[_PX], rec[_VIS] + rec[_HID], bool(rec[_POST])

    def _amend_resting(self, ts: int, order_id: int, price: int, leaves: int) -> None:
        self._reprice(ts, self._orders[order_id], price, leaves)

    def _reprice(self, ts: int, rec: list, price: int, leaves: int, match: bool = True) -> None:
        """Apply a new price / leaves (> 0) to a resting order with the priority rule
        (``match`` False: a crossing new price rests instead of trading)."""
        vis = rec[_VIS]
        if price == rec[_PX] and leaves <= vis + rec[_HID]:
            nv = vis if vis < leaves else leaves
            rec[_VIS] = nv
            rec[_HID] = leaves - nv
            self._level(rec)[0] -= vis - nv
            return
        self._unlink(rec)
        rec[_PX] = price
        oid = rec[_OID]
        owner = rec[_OWN]
        if match:
            rem, stp_hit = self._match(ts, oid, owner, rec[_SIDE], leaves, price)
        else:
            rem, stp_hit = leaves, False
        if not rem:
            return
        if stp_hit:
            self._emit(_CANCEL, ts, oid, owner, price, rem, 0, _STP_REASON)
            return
        disp = rec[_DISP]
        nv = disp if 0 < disp < rem else rem
        rec[_VIS] = nv
        rec[_HID] = rem - nv
        self._insert(rec)

    def _timed_fields(self, order_id: int, rec: list) -> tuple[int, int, int, int, int] | None:
        """A DAY/GTD resting record's (tif, expire_ts, owner, price, leaves); None once it is gone."""
        if self._orders.get(order_id) is not rec:
            return None
        return rec[_TIF], rec[_EXP], rec[_OWN], rec[_PX], rec[_VIS] + rec[_HID]

    def _expire_resting(self, order_id: int, rec: list) -> None:
        self._unlink(rec)

    # ------------------------------------------------------- background flow

    def add(self, ts: int, order_id: int, side: int, price: int, qty: int, owner: int = 0) -> None:
        """Add a plain GTC limit order (market data).  If it crosses it trades first.

        No ACK; fills are reported if a participant is involved.  An id that is
        already live is ignored and counted in :attr:`duplicate_ids`.
        """
        if qty <= 0:
            return
        if order_id in self._orders:
            self.duplicate_ids += 1
            return
        if owner:
            self._remember(order_id, owner)
        if self._crosses(side, price):
            qty, stp_hit = self._match(ts, order_id, owner, side, qty, price)
            if qty and stp_hit:
                self._emit(_CANCEL, ts, order_id, owner, price, qty, 0, _STP_REASON)
                qty = 0
            if qty:
                self._insert([price, qty, 0, side, owner, order_id, 0, _GTC, 0, False])
            self._after(ts)
            return
        self._insert([price, qty, 0, side, owner, order_id, 0, _GTC, 0, False])

    def remove(self, ts: int, order_id: int, qty: int = 0) -> bool:
        """Reduce a resting order by ``qty`` (0 or >= leaves: delete it).

        Hidden iceberg quantity goes first; priority is kept.  Returns False
        (and counts :attr:`unknown_ids`) if the id is not resting.
        """
        rec = self._orders.get(order_id)
        if rec is None:
            self.unknown_ids += 1
            return False
        leaves = rec[_VIS] + rec[_HID]
        if qty <= 0 or qty >= leaves:
            self._unlink(rec)
            self._emit(_CANCEL, ts, order_id, rec[_OWN], rec[_PX], leaves, 0, "removed by market data")
            return True
        dh = min(qty, rec[_HID])
        rec[_HID] -= dh
        rec[_VIS] -= qty - dh
        self._level(rec)[0] -= qty - dh
        self._emit(_CANCEL, ts, order_id, rec[_OWN], rec[_PX], qty, leaves - qty, "reduced by market data")
        return True

    def market(self, ts: int, side: int, qty: int, owner: int = 0) -> int:
        """Sweep the book with a market order of ``qty``; return the filled quantity.

        The remainder is discarded.  ``owner`` applies STP; a participant gets
        taker FILL reports with order id 0.
        """
        if qty <= 0:
            return 0
        rem, _ = self._match(ts, 0, owner, side, qty, 0)
        if rem < qty and self._stops:
            self._check_stops(ts)
        return qty - rem

    def execute(self, ts: int, order_id: int, qty: int, price: int = 0) -> bool:
        """Replay an execution of ``qty`` of a resting order at ``price`` (0: its limit price).

        Fires ``on_trade`` (aggressor = the opposite side) and a maker FILL for
        a participant.  ``qty`` is capped at the order's leaves; ``qty <= 0``
        does nothing.  Returns False (counting :attr:`unknown_ids`) if unknown.
        """
        rec = self._orders.get(order_id)
        if rec is None:
            self.unknown_ids += 1
            return False
        if self._own_resting and not rec[_OWN] and qty > 0:
            qty -= self._fill_participants_ahead(ts, rec, qty)
            if qty <= 0:
                return True
        vis = rec[_VIS]
        hid = rec[_HID]
        f = min(qty, vis + hid)
        if f <= 0:
            return True
        px = price or rec[_PX]
        if f == vis + hid:
            self._unlink(rec)
            rec[_VIS] = rec[_HID] = 0
        elif f < vis:
            rec[_VIS] = vis - f
            self._level(rec)[0] -= f
        else:
            # The visible slice is gone: take the rest from the reserve and refresh at the back.
            hid -= f - vis
            s = min(rec[_DISP], hid)
            rec[_HID] = hid - s
            rec[_VIS] = s
            lvl = self._level(rec)
            lvl[0] += s - vis
            del lvl[1][order_id]
            lvl[1][order_id] = rec
        self.last_trade_price = px
        self.trade_count += 1
        self.traded_qty += f
        if self.on_trade is not None:
            self.on_trade(ts, px, f, -rec[_SIDE])
        self._emit(_FILL, ts, order_id, rec[_OWN], px, f, rec[_VIS] + rec[_HID], "", "M")
        self._after(ts)
        return True

    def _fill_participants_ahead(self, ts: int, rec: list, qty: int) -> int:
        """L3 replay realism: a historical execution of background order ``rec`` means an
        aggressor traded ``qty`` there. Participant orders with priority over ``rec`` (a
        better price on the same side, or the same price earlier in the queue) would have
        traded first: fill them (visible quantity, price-time order, at their own price)
        and return the quantity they took. The historical order keeps that quantity:
        it was not hit in this counterfactual (the market impact of our presence), and
        later events about it (cancels, executions) apply to it as recorded.
        """
        side = rec[_SIDE]
        px = rec[_PX]
        better: set[int] = set()
        same_level = False
        for r in self._own_resting.values():
            if r[_SIDE] == side and r[_VIS] > 0:
                rp = r[_PX]
                if rp == px:
                    same_level = True
                elif (rp > px) if side > 0 else (rp < px):
                    better.add(rp)
        if not better and not same_level:
            return 0
        ahead: list[list] = []
        book = self._bids if side > 0 else self._asks
        for p in sorted(better, reverse=side > 0):
            ahead.extend(r for r in book[p][1].values() if r[_OWN])
        if same_level:
            for r in book[px][1].values():
                if r is rec:
                    break
                if r[_OWN]:
                    ahead.append(r)
        taken = 0
        orders = self._orders
        for r in ahead:
            if taken >= qty:
                break
            if orders.get(r[_OID]) is not r:
                continue  # a stop triggered by an earlier fill in this loop took it already
            f = min(qty - taken, r[_VIS])
            if f > 0:
                self.execute(ts, r[_OID], f, r[_PX])
                taken += f
        return taken

    def modify(self, ts: int, order_id: int, price: int, qty: int, rest: bool = False) -> bool:
        """Replay a modify to ``price`` (<= 0: unchanged) and total ``qty`` (<= 0: delete).

        Priority rule as :meth:`amend`; a crossing new price trades first, unless ``rest``
        (recorded data, see :attr:`rest_crossing`): then the order rests at it.
        Returns False (counting :attr:`unknown_ids`) if unknown.
        """
        rec = self._orders.get(order_id)
        if rec is None:
            self.unknown_ids += 1
            return False
        if qty <= 0:
            return self.remove(ts, order_id, 0)
        if price <= 0:
            price = rec[_PX]
        self._emit(_REPLACE, ts, order_id, rec[_OWN], price, qty, qty, "modified by market data")
        self._reprice(ts, rec, price, qty, not rest)
        self._after(ts)
        return True

    def trade_print(self, ts: int, price: int, qty: int, aggressor_side: int) -> None:
        """A trade that does not touch the book: updates trade stats, fires ``on_trade``, may trigger stops."""
        self.last_trade_price = price
        self.trade_count += 1
        self.traded_qty += qty
        if self.on_trade is not None:
            self.on_trade(ts, price, qty, aggressor_side)
        self._after(ts)

    def clear(self, ts: int) -> None:
        """Empty the book; resting participant orders get CANCEL "book cleared".  Waiting stops stay."""
        doomed = [rec for rec in self._orders.values() if rec[_OWN]]
        self._orders.clear()
        self._bids.clear()
        self._asks.clear()
        self._own_resting.clear()
        self._bid_px.clear()
        self._ask_px.clear()
        self._bb = self._ba = 0
        for rec in doomed:
            self._emit(_CANCEL, ts, rec[_OID], rec[_OWN], rec[_PX], rec[_VIS] + rec[_HID], 0, "book cleared")

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
        """Apply market-data events ``start .. stop-1``; return the index of the next unapplied one.

        Actions: ADD -> :meth:`add`, CANCEL -> :meth:`remove` (qty), MODIFY ->
        :meth:`modify`, EXECUTE -> :meth:`execute`, TRADE -> :meth:`trade_print`,
        CLEAR -> :meth:`clear`, MARKET -> :meth:`market`.  The instrument field
        is not looked at (the caller routes events per instrument).  With
        ``watch_top`` it returns right after the first event that changed the
        best bid/ask price or visible quantity.  numpy arrays are converted to
        lists chunk by chunk (pass lists from ``ndarray.tolist()`` to avoid that).
        """
        if type(ts) is list and type(action) is list:  # the common case: columns from tolist()
            return self._apply(ts, order_id, price, qty, action, side, start, stop, watch_top)
        cols = (ts, order_id, price, qty, action, side)
        if not any(isinstance(c, np.ndarray) for c in cols):
            return self._apply(ts, order_id, price, qty, action, side, start, stop, watch_top)
        i = start
        # Small first chunks so that frequent watch_top returns do not convert much.
        step = 64 if watch_top else max(stop - start, 1)
        while i < stop:
            j = min(i + step, stop)
            t, o, p, q, a, s = (c[i:j].tolist() if isinstance(c, np.ndarray) else list(c[i:j]) for c in cols)
            k = self._apply(t, o, p, q, a, s, 0, j - i, watch_top)
            if k < j - i:
                return i + k
            i = j
            step = min(step * 2, 16384)
        return stop

    def _apply(
        self,
        ts: Sequence[int],
        order_id: Sequence[int],
        price: Sequence[int],
        qty: Sequence[int],
        action: Sequence[int],
        side: Sequence[int],
        start: int,
        stop: int,
        watch_top: bool,
    ) -> int:
        """The event loop of :meth:`apply_batch` on indexable sequences of Python ints."""
        # Hot loop: everything bound to locals; plain adds and cancels of
        # background orders are inlined, everything else goes to the methods.
        orders = self._orders
        bids = self._bids
        asks = self._asks
        bid_px = self._bid_px
        ask_px = self._ask_px
        top = self.top
        rest = self.rest_crossing
        for i in range(start, stop):
            a = action[i]
            if a == 1:  # ADD
                oid = order_id[i]
                p = price[i]
                q = qty[i]
                if side[i] > 0:
                    ba = self._ba
                    if not ((ba and p >= ba and not rest) or q <= 0 or oid in orders):
                        bb = self._bb
                        rec = [p, q, 0, 1, 0, oid, 0, 1, 0, False]
                        orders[oid] = rec
                        lvl = bids.get(p)
                        if lvl is None:
                            bids[p] = [q, {oid: rec}]
                            bid_px.add(p)
                            if p > bb:
                                self._bb = p
                        else:
                            lvl[0] += q
                            lvl[1][oid] = rec
                        if watch_top and p >= bb:
                            return i + 1
                        continue
                else:
                    bb = self._bb
                    if not ((bb and p <= bb and not rest) or q <= 0 or oid in orders):
                        ba = self._ba
                        rec = [p, q, 0, -1, 0, oid, 0, 1, 0, False]
                        orders[oid] = rec
                        lvl = asks.get(p)
                        if lvl is None:
                            asks[p] = [q, {oid: rec}]
                            ask_px.add(p)
                            if not ba or p < ba:
                                self._ba = p
                        else:
                            lvl[0] += q
                            lvl[1][oid] = rec
                        if watch_top and (not ba or p <= ba):
                            return i + 1
                        continue
                # Crossing, duplicate or empty add: the general path.
                if watch_top:
                    before = top()
                    self.add(ts[i], oid, side[i], p, q)
                    if top() != before:
                        return i + 1
                else:
                    self.add(ts[i], oid, side[i], p, q)
            elif a == 2:  # CANCEL
                oid = order_id[i]
                rec = orders.get(oid)
                if rec is None:
                    self.unknown_ids += 1
                    continue
                if rec[4] or rec[2]:  # participant or iceberg: the general path
                    if watch_top:
                        before = top()
                        self.remove(ts[i], oid, qty[i])
                        if top() != before:
                            return i + 1
                    else:
                        self.remove(ts[i], oid, qty[i])
                    continue
                q = qty[i]
                p = rec[0]
                if rec[3] > 0:
                    best = self._bb
                    lvl = bids[p]
                    if 0 < q < rec[1]:
                        rec[1] -= q
                        lvl[0] -= q
                    else:
                        del orders[oid]
                        queue = lvl[1]
                        del queue[oid]
                        if queue:
                            lvl[0] -= rec[1]
                        else:
                            del bids[p]
                            bid_px.remove(p)
                            if p == best:
                                self._bb = bid_px[-1] if bid_px else 0
                else:
                    best = self._ba
                    lvl = asks[p]
                    if 0 < q < rec[1]:
                        rec[1] -= q
                        lvl[0] -= q
                    else:
                        del orders[oid]
                        queue = lvl[1]
                        del queue[oid]
                        if queue:
                            lvl[0] -= rec[1]
                        else:
                            del asks[p]
                            ask_px.remove(p)
                            if p == best:
                                self._ba = ask_px[0] if ask_px else 0
                if watch_top and p == best:
                    return i + 1
            else:
                before = top() if watch_top else None
                if a == 7:  # MARKET
                    self.market(ts[i], side[i], qty[i])
                elif a == 3:  # MODIFY
                    self.modify(ts[i], order_id[i], price[i], qty[i], rest)
                elif a == 4:  # EXECUTE
                    self.execute(ts[i], order_id[i], qty[i], price[i])
                elif a == 5:  # TRADE
                    self.trade_print(ts[i], price[i], qty[i], side[i])
                elif a == 6:  # CLEAR
                    self.clear(ts[i])
                else:
                    raise DataError(f"market-data event {i}: unknown action {a!r}")
                if watch_top and top() != before:
                    return i + 1
        return stop

    # ------------------------------------------------------------------ queries

    def best_bid(self) -> tuple[int, int] | None:
        """(price, total visible qty) of the best bid, or None."""
        bb = self._bb
        return (bb, self._bids[bb][0]) if bb else None

    def best_ask(self) -> tuple[int, int] | None:
        """(price, total visible qty) of the best ask, or None."""
        ba = self._ba
        return (ba, self._asks[ba][0]) if ba else None

    def top(self) -> tuple[int, int, int, int]:
        """(bid_px, bid_qty, ask_px, ask_qty), zeros for an empty side."""
        bb = self._bb
        ba = self._ba
        return (bb, self._bids[bb][0] if bb else 0, ba, self._asks[ba][0] if ba else 0)

    def depth(self, side: int, levels: int) -> list[tuple[int, int]]:
        """Up to ``levels`` (price, visible qty) pairs of one side, best first."""
        if levels <= 0:
            return []
        if side > 0:
            book = self._bids
            prices = self._bid_px.islice(max(len(self._bid_px) - levels, 0), reverse=True)
        else:
            book = self._asks
            prices = self._ask_px.islice(0, levels)
        return [(p, book[p][0]) for p in prices]

    def level_orders(self, side: int, price: int) -> list[int]:
        """Order ids resting at ``price`` on ``side``, in queue (priority) order."""
        lvl = (self._bids if side > 0 else self._asks).get(price)
        return list(lvl[1]) if lvl else []

    def queue_ahead(self, order_id: int) -> int:
        """Visible quantity ahead of this order at its price level (-1 if it is not resting)."""
        rec = self._orders.get(order_id)
        if rec is None:
            return -1
        ahead = 0
        for oid, r in self._level(rec)[1].items():
            if oid == order_id:
                break
            ahead += r[_VIS]
        return ahead

    def order_info(self, order_id: int) -> tuple[int, int, int, int] | None:
        """(side, price, visible qty, hidden qty) of a resting order, or None (waiting stops: None)."""
        rec = self._orders.get(order_id)
        if rec is None:
            return None
        return (rec[_SIDE], rec[_PX], rec[_VIS], rec[_HID])

    def open_qty(self, order_id: int) -> int:
        """Leaves of a working order (resting or waiting stop), 0 if it is not working."""
        rec = self._orders.get(order_id)
        if rec is not None:
            return rec[_VIS] + rec[_HID]
        st = self._stops.get(order_id)
        return st.qty if st is not None else 0

    @property
    def stop_count(self) -> int:
        """Number of stop orders waiting for their trigger."""
        return len(self._stops)

    def __len__(self) -> int:
        return len(self._orders)

    def check_integrity(self) -> None:
        """Raise AssertionError if an internal invariant is broken (for tests and debugging)."""
        for book, prices, sgn in ((self._bids, self._bid_px, 1), (self._asks, self._ask_px, -1)):
            assert list(prices) == sorted(book), "price index out of sync"
            for p, (agg, queue) in book.items():
                assert queue, f"empty level {p}"
                assert agg == sum(r[_VIS] for r in queue.values()), f"level {p}: aggregate {agg} != sum"
                for oid, r in queue.items():
                    assert self._orders.get(oid) is r, f"order {oid} not indexed"
                    assert r[_PX] == p and r[_SIDE] == sgn, f"order {oid} on the wrong level"
                    assert r[_VIS] > 0 and r[_HID] >= 0, f"order {oid}: bad qty {r[_VIS]}/{r[_HID]}"
            assert sgn < 0 or self._bb == (prices[-1] if prices else 0), "cached best bid stale"
            assert sgn > 0 or self._ba == (prices[0] if prices else 0), "cached best ask stale"
        n = sum(len(q) for _, q in self._bids.values()) + sum(len(q) for _, q in self._asks.values())
        assert n == len(self._orders), "orphan order records"
        assert not (self._bb and self._ba and self._bb >= self._ba), f"crossed book {self._bb} >= {self._ba}"
        assert len(self._stops) == len(self._buy_stops) + len(self._sell_stops), "stop index out of sync"


# ---------------------------------------------------------------- benchmark


def make_benchmark_events(n: int = 1_000_000, seed: int = 7, target_depth: int = 300) -> np.ndarray:
    """A synthetic MD_DTYPE stream: ~50% adds around a mid, ~40% cancels of live ids, ~10% small market orders."""
    import random

    from kernel.events import ADD, CANCEL, MARKET, empty_events

    rng = random.Random(seed)
    ev = empty_events(n)
    eng = MatchingEngine()  # tracks which ids are still live
    live: list[int] = []
    mid = 10_000
    next_id = 1
    rows: list[tuple[int, int, int, int, int, int]] = []
    for k in range(n):
        u = rng.random()
        if len(live) < target_depth * 2 // 3:
            u *= 0.5  # thin book: add
        elif len(live) > target_depth * 4 // 3 and u < 0.5:
            u += 0.5  # thick book: cancel
        t = 1_000_000 + k * 100
        if u < 0.5 or not live:
            s = 1 if rng.random() < 0.5 else -1
            off = min(int(rng.expovariate(0.25)), 30)
            p = mid - 1 - off if s > 0 else mid + off
            q = rng.randint(1, 10)
            eng.add(t, next_id, s, p, q)
            rows.append((t, next_id, p, q, ADD, s))
            live.append(next_id)
            next_id += 1
        elif u < 0.9:
            while live:
                j = rng.randrange(len(live))
                oid = live[j]
                live[j] = live[-1]
                live.pop()
                if oid in eng._orders:
                    eng.remove(t, oid, 0)
                    rows.append((t, oid, 0, 0, CANCEL, 0))
                    break
            else:
                rows.append((t, 0, 0, 1, MARKET, 1))
        else:
            s = 1 if rng.random() < 0.5 else -1
            q = rng.randint(1, 5)
            eng.market(t, s, q)
            rows.append((t, 0, 0, q, MARKET, s))
    for name, col in zip(("ts", "order_id", "price", "qty", "action", "side"), zip(*rows, strict=True), strict=True):
        ev[name] = col
    return ev


def benchmark(n: int = 1_000_000, repeat: int = 3, watch_top: bool = False, as_numpy: bool = False) -> float:
    """Best-of-``repeat`` apply_batch throughput in events/s on :func:`make_benchmark_events`.

    With ``watch_top`` the batch is re-entered after every early return, as an
    event-driven caller would; ``as_numpy`` passes the MD_DTYPE columns
    instead of lists (apply_batch's chunked ``tolist`` is then included in the time).
    """
    import time

    ev = make_benchmark_events(n)
    fields = ("ts", "order_id", "price", "qty", "action", "side")
    cols = [ev[f] if as_numpy else ev[f].tolist() for f in fields]
    best = 0.0
    for _ in range(repeat):
        eng = MatchingEngine()
        t0 = time.perf_counter()
        i = 0
        while i < n:
            i = eng.apply_batch(*cols, i, n, watch_top)
        best = max(best, n / (time.perf_counter() - t0))
    return best


if __name__ == "__main__":
    for wt, npy in ((False, False), (False, True), (True, False)):
        rate = benchmark(watch_top=wt, as_numpy=npy)
        print(f"apply_batch watch_top={wt} {'numpy' if npy else 'lists'}: {rate:,.0f} events/s")
