"""numba kernel of the ITCH 5.0 reader: frames, decodes and keeps the live-order map in one pass.

:class:`~adapters.feeds.itch.ItchReader` uses it by default (``fast=True``);
the numpy/Python decoder in :mod:`adapters.feeds.itch` stays as the reference
(``fast=False``) and ``tests/test_itch_fast.py`` checks that both give
identical events, stats, findings and side tables.

:func:`decode` walks the ``[u16 length][message]`` frames of a byte block
(a numpy ``uint8`` view of the read buffer, no copy) and, per message:

* checks length against type (``malformed`` findings: zero length, unknown
  type, wrong length);
* non-book messages: counts the type; the ones whose content the reader keeps
  (``collect`` table: R, S, H, Y, h, V, W, B, or every non-book message when
  the reader has an ``on_message`` callback) are listed as (record, frame
  offset) for Python to decode; an R message also updates the symbols
  filter (``keep_since``, first R record) right here, since the filter of
  the very next message may depend on it;
* book messages A F E C X D U P Q: symbols filter, side / printable checks,
  price in ticks (off-tick finding), the live-order map (an open-addressing
  hash table in an int64 array, see below) and the canonical events, written
  straight into the caller's MD_DTYPE output array.

Findings are written as rows of ``finds`` (record, code, type byte, frame
offset, three values) for Python to word and count, in record order; with
``strict`` the kernel stops at the first one. It also stops, to let the
caller act and then call again from where it stopped (all state is in
``st``), when the output holds ``len(out) - 1`` events (a U needs two slots),
when the admin or findings lists are full, or when the order map needs to
grow; it never allocates.

The order map ``table`` has ``cap + 1`` rows of ``[key, price, remaining,
side]``; ``cap`` is a power of two, probed linearly from a Fibonacci hash,
deletions shift back (no tombstones), load kept <= 1/2. Row ``cap`` holds the
one key that cannot be stored in the table, ``EMPTY`` (reference ``2**63``),
with column 0 as its "used" flag. Keys are the order references as int64
(two's complement for references >= 2**63, as the reference path has them).
"""

from __future__ import annotations

import numpy as np
from numba import njit

import kernel.jit  # noqa: F401  (numba cache location; before any @njit(cache=True))
from kernel import idmap
from kernel.events import ADD, CANCEL, EXECUTE, F_LAST, TRADE

# Flags, as in adapters.feeds.itch (repeated here: that module imports this one).
F_EXEC_PRICE = 0x04
F_NON_PRINTABLE = 0x08
F_CROSS = 0x10
F_UNKNOWN_ORDER = 0x20

EMPTY = idmap.EMPTY
NEVER = 9223372036854775807

# --- state scalars (st) ------------------------------------------------------------------------
P_POS = 0  # next frame offset in the current buffer
P_REC = 1  # record index of that frame
P_NOUT = 2  # events in the output array
P_NADMIN = 3  # rows in admin
P_NFIND = 4  # rows in finds
P_MAPN = 5  # live orders in the map
P_SHIFT = 6  # 64 - log2(map capacity)
P_FIRST_R = 7  # record index of the first R message (NEVER: none yet)
P_FILTERED = 8
P_UNKNOWN = 9
P_DIV = 10  # raw ITCH price units per tick
P_STRICT = 11
P_FILTER = 12  # 1: a symbols filter is active
P_DAY_NS = 13  # epoch ns of the session's midnight
NST = 16

# --- return codes ------------------------------------------------------------------------------
DONE = 0  # every whole frame up to ``end`` is done; st[P_POS] is where a partial frame starts
OUT_FULL = 1  # the output holds >= len(out) - 1 events
FLUSH = 2  # admin or finds is full
GROW = 3  # the order map needs a bigger table
STOP = 4  # strict finding, or a message the symbols filter cannot judge: the caller raises

# --- finding codes (finds rows: rec, code, type byte or -1, frame offset, v1, v2, v3) ------------
FD_ZERO_LENGTH = 1
FD_UNKNOWN_TYPE = 2
FD_BAD_LENGTH = 3  # v1 = length
FD_BAD_SIDE = 4  # v1 = the byte
FD_BAD_PRINTABLE = 5  # v1 = the byte
FD_OFF_TICK = 6  # v1 = raw price
FD_DUPLICATE = 7  # v1 = reference
FD_OVERFILL = 8  # v1 = shares, v2 = reference, v3 = shares it had left
FD_NO_DIRECTORY = 9  # a book message the symbols filter drops before any R message
NFCOL = 7
FINDS_SLACK = 3  # a message yields at most three findings (bad side + off tick, or off tick + duplicate)

