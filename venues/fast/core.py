"""numba kernels of the fast L3 book and matching engine (see :mod:`venues.fast`).

Everything here is a plain function over preallocated int64 numpy arrays, so
that ``@njit(cache=True)`` can cache it on disk and a call costs one dispatch:

``st`` (``NS``,)
    scalars: best prices, counts, free-list heads, trade statistics, flags
    (the ``S_*`` indices below).
``ords`` (capacity, ``NF``)
    the order pool, one row per order (``O_*`` columns). Free rows form a
    singly linked free list through ``O_NEXT``; resting orders of one price
    level form an intrusive doubly linked FIFO list (``O_PREV`` / ``O_NEXT``).
``lvls`` (capacity, ``NL``)
    the price-level pool (``L_*`` columns): price, aggregate visible qty,
    order count, head and tail of the FIFO, and per side a doubly linked list
    of the live levels in price order (``L_BETTER`` / ``L_WORSE``; the best
    level's row is ``st[S_BESTV + row]``); free rows linked through ``L_NEXT``.
``book`` (6, width), width a power of two, two slots per level row
    per side a price-indexed level table: slot ``price & (width - 1)`` heads a
    chain (through ``L_NEXT``) of the live levels whose prices share it, so a
    lookup is one slot and, almost always, one level row: no scan, no shift,
    and any prices (sparse or far apart only make chains, never a bigger
    array). Rows 2-3 / 4-5 are per side an occupancy index of 64-tick buckets
    (open addressing: bucket id, or ``EMPTY``, and the bucket's 64-bit mask of
    prices with a level). A new level is linked next to the nearest better
    level: the next tick, else a bit scan in its bucket or the next occupied
    one (:func:`_better_price`), else a walk from the nearer end of the side;
    an emptied level is unlinked in O(1) and the next worse level becomes the
    best. The table is rebuilt at twice the width whenever the level pool
    grows (:func:`rebuild_levels_table`).
``omap`` (capacity, 2)
    open-addressing hash map order id -> pool row (linear probing, Fibonacci
    hashing, backward-shift deletion, load <= 1/2). The key ``EMPTY``
    (``-2**63``, i.e. id ``2**63``) is reserved.
``buf`` (capacity, ``NR``)
    the output buffer: trade prints (kind ``K_TRADE``), execution reports
    (kinds 1..7 = ``ReportKind``) and top-of-book snapshots (``K_TOP``), in the
    exact order the reference engine would fire its callbacks. The Python
    wrapper turns the rows into callbacks (:meth:`FastMatchingEngine._flush`).

Nothing here grows an array: every entry point first checks the capacity it
may need for one operation (one order row, one level row, one book slot, one
map entry, and a bound on the buffer rows) and returns ``NEED_GROW`` /
``NEED_FLUSH`` without side effects when it is short; the wrapper grows or
flushes and calls again. The market-data loop counts how many events surely
fit (each takes at most one row of each kind) and checks again only when they
are used up: it stops at the same event as a check per event would.

The loop tells LLVM what it cannot see (:mod:`kernel.jit_hints`): the widths
of these arrays and that row indices on the hot paths are not negative, so
that row addresses need neither numba's negative-index wraparound nor a
multiply by a width loaded from memory; and it prefetches the event stream.

The semantics are those of :class:`venues.matching.MatchingEngine` (the
specification): the comments name the reference method each function mirrors.
"""

from __future__ import annotations

import numpy as np
from numba import njit, typeof, types
from numba.cpython.unsafe.numbers import leading_zeros, trailing_zeros

import kernel.jit  # noqa: F401  (numba cache location; before any @njit(cache=True))
from kernel import idmap
from kernel.events import MD_DTYPE
from kernel.jit_hints import assume as _assume
from kernel.jit_hints import prefetch as _prefetch

# ----------------------------------------------------------------- layout

EMPTY = idmap.EMPTY  # empty hash-map key
I64_MAX = 9223372036854775807
I64_MIN = -9223372036854775808

# state scalars
S_BB = 0  # best bid price (0: none)
S_BA = 1  # best ask price (0: none)
S_NLV = 2  # number of bid levels (S_NLV + 1: ask levels)
S_NORD = 4  # resting orders
S_FREE_O = 5  # head of the free order rows
S_NFREE_O = 6
S_FREE_L = 7  # head of the free level rows
S_NFREE_L = 8
S_MAPN = 9  # hash-map entries
S_MAPSHIFT = 10  # 64 - log2(map capacity)
S_LAST = 11  # last trade price
S_TCOUNT = 12
S_TQTY = 13
S_UNKNOWN = 14
S_DUP = 15
S_STP = 16  # STPMode value
S_NBUF = 17  # rows in the output buffer
S_REC_TRADES = 18  # 1: record trade prints (on_trade is set)
S_REC_REPORTS = 19  # 1: record reports (on_report is set)
S_NSTOPS = 20  # waiting stops (kept by the wrapper)
S_STOP_BUY = 21  # lowest buy stop price (I64_MAX: none)
S_STOP_SELL = 22  # highest sell stop price (I64_MIN: none)
S_INS = 23  # insertion serial (order of the reference's `_orders` dict)
S_RID = 24  # resting-record serial (identity of the reference's record lists)
S_NPART = 25  # resting participant orders
S_HIDQ = 26  # upper bound of the resting hidden quantity
S_TOP0 = 27  # top before the last event (4 slots) when returning STOPS
S_BOUND = 31  # apply_window: current time bound
S_LOOKAHEAD = 32  # apply_window: lookahead added to the first callback's ts
S_FIRSTCB = 33  # apply_window: 1 once a callback bounded the window
S_RET = 34  # auxiliary return value
S_REST = 35  # 1: market-data adds / modifies that cross rest instead of trading (recorded data)
S_BESTV = 36  # best bid level row (-1: none); S_BESTV + 1: best ask level row
S_WORSTV = 38  # worst bid level row (-1: none); S_WORSTV + 1: worst ask level row
NS = 40

# order columns (hot ones first)
O_NEXT = 0
O_PREV = 1
O_LVL = 2
O_VIS = 3
O_HID = 4
O_PX = 5
O_SIDE = 6
O_OWN = 7
O_OID = 8
O_DISP = 9
O_TIF = 10
O_EXP = 11
O_POST = 12
O_INS = 13
O_RID = 14
O_TMP = 15  # scratch link for temporary lists (participants ahead, clear), no allocation
NF = 16

# level columns
L_PX = 0
L_QTY = 1
L_CNT = 2
L_HEAD = 3
L_TAIL = 4
L_SIDE = 5
L_NEXT = 6  # free list; for a live level, the next level in its table slot's chain
L_BETTER = 7  # the next better level on its side (-1: it is the best)
L_WORSE = 8  # the next worse level on its side (-1: none)
NL = 10

# buffer rows
R_KIND = 0
R_TS = 1
R_OID = 2
R_OWN = 3
R_PX = 4
R_QTY = 5
R_LEAVES = 6
R_REASON = 7
R_A1 = 8
R_A2 = 9
R_A3 = 10
R_LIQ = 11
NR = 12
K_TRADE = 0  # ts, px, qty, a1 = aggressor side
K_ACK = 1
K_REJECT = 2
K_FILL = 3
K_CANCEL = 4
K_EXPIRE = 5
K_REPLACE = 6
K_TRIGGER = 7
K_TOP = 8  # ts, oid = bid px, own = bid qty, px = ask px, qty = ask qty, a1 = event index

# reason codes (texts in venues.fast.engine)
RS_NONE = 0
RS_STP = 1
RS_STP_OLDEST = 2  # a1 resting id, a2 incoming id
RS_STP_DEC = 3  # a1 decrement, a2 resting id, a3 incoming id
RS_NO_LIQ = 4  # a1 id, a2 unfilled
RS_FOK = 5  # a1 id, a2 qty, a3 available; px = limit
RS_IOC = 6  # a1 id, a2 remainder
RS_REMOVED = 7
RS_REDUCED = 8
RS_MODIFIED = 9
RS_CLEARED = 10
LIQ_NONE = 0
LIQ_M = 1
LIQ_T = 2

# enums (kernel.orders)
TIF_GTC = 1
TIF_DAY = 2
TIF_GTD = 3
TIF_IOC = 4
TIF_FOK = 5
OT_LIMIT = 1
OT_MARKET = 2
OT_STOP = 3
OT_STOP_LIMIT = 4
STP_NONE = 0
STP_CANCEL_NEWEST = 1
STP_CANCEL_OLDEST = 2
STP_DECREMENT_BOTH = 3

# market-data actions (kernel.events)
A_ADD = 1
A_CANCEL = 2
A_MODIFY = 3
A_EXECUTE = 4
A_TRADE = 5
A_CLEAR = 6
A_MARKET = 7

# apply statuses (returned as index << 4 | status)
ST_DONE = 0  # reached stop
ST_TOP = 1  # returned after an event that changed the top (watch_top, not recording)
ST_STOPS = 2  # returned after an event that crossed a waiting stop: the wrapper triggers them
ST_GROW = 3  # event not applied: grow the arrays (S_RET: bit mask)
ST_FLUSH = 4  # event not applied: flush the buffer (S_RET: rows needed)
ST_BADACTION = 5  # event not applied: unknown action (or, at the first index, an index range outside the array)
ST_BOUND = 6  # event not applied: its ts is past the time bound
ST_PYEVENT = 7  # event not applied: the wrapper applies it in Python (rare paths)
F_TOP_TAKEN = 8  # flag beside the status: the top row was taken out of the buffer and returned

