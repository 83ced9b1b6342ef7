"""The exogenous news / fundamental-value process of an agent market.

The fundamental value (in ticks, float) of an instrument is a mean-reverting
(Ornstein-Uhlenbeck) process on a time grid of ``step`` with

* **stochastic volatility**: the diffusion sigma is ``sigma * exp(h)`` where
  ``h`` is a Gaussian AR(1) with stationary standard deviation ``vol_of_vol``
  and half-life ``vol_halflife`` (normalised so that ``E[exp(2h)] = 1``) -
  calm and turbulent periods alternate, which is what makes volatility cluster;
* **news**: Poisson jumps (``jump_rate`` per second) with Laplace sizes of scale
  ``jump_scale`` ticks, also scaled by ``exp(h)`` - news come in volatile periods.

The whole path is drawn up front from its own RNG stream (vectorized, a few
ms for a trading day) so value lookups are a list index. News (jump) times
are announced to subscribers (informed traders) by a simpy process.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from venues.agents.config import duration_ns


class FundamentalParams(BaseModel):
    """Parameters of :class:`Fundamental` (prices in ticks, times as durations)."""

    model_config = ConfigDict(extra="forbid")

    initial: float = Field(default=10_000.0, gt=0)
    mean: float | None = Field(default=None, gt=0, description="long-run mean (default: initial)")
    reversion_halflife: int | str = "4h"
    sigma: float = Field(default=1.0, ge=0, description="diffusion, ticks per sqrt(second)")
    vol_of_vol: float = Field(default=1.0, ge=0, le=3)
    vol_halflife: int | str = "45m"
    jump_rate: float = Field(default=0.002, ge=0, description="news per second")
    jump_scale: float = Field(default=5.0, ge=0, description="Laplace scale of a news jump, ticks")
    step: int | str = "1s"


class Fundamental:
    """A precomputed fundamental path on a grid, and its news times."""

    def __init__(self, params: FundamentalParams, start_ns: int, duration_ns_: int, rng: np.random.Generator) -> None:
        self.params = params
        self.start_ns = int(start_ns)
        step = duration_ns(params.step, "news.params.step") or 1_000_000_000
        self.step_ns = step
        n = int(duration_ns_ // step) + 2
        dt = step / 1e9
        rev_hl = duration_ns(params.reversion_halflife, "news.params.reversion_halflife") / 1e9
        vol_hl = duration_ns(params.vol_halflife, "news.params.vol_halflife") / 1e9
        kappa = math.log(2) / rev_hl if rev_hl > 0 else 0.0
        phi = math.exp(-math.log(2) * dt / vol_hl) if vol_hl > 0 else 0.0
        s = params.vol_of_vol
        eta = s * math.sqrt(max(1.0 - phi * phi, 0.0))
        z_vol = rng.standard_normal(n)
        z = rng.standard_normal(n)
        u_jump = rng.random(n)
        lap = rng.laplace(0.0, 1.0, n)
        # Log-volatility AR(1), started from its stationary law.
        h = np.empty(n)
        h[0] = s * z_vol[0]
        for k in range(1, n):  # a trading day is ~23k steps: a plain loop is a few ms
            h[k] = phi * h[k - 1] + eta * z_vol[k]
        scale = np.exp(h - s * s)  # E[exp(2h - 2 s^2)] = 1
        jumps = np.where(u_jump < params.jump_rate * dt, lap * params.jump_scale * scale, 0.0)
        shocks = params.sigma * math.sqrt(dt) * scale * z + jumps
        mean = params.mean if params.mean is not None else params.initial
        a = 1.0 - kappa * dt
        f = np.empty(n)
        x = params.initial
        for k in range(n):
            f[k] = x
            x = max(1.0, x + (1.0 - a) * (mean - x) + shocks[k])
        self.path: list[float] = f.tolist()
        self.vol_scale: list[float] = scale.tolist()
        news_idx = np.flatnonzero(jumps != 0.0)
        # A jump drawn at step k shows from step k + 1 on.
        self.news: list[tuple[int, float]] = [
            (self.start_ns + (int(k) + 1) * step, float(jumps[k])) for k in news_idx if k + 1 < n
        ]
        self._subscribers: list[Callable[[int, float], None]] = []

    def value(self, ts: int) -> float:
        """Fundamental value at ``ts`` (ticks)."""
        k = (ts - self.start_ns) // self.step_ns
        path = self.path
        if k < 0:
            return path[0]
        return path[k] if k < len(path) else path[-1]

    def activity(self, ts: int, gamma: float) -> float:
        """Trading-activity multiplier at ``ts``: the volatility scale to the power ``gamma``,
        normalised to mean 1 (agents coupled to it trade more in turbulent periods)."""
        k = (ts - self.start_ns) // self.step_ns
        scale = self.vol_scale
        x = scale[k] if 0 <= k < len(scale) else scale[-1]
        s2 = self.params.vol_of_vol**2
        # scale = exp(h - s2) with h ~ N(0, s2): E[scale**g] = exp(-g s2 + g^2 s2 / 2).
        return x**gamma / math.exp(-gamma * s2 + gamma * gamma * s2 / 2)

    def activity_path(self, gamma: float) -> list[float]:
        """:meth:`activity` at every grid step (lookup by ``(ts - start_ns) // step_ns``)."""
        s2 = self.params.vol_of_vol**2
        norm = math.exp(-gamma * s2 + gamma * gamma * s2 / 2)
        return [x**gamma / norm for x in self.vol_scale]

    def subscribe(self, fn: Callable[[int, float], None]) -> None:
        """``fn(ts, jump)`` is called at every news time."""
        self._subscribers.append(fn)

    def process(self, env, end_ns: int):
        """simpy process: announce news to the subscribers at their times."""
        for ts, jump in self.news:
            if ts >= end_ns:
                return
            if ts > env.now:
                yield env.timeout(ts - env.now)
            for fn in self._subscribers:
                fn(ts, jump)
