"""Stylized facts of simulated prices: returns' tails, volatility clustering, spread, depth."""

from __future__ import annotations

from typing import Any

import numpy as np


def mid_prices(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """Mid prices (ticks); NaN where a side is empty."""
    bid = np.asarray(bid, dtype=float)
    ask = np.asarray(ask, dtype=float)
    mid = (bid + ask) / 2
    mid[(bid <= 0) | (ask <= 0)] = np.nan
    return mid


def returns(mid: np.ndarray, every: int) -> np.ndarray:
    """Log returns of every ``every``-th sample (NaN samples carried forward)."""
    m = np.asarray(mid, dtype=float)
    idx = np.flatnonzero(~np.isnan(m))
    if len(idx) == 0:
        return np.zeros(0)
    filled = m.copy()
    # forward fill
    last = np.maximum.accumulate(np.where(np.isnan(m), -1, np.arange(len(m))))
    ok = last >= 0
    filled[ok] = m[last[ok]]
    s = filled[idx[0] :: every]
    return np.diff(np.log(s))


def excess_kurtosis(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=float)
    if len(x) < 4 or x.var() == 0:
        return float("nan")
    d = x - x.mean()
    return float((d**4).mean() / (d**2).mean() ** 2 - 3.0)


def autocorrelation(x: np.ndarray, lags: range | list[int]) -> list[float]:
    x = np.asarray(x, dtype=float)
    d = x - x.mean()
    den = (d * d).sum()
    if den == 0:
        return [float("nan") for _ in lags]
    return [float((d[:-k] * d[k:]).sum() / den) for k in lags]


def stylized_facts(samples: dict[str, np.ndarray], sample_ns: int, horizon_ns: int = 60_000_000_000) -> dict[str, Any]:
    """Facts of one venue's sampled book (see :class:`~venues.agents.market.BookSamples`)."""
    bid, ask = samples["bid"], samples["ask"]
    both = (bid > 0) & (ask > 0)
    spread = (ask - bid)[both]
    every = max(1, horizon_ns // sample_ns)
    r = returns(mid_prices(bid, ask), every)
    lags = list(range(1, 6))
    return {
        "samples": int(len(bid)),
        "two_sided_fraction": float(both.mean()) if len(both) else 0.0,
        "returns": int(len(r)),
        "excess_kurtosis": excess_kurtosis(r),
        "abs_return_acf": autocorrelation(np.abs(r), lags),
        "return_acf": autocorrelation(r, lags),
        "spread_mean": float(spread.mean()) if len(spread) else float("nan"),
        "spread_min": int(spread.min()) if len(spread) else 0,
        "spread_max": int(spread.max()) if len(spread) else 0,
        "depth_mean": float((samples["bid_depth"] + samples["ask_depth"])[both].mean()) if both.any() else 0.0,
        "depth_min": int(np.minimum(samples["bid_depth"], samples["ask_depth"])[both].min()) if both.any() else 0,
    }