# apply modes
M_WATCH = 1  # compare the top before/after each event
M_RECORD_TOP = 2  # record K_TOP rows instead of returning at top changes
M_BOUND = 4  # stop at the time bound (tightened by the first callback)
M_TAKE_TOP = 8  # a window whose only row is a K_TOP row returns it (F_TOP_TAKEN) instead

G_ORDERS = 1
G_LEVELS = 2
G_MAP = 16
G_BUF = 32

# Compilation flags. Everything on the event path allocates nothing and is compiled
# without NRT reference counting: with it, numba wraps each inlined call that has
# branches in atomic incref/decref pairs of every array argument (~70 ns per call
# measured), which would dominate the per-event cost. The few functions that allocate
# (FOK dry run, queries for the wrapper, rehash) keep NRT and are called from Python.
# Every kernel has explicit signatures (shorthand below): one compiled version each,
# loaded from the on-disk cache at import; without them numba would specialize the
# helpers on every combination of literal constants passed to them.
_TYPES = {
    "i8": types.int64,
    "b1": types.boolean,
    "void": types.void,
    "T6": types.UniTuple(types.int64, 6),
    "A1": types.int64[::1],
    "A2": types.int64[:, ::1],
    "EV": typeof(np.zeros(1, MD_DTYPE)),
}


def _sigs(specs: tuple[str, ...]) -> list:
    return [eval(spec, {}, _TYPES) for spec in specs]  # e.g. "i8(A1, A2, i8)"


def _hot(*specs: str):
    return njit(_sigs(specs), cache=True, nogil=True, _nrt=False)


def _hot_inline(*specs: str):
    """Helpers on the per-event path: inlined into their callers by numba (numba calls one
    compiled function from another as a real call; inlining them made the replay loop ~30 %
    faster). Not compiled on their own (no eager signature: a cold start pays only for their
    callers); ``specs`` documents the types they are used with."""
    return njit(nogil=True, _nrt=False, inline="always")


def _nrt(*specs: str):
    return njit(_sigs(specs), cache=True, nogil=True)


# Kernels of rare paths (queries, buffer regrowth, tests) compile on first use, not at import:
# each kernel compiled costs ~0.1-0.5 s of a cold start, whatever its size.
_lazy = njit(cache=True, nogil=True)


# ----------------------------------------------------------------- hash map


@_hot("i8(A1, A2, i8)")
def map_get(st, omap, key):
    """Pool row of order ``key``, or -1."""
    i = idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], key)
    return omap[i, 1] if omap[i, 0] == key else -1


@_hot("void(A1, A2, i8, i8)")
def map_put(st, omap, key, val):
    i = idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], key)
    if omap[i, 0] == EMPTY:
        omap[i, 0] = key
        st[S_MAPN] += 1
    omap[i, 1] = val


@_hot_inline("void(A1, A2, i8)")
def _map_del_at(st, omap, i):
    """Delete the entry in slot ``i``."""
    idmap.delete_at(omap, omap.shape[0] - 1, st[S_MAPSHIFT], i)
    st[S_MAPN] -= 1


@_hot("void(A1, A2, i8)")
def map_del(st, omap, key):
    i = idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], key)
    if omap[i, 0] == key:
        _map_del_at(st, omap, i)


@_nrt("void(A1, A2, A2)")  # eager: real-data books grow in most runs
def map_rehash(st, old, new):
    """Move every entry of ``old`` into the empty table ``new`` (S_MAPSHIFT already set for it)."""
    st[S_MAPN] = 0
    for i in range(old.shape[0]):
        k = old[i, 0]
        if k != EMPTY:
            map_put(st, new, k, old[i, 1])


# ------------------------------------------------------------------- pools


@_hot("i8(A1, A2)")
def _alloc_order(st, ords):
    o = st[S_FREE_O]
    st[S_FREE_O] = ords[o, O_NEXT]
    st[S_NFREE_O] -= 1
    return o


@_hot_inline("void(A1, A2, i8)")
def _free_order(st, ords, o):
    ords[o, O_NEXT] = st[S_FREE_O]
    ords[o, O_OID] = 0
    st[S_FREE_O] = o
    st[S_NFREE_O] += 1


@_hot("void(A1, A2, i8, i8)")
def link_free_orders(st, ords, lo, hi):
    """Put rows ``lo .. hi-1`` (new capacity) on the order free list."""
    for o in range(hi - 1, lo - 1, -1):
        ords[o, O_NEXT] = st[S_FREE_O]
        st[S_FREE_O] = o
        st[S_NFREE_O] += 1


@_hot("void(A1, A2, i8, i8)")
def link_free_levels(st, lvls, lo, hi):
    for v in range(hi - 1, lo - 1, -1):
        lvls[v, L_NEXT] = st[S_FREE_L]
        st[S_FREE_L] = v
        st[S_NFREE_L] += 1


# ------------------------------------------------------------------ levels


@_hot_inline("i8(i8)")
def _row(side):
    return 0 if side > 0 else 1


@_hot_inline("i8(i8, i8)")
def _key(side, px):
    """Price order key on a side: the better level has the larger key."""
    return px if side > 0 else -px


@_hot_inline("i8(A2, A2, i8, i8)")
def _lookup(lvls, book, r, px):
    """Level row at ``px`` in side row ``r``'s table (slot ``px & (width - 1)``, chained), or -1."""
    v = book[r, px & (book.shape[1] - 1)]
    while v >= 0:
        if lvls[v, L_PX] == px:
            return v
        v = lvls[v, L_NEXT]
    return -1


@_hot("i8(A1, A2, A2, i8, i8)")
def level_of(st, lvls, book, side, px):
    """Level row at ``px`` on ``side``, or -1."""
    return _lookup(lvls, book, _row(side), px)


@_hot_inline("i8(A2, i8, i8)")
def _bucket_slot(book, r, b):
    """Slot of 64-tick bucket ``b`` in side row ``r``'s bucket map (book row r + 2: keys,
    ``EMPTY`` free; row r + 4: the bucket's occupancy bits), or the free slot where it goes."""
    m = book.shape[1] - 1
    i = b & m
    while True:
        k = book[r + 2, i]
        if k == b or k == EMPTY:
            return i
        i = (i + 1) & m


@_hot_inline("void(A2, i8, i8)")
def _bucket_set(book, r, px):
    """Mark a level at ``px`` in its bucket's occupancy bits."""
    i = _bucket_slot(book, r, px >> 6)
    book[r + 2, i] = px >> 6
    book[r + 4, i] |= np.int64(1) << (px & 63)


@_hot_inline("void(A2, i8, i8)")
def _bucket_clear(book, r, px):
    """Unmark the level at ``px``; an emptied bucket leaves the map (backward-shift deletion)."""
    i = _bucket_slot(book, r, px >> 6)
    bits = book[r + 4, i] & ~(np.int64(1) << (px & 63))
    book[r + 4, i] = bits
    if bits != 0:
        return
    m = book.shape[1] - 1
    j = i
    while True:
        j = (j + 1) & m
        k = book[r + 2, j]
        if k == EMPTY:
            break
        h = k & m
        # Entry j may stay if its home h lies cyclically in (i, j].
        if i <= j:
            if i < h <= j:
                continue
        elif h > i or h <= j:
            continue
        book[r + 2, i] = k
        book[r + 4, i] = book[r + 4, j]
        i = j
    book[r + 2, i] = EMPTY
    book[r + 4, i] = 0


@_hot_inline("i8(A2, i8, i8, i8, i8)")
def _better_price(book, r, side, px, best_px):
    """The nearest price better than ``px`` with a level on side row ``r`` (``best_px`` has one):
    a bit scan in ``px``'s bucket, then in the next occupied bucket towards the best;
    ``I64_MIN`` past 64 buckets (the caller walks the side instead)."""
    b = px >> 6
    i = _bucket_slot(book, r, b)
    bits = book[r + 4, i] if book[r + 2, i] == b else 0
    if side > 0:  # higher prices are better: the lowest bit above px
        bits &= ~((np.int64(2) << (px & 63)) - 1)
        if bits != 0:
            return (b << 6) + trailing_zeros(bits)
        for _ in range(64):
            b += 1
            if b > best_px >> 6:
                break
            i = _bucket_slot(book, r, b)
            if book[r + 2, i] == b:
                return (b << 6) + trailing_zeros(book[r + 4, i])
        return I64_MIN
    bits &= (np.int64(1) << (px & 63)) - 1  # lower prices are better: the highest bit below px
    if bits != 0:
        return (b << 6) + 63 - leading_zeros(bits)
    for _ in range(64):
        b -= 1
        if b < best_px >> 6:
            break
        i = _bucket_slot(book, r, b)
        if book[r + 2, i] == b:
            return (b << 6) + 63 - leading_zeros(book[r + 4, i])
    return I64_MIN


