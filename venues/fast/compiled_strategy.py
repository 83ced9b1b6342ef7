"""The fully compiled path: a strategy written as a numba function, run inside the replay loop.

:func:`run_compiled` replays an MD_DTYPE array through the fast engine and calls
the strategy, a ``@numba.njit`` function, at every top-of-book change, without
returning to Python. The strategy sees the top of book and its own position,
cash and state, and writes order requests into a small array::

    @njit
    def on_top(ts, bid_px, bid_qty, ask_px, ask_qty, position, cash, state, out) -> int:
        # state: float64[:] the strategy's own memory (the caller allocates it)
        # out: int64[:, 4] rows (action, side, price, qty); return the row count
        ...

Actions: ``LIMIT`` (GTC limit), ``IOC`` (immediate-or-cancel limit), ``MARKET``
and ``CANCEL_ALL`` (cancel every resting order of the strategy). Orders reach
the book ``entry_latency_ns`` after the top change that caused them (market data
with the same or an earlier timestamp are applied first, as in the kernel); a
top change caused by the strategy's own order wakes it again.

Limits of this path (use the full simulation for anything beyond them): one
instrument; no OMS, risk checks, fees, journal or fingerprint; zero market-data
and response latency and a constant order-entry latency; no stops, icebergs,
post-only, DAY/GTD or amends (cancel and re-enter instead); the strategy cannot
set timers and is woken only by top-of-book changes. Self-trade prevention is
off. Each distinct strategy function compiles its own specialization of the loop
(not cached on disk): its JIT time is reported separately by the benchmark.
"""

from __future__ import annotations

import numpy as np
from numba import njit

import kernel.jit  # noqa: F401  (numba cache location; before any @njit(cache=True))
from venues.fast import core as C

LIMIT = 1
IOC = 2
MARKET = 3
CANCEL_ALL = 4

_OWNER = 1
_BASE = 1 << 62  # strategy order ids (above feed ids)
# result slots
R_EVENTS = 0
R_WAKEUPS = 1
R_ORDERS = 2
R_FILLS = 3
R_FILLED_QTY = 4
R_POSITION = 5
R_TRADES = 6
R_ERROR = 7  # index of an event with an unknown action + 1, else 0
R_RUNAWAY = 8  # 1: the strategy sent more than max_total_orders orders (the loop stopped there)
NRES = 9


_new_book_rows = njit(cache=True)(C.new_book_rows)
_init_state = njit(cache=True)(C.init_state)


@njit(cache=True)
def _new_book(cap):
    st = np.zeros(C.NS, np.int64)
    ords = np.zeros((cap, C.NF), np.int64)
    lvls = np.zeros((cap, C.NL), np.int64)
    book = _new_book_rows(2 * cap)
    omap = np.full((2 * cap, 2), C.EMPTY, np.int64)
    buf = np.zeros((4096, C.NR), np.int64)
    _init_state(st, cap)
    st[C.S_REC_REPORTS] = 1
    C.link_free_orders(st, ords, 0, cap)
    C.link_free_levels(st, lvls, 0, cap)
    return st, ords, lvls, book, omap, buf


@njit(cache=True)
def _grow(st, ords, lvls, book, omap, mask):
    if mask & C.G_ORDERS:
        n = ords.shape[0]
        new = np.zeros((2 * n, C.NF), np.int64)
        new[:n] = ords
        ords = new
        C.link_free_orders(st, ords, n, 2 * n)
    if mask & C.G_LEVELS:
        n = lvls.shape[0]
        new = np.zeros((2 * n, C.NL), np.int64)
        new[:n] = lvls
        lvls = new
        C.link_free_levels(st, lvls, n, 2 * n)
        book = C.rebuild_levels_table(st, lvls, _new_book_rows(4 * n))
    if mask & C.G_MAP:
        new = np.full((2 * omap.shape[0], 2), C.EMPTY, np.int64)
        st[C.S_MAPSHIFT] -= 1
        C.map_rehash(st, omap, new)
        omap = new
    return ords, lvls, book, omap


@njit(cache=True)
def _top(st, lvls, book):
    return st[C.S_BB], C.top_bq(st, lvls, book), st[C.S_BA], C.top_aq(st, lvls, book)