# --- per type byte tables ----------------------------------------------------------------------
K_ADD, K_TRADE, K_CROSS, K_EXEC, K_CANCEL, K_DELETE, K_EXEC_PX, K_REPLACE = range(1, 9)
_LENGTHS = {
    "S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35, "h": 21, "A": 36, "F": 40,
    "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44, "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48,
}  # fmt: skip
LEN = np.full(256, -1, np.int64)
for _t, _n in _LENGTHS.items():
    LEN[ord(_t)] = _n
KIND = np.zeros(256, np.int64)
for _c, _k in (("A", 1), ("F", 1), ("P", 2), ("Q", 3), ("E", 4), ("X", 5), ("D", 6), ("C", 7), ("U", 8)):
    KIND[ord(_c)] = _k
_R = ord("R")

INITIAL_MAP_CAPACITY = 1 << 16


def new_state(day_ns: int, div: int, strict: bool, filtering: bool) -> np.ndarray:
    """A zeroed state vector for a fresh pass over a file."""
    st = np.zeros(NST, np.int64)
    st[P_FIRST_R] = NEVER
    st[P_DIV] = div
    st[P_STRICT] = int(strict)
    st[P_FILTER] = int(filtering)
    st[P_DAY_NS] = day_ns
    return st


def new_table(st: np.ndarray, capacity: int = INITIAL_MAP_CAPACITY) -> np.ndarray:
    """An empty order map of ``capacity`` slots (a power of two) plus the EMPTY-key row; sets the shift."""
    if capacity < 2 or capacity & (capacity - 1):
        raise ValueError("map capacity must be a power of two >= 2")
    table = np.zeros((capacity + 1, 4), np.int64)
    table[:capacity, 0] = EMPTY
    st[P_SHIFT] = 64 - (capacity.bit_length() - 1)
    return table