@_hot_inline("i8(A1, A2, A2, i8, i8)")
def _level_for_insert(st, lvls, book, side, px):
    """The level at ``px`` on ``side``, created (empty) if missing; the caller updates the cached best price."""
    r = _row(side)
    v = _lookup(lvls, book, r, px)
    if v >= 0:
        return v
    v = st[S_FREE_L]
    slot = px & (book.shape[1] - 1)
    st[S_FREE_L] = lvls[v, L_NEXT]
    st[S_NFREE_L] -= 1
    lvls[v, L_PX] = px
    lvls[v, L_QTY] = 0
    lvls[v, L_CNT] = 0
    lvls[v, L_HEAD] = -1
    lvls[v, L_TAIL] = -1
    lvls[v, L_SIDE] = side
    lvls[v, L_NEXT] = book[r, slot]
    book[r, slot] = v
    _bucket_set(book, r, px)
    st[S_NLV + r] += 1
    bv = st[S_BESTV + r]
    k = _key(side, px)
    if bv < 0 or k > _key(side, lvls[bv, L_PX]):  # the new best
        lvls[v, L_BETTER] = -1
        lvls[v, L_WORSE] = bv
        if bv >= 0:
            lvls[bv, L_BETTER] = v
        else:
            st[S_WORSTV + r] = v
        st[S_BESTV + r] = v
        return v
    # The nearest better level: the next tick towards the best (levels crowd the touch),
    # else the bucket bits (64 ticks a bucket, up to 64 buckets), else a walk along the
    # side from whichever end is nearer in price (levels far apart).
    b = _lookup(lvls, book, r, px + side)
    if b < 0:
        p = _better_price(book, r, side, px, lvls[bv, L_PX])
        if p != I64_MIN:
            b = _lookup(lvls, book, r, p)
    if b < 0:
        wv = st[S_WORSTV + r]
        if _key(side, lvls[bv, L_PX]) - k <= k - _key(side, lvls[wv, L_PX]):
            b = bv  # from the best, worse-ward: the last level better than px
            w = lvls[b, L_WORSE]
            while w >= 0 and _key(side, lvls[w, L_PX]) > k:
                b = w
                w = lvls[b, L_WORSE]
        else:
            b = wv  # from the worst, better-ward: the first level better than px
            while _key(side, lvls[b, L_PX]) < k:
                b = lvls[b, L_BETTER]
    w = lvls[b, L_WORSE]
    lvls[v, L_BETTER] = b
    lvls[v, L_WORSE] = w
    lvls[b, L_WORSE] = v
    if w >= 0:
        lvls[w, L_BETTER] = v
    else:
        st[S_WORSTV + r] = v
    return v


@_hot_inline("void(A1, A2, A2, i8)")
def _drop_level(st, lvls, book, v):
    """Remove the (empty) level ``v`` from its side and the pool; refresh the cached best price."""
    side = lvls[v, L_SIDE]
    r = _row(side)
    slot = lvls[v, L_PX] & (book.shape[1] - 1)
    _bucket_clear(book, r, lvls[v, L_PX])
    u = book[r, slot]
    if u == v:
        book[r, slot] = lvls[v, L_NEXT]
    else:
        while lvls[u, L_NEXT] != v:
            u = lvls[u, L_NEXT]
        lvls[u, L_NEXT] = lvls[v, L_NEXT]
    b = lvls[v, L_BETTER]
    w = lvls[v, L_WORSE]
    if w >= 0:
        lvls[w, L_BETTER] = b
    else:  # it was the worst level
        st[S_WORSTV + r] = b
    if b >= 0:
        lvls[b, L_WORSE] = w
    else:  # it was the best level
        st[S_BESTV + r] = w
        st[S_BB + r] = lvls[w, L_PX] if w >= 0 else 0
    st[S_NLV + r] -= 1
    lvls[v, L_NEXT] = st[S_FREE_L]
    lvls[v, L_CNT] = 0
    st[S_FREE_L] = v
    st[S_NFREE_L] += 1


@_hot_inline("void(A2, A2, i8, i8)")
def _q_append(ords, lvls, v, o):
    """Put order row ``o`` at the back of level ``v``'s FIFO."""
    t = lvls[v, L_TAIL]
    ords[o, O_PREV] = t
    ords[o, O_NEXT] = -1
    if t >= 0:
        ords[t, O_NEXT] = o
    else:
        lvls[v, L_HEAD] = o
    lvls[v, L_TAIL] = o
    lvls[v, L_CNT] += 1


@_hot_inline("void(A2, A2, i8, i8)")
def _q_remove(ords, lvls, v, o):
    p = ords[o, O_PREV]
    n = ords[o, O_NEXT]
    if p >= 0:
        ords[p, O_NEXT] = n
    else:
        lvls[v, L_HEAD] = n
    if n >= 0:
        ords[n, O_PREV] = p
    else:
        lvls[v, L_TAIL] = p
    lvls[v, L_CNT] -= 1


# ------------------------------------------------------------------ output


@_hot("void(A1, A2, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8)")
def _put(st, buf, kind, ts, oid, own, px, qty, leaves, reason, a1, a2, a3, liq):
    n = st[S_NBUF]
    buf[n, R_KIND] = kind
    buf[n, R_TS] = ts
    buf[n, R_OID] = oid
    buf[n, R_OWN] = own
    buf[n, R_PX] = px
    buf[n, R_QTY] = qty
    buf[n, R_LEAVES] = leaves
    buf[n, R_REASON] = reason
    buf[n, R_A1] = a1
    buf[n, R_A2] = a2
    buf[n, R_A3] = a3
    buf[n, R_LIQ] = liq
    st[S_NBUF] = n + 1


@_hot("void(A1, A2, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8)")
def _emit(st, buf, kind, ts, oid, owner, px, qty, leaves, reason, a1, a2, a3, liq):
    """A report about a participant order (reference: ``_emit``)."""
    if owner != 0 and st[S_REC_REPORTS] != 0:
        _put(st, buf, kind, ts, oid, owner, px, qty, leaves, reason, a1, a2, a3, liq)


@_hot("void(A1, A2, i8, i8, i8, i8)")
def _trade(st, buf, ts, px, qty, side):
    if st[S_REC_TRADES] != 0:
        _put(st, buf, K_TRADE, ts, 0, 0, px, qty, 0, 0, side, 0, 0, 0)


# -------------------------------------------------------------- book plumbing


@_hot_inline("i8(A1, i8, i8)")
def _crosses(st, side, px):
    """The opposite best a limit at ``px`` would cross, else 0 (reference: ``_crosses``).

    Arithmetic, no branch on the side: market data alternates sides at random, and a branch
    on it is mispredicted about every other add."""
    opp = st[S_BB + 1 - _row(side)]
    return opp * (np.int64(opp != 0) & np.int64(side * (px - opp) >= 0))


@_hot_inline("void(A1, i8, i8)")
def _raise_best(st, side, px):
    """Make ``px`` the cached best price of ``side`` if it improves it (or the side was empty);
    arithmetic, no branch on the side (see :func:`_crosses`)."""
    i = S_BB + _row(side)
    cur = st[i]
    st[i] = cur + (px - cur) * (np.int64(cur == 0) | np.int64(side * (px - cur) > 0))


@_hot("void(A1, A2, A2, A2, A2, i8)")
def _insert(st, ords, lvls, book, omap, o):
    """Put order row ``o`` at the back of its level (reference: ``_insert``)."""
    side = ords[o, O_SIDE]
    px = ords[o, O_PX]
    v = _level_for_insert(st, lvls, book, side, px)
    _q_append(ords, lvls, v, o)
    lvls[v, L_QTY] += ords[o, O_VIS]
    ords[o, O_LVL] = v
    _raise_best(st, side, px)
    st[S_INS] += 1
    ords[o, O_INS] = st[S_INS]
    map_put(st, omap, ords[o, O_OID], o)
    st[S_NORD] += 1
    if ords[o, O_OWN] != 0:
        st[S_NPART] += 1


@_hot("void(A1, A2, A2, i8)")
def _forget(st, ords, omap, o):
    """Drop order ``o`` from the id map and the counts (it is off its level already)."""
    map_del(st, omap, ords[o, O_OID])
    st[S_NORD] -= 1
    if ords[o, O_OWN] != 0:
        st[S_NPART] -= 1


@_hot("void(A1, A2, A2, A2, A2, i8)")
def _unlink(st, ords, lvls, book, omap, o):
    """Take ``o`` out of the book, quantities untouched (reference: ``_unlink``)."""
    v = ords[o, O_LVL]
    _q_remove(ords, lvls, v, o)
    if lvls[v, L_CNT] == 0:
        _drop_level(st, lvls, book, v)
    else:
        lvls[v, L_QTY] -= ords[o, O_VIS]
    _forget(st, ords, omap, o)


@_hot("i8(A1, A2, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8)")
def _new_order(st, ords, oid, owner, side, px, vis, hid, disp, tif, exp, post):
    o = _alloc_order(st, ords)
    ords[o, O_PX] = px
    ords[o, O_VIS] = vis
    ords[o, O_HID] = hid
    ords[o, O_SIDE] = side
    ords[o, O_OWN] = owner
    ords[o, O_OID] = oid
    ords[o, O_DISP] = disp
    ords[o, O_TIF] = tif
    ords[o, O_EXP] = exp
    ords[o, O_POST] = post
    st[S_RID] += 1
    ords[o, O_RID] = st[S_RID]
    if hid > 0:
        st[S_HIDQ] += hid
    return o


# ------------------------------------------------------------------ matching


