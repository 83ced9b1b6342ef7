"""Compiled replay of an MD_DTYPE stream through the fast engine (book maintained, no Python per event).

This is the engine-level replay the benchmark times: one compiled call applies a
whole array (``watch_top=False``), or returns at each top-of-book change so a
caller can react (``watch_top=True``; the count of returns is the number of
wake-ups a strategy subscribed to the top of book would get). The full
simulation path (kernel, OMS, journal) uses the same engine through
:class:`venues.simulated.SimulatedVenue`.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from venues.fast.engine import FastMatchingEngine


def replay(events: np.ndarray, engine: FastMatchingEngine | None = None, watch_top: bool = False) -> tuple[Any, int]:
    """Apply every event of ``events``; return (engine, number of top-of-book changes seen or 0)."""
    engine = engine if engine is not None else FastMatchingEngine()
    n = len(events)
    if not watch_top:
        engine.apply_events(events, 0, n, False)
        return engine, 0
    i = 0
    changes = 0
    while i < n:
        i = engine.apply_events(events, i, n, True)
        changes += 1
    return engine, changes


def synthetic_l3(n_events: int = 1_000_000, seed: int = 7, **params: Any) -> np.ndarray:
    """About ``n_events`` of the seeded synthetic L3 order flow (venues.synthetic), as one array.

    Defaults match the bundled scenarios' market (balanced flow, ~130 resting
    orders, 30k events per second of market time); ``params`` override them.
    """
    from venues.synthetic import SyntheticMarket, SyntheticParams

    p = {"event_rate": 30_000.0, "p_limit": 0.47, "p_cancel": 0.45, "p_market": 0.08, "initial_price": 10_000}
    p.update(params)
    rate = float(p["event_rate"])
    duration = int(n_events / rate * 1e9) + 1
    sp = SyntheticParams(start_ts=1_767_623_400_000_000_000, duration_ns=duration, **p)
    return SyntheticMarket(sp, np.random.default_rng(seed)).generate()


def deep_book_l3(levels: int = 5_000, seed: int = 7, gap_ticks: int = 10) -> np.ndarray:
    """A bad case for level bookkeeping: ``levels`` one-lot bids ``gap_ticks`` apart added in
    random price order (each new level lands anywhere in a deep, sparse side), then all
    cancelled in the order they were added."""
    from kernel.events import ADD, CANCEL, empty_events

    prices = 10_000_000 - (np.random.default_rng(seed).permutation(levels) * gap_ticks + 100)
    ev = empty_events(2 * levels)
    ev["ts"] = 1_767_623_400_000_000_000 + np.arange(2 * levels)
    ev["order_id"][:levels] = ev["order_id"][levels:] = np.arange(1, levels + 1)
    ev["action"][:levels] = ADD
    ev["action"][levels:] = CANCEL
    ev["side"][:levels] = 1
    ev["price"][:levels] = prices
    ev["qty"][:levels] = 1
    return ev


def time_replay(events: np.ndarray, repeat: int = 3, watch_top: bool = False) -> dict[str, Any]:
    """Best-of-``repeat`` compiled replay throughput (wall clock) of ``events``."""
    best = None
    changes = 0
    for _ in range(max(1, repeat)):
        engine = FastMatchingEngine()
        t0 = time.perf_counter()
        _, changes = replay(events, engine, watch_top)
        wall = time.perf_counter() - t0
        best = wall if best is None or wall < best else best
    n = len(events)
    return {
        "events": n,
        "seconds": round(best, 4),
        "events_per_second": round(n / best),
        "top_changes": changes,
        "wakeups_per_second": round(changes / best) if watch_top else 0,
    }
