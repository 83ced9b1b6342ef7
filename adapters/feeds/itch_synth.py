"""Large synthetic ITCH 5.0 BinaryFILEs, written fast (numpy fields, a numba byte scatter).

For benchmarks and the constant-memory tests, which need hundreds of MB to GB
of well-formed ITCH. :func:`write_synthetic_binaryfile` writes a stream of
order lifecycles, one batch at a time (memory bounded by one batch):

* an 'S' (start of messages), one 'R' per instrument (locate 1..n, symbols
  ``SYM1``..), and an 'S' (end of messages) at the end;
* per order: an add (A, 10 % F), then with probability 0.3 a partial E / X / C,
  then the end of the order: D (60 %), E of the rest (20 %), or U (20 %) to a
  new reference which a later D deletes;
* sprinkled in: P (non-displayed trade, 5 % of orders), Q (cross, 0.2 %),
  I (imbalance indicator, 1 %).

Every order's messages fall inside its batch, at most ``window`` orders
apart, so the live book stays small (a few thousand orders) however large the
file. Bids are priced 99.00-99.99 and asks 100.01-101.00, so the book never
crosses. Timestamps rise by 1 µs per message from 09:30. The same seed gives
the same bytes. About 2.5 messages per order and 32 bytes per message.

Speed: ~190 MB per CPU second; 50-75 MB/s wall on the shared 2-core
development machine, disk writes included (``python -m adapters.feeds.itch_synth
OUT --mb 500``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

import kernel.jit  # noqa: F401  (numba cache location; before any @njit(cache=True))
from adapters.feeds.itch_encoder import encode_message, frame

_TYPES = "AFECXDUPQI"
_SIZES = np.array([38, 42, 33, 38, 25, 21, 37, 46, 42, 52], np.int64)  # with the 2-byte length prefix
_TYPE_BYTES = np.frombuffer(_TYPES.encode(), np.uint8).copy()
T0_NS = 34_200_000_000_000  # 09:30 in ns since midnight
NEW_REF_BASE = 1 << 40  # references of replacement orders
_A, _F, _E, _C, _X, _D, _U, _P, _Q, _I = range(10)


@njit(cache=True, nogil=True, inline="always")
def _put(out, p, v, width):
    """``v`` as a ``width``-byte big-endian integer at ``out[p]``."""
    for j in range(width):
        out[p + j] = (v >> (8 * (width - 1 - j))) & 0xFF


@njit(cache=True, nogil=True)
def _write(out, t_idx, variant, which, seq0, match0, refs, inst, buy, price, shares, mid_qty, left, syms):
    """Write message i (type ``t_idx[i]`` of order ``which[i]``) for every i; return the next match number."""
    pos = 0
    match = match0
    for i in range(t_idx.shape[0]):
        t = t_idx[i]
        o = which[i]
        size = _SIZES[t]
        ref = refs[o]
        _put(out, pos, size - 2, 2)
        m = pos + 2  # the type byte; field offsets below count from it as in the specification
        out[m] = _TYPE_BYTES[t]
        _put(out, m + 1, inst[o], 2)
        _put(out, m + 5, T0_NS + (seq0 + i) * 1000, 6)
        if t == _A or t == _F or t == _P:
            _put(out, m + 11, ref, 8)
            out[m + 19] = 66 if (buy[o] or t == _P) else 83
            _put(out, m + 20, 100 if t == _P else shares[o], 4)
            for j in range(8):
                out[m + 24 + j] = syms[inst[o], j]
            _put(out, m + 32, price[o], 4)
            if t == _F:
                out[m + 36] = 80  # attribution "PRTY"
                out[m + 37] = 82
                out[m + 38] = 84
                out[m + 39] = 89
            elif t == _P:
                _put(out, m + 36, match, 8)
                match += 1
        elif t == _E or t == _C:
            _put(out, m + 11, ref, 8)
            _put(out, m + 19, left[o] if variant[i] else mid_qty[o], 4)
            _put(out, m + 23, match, 8)
            match += 1
            if t == _C:
                out[m + 31] = 89  # printable "Y"
                _put(out, m + 32, price[o], 4)
        elif t == _X:
            _put(out, m + 11, ref, 8)
            _put(out, m + 19, mid_qty[o], 4)
        elif t == _D:
            _put(out, m + 11, ref + NEW_REF_BASE if variant[i] else ref, 8)
        elif t == _U:
            _put(out, m + 11, ref, 8)
            _put(out, m + 19, ref + NEW_REF_BASE, 8)
            _put(out, m + 27, left[o], 4)
            _put(out, m + 31, price[o], 4)
        elif t == _Q:
            _put(out, m + 11, 1000, 8)
            for j in range(8):
                out[m + 19 + j] = syms[inst[o], j]
            _put(out, m + 27, 1_000_000, 4)
            _put(out, m + 31, match, 8)
            match += 1
            out[m + 39] = 79  # cross type "O"
        else:  # I
            _put(out, m + 11, 1000, 8)
            out[m + 27] = 78  # imbalance direction "N"
            for j in range(8):
                out[m + 28 + j] = syms[inst[o], j]
            _put(out, m + 36, 1_000_000, 4)
            _put(out, m + 40, 1_000_000, 4)
            _put(out, m + 44, 1_000_000, 4)
            out[m + 48] = 79
            out[m + 49] = 32
        pos += size
    return match


def _batch(
    rng: np.random.Generator, first_ref: int, k: int, n_inst: int, window: int, seq0: int, match0: int
) -> tuple[np.ndarray, int, int]:
    """The bytes of one batch of ``k`` order lifecycles; also the message and match counts used."""
    refs = np.arange(first_ref, first_ref + k, dtype=np.int64)
    inst = rng.integers(1, n_inst + 1, k)
    buy = rng.random(k) < 0.5
    ticks = rng.integers(1, 100, k)
    price = np.where(buy, 1_000_000 - 100 * ticks, 1_000_000 + 100 * ticks).astype(np.int64)
    shares = 100 * rng.integers(1, 20, k)
    base = np.arange(k, dtype=np.float64)
    d1 = rng.random(k) * window
    d2 = rng.random(k) * window
    d3 = rng.random(k) * window
    has_mid = rng.random(k) < 0.3
    mid_kind = rng.random(k)  # E < 0.5 <= X < 0.8 <= C
    end_kind = rng.random(k)  # D < 0.6 <= E < 0.8 <= U
    mid_qty = shares // 2
    left = np.where(has_mid, shares - mid_qty, shares)
    is_f = rng.random(k) < 0.1

    # (key, type index, order index, variant) per message; sorted by key afterwards.
    keys, types, idx = [], [], []

    def put(key: np.ndarray, t: str | np.ndarray, which: np.ndarray) -> None:
        keys.append(key)
        types.append(np.full(len(which), _TYPES.index(t), np.int8) if isinstance(t, str) else t)
        idx.append(which)

    allk = np.arange(k)
    put(base, np.where(is_f, _TYPES.index("F"), _TYPES.index("A")).astype(np.int8), allk)
    m = np.flatnonzero(has_mid)
    mid_t = np.where(
        mid_kind[m] < 0.5, _TYPES.index("E"), np.where(mid_kind[m] < 0.8, _TYPES.index("X"), _TYPES.index("C"))
    )
    put(base[m] + d1[m], mid_t.astype(np.int8), m)
    end_t = np.where(
        end_kind < 0.6, _TYPES.index("D"), np.where(end_kind < 0.8, _TYPES.index("E") + 100, _TYPES.index("U"))
    )
    put(base + d1 + d2, end_t.astype(np.int16), allk)
    u = np.flatnonzero(end_kind >= 0.8)
    put(base[u] + d1[u] + d2[u] + d3[u], np.full(len(u), _TYPES.index("D") + 100, np.int16), u)
    for t, p in (("P", 0.05), ("Q", 0.002), ("I", 0.01)):
        w = np.flatnonzero(rng.random(k) < p)
        put(base[w] + 0.5, t, w)
    key = np.concatenate(keys)
    typ = np.concatenate([t.astype(np.int16) for t in types])
    which = np.concatenate(idx)
    order = np.argsort(key, kind="stable")
    typ, which = typ[order], which[order]
    variant = typ >= 100  # E of the rest (terminal) / D of the replacement order
    t_idx = np.where(variant, typ - 100, typ).astype(np.int64)
    n = len(t_idx)
    size = _SIZES[t_idx]
    out = np.zeros(int(size.sum()), np.uint8)
    syms = np.frombuffer(b"".join(f"SYM{i}".ljust(8).encode() for i in range(n_inst + 1)), np.uint8)
    match = _write(
        out, t_idx, variant, which, seq0, match0, refs, inst, buy, price, shares, mid_qty, left,
        syms.reshape(n_inst + 1, 8),
    )  # fmt: skip
    return out, n, match - match0


def write_synthetic_binaryfile(
    path: str | Path,
    target_bytes: int,
    seed: int = 0,
    n_instruments: int = 8,
    *,
    batch_orders: int = 100_000,
    window: int = 2_000,
) -> dict[str, int]:
    """Write at least ``target_bytes`` (about; whole batches) of synthetic ITCH to ``path``.

    Returns ``{"bytes", "messages"}``. The file name should carry the session
    date for :class:`~adapters.feeds.itch.ItchReader` (e.g. ``*_20190130.itch``),
    or pass ``date=`` to the reader.
    """
    if not 1 <= n_instruments <= 9999:
        raise ValueError("n_instruments must be 1..9999")
    rng = np.random.default_rng(seed)
    head = frame(encode_message("S", timestamp=T0_NS - 1000, event_code="O"))
    for i in range(1, n_instruments + 1):
        head += frame(encode_message("R", stock_locate=i, timestamp=T0_NS - 1000, stock=f"SYM{i}",
                                     market_category="Q", round_lot_size=100))  # fmt: skip
    written = len(head)
    messages = 1 + n_instruments
    seq = match = 0
    ref = 1
    with open(path, "wb") as f:
        f.write(head)
        while written < target_bytes:
            block, n, used = _batch(rng, ref, batch_orders, n_instruments, window, seq, match + 1)
            block.tofile(f)
            written += len(block)
            messages += n
            seq += n
            match += used
            ref += batch_orders
        tail = frame(encode_message("S", timestamp=T0_NS + seq * 1000, event_code="C"))
        f.write(tail)
    return {"bytes": written + len(tail), "messages": messages + 1}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m adapters.feeds.itch_synth", description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output file (name it with a date, e.g. synth_20190130.itch)")
    ap.add_argument("--mb", type=float, default=100.0, help="size in MB (10**6 bytes)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    r = write_synthetic_binaryfile(a.out, int(a.mb * 1e6), a.seed)
    dt = time.perf_counter() - t0
    print(f"{a.out}: {r['messages']:,} messages, {r['bytes']:,} bytes in {dt:.2f} s ({r['bytes'] / dt / 1e6:.0f} MB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