@_hot_inline("i8(A1, A2, A2, i8, i8, i8, i8, i8)")
def _fill_visible(st, ords, lvls, v, o, vis, want, px):
    """Trade up to ``want`` of resting row ``o``'s visible ``vis`` (level ``v``) at ``px``:
    quantities and trade statistics; returns the quantity filled."""
    f = want if want < vis else vis
    ords[o, O_VIS] = vis - f
    lvls[v, L_QTY] -= f
    st[S_LAST] = px
    st[S_TCOUNT] += 1
    st[S_TQTY] += f
    return f


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, i8, i8)")
def _match(st, ords, lvls, book, omap, buf, ts, oid, owner, side, qty, limit):
    """Match an incoming order against the opposite side (reference: ``_match``).

    Returns ``remaining * 2 + stp_hit``.
    """
    stp = st[S_STP] if owner != 0 else 0
    r = 1 if side > 0 else 0  # the opposite row
    while qty > 0:
        best = st[S_BA] if side > 0 else st[S_BB]
        if best == 0:
            break
        if limit != 0 and ((best > limit) if side > 0 else (best < limit)):
            break
        v = st[S_BESTV + r]
        while qty > 0 and lvls[v, L_CNT] > 0:
            o = lvls[v, L_HEAD]
            rown = ords[o, O_OWN]
            vis = ords[o, O_VIS]
            roid = ords[o, O_OID]
            if stp != 0 and rown == owner:
                if stp == STP_CANCEL_NEWEST:
                    return qty * 2 + 1
                if stp == STP_CANCEL_OLDEST:
                    leaves = vis + ords[o, O_HID]
                    _q_remove(ords, lvls, v, o)
                    lvls[v, L_QTY] -= vis
                    _forget(st, ords, omap, o)
                    _free_order(st, ords, o)
                    _emit(st, buf, K_CANCEL, ts, roid, rown, best, leaves, 0, RS_STP_OLDEST, roid, oid, 0, 0)
                    continue
                # DECREMENT_BOTH: remove what would have traded, without a trade.
                d = qty if qty < vis else vis
                qty -= d
                vis -= d
                ords[o, O_VIS] = vis
                lvls[v, L_QTY] -= d
                hid = ords[o, O_HID]
                done = False
                if vis == 0:
                    _q_remove(ords, lvls, v, o)
                    if hid != 0:
                        disp = ords[o, O_DISP]
                        s = disp if disp < hid else hid
                        ords[o, O_HID] = hid - s
                        ords[o, O_VIS] = s
                        lvls[v, L_QTY] += s
                        _q_append(ords, lvls, v, o)
                    else:
                        _forget(st, ords, omap, o)
                        done = True
                if vis != 0 or hid != 0:
                    _emit(st, buf, K_REPLACE, ts, roid, rown, best, vis + hid, vis + hid, RS_STP_DEC, d, roid, oid, 0)
                else:
                    _emit(st, buf, K_CANCEL, ts, roid, rown, best, d, 0, RS_STP_DEC, d, roid, oid, 0)
                if done:
                    _free_order(st, ords, o)
                if qty != 0:
                    _emit(st, buf, K_REPLACE, ts, oid, owner, limit, qty, qty, RS_STP_DEC, d, roid, oid, 0)
                else:
                    _emit(st, buf, K_CANCEL, ts, oid, owner, limit, d, 0, RS_STP_DEC, d, roid, oid, 0)
                continue
            f = _fill_visible(st, ords, lvls, v, o, vis, qty, best)
            qty -= f
            vis -= f
            hid = ords[o, O_HID]
            done = False
            if vis == 0:
                _q_remove(ords, lvls, v, o)
                if hid != 0:
                    # Iceberg refresh: a new slice at the back of the queue.
                    disp = ords[o, O_DISP]
                    s = disp if disp < hid else hid
                    hid -= s
                    ords[o, O_HID] = hid
                    ords[o, O_VIS] = s
                    vis = s
                    lvls[v, L_QTY] += s
                    _q_append(ords, lvls, v, o)
                else:
                    _forget(st, ords, omap, o)
                    done = True
            _trade(st, buf, ts, best, f, side)
            if rown != 0:
                _emit(st, buf, K_FILL, ts, roid, rown, best, f, vis + hid, RS_NONE, 0, 0, 0, LIQ_M)
            if owner != 0:
                _emit(st, buf, K_FILL, ts, oid, owner, best, f, qty, RS_NONE, 0, 0, 0, LIQ_T)
            if done:
                _free_order(st, ords, o)
        if lvls[v, L_CNT] == 0:
            _drop_level(st, lvls, book, v)
    return qty * 2


@_nrt("i8(A1, A2, A2, A2, i8, i8, i8, i8)")
def fok_available(st, ords, lvls, book, owner, side, qty, limit):
    """Quantity (up to ``qty``) a FOK order would trade (reference: ``_fok_available``)."""
    stp = st[S_STP] if owner != 0 else 0
    r = 1 if side > 0 else 0
    need = qty
    got = 0
    nv = st[S_BESTV + r]
    while nv >= 0:
        v = nv
        nv = lvls[v, L_WORSE]
        p = lvls[v, L_PX]
        if (p > limit) if side > 0 else (p < limit):
            break
        mine = False
        if stp != 0:
            o = lvls[v, L_HEAD]
            while o >= 0:
                if ords[o, O_OWN] == owner:
                    mine = True
                    break
                o = ords[o, O_NEXT]
        if not mine:
            tot = 0
            o = lvls[v, L_HEAD]
            while o >= 0:
                tot += ords[o, O_VIS] + ords[o, O_HID]
                o = ords[o, O_NEXT]
            take = need if need < tot else tot
            got += take
            need -= take
        else:
            # Replay the round-robin of visible slices (icebergs refresh at the back).
            cnt = lvls[v, L_CNT]
            qv = np.empty(cnt, np.int64)
            qh = np.empty(cnt, np.int64)
            qd = np.empty(cnt, np.int64)
            qm = np.empty(cnt, np.bool_)
            o = lvls[v, L_HEAD]
            k = 0
            while o >= 0:
                qv[k] = ords[o, O_VIS]
                qh[k] = ords[o, O_HID]
                qd[k] = ords[o, O_DISP]
                qm[k] = ords[o, O_OWN] == owner
                k += 1
                o = ords[o, O_NEXT]
            head = 0
            size = cnt
            while need > 0 and size > 0:
                vis = qv[head]
                hid = qh[head]
                disp = qd[head]
                me = qm[head]
                head = (head + 1) % cnt
                size -= 1
                d = need if need < vis else vis
                if me:
                    if stp == STP_CANCEL_NEWEST:
                        return got
                    if stp == STP_CANCEL_OLDEST:
                        continue
                    need -= d
                else:
                    need -= d
                    got += d
                vis -= d
                if vis == 0 and hid != 0:
                    s = disp if disp < hid else hid
                    t = (head + size) % cnt
                    qv[t] = s
                    qh[t] = hid - s
                    qd[t] = disp
                    qm[t] = me
                    size += 1
        if need == 0:
            break
    return got


@_hot("i8(A1, A2, A2, A2, A2, i8, i8, i8, i8, i8, i8, i8, i8, i8)")
def _rest(st, ords, lvls, book, omap, oid, owner, side, px, leaves, disp, tif, exp, post):
    """Rest ``leaves`` with the iceberg display rule (reference: ``_rest``); returns the record id."""
    vis = disp if 0 < disp < leaves else leaves
    o = _new_order(st, ords, oid, owner, side, px, vis, leaves - vis, disp, tif, exp, post)
    _insert(st, ords, lvls, book, omap, o)
    return ords[o, O_RID]


@_nrt("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8)")
def process(st, ords, lvls, book, omap, buf, ts, oid, owner, side, qty, px, otype, tif, disp, exp, post):
    """Execute an accepted or triggered order (reference: ``_process``).

    Returns the record id when the rest of the order rests, else 0.
    """
    if otype == OT_MARKET or otype == OT_STOP:
        res = _match(st, ords, lvls, book, omap, buf, ts, oid, owner, side, qty, 0)
        rem = res >> 1
        if rem != 0:
            if res & 1:
                _emit(st, buf, K_CANCEL, ts, oid, owner, 0, rem, 0, RS_STP, 0, 0, 0, 0)
            else:
                _emit(st, buf, K_CANCEL, ts, oid, owner, 0, rem, 0, RS_NO_LIQ, oid, rem, 0, 0)
        return 0
    if tif == TIF_FOK:
        avail = fok_available(st, ords, lvls, book, owner, side, qty, px)
        if avail < qty:
            _emit(st, buf, K_CANCEL, ts, oid, owner, px, qty, 0, RS_FOK, oid, qty, avail, 0)
            return 0
    res = _match(st, ords, lvls, book, omap, buf, ts, oid, owner, side, qty, px)
    rem = res >> 1
    if rem == 0:
        return 0
    if res & 1:
        _emit(st, buf, K_CANCEL, ts, oid, owner, px, rem, 0, RS_STP, 0, 0, 0, 0)
        return 0
    if tif == TIF_IOC or tif == TIF_FOK:
        _emit(st, buf, K_CANCEL, ts, oid, owner, px, rem, 0, RS_IOC, oid, rem, 0, 0)
        return 0
    return _rest(st, ords, lvls, book, omap, oid, owner, side, px, rem, disp, tif, exp, post)


@_hot("void(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, b1)")
def _reprice(st, ords, lvls, book, omap, buf, ts, o, px, leaves, match):
    """New price / leaves (> 0) for a resting order with the priority rule (reference: ``_reprice``;
    ``match`` False: a crossing new price rests instead of trading)."""
    vis = ords[o, O_VIS]
    if px == ords[o, O_PX] and leaves <= vis + ords[o, O_HID]:
        nv = vis if vis < leaves else leaves
        ords[o, O_VIS] = nv
        ords[o, O_HID] = leaves - nv
        lvls[ords[o, O_LVL], L_QTY] -= vis - nv
        return
    _unlink(st, ords, lvls, book, omap, o)
    ords[o, O_PX] = px
    oid = ords[o, O_OID]
    owner = ords[o, O_OWN]
    if match:
        res = _match(st, ords, lvls, book, omap, buf, ts, oid, owner, ords[o, O_SIDE], leaves, px)
    else:
        res = leaves << 1
    rem = res >> 1
    if rem == 0:
        _free_order(st, ords, o)
        return
    if res & 1:
        _emit(st, buf, K_CANCEL, ts, oid, owner, px, rem, 0, RS_STP, 0, 0, 0, 0)
        _free_order(st, ords, o)
        return
    disp = ords[o, O_DISP]
    nv = disp if 0 < disp < rem else rem
    ords[o, O_VIS] = nv
    ords[o, O_HID] = rem - nv
    if rem - nv > 0:
        st[S_HIDQ] += rem - nv
    _insert(st, ords, lvls, book, omap, o)


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8)")
def reprice(st, ords, lvls, book, omap, buf, ts, oid, px, leaves):
    """amend() of a resting order after its checks and REPLACE report; 0 if ``oid`` is not resting."""
    o = map_get(st, omap, oid)
    if o < 0:
        return 0
    _reprice(st, ords, lvls, book, omap, buf, ts, o, px, leaves, True)
    return 1