def grow_table(st: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The order map moved into a table of twice the capacity."""
    cap = table.shape[0] - 1
    new = new_table(st, cap * 2)
    rehash(st, table, new)
    return new


# --- the order map -----------------------------------------------------------------------------


# The probe slots are rows 0 .. cap-1 (kernel.idmap); row cap holds the key EMPTY (-2**63),
# a valid ITCH reference, with column 0 set to 1 while it is in the map.


@njit(cache=True, nogil=True)
def map_find(st, table, key):
    """Row of ``key`` in ``table``, or -1."""
    cap = table.shape[0] - 1
    if key == EMPTY:
        return cap if table[cap, 0] != 0 else -1
    i = idmap.slot(table, cap - 1, st[P_SHIFT], key)
    return i if table[i, 0] == key else -1


@njit(cache=True, nogil=True)
def map_put(st, table, key, px, qty, side):
    """Insert or overwrite ``key`` (the caller keeps the load <= 1/2)."""
    cap = table.shape[0] - 1
    if key == EMPTY:
        if table[cap, 0] == 0:
            st[P_MAPN] += 1
        table[cap, 0] = 1
        i = cap
    else:
        i = idmap.slot(table, cap - 1, st[P_SHIFT], key)
        if table[i, 0] == EMPTY:
            table[i, 0] = key
            st[P_MAPN] += 1
    table[i, 1] = px
    table[i, 2] = qty
    table[i, 3] = side


@njit(cache=True, nogil=True)
def map_remove(st, table, i):
    """Remove the entry in row ``i`` (from :func:`map_find`), shifting its cluster back."""
    st[P_MAPN] -= 1
    cap = table.shape[0] - 1
    if i == cap:
        table[cap, 0] = 0
        return
    idmap.delete_at(table, cap - 1, st[P_SHIFT], i)


@njit(cache=True, nogil=True)
def rehash(st, old, new):
    """Move every entry of ``old`` into the empty ``new`` (whose shift is already in ``st``)."""
    st[P_MAPN] = 0
    cap = old.shape[0] - 1
    for i in range(cap):
        k = old[i, 0]
        if k != EMPTY:
            map_put(st, new, k, old[i, 1], old[i, 2], old[i, 3])
    if old[cap, 0] != 0:
        map_put(st, new, EMPTY, old[cap, 1], old[cap, 2], old[cap, 3])


# --- field readers (big endian) ----------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def _u16(b, p):
    return (np.int64(b[p]) << 8) | np.int64(b[p + 1])


@njit(cache=True, nogil=True, inline="always")
def _u32(b, p):
    return (np.int64(b[p]) << 24) | (np.int64(b[p + 1]) << 16) | (np.int64(b[p + 2]) << 8) | np.int64(b[p + 3])


@njit(cache=True, nogil=True, inline="always")
def _u48(b, p):
    return (_u16(b, p) << 32) | _u32(b, p + 2)


@njit(cache=True, nogil=True, inline="always")
def _u64(b, p):
    """Eight bytes as int64 (two's complement above 2**63 - 1)."""
    return (_u32(b, p) << 32) | _u32(b, p + 4)


@njit(cache=True, nogil=True, inline="always")
def _emit(out, n, ts, oid, px, qty, loc, action, side, flags):
    r = out[n]
    r.ts = ts
    r.order_id = np.uint64(oid)
    r.price = px
    r.qty = qty
    r.instrument = np.uint32(loc)
    r.action = np.uint8(action)
    r.side = np.int8(side)
    r.flags = np.uint8(flags)
    r._pad = np.uint8(0)


@njit(cache=True, nogil=True, inline="always")
def _find(finds, nf, rec, code, t, pos, v1, v2, v3):
    finds[nf, 0] = rec
    finds[nf, 1] = code
    finds[nf, 2] = t
    finds[nf, 3] = pos
    finds[nf, 4] = v1
    finds[nf, 5] = v2
    finds[nf, 6] = v3


# --- the kernel --------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def decode(buf, end, out, st, table, type_counts, keep_since, want, collect, admin, finds):
    """Decode the frames of ``buf[st[P_POS]:end]`` into ``out[st[P_NOUT]:]``; return a status code.

    ``buf`` uint8; ``out`` MD_DTYPE (len >= 2); ``st`` the state vector;
    ``table`` the order map; ``type_counts`` int64[256], updated; ``keep_since``
    int64[65536] (symbols filter: record from which each locate is kept);
    ``want`` the sorted wanted symbols as big-endian int64 of their 8 padded
    bytes; ``collect`` uint8[256] (1: list this non-book type in ``admin``);
    ``admin`` int64 (n, 2) rows (record, frame offset); ``finds`` int64 (n, 7).
    """
    pos = st[P_POS]
    rec = st[P_REC]
    nout = st[P_NOUT]
    nad = st[P_NADMIN]
    nf = st[P_NFIND]
    out_cap = out.shape[0] - 1
    admin_cap = admin.shape[0]
    finds_cap = finds.shape[0] - FINDS_SLACK
    strict = st[P_STRICT] != 0
    filtering = st[P_FILTER] != 0
    div = st[P_DIV]
    day = st[P_DAY_NS]
    nwant = want.shape[0]
    status = DONE
    while pos + 2 <= end:
        mlen = _u16(buf, pos)
        nxt = pos + 2 + mlen
        if nxt > end:
            break
        if nout >= out_cap:
            status = OUT_FULL
            break
        if nad >= admin_cap or nf >= finds_cap:
            status = FLUSH
            break
        if 2 * (st[P_MAPN] + 1) > table.shape[0] - 1:
            status = GROW
            break
        m = pos + 2
        t = np.int64(buf[m]) if mlen > 0 else np.int64(-1)
        if mlen == 0 or LEN[t] != mlen:
            if mlen == 0:
                _find(finds, nf, rec, FD_ZERO_LENGTH, -1, pos, 0, 0, 0)
            elif LEN[t] < 0:
                _find(finds, nf, rec, FD_UNKNOWN_TYPE, t, pos, 0, 0, 0)
            else:
                _find(finds, nf, rec, FD_BAD_LENGTH, t, pos, mlen, 0, 0)
            nf += 1
            if strict:
                status = STOP
                break
            rec += 1
            pos = nxt
            continue
        k = KIND[t]
        if k == 0:  # not an order-book message
            type_counts[t] += 1
            if collect[t]:
                admin[nad, 0] = rec
                admin[nad, 1] = pos
                nad += 1
            if t == _R:
                if rec < st[P_FIRST_R]:
                    st[P_FIRST_R] = rec
                if filtering and nwant:
                    sym = _u64(buf, m + 11)
                    j = np.searchsorted(want, sym)
                    if j < nwant and want[j] == sym:
                        loc = _u16(buf, m + 1)
                        if rec < keep_since[loc]:
                            keep_since[loc] = rec
            rec += 1
            pos = nxt
            continue
        loc = _u16(buf, m + 1)
        if filtering and keep_since[loc] >= rec:
            if st[P_FIRST_R] > rec:
                _find(finds, nf, rec, FD_NO_DIRECTORY, t, pos, 0, 0, 0)
                nf += 1
                status = STOP
                break
            st[P_FILTERED] += 1
            type_counts[t] += 1
            rec += 1
            pos = nxt
            continue
        ts = day + _u48(buf, m + 5)
        bad = False
        side = 0
        flags = 0
        if k == K_ADD or k == K_TRADE:
            sb = buf[m + 19]
            if sb == 66:
                side = 1
            elif sb == 83:
                side = -1
            else:
                _find(finds, nf, rec, FD_BAD_SIDE, t, pos, sb, 0, 0)
                nf += 1
                if strict:
                    status = STOP
                    break
                bad = True
        elif k == K_EXEC_PX:
            pb = buf[m + 31]
            if pb == 78:
                flags = F_NON_PRINTABLE
            elif pb != 89:
                _find(finds, nf, rec, FD_BAD_PRINTABLE, t, pos, pb, 0, 0)
                nf += 1
                if strict:
                    status = STOP
                    break
                bad = True
        price = 0
        if k == K_ADD or k == K_TRADE or k == K_CROSS or k == K_EXEC_PX or k == K_REPLACE:
            if k == K_ADD or k == K_TRADE or k == K_EXEC_PX:
                raw = _u32(buf, m + 32)
            elif k == K_CROSS:
                raw = _u32(buf, m + 27)
            else:
                raw = _u32(buf, m + 31)
            if div != 1:
                price = raw // div
                if raw - price * div != 0:
                    _find(finds, nf, rec, FD_OFF_TICK, t, pos, raw, 0, 0)
                    nf += 1
                    if strict:
                        status = STOP
                        break
            else:
                price = raw
        if bad:
            rec += 1
            pos = nxt
            continue
        type_counts[t] += 1
        if k == K_ADD:
            ref = _u64(buf, m + 11)
            qty = _u32(buf, m + 20)
            if map_find(st, table, ref) >= 0:
                _find(finds, nf, rec, FD_DUPLICATE, t, pos, ref, 0, 0)
                nf += 1
                if strict:
                    status = STOP
                    break
            map_put(st, table, ref, price, qty, side)
            _emit(out, nout, ts, ref, price, qty, loc, ADD, side, F_LAST)
            nout += 1
        elif k == K_TRADE:
            _emit(out, nout, ts, _u64(buf, m + 11), price, _u32(buf, m + 20), loc, TRADE, side, F_LAST)
            nout += 1
        elif k == K_CROSS:
            _emit(out, nout, ts, 0, price, _u64(buf, m + 11), loc, TRADE, 0, F_LAST | F_CROSS)
            nout += 1
        elif k == K_DELETE:
            ref = _u64(buf, m + 11)
            i = map_find(st, table, ref)
            if i < 0:
                st[P_UNKNOWN] += 1
                _emit(out, nout, ts, ref, 0, 0, loc, CANCEL, 0, F_LAST | F_UNKNOWN_ORDER)
            else:
                rp = table[i, 1]
                rs = table[i, 3]
                map_remove(st, table, i)
                _emit(out, nout, ts, ref, rp, 0, loc, CANCEL, rs, F_LAST)
            nout += 1
        elif k == K_REPLACE:
            ref = _u64(buf, m + 11)
            new_ref = _u64(buf, m + 19)
            qty = _u32(buf, m + 27)
            i = map_find(st, table, ref)
            if i < 0:
                st[P_UNKNOWN] += 2
                _emit(out, nout, ts, ref, 0, 0, loc, CANCEL, 0, F_UNKNOWN_ORDER)
                _emit(out, nout + 1, ts, new_ref, price, qty, loc, ADD, 0, F_LAST | F_UNKNOWN_ORDER)
            else:
                rp = table[i, 1]
                rs = table[i, 3]
                map_remove(st, table, i)
                if map_find(st, table, new_ref) >= 0:
                    _find(finds, nf, rec, FD_DUPLICATE, t, pos, new_ref, 0, 0)
                    nf += 1
                    if strict:
                        status = STOP
                        break
                map_put(st, table, new_ref, price, qty, rs)
                _emit(out, nout, ts, ref, rp, 0, loc, CANCEL, rs, 0)
                _emit(out, nout + 1, ts, new_ref, price, qty, loc, ADD, rs, F_LAST)
            nout += 2
        else:  # E, X, C: take shares from a resting order
            ref = _u64(buf, m + 11)
            qty = _u32(buf, m + 19)
            action = CANCEL if k == K_CANCEL else EXECUTE
            flags |= F_LAST | (F_EXEC_PRICE if k == K_EXEC_PX else 0)
            i = map_find(st, table, ref)
            if i < 0:
                st[P_UNKNOWN] += 1
                _emit(out, nout, ts, ref, price, qty, loc, action, 0, flags | F_UNKNOWN_ORDER)
            else:
                rp = table[i, 1]
                rs = table[i, 3]
                had = table[i, 2]
                left = had - qty
                if left > 0:
                    table[i, 2] = left
                else:
                    map_remove(st, table, i)
                    if left < 0:
                        _find(finds, nf, rec, FD_OVERFILL, t, pos, qty, ref, had)
                        nf += 1
                        if strict:
                            status = STOP
                            break
                _emit(out, nout, ts, ref, price if k == K_EXEC_PX else rp, qty, loc, action, rs, flags)
            nout += 1
        rec += 1
        pos = nxt
    st[P_POS] = pos
    st[P_REC] = rec
    st[P_NOUT] = nout
    st[P_NADMIN] = nad
    st[P_NFIND] = nf
    return status
