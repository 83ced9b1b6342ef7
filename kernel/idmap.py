"""The open-addressing id map both compiled hot paths use (numba).

A table is an int64 array whose column 0 holds keys and whose columns 1 to 3
(at least one, at most three) hold the values of a key; ``EMPTY`` (``-2**63``) marks a free slot. Linear
probing from the key's Fibonacci-hashed home slot, backward-shift deletion (no
tombstones), a power-of-two number of probe slots (``mask`` = slots - 1, the
shift = 64 - log2(slots)). Callers keep their own entry count and load factor
(<= 1/2) and decide what a key of ``EMPTY`` means: the matching engine's order
map (:mod:`venues.fast.core`, values: pool row) reserves it; the ITCH parser's
(:mod:`adapters.feeds.itch_fast`, values: price, qty, side) keeps it in an extra
row past the probe slots.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

import kernel.jit  # noqa: F401  (numba cache location; before any @njit(cache=True))

EMPTY = -9223372036854775808
_FIB = np.uint64(0x9E3779B97F4A7C15)
_T = types.int64[:, ::1]
_I = types.int64


# No NRT: the engine's event loop calls these per event (see venues.fast.core's flags).
@njit(_I(_I, _I), cache=True, nogil=True, _nrt=False, inline="always")
def home(key, shift):
    """The slot a key's probe starts at."""
    return np.int64((np.uint64(key) * _FIB) >> np.uint64(shift)) & 0x7FFFFFFFFFFFFFFF


@njit(_I(_T, _I, _I, _I), cache=True, nogil=True, _nrt=False, inline="always")
def slot(table, mask, shift, key):
    """The slot holding ``key``, or the free slot where it would go (``table[slot, 0]`` tells)."""
    i = home(key, shift)
    while True:
        k = table[i, 0]
        if k == key or k == EMPTY:
            return i
        i = (i + 1) & mask


@njit(types.void(_T, _I, _I, _I), cache=True, nogil=True, _nrt=False, inline="always")
def delete_at(table, mask, shift, i):
    """Free slot ``i`` (it holds an entry), moving later entries of its cluster back."""
    ncol = table.shape[1]
    j = i
    while True:
        j = (j + 1) & mask
        k = table[j, 0]
        if k == EMPTY:
            break
        h = home(k, shift)
        # Entry j may stay if its home h lies cyclically in (i, j].
        if i <= j:
            if i < h <= j:
                continue
        elif h > i or h <= j:
            continue
        table[i, 0] = k
        # Values spelled out (a loop over columns measured ~10 % slower in the ITCH parser).
        table[i, 1] = table[j, 1]
        if ncol > 2:
            table[i, 2] = table[j, 2]
            if ncol > 3:
                table[i, 3] = table[j, 3]
        i = j
    table[i, 0] = EMPTY