# -------------------------------------------------------------- background flow


@_hot("void(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, i8, i8)")
def add(st, ords, lvls, book, omap, buf, ts, oid, side, px, qty, owner):
    """Reference: ``add`` (without the owner memory, kept by the wrapper)."""
    if qty <= 0:
        return
    if map_get(st, omap, oid) >= 0:
        st[S_DUP] += 1
        return
    if _crosses(st, side, px) != 0:
        res = _match(st, ords, lvls, book, omap, buf, ts, oid, owner, side, qty, px)
        qty = res >> 1
        if qty != 0 and (res & 1):
            _emit(st, buf, K_CANCEL, ts, oid, owner, px, qty, 0, RS_STP, 0, 0, 0, 0)
            qty = 0
        if qty == 0:
            return
    o = _new_order(st, ords, oid, owner, side, px, qty, 0, 0, TIF_GTC, 0, 0)
    _insert(st, ords, lvls, book, omap, o)


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8)")
def remove(st, ords, lvls, book, omap, buf, ts, oid, qty):
    """Reference: ``remove``; returns 1, or 0 (counted unknown)."""
    o = map_get(st, omap, oid)
    if o < 0:
        st[S_UNKNOWN] += 1
        return 0
    vis = ords[o, O_VIS]
    hid = ords[o, O_HID]
    leaves = vis + hid
    if qty <= 0 or qty >= leaves:
        _unlink(st, ords, lvls, book, omap, o)
        _emit(st, buf, K_CANCEL, ts, oid, ords[o, O_OWN], ords[o, O_PX], leaves, 0, RS_REMOVED, 0, 0, 0, 0)
        _free_order(st, ords, o)
        return 1
    dh = qty if qty < hid else hid
    ords[o, O_HID] = hid - dh
    ords[o, O_VIS] = vis - (qty - dh)
    lvls[ords[o, O_LVL], L_QTY] -= qty - dh
    _emit(st, buf, K_CANCEL, ts, oid, ords[o, O_OWN], ords[o, O_PX], qty, leaves - qty, RS_REDUCED, 0, 0, 0, 0)
    return 1


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8)")
def market(st, ords, lvls, book, omap, buf, ts, side, qty, owner):
    """Reference: ``market`` without the stop check; returns the filled quantity."""
    if qty <= 0:
        return 0
    res = _match(st, ords, lvls, book, omap, buf, ts, 0, owner, side, qty, 0)
    return qty - (res >> 1)


@_hot("void(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8)")
def _execute_row(st, ords, lvls, book, omap, buf, ts, o, qty, px):
    """Execute ``qty`` of resting row ``o`` at ``px`` (0: its price); reference: ``execute`` after the lookup."""
    vis = ords[o, O_VIS]
    hid = ords[o, O_HID]
    f = qty if qty < vis + hid else vis + hid
    if f <= 0:
        return
    oid = ords[o, O_OID]
    p = px if px != 0 else ords[o, O_PX]
    done = False
    if f == vis + hid:
        _unlink(st, ords, lvls, book, omap, o)
        ords[o, O_VIS] = 0
        ords[o, O_HID] = 0
        done = True
    elif f < vis:
        ords[o, O_VIS] = vis - f
        lvls[ords[o, O_LVL], L_QTY] -= f
    else:
        # The visible slice is gone: take the rest from the reserve and refresh at the back.
        hid -= f - vis
        disp = ords[o, O_DISP]
        s = disp if disp < hid else hid
        ords[o, O_HID] = hid - s
        ords[o, O_VIS] = s
        v = ords[o, O_LVL]
        lvls[v, L_QTY] += s - vis
        _q_remove(ords, lvls, v, o)
        _q_append(ords, lvls, v, o)
    st[S_LAST] = p
    st[S_TCOUNT] += 1
    st[S_TQTY] += f
    _trade(st, buf, ts, p, f, -ords[o, O_SIDE])
    _emit(st, buf, K_FILL, ts, oid, ords[o, O_OWN], p, f, ords[o, O_VIS] + ords[o, O_HID], RS_NONE, 0, 0, 0, LIQ_M)
    if done:
        _free_order(st, ords, o)


@_hot("i8(A1, A2, A2, A2, i8)")
def _ahead_list(st, ords, lvls, book, o):
    """Participant orders with priority over resting row ``o`` (those at better prices on its
    side, best price first, in queue order; then those ahead of it in its own queue), as a
    list linked through ``O_TMP``; returns its head row or -1."""
    side = ords[o, O_SIDE]
    px = ords[o, O_PX]
    r = _row(side)
    head = -1
    tail = -1
    nv = st[S_BESTV + r]
    while nv >= 0:
        v = nv
        nv = lvls[v, L_WORSE]
        p = lvls[v, L_PX]
        if p != px and ((p < px) if side > 0 else (p > px)):
            break
        q = lvls[v, L_HEAD]
        while q >= 0 and q != o:
            if ords[q, O_OWN] != 0:
                ords[q, O_TMP] = -1
                if tail >= 0:
                    ords[tail, O_TMP] = q
                else:
                    head = q
                tail = q
            q = ords[q, O_NEXT]
        if p == px:
            break
    return head


@_lazy
def ahead_rows(st, ords, lvls, book, o):
    """:func:`_ahead_list` as an array (for the wrapper's Python path)."""
    out = np.empty(st[S_NPART], np.int64)
    k = 0
    q = _ahead_list(st, ords, lvls, book, o)
    while q >= 0:
        out[k] = q
        k += 1
        q = ords[q, O_TMP]
    return out[:k]


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, b1)")
def execute(st, ords, lvls, book, omap, buf, ts, oid, qty, px, ahead):
    """Reference: ``execute`` without the stop checks; returns 1, or 0 (counted unknown).

    With ``ahead`` (no waiting stops), an execution of a background order
    first fills the participant orders that have priority over it (the L3
    replay realism rule, reference: ``_fill_participants_ahead``); without,
    the caller has done that part.
    """
    o = map_get(st, omap, oid)
    if o < 0:
        st[S_UNKNOWN] += 1
        return 0
    if ahead and st[S_NPART] > 0 and ords[o, O_OWN] == 0 and qty > 0:
        q = _ahead_list(st, ords, lvls, book, o)
        taken = 0
        while q >= 0:
            if taken >= qty:
                break
            nxt = ords[q, O_TMP]  # read first: a full execution frees the row
            vis = ords[q, O_VIS]
            f = qty - taken if qty - taken < vis else vis
            if f > 0:
                _execute_row(st, ords, lvls, book, omap, buf, ts, q, f, ords[q, O_PX])
                taken += f
            q = nxt
        qty -= taken
        if qty <= 0:
            return 1
    _execute_row(st, ords, lvls, book, omap, buf, ts, o, qty, px)
    return 1


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, b1)")
def modify(st, ords, lvls, book, omap, buf, ts, oid, px, qty, match):
    """Reference: ``modify`` (``rest`` = not ``match``) without the stop check; returns 1, or 0 (counted unknown)."""
    o = map_get(st, omap, oid)
    if o < 0:
        st[S_UNKNOWN] += 1
        return 0
    if qty <= 0:
        return remove(st, ords, lvls, book, omap, buf, ts, oid, 0)
    if px <= 0:
        px = ords[o, O_PX]
    _emit(st, buf, K_REPLACE, ts, oid, ords[o, O_OWN], px, qty, qty, RS_MODIFIED, 0, 0, 0, 0)
    _reprice(st, ords, lvls, book, omap, buf, ts, o, px, qty, match)
    return 1


@_hot_inline("void(A1, A2, i8, i8, i8, i8)")
def trade_print(st, buf, ts, px, qty, side):
    """Reference: ``trade_print`` without the stop check."""
    st[S_LAST] = px
    st[S_TCOUNT] += 1
    st[S_TQTY] += qty
    _trade(st, buf, ts, px, qty, side)


@_hot("void(A1, A2, A2, A2, A2, A2, i8)")
def clear(st, ords, lvls, book, omap, buf, ts):
    """Reference: ``clear``: participants get CANCEL "book cleared" in the order they entered the book."""
    head = -1  # participant rows, linked through O_TMP
    for r in range(2):
        nv = st[S_BESTV + r]
        while nv >= 0:
            v = nv
            nv = lvls[v, L_WORSE]
            o = lvls[v, L_HEAD]
            while o >= 0:
                nxt = ords[o, O_NEXT]
                if ords[o, O_OWN] != 0:
                    ords[o, O_TMP] = head
                    head = o
                else:
                    _free_order(st, ords, o)
                o = nxt
            lvls[v, L_NEXT] = st[S_FREE_L]
            lvls[v, L_CNT] = 0
            st[S_FREE_L] = v
            st[S_NFREE_L] += 1
        st[S_NLV + r] = 0
        st[S_BESTV + r] = -1
        st[S_WORSTV + r] = -1
    book[:2, :] = -1
    book[2:4, :] = EMPTY
    book[4:, :] = 0
    for i in range(omap.shape[0]):
        omap[i, 0] = EMPTY
    st[S_MAPN] = 0
    st[S_NORD] = 0
    st[S_NPART] = 0
    st[S_HIDQ] = 0
    st[S_BB] = 0
    st[S_BA] = 0
    # Emit in insertion order: repeatedly take the smallest O_INS (participants are few).
    while head >= 0:
        best = head
        prev_best = -1
        prev = head
        o = ords[head, O_TMP]
        while o >= 0:
            if ords[o, O_INS] < ords[best, O_INS]:
                best = o
                prev_best = prev
            prev = o
            o = ords[o, O_TMP]
        if prev_best < 0:
            head = ords[best, O_TMP]
        else:
            ords[prev_best, O_TMP] = ords[best, O_TMP]
        _emit(
            st, buf, K_CANCEL, ts, ords[best, O_OID], ords[best, O_OWN], ords[best, O_PX],
            ords[best, O_VIS] + ords[best, O_HID], 0, RS_CLEARED, 0, 0, 0, 0,
        )  # fmt: skip
        _free_order(st, ords, best)


