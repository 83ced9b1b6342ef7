"""kernel.idmap: the open-addressing id map shared by the engine and the ITCH parser, against a dict."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel import idmap

SLOTS = 16  # probe slots: 15 keys at most, so the table is never full (and clusters are long)
SHIFT = 64 - 4


def _table(ncol: int) -> np.ndarray:
    t = np.zeros((SLOTS, ncol), np.int64)
    t[:, 0] = idmap.EMPTY
    return t


def _put(t: np.ndarray, key: int, values: tuple[int, ...]) -> None:
    i = idmap.slot(t, SLOTS - 1, SHIFT, key)
    t[i, 0] = key
    t[i, 1:] = values


def _get(t: np.ndarray, key: int) -> tuple[int, ...] | None:
    i = idmap.slot(t, SLOTS - 1, SHIFT, key)
    return tuple(t[i, 1:].tolist()) if t[i, 0] == key else None


# Keys from a small pool collide often (long clusters, wrap-around at the table's end).
_keys = st.sampled_from([1, 2, 65, 129, -5, 2**63 - 1, -(2**63) + 1, 7 << 58, 12345678901, 3, 4, 5, 6, 70, 71])
_ops = st.lists(st.tuples(st.booleans(), _keys, st.integers(-(2**40), 2**40)), max_size=200)


@settings(max_examples=300, deadline=None)
@given(ops=_ops, ncol=st.sampled_from([2, 4]))
def test_lookups_match_a_dict_after_any_insert_and_delete_sequence(ops, ncol):
    t = _table(ncol)
    ref: dict[int, tuple[int, ...]] = {}
    for put, key, v in ops:
        values = tuple(v + c for c in range(ncol - 1))
        if put:
            _put(t, key, values)
            ref[key] = values
        else:
            i = idmap.slot(t, SLOTS - 1, SHIFT, key)
            if t[i, 0] == key:
                idmap.delete_at(t, SLOTS - 1, SHIFT, i)
                del ref[key]
            else:
                assert key not in ref
        for k in {k for _, k, _ in ops}:
            assert _get(t, k) == ref.get(k)
    assert int((t[:, 0] != idmap.EMPTY).sum()) == len(ref)


def test_home_is_the_fibonacci_hash_top_bits():
    assert idmap.home(1, SHIFT) == (0x9E3779B97F4A7C15 >> SHIFT)
    assert 0 <= idmap.home(-1, SHIFT) < SLOTS