def run_compiled(
    events: np.ndarray,
    strategy,
    state: np.ndarray | None = None,
    entry_latency_ns: int = 0,
    max_orders: int = 8,
    max_total_orders: int = 10_000_000,
) -> dict[str, int]:
    """Replay ``events`` with the numba ``strategy`` woken at each top change; return counters.

    ``max_orders``: order requests per wake-up. ``max_total_orders`` stops a runaway strategy
    (one that re-quotes on the book changes its own orders make can trade with itself in
    a loop while no market event comes) with a clear error instead of filling memory.
    """
    state = np.zeros(16, np.float64) if state is None else state
    if not events.flags.writeable:
        events = events.copy()  # numba types a read-only array apart; the loop has one signature
    res, cash = _run(events, strategy, state, np.int64(entry_latency_ns), np.int64(max_orders),
                     np.int64(max_total_orders))  # fmt: skip
    if res[R_RUNAWAY]:
        from kernel.errors import ParityError

        raise ParityError(
            f"compiled strategy sent more than {max_total_orders:,} orders by market-data event "
            f"{int(res[R_EVENTS])} ({int(res[R_WAKEUPS]):,} wake-ups): a strategy re-quoting on the "
            "book changes of its own orders? (raise max_total_orders if this is intended)"
        )
    if res[R_ERROR]:
        from kernel.errors import DataError

        i = int(res[R_ERROR]) - 1
        raise DataError(f"market-data event {i}: unknown action {int(events['action'][i])!r}")
    out = {
        k: int(res[i])
        for i, k in enumerate(("events", "wakeups", "orders", "fills", "filled_qty", "position", "market_trades"))
    }
    out["cash"] = float(cash)
    return out


@njit(cache=True)
def _process_reports(st, buf, sides, live, nlive, res, cash):
    """Apply the buffered reports about the strategy's orders (fills move position and cash)."""
    for k in range(st[C.S_NBUF]):
        kind = buf[k, C.R_KIND]
        if kind == C.K_FILL:
            oid = buf[k, C.R_OID]
            side = sides[oid - _BASE] if oid >= _BASE else 0
            q = buf[k, C.R_QTY]
            res[R_FILLS] += 1
            res[R_FILLED_QTY] += q
            res[R_POSITION] += side * q
            cash -= side * q * buf[k, C.R_PX]
            if buf[k, C.R_LEAVES] == 0 and oid >= _BASE:
                for j in range(nlive):
                    if live[j] == oid:
                        live[j] = live[nlive - 1]
                        nlive -= 1
                        break
        elif kind == C.K_CANCEL:
            oid = buf[k, C.R_OID]
            for j in range(nlive):
                if live[j] == oid:
                    live[j] = live[nlive - 1]
                    nlive -= 1
                    break
    st[C.S_NBUF] = 0
    return nlive, cash