@_hot("i8(A1, A2, A2, A2, A2, i8)")
def cancel_resting(st, ords, lvls, book, omap, oid):
    """cancel()/expire() of a resting order: unlink it; S_TOP0.. = owner, price, leaves. 1 if it was resting."""
    o = map_get(st, omap, oid)
    if o < 0:
        return 0
    _unlink(st, ords, lvls, book, omap, o)
    st[S_TOP0] = ords[o, O_OWN]
    st[S_TOP0 + 1] = ords[o, O_PX]
    st[S_TOP0 + 2] = ords[o, O_VIS] + ords[o, O_HID]
    _free_order(st, ords, o)
    return 1


# -------------------------------------------------------------- capacity


# Plain numpy (run by the Python wrapper; compiled_strategy compiles them for its own loop).
def init_state(st, cap):
    """The state of an empty engine whose pools have ``cap`` rows (a power of two; the id map
    ``2 * cap`` slots); the caller then links the pools' free lists."""
    bits = 0
    while (1 << bits) < 2 * cap:
        bits += 1
    st[S_MAPSHIFT] = 64 - bits
    st[S_FREE_O] = -1
    st[S_FREE_L] = -1
    st[S_BESTV] = -1
    st[S_BESTV + 1] = -1
    st[S_WORSTV] = -1
    st[S_WORSTV + 1] = -1
    st[S_STOP_BUY] = I64_MAX
    st[S_STOP_SELL] = I64_MIN


def new_book_rows(width):
    """An empty level table (``width`` a power of two): per side a row of chain heads (-1),
    a row of bucket keys (``EMPTY``) and a row of bucket occupancy bits (0)."""
    book = np.full((6, width), -1, np.int64)
    book[2:4, :] = EMPTY
    book[4:, :] = 0
    return book


@_lazy
def rebuild_levels_table(st, lvls, book):
    """Fill ``book``, an empty level table (:func:`new_book_rows`), with every live level (the
    chains and bucket bits rebuilt); return it."""
    width = book.shape[1]
    for r in range(2):
        v = st[S_BESTV + r]
        while v >= 0:
            slot = lvls[v, L_PX] & (width - 1)
            lvls[v, L_NEXT] = book[r, slot]
            book[r, slot] = v
            _bucket_set(book, r, lvls[v, L_PX])
            v = lvls[v, L_WORSE]
    return book


@_hot("i8(A1, A2, A2, A2, A2)")
def grow_mask(st, ords, lvls, book, omap):
    """Arrays too small for one more operation (bits G_*)."""
    m = 0
    if st[S_NFREE_O] < 1:
        m |= G_ORDERS
    if st[S_NFREE_L] < 1:
        m |= G_LEVELS
    if 2 * (st[S_MAPN] + 1) > omap.shape[0]:
        m |= G_MAP
    return m


@_hot_inline("i8(A1, A2)")
def events_room(st, omap):
    """How many more events the arrays surely hold, each taking at most one order row, one
    level row and one map entry: 0 when the next one may not fit (:func:`grow_mask`)."""
    n = st[S_NFREE_O]
    if st[S_NFREE_L] < n:
        n = st[S_NFREE_L]
    m = (omap.shape[0] >> 1) - st[S_MAPN]
    return m if m < n else n


@_hot("i8(A1, i8)")
def buf_need(st, qin):
    """Buffer rows one operation with incoming quantity ``qin`` may write.

    Every fill or STP decrement consumes at least one lot of the incoming
    order, and except for the last one empties a visible slice (an order
    leaves or an iceberg refreshes, which consumes hidden quantity); a
    CANCEL_OLDEST removes a participant order. Each writes <= 3 rows.
    """
    steps = st[S_NORD] + st[S_HIDQ] + 1
    if qin < steps:
        steps = qin
    if steps < 0:
        steps = 0
    return 3 * steps + 3 * st[S_NPART] + 16


@_hot("i8(A1, A2, A2, A2, A2, A2, i8)")
def room(st, ords, lvls, book, omap, buf, qin):
    """0 if one operation with incoming quantity ``qin`` fits the arrays, else why not (G_* bits, G_BUF)."""
    m = grow_mask(st, ords, lvls, book, omap)
    if st[S_NBUF] + buf_need(st, qin) > buf.shape[0]:
        m |= G_BUF
    return m


@_lazy
def recount_hidden(st, ords, lvls, book):
    """Set S_HIDQ to the exact resting hidden quantity (it is otherwise an upper bound)."""
    tot = 0
    for r in range(2):
        v = st[S_BESTV + r]
        while v >= 0:
            o = lvls[v, L_HEAD]
            while o >= 0:
                tot += ords[o, O_HID]
                o = ords[o, O_NEXT]
            v = lvls[v, L_WORSE]
    st[S_HIDQ] = tot


# ------------------------------------------------------------ wrapper entry points
# One compiled call per Python-level operation: the capacity check (``room``) comes
# first and returns NEED_ROOM without side effects; the wrapper then grows or
# flushes and calls again.

NEED_ROOM = -(1 << 62)


@_hot("i8(i8)")
def _clamp_qin(q):
    return 1 if q < 1 else (1 << 40 if q > 1 << 40 else q)


# Operations of x_op (one compiled entry point for them all: each kernel compiled apart
# costs ~0.25 s of a cold start, whatever its size).
X_ADD = 1  # a oid, b side, c px, d qty, e owner -> 0 ignored (qty <= 0), 1 duplicate id, 2 applied
X_REMOVE = 2  # a oid, b qty
X_MARKET = 3  # a side, b qty, c owner
X_EXECUTE = 4  # a oid, b qty, c px, d ahead (0/1)
X_MODIFY = 5  # a oid, b px, c qty, d match (0/1)
X_REPRICE = 6  # a oid, b px, c leaves
X_TRADE_PRINT = 7  # a px, b qty, c aggressor side
X_CLEAR = 8


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, i8, i8, i8)")
def x_op(st, ords, lvls, book, omap, buf, op, ts, a, b, c, d, e):
    """The wrapper's order-entry and background operations (``X_*``), after making sure of the
    room one operation may need (NEED_ROOM, without side effects, when it is short)."""
    if op == X_ADD:
        if d <= 0:
            return 0
        if map_get(st, omap, a) >= 0:
            st[S_DUP] += 1
            return 1
        q = _clamp_qin(d)
    elif op == X_MARKET:
        q = _clamp_qin(b)
    elif op == X_MODIFY or op == X_REPRICE:
        q = _clamp_qin(c)
    else:
        q = 1
    if room(st, ords, lvls, book, omap, buf, q) != 0:
        return NEED_ROOM
    if op == X_ADD:
        add(st, ords, lvls, book, omap, buf, ts, a, b, c, d, e)
        return 2
    if op == X_REMOVE:
        return remove(st, ords, lvls, book, omap, buf, ts, a, b)
    if op == X_MARKET:
        return market(st, ords, lvls, book, omap, buf, ts, a, b, c)
    if op == X_EXECUTE:
        return execute(st, ords, lvls, book, omap, buf, ts, a, b, c, d != 0)
    if op == X_MODIFY:
        return modify(st, ords, lvls, book, omap, buf, ts, a, b, c, d != 0)
    if op == X_REPRICE:
        return reprice(st, ords, lvls, book, omap, buf, ts, a, b, c)
    if op == X_TRADE_PRINT:
        trade_print(st, buf, ts, a, b, c)
        return 0
    clear(st, ords, lvls, book, omap, buf, ts)
    return 0


@_nrt("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8, i8)")
def x_process(st, ords, lvls, book, omap, buf, ts, oid, owner, side, qty, px, otype, tif, disp, exp, post):
    if room(st, ords, lvls, book, omap, buf, _clamp_qin(qty)) != 0:
        return NEED_ROOM
    return process(st, ords, lvls, book, omap, buf, ts, oid, owner, side, qty, px, otype, tif, disp, exp, post)


# ------------------------------------------------------------------- the hot loop


@_hot_inline("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8)")
def _sweep(st, ords, lvls, book, omap, buf, ts, side, q, limit):
    """Trade ``q`` of a background order on ``side`` against the opposite side, up to the price
    ``limit`` (0: none), on a book without participant orders or icebergs; returns what is left.
    Reference ``_match`` reduced to its sweep: no reports, no STP, no iceberg refresh."""
    r = 1 - _row(side)  # the opposite row
    while q > 0:
        best = st[S_BB + r]
        if best == 0 or (limit != 0 and side * (best - limit) > 0):
            break
        v = st[S_BESTV + r]
        _assume(v >= 0)
        while q > 0 and lvls[v, L_CNT] > 0:
            o = lvls[v, L_HEAD]
            _assume(o >= 0)
            vis = ords[o, O_VIS]
            f = _fill_visible(st, ords, lvls, v, o, vis, q, best)
            q -= f
            vis -= f
            if vis == 0:
                _q_remove(ords, lvls, v, o)
                _map_del_at(st, omap, idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], ords[o, O_OID]))
                st[S_NORD] -= 1
            _trade(st, buf, ts, best, f, side)
            if vis == 0:
                _free_order(st, ords, o)
        if lvls[v, L_CNT] == 0:
            _drop_level(st, lvls, book, v)
    return q


@_hot("i8(A1, A2, A2, A2, A2, A2, i8, i8, i8, i8)")
def sweep_to_limit(st, ords, lvls, book, omap, buf, ts, side, q, limit):
    """:func:`_sweep` as a call: for the loop's crossing limit adds (a few % of adds; the
    market orders' sweep is inlined), which keeps the loop's compile shorter."""
    return _sweep(st, ords, lvls, book, omap, buf, ts, side, q, limit)


@_hot_inline("void(A1, A2, A2, A2, A2, i8, i8, i8, i8)")
def _take_out(st, ords, lvls, book, omap, h, o, v, vis):
    """Take background order ``o`` (id-map slot ``h``, level ``v``, visible ``vis``) out of
    the book and the id map; the caller frees its row."""
    _q_remove(ords, lvls, v, o)
    if lvls[v, L_CNT] == 0:
        _drop_level(st, lvls, book, v)
    else:
        lvls[v, L_QTY] -= vis
    _map_del_at(st, omap, h)
    st[S_NORD] -= 1


@_hot_inline("b1(A1, A2, A2, i8, i8, i8, i8)")
def _top_changed(st, lvls, book, b0, b1, b2, b3):
    nb = st[S_NLV]
    na = st[S_NLV + 1]
    bb = st[S_BB]
    ba = st[S_BA]
    bq = lvls[st[S_BESTV], L_QTY] if bb != 0 and nb > 0 else 0
    aq = lvls[st[S_BESTV + 1], L_QTY] if ba != 0 and na > 0 else 0
    return bb != b0 or bq != b1 or ba != b2 or aq != b3


@_hot_inline("i8(A1, A2, A2)")
def top_bq(st, lvls, book):
    nb = st[S_NLV]
    return lvls[st[S_BESTV], L_QTY] if st[S_BB] != 0 and nb > 0 else 0


@_hot_inline("i8(A1, A2, A2)")
def top_aq(st, lvls, book):
    na = st[S_NLV + 1]
    return lvls[st[S_BESTV + 1], L_QTY] if st[S_BA] != 0 and na > 0 else 0


@njit(nogil=True, _nrt=False, inline="always")
def _window_end(st, buf, mode, code):
    """:func:`apply_events`' result at ``ST_DONE`` / ``ST_BOUND``: with ``M_TAKE_TOP`` and one
    buffered row, a ``K_TOP`` row, the row taken out of the buffer."""
    if mode & M_TAKE_TOP and st[S_NBUF] == 1 and buf[0, R_KIND] == K_TOP:
        st[S_NBUF] = 0
        return code | F_TOP_TAKEN, buf[0, R_TS], buf[0, R_OID], buf[0, R_OWN], buf[0, R_PX], buf[0, R_QTY]
    return code, 0, 0, 0, 0, 0


# One signature (a compile of this function is ~1.3 s): the wrapper's entry point also takes a
# read-only array (a memory-mapped feed cache) for it, which the loop only reads.
@_hot("T6(A1, A2, A2, A2, A2, A2, EV, i8, i8, i8, i8, i8)")
def apply_events(st, ords, lvls, book, omap, buf, ev, start, stop, mode, bound, lookahead):
    """Apply MD_DTYPE events ``start .. stop-1`` (reference: ``apply_batch``).

    Returns ``(code, ts, bid_px, bid_qty, ask_px, ask_qty)``: ``code`` is
    ``index << 4 | status`` (``ST_*``). With ``M_TAKE_TOP``, a window that ends
    ``ST_DONE`` / ``ST_BOUND`` with one row in the buffer, a ``K_TOP`` row, takes
    it out and returns it (``code`` gets ``F_TOP_TAKEN``): a Python caller woken
    on every top change gets it without reading the buffer (the common window
    of a watched book); otherwise the other five are 0. With ``M_WATCH`` a top change
    either returns ``ST_TOP`` after the event, or with ``M_RECORD_TOP`` writes a
    ``K_TOP`` row and goes on. With ``M_BOUND`` the loop stops before the
    first event whose ts is past ``st[S_BOUND]``; the first event that writes
    a row tightens the bound to its ts + ``st[S_LOOKAHEAD]`` (the soonest its
    callbacks can be delivered). ``bound >= 0`` arms a new window (``S_BOUND`` =
    ``bound``, ``S_LOOKAHEAD`` = ``lookahead``, no callback yet); ``-1`` goes on
    with the armed one (a call again after ``ST_GROW`` / ``ST_FLUSH``).
    """
    if start < 0 or stop > ev.shape[0]:
        return (start << 4) | ST_BADACTION, 0, 0, 0, 0, 0  # not an index range of ``ev``: the wrapper says so
    # The engine's own arrays (see the module docstring): with these facts LLVM computes row
    # addresses by shifts, without the multiplies by a width loaded from memory.
    _assume(ords.shape[1] == NF)
    _assume(lvls.shape[1] == NL)
    _assume(omap.shape[1] == 2)
    _assume(book.shape[0] == 6)
    _assume(book.shape[1] > 0)
    _assume(omap.shape[0] > 0)
    _assume(buf.shape[1] == NR)
    if bound >= 0:
        st[S_BOUND] = bound
        st[S_LOOKAHEAD] = lookahead
        st[S_FIRSTCB] = 0
    watch = (mode & M_WATCH) != 0
    record_top = (mode & M_RECORD_TOP) != 0
    bounded = (mode & M_BOUND) != 0
    cap_buf = buf.shape[0]
    budget = 0
    b0 = 0
    b1 = 0
    b2 = 0
    b3 = 0
    for i in range(start, stop):
        _assume(i >= 0)
        # The hardware prefetcher leaves the event stream's lines late (measured ~6 % per event).
        _prefetch(ev, min(i + 32, stop - 1))
        e = ev[i]
        ts = e.ts
        if bounded and ts > st[S_BOUND]:
            return _window_end(st, buf, mode, (i << 4) | ST_BOUND)
        a = np.int64(e.action)
        q = e.qty
        # Capacity: an event takes at most one order row, one level row and one map entry, so
        # ``budget`` more events surely fit; when they are used up the room is counted again,
        # and an event that may not fit returns ST_GROW (the event a check per event would stop at).
        if budget == 0:
            budget = events_room(st, omap)
            if budget <= 0:
                st[S_RET] = grow_mask(st, ords, lvls, book, omap)
                return (i << 4) | ST_GROW, 0, 0, 0, 0, 0
        budget -= 1
        nbuf0 = st[S_NBUF]
        qin = q if (a == A_ADD or a == A_MARKET or a == A_MODIFY) else 1
        if qin < 1:
            qin = 1
        elif qin > 1 << 40:
            qin = 1 << 40
        if nbuf0 + 3 * (st[S_NPART] + qin) + 64 > cap_buf:  # an upper bound of buf_need(qin)
            need = buf_need(st, qin)
            if nbuf0 + need > cap_buf:
                st[S_RET] = need
                return (i << 4) | ST_FLUSH, 0, 0, 0, 0, 0
        if watch:
            nb = st[S_NLV]
            na = st[S_NLV + 1]
            b0 = st[S_BB]
            b1 = lvls[st[S_BESTV], L_QTY] if b0 != 0 and nb > 0 else 0
            b2 = st[S_BA]
            b3 = lvls[st[S_BESTV + 1], L_QTY] if b2 != 0 and na > 0 else 0
        if a == A_ADD:
            oid = np.int64(e.order_id)
            side = np.int64(e.side)
            px = e.price
            # One probe: the id's slot, or the empty slot where it goes.
            h = idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], oid)
            k = omap[h, 0]
            c = 0 if st[S_REST] != 0 else _crosses(st, side, px)
            if q > 0 and k == EMPTY and (c == 0 or (st[S_NPART] == 0 and st[S_HIDQ] == 0)):
                if c != 0:
                    # A crossing limit on a book without participants or icebergs: reference
                    # `add` - the sweep up to its price, then the rest rests. The sweep's map
                    # deletions may move the free slot for the id.
                    q = sweep_to_limit(st, ords, lvls, book, omap, buf, ts, side, q, px)
                    h = idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], oid)
                if q > 0:
                    # The add rests (the hot path; crossing too with S_REST): reference `_insert` inlined.
                    o = st[S_FREE_O]
                    _assume(o >= 0)
                    st[S_FREE_O] = ords[o, O_NEXT]
                    st[S_NFREE_O] -= 1
                    ords[o, O_PX] = px
                    ords[o, O_VIS] = q
                    ords[o, O_HID] = 0
                    ords[o, O_SIDE] = side
                    ords[o, O_OWN] = 0
                    ords[o, O_OID] = oid
                    ords[o, O_DISP] = 0
                    ords[o, O_TIF] = TIF_GTC
                    ords[o, O_EXP] = 0
                    ords[o, O_POST] = 0
                    st[S_RID] += 1
                    ords[o, O_RID] = st[S_RID]
                    st[S_INS] += 1
                    ords[o, O_INS] = st[S_INS]
                    v = _level_for_insert(st, lvls, book, side, px)
                    _assume(v >= 0)
                    _q_append(ords, lvls, v, o)
                    lvls[v, L_QTY] += q
                    ords[o, O_LVL] = v
                    _raise_best(st, side, px)
                    omap[h, 0] = oid
                    omap[h, 1] = o
                    st[S_MAPN] += 1
                    st[S_NORD] += 1
            else:
                add(st, ords, lvls, book, omap, buf, ts, oid, side, px, q, 0)
        elif a == A_CANCEL:
            oid = np.int64(e.order_id)
            h = idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], oid)
            k = omap[h, 0]
            if k == EMPTY:
                st[S_UNKNOWN] += 1
            else:
                o = omap[h, 1]
                _assume(o >= 0)
                if ords[o, O_OWN] != 0 or ords[o, O_HID] != 0:
                    remove(st, ords, lvls, book, omap, buf, ts, oid, q)  # reports or iceberg: general path
                else:
                    # Background plain order (reference: the `_apply` cancel fast path).
                    vis = ords[o, O_VIS]
                    v = ords[o, O_LVL]
                    _assume(v >= 0)
                    if 0 < q < vis:
                        ords[o, O_VIS] = vis - q
                        lvls[v, L_QTY] -= q
                    else:
                        _take_out(st, ords, lvls, book, omap, h, o, v, vis)
                        _free_order(st, ords, o)
        elif a == A_MARKET:
            side = np.int64(e.side)
            if q > 0 and st[S_NPART] == 0 and st[S_HIDQ] == 0:
                # Background market order on a book without participants or icebergs (the
                # common case): no reports, no STP, no iceberg refresh - reference `_match`
                # reduced to the sweep.
                _sweep(st, ords, lvls, book, omap, buf, ts, side, q, 0)
            else:
                market(st, ords, lvls, book, omap, buf, ts, side, q, 0)
        elif a == A_MODIFY:
            modify(st, ords, lvls, book, omap, buf, ts, np.int64(e.order_id), e.price, q, st[S_REST] == 0)
        elif a == A_EXECUTE:
            if st[S_NPART] != 0 and st[S_NSTOPS] != 0:
                return (i << 4) | ST_PYEVENT, 0, 0, 0, 0, 0  # participants ahead may trigger stops between fills
            oid = np.int64(e.order_id)
            h = idmap.slot(omap, omap.shape[0] - 1, st[S_MAPSHIFT], oid)
            if omap[h, 0] == EMPTY:
                st[S_UNKNOWN] += 1
            elif st[S_NPART] != 0 or ords[omap[h, 1], O_OWN] != 0 or ords[omap[h, 1], O_HID] != 0:
                execute(st, ords, lvls, book, omap, buf, ts, oid, q, e.price, True)  # general path
            else:
                # Background plain order, no participant on the book: reference `execute`
                # reduced to the fill (no participants ahead, no reports, no iceberg refresh).
                o = omap[h, 1]
                if q > 0:
                    p = e.price if e.price != 0 else ords[o, O_PX]
                    v = ords[o, O_LVL]
                    vis = ords[o, O_VIS]
                    f = _fill_visible(st, ords, lvls, v, o, vis, q, p)
                    if f == vis:  # filled: its quantity is off the level already
                        _take_out(st, ords, lvls, book, omap, h, o, v, 0)
                    _trade(st, buf, ts, p, f, -ords[o, O_SIDE])
                    if f == vis:
                        _free_order(st, ords, o)
        elif a == A_TRADE:
            trade_print(st, buf, ts, e.price, q, np.int64(e.side))
        elif a == A_CLEAR:
            clear(st, ords, lvls, book, omap, buf, ts)
        else:
            return (i << 4) | ST_BADACTION, 0, 0, 0, 0, 0
        if st[S_NSTOPS] != 0:
            last = st[S_LAST]
            if last != 0 and (last >= st[S_STOP_BUY] or last <= st[S_STOP_SELL]):
                st[S_TOP0] = b0
                st[S_TOP0 + 1] = b1
                st[S_TOP0 + 2] = b2
                st[S_TOP0 + 3] = b3
                return ((i + 1) << 4) | ST_STOPS, 0, 0, 0, 0, 0
        if watch and _top_changed(st, lvls, book, b0, b1, b2, b3):
            if not record_top:
                return ((i + 1) << 4) | ST_TOP, 0, 0, 0, 0, 0
            _put(
                st, buf, K_TOP, ts, st[S_BB], top_bq(st, lvls, book), st[S_BA], top_aq(st, lvls, book), 0, 0, i, 0, 0, 0
            )
        if bounded and st[S_NBUF] != nbuf0 and st[S_FIRSTCB] == 0:
            st[S_FIRSTCB] = 1
            t = ts + st[S_LOOKAHEAD]
            if t < st[S_BOUND]:
                st[S_BOUND] = t
    return _window_end(st, buf, mode, (stop << 4) | ST_DONE)