@njit(cache=True)
def _run(ev, strategy, state, latency, max_orders, max_total_orders):
    st, ords, lvls, book, omap, buf = _new_book(1 << 12)
    n = ev.shape[0]
    res = np.zeros(NRES, np.int64)
    cash = 0.0
    out = np.zeros((max_orders, 4), np.int64)
    # pending order requests (FIFO): arrival ts, action, side, price, qty
    cap_p = 1024
    pend = np.zeros((cap_p, 5), np.int64)
    p_head = 0
    p_len = 0
    sides = np.zeros(1024, np.int64)  # side of strategy order k (id _BASE + k)
    live = np.zeros(1024, np.int64)  # resting strategy order ids
    nlive = 0
    next_k = 0
    i = 0
    wake_ts = -1
    while True:
        if wake_ts >= 0:
            bb, bq, ba, aq = _top(st, lvls, book)
            res[R_WAKEUPS] += 1
            m = strategy(wake_ts, bb, bq, ba, aq, res[R_POSITION], cash, state, out)
            for r in range(min(m, max_orders)):
                if p_len == cap_p:
                    new = np.zeros((2 * cap_p, 5), np.int64)
                    for j in range(p_len):
                        new[j] = pend[(p_head + j) % cap_p]
                    pend = new
                    p_head = 0
                    cap_p *= 2
                t = (p_head + p_len) % cap_p
                pend[t, 0] = wake_ts + latency
                pend[t, 1] = out[r, 0]
                pend[t, 2] = out[r, 1]
                pend[t, 3] = out[r, 2]
                pend[t, 4] = out[r, 3]
                p_len += 1
            wake_ts = -1
        if i >= n and p_len == 0:
            break
        st[C.S_BOUND] = pend[p_head, 0] if p_len else C.I64_MAX
        st[C.S_FIRSTCB] = 1  # no lookahead tightening: the strategy's own reports are handled here
        code = C.apply_events(st, ords, lvls, book, omap, buf, ev, i, n, C.M_WATCH | C.M_BOUND, -1, 0)[0]
        i = code >> 4
        status = code & 15
        if st[C.S_NBUF]:
            nlive, cash = _process_reports(st, buf, sides, live, nlive, res, cash)
        if status == C.ST_GROW:
            ords, lvls, book, omap = _grow(st, ords, lvls, book, omap, st[C.S_RET])
            continue
        if status == C.ST_FLUSH:
            if st[C.S_RET] > buf.shape[0]:
                buf = np.zeros((2 * st[C.S_RET], C.NR), np.int64)
            continue
        if status == C.ST_BADACTION:
            res[R_ERROR] = i + 1
            break
        if status == C.ST_TOP:
            wake_ts = ev[i - 1].ts
            continue
        if status == C.ST_BOUND or (status == C.ST_DONE and p_len):
            # The next event is past the first pending arrival (or the data ended): enter the order.
            ts = pend[p_head, 0]
            action = pend[p_head, 1]
            side = 1 if pend[p_head, 2] > 0 else -1
            px = pend[p_head, 3]
            qty = pend[p_head, 4]
            p_head = (p_head + 1) % cap_p
            p_len -= 1
            mask = C.grow_mask(st, ords, lvls, book, omap)
            if mask:
                ords, lvls, book, omap = _grow(st, ords, lvls, book, omap, mask)
            need = C.buf_need(st, qty if qty > 0 else 1) + 3 * nlive
            if need > buf.shape[0]:
                buf = np.zeros((2 * need, C.NR), np.int64)
            b0, b1, b2, b3 = _top(st, lvls, book)
            if action == CANCEL_ALL:
                for j in range(nlive):
                    C.cancel_resting(st, ords, lvls, book, omap, live[j])
                nlive = 0
            elif qty > 0 and (action == MARKET or px > 0):
                if next_k >= max_total_orders:
                    res[R_RUNAWAY] = 1
                    res[R_EVENTS] = i
                    return res, cash
                if next_k == sides.shape[0]:
                    new = np.zeros(2 * next_k, np.int64)
                    new[:next_k] = sides
                    sides = new
                oid = _BASE + next_k
                sides[next_k] = side
                next_k += 1
                res[R_ORDERS] += 1
                otype = C.OT_MARKET if action == MARKET else C.OT_LIMIT
                tif = C.TIF_IOC if action == IOC else C.TIF_GTC
                rid = C.process(st, ords, lvls, book, omap, buf, ts, oid, _OWNER, side, qty, px, otype, tif, 0, 0, 0)
                if rid != 0:
                    if nlive == live.shape[0]:
                        new = np.zeros(2 * nlive, np.int64)
                        new[:nlive] = live
                        live = new
                    live[nlive] = oid
                    nlive += 1
                if st[C.S_NBUF]:
                    nlive, cash = _process_reports(st, buf, sides, live, nlive, res, cash)
            t0, t1, t2, t3 = _top(st, lvls, book)
            if t0 != b0 or t1 != b1 or t2 != b2 or t3 != b3:
                wake_ts = ts
            continue
        break  # ST_DONE with nothing pending
    res[R_EVENTS] = n
    res[R_TRADES] = st[C.S_TCOUNT]
    return res, cash


# ---------------------------------------------------------------- an example


@njit(cache=True)
def join_the_touch(ts, bid_px, bid_qty, ask_px, ask_qty, position, cash, state, out):
    """Example strategy: quote one lot at the best bid and ask, re-quoting when the touch moves;
    stop quoting the side that would push |position| past ``state[0]`` (default 10).

    Re-quotes at most once per ``state[3]`` ns (default 1 ms): its own orders move the touch
    too, and a quote still in flight when the cancel of the previous one lands would make
    it chase its own orders forever while no market event comes (seen on LOBSTER data)."""
    limit = state[0] if state[0] > 0 else 10.0
    if bid_px == 0 or ask_px == 0:
        return 0
    if bid_px == state[1] and ask_px == state[2]:
        return 0
    every = state[3] if state[3] > 0 else 1e6
    if state[4] > 0 and ts < state[4] + every:
        return 0
    state[4] = ts
    state[1] = bid_px
    state[2] = ask_px
    k = 0
    out[k, 0] = CANCEL_ALL
    k += 1
    if position < limit:
        out[k, 0] = LIMIT
        out[k, 1] = 1
        out[k, 2] = bid_px
        out[k, 3] = 1
        k += 1
    if position > -limit:
        out[k, 0] = LIMIT
        out[k, 1] = -1
        out[k, 2] = ask_px
        out[k, 3] = 1
        k += 1
    return k


@njit(cache=True)
def watch_only(ts, bid_px, bid_qty, ask_px, ask_qty, position, cash, state, out):
    """Example strategy that only reads the book (for timing the wake-up path)."""
    state[0] += ask_px - bid_px
    return 0