# ------------------------------------------------------------------- queries


@_hot("i8(A1, A2, A2, i8, i8, A2)")
def depth_into(st, lvls, book, side, levels, out):
    """Write up to ``levels`` (price, qty) of one side, best first, into ``out``; return the count."""
    k = 0
    v = st[S_BESTV + _row(side)]
    while v >= 0 and k < levels:
        out[k, 0] = lvls[v, L_PX]
        out[k, 1] = lvls[v, L_QTY]
        k += 1
        v = lvls[v, L_WORSE]
    return k


@_hot("i8(A1, A2, A2, A2, i8)")
def queue_ahead(st, ords, lvls, omap, oid):
    o = map_get(st, omap, oid)
    if o < 0:
        return -1
    ahead = 0
    p = lvls[ords[o, O_LVL], L_HEAD]
    while p != o:
        ahead += ords[p, O_VIS]
        p = ords[p, O_NEXT]
    return ahead


@_hot("i8(A1, A2, i8)")
def order_row(st, omap, oid):
    return map_get(st, omap, oid)


@_lazy
def level_ids(st, ords, lvls, book, side, px):
    v = level_of(st, lvls, book, side, px)
    if v < 0:
        return np.empty(0, np.int64)
    out = np.empty(lvls[v, L_CNT], np.int64)
    o = lvls[v, L_HEAD]
    k = 0
    while o >= 0:
        out[k] = ords[o, O_OID]
        k += 1
        o = ords[o, O_NEXT]
    return out


@_lazy
def check_integrity(st, ords, lvls, book, omap):
    """0 if every invariant holds, else a code naming the first broken one."""
    n_orders = 0
    npart = 0
    for r in range(2):
        side = 1 if r == 0 else -1
        n = st[S_NLV + r]
        j = 0
        prev_v = -1
        v = st[S_BESTV + r]
        while v >= 0:
            if j >= n:
                return 15  # more levels linked than counted (or a cycle)
            if lvls[v, L_SIDE] != side:
                return 1
            if lvls[v, L_BETTER] != prev_v:
                return 16  # better/worse links disagree
            if prev_v >= 0 and _key(side, lvls[prev_v, L_PX]) <= _key(side, lvls[v, L_PX]):
                return 2  # levels not in price order
            if _lookup(lvls, book, r, lvls[v, L_PX]) != v:
                return 17  # not found through its table slot
            bs = _bucket_slot(book, r, lvls[v, L_PX] >> 6)
            if book[r + 2, bs] != lvls[v, L_PX] >> 6 or (book[r + 4, bs] >> (lvls[v, L_PX] & 63)) & 1 == 0:
                return 18  # its bucket bit is not set
            if lvls[v, L_CNT] <= 0:
                return 3  # empty level
            agg = 0
            cnt = 0
            o = lvls[v, L_HEAD]
            prev = -1
            while o >= 0:
                if ords[o, O_PREV] != prev:
                    return 4
                if ords[o, O_LVL] != v or ords[o, O_PX] != lvls[v, L_PX] or ords[o, O_SIDE] != side:
                    return 5
                if ords[o, O_VIS] <= 0 or ords[o, O_HID] < 0:
                    return 6
                if map_get(st, omap, ords[o, O_OID]) != o:
                    return 7
                agg += ords[o, O_VIS]
                cnt += 1
                if ords[o, O_OWN] != 0:
                    npart += 1
                prev = o
                o = ords[o, O_NEXT]
            if lvls[v, L_TAIL] != prev:
                return 8
            if agg != lvls[v, L_QTY] or cnt != lvls[v, L_CNT]:
                return 9
            n_orders += cnt
            prev_v = v
            v = lvls[v, L_WORSE]
            j += 1
        if j != n or st[S_WORSTV + r] != prev_v:
            return 15
        nbits = 0
        for i in range(book.shape[1]):
            bits = book[r + 4, i]
            if (book[r + 2, i] == EMPTY) != (bits == 0):
                return 18  # a bucket without bits, or bits without a bucket
            while bits != 0:
                bits &= bits - 1
                nbits += 1
        if nbits != n:
            return 18
        best = lvls[st[S_BESTV + r], L_PX] if n else 0
        if st[S_BB + r] != best or (n == 0) != (st[S_BESTV + r] < 0):
            return 10
    if n_orders != st[S_NORD] or n_orders != st[S_MAPN] or npart != st[S_NPART]:
        return 11
    if st[S_REST] == 0 and st[S_BB] != 0 and st[S_BA] != 0 and st[S_BB] >= st[S_BA]:
        return 12  # crossed (recorded data may legitimately cross: S_REST)
    free = 0
    o = st[S_FREE_O]
    while o >= 0 and free <= ords.shape[0]:
        free += 1
        o = ords[o, O_NEXT]
    if free != st[S_NFREE_O] or free + n_orders != ords.shape[0]:
        return 13
    free = 0
    v = st[S_FREE_L]
    while v >= 0 and free <= lvls.shape[0]:
        free += 1
        v = lvls[v, L_NEXT]
    if free != st[S_NFREE_L] or free + st[S_NLV] + st[S_NLV + 1] != lvls.shape[0]:
        return 14
    return 0
