"""Latency models: how long a message takes between strategy and venue.

A :class:`LatencyModel` hands out one delay (int ns, >= 0) per message.
Random models take a ``numpy.random.Generator`` and draw their samples in
blocks of :data:`BLOCK` (one vectorized call per block, handed out one by one),
so a sample costs a list index rather than a generator call; the sequence is a
pure function of the generator's state.

:class:`RecordedLatency` (``{kind = "recorded"}``, market data only) is not
drawn at all: it hands out the delay recorded in the data for each event
(DBN's ts_recv - ts_event), which the data source registers beside each chunk.

:class:`VenueLatency` groups the three legs of a venue: market data to the
strategy, the strategy's orders to the venue, and the venue's responses
(acks, fills) back to the strategy. Scenarios build models with
:func:`latency_from_config`; bad configs raise
:class:`~kernel.errors.ScenarioError` naming the offending field.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import numpy as np
import pydantic
from pydantic import ConfigDict, Field

from kernel.errors import DataError, ScenarioError, validation_error

BLOCK = 4096
"""Samples drawn from the generator per vectorized call."""

_MAX_NS = 2**62  # clip bound keeping float -> int64 conversions safe (~146 years)


@runtime_checkable
class LatencyModel(Protocol):
    """A source of delays."""

    def sample(self) -> int:
        """One delay in ns (>= 0)."""
        ...


class ConstantLatency:
    """The same delay every time."""

    def __init__(self, ns: int) -> None:
        if isinstance(ns, bool) or int(ns) != ns or ns < 0:
            raise ScenarioError(f"constant latency: field 'ns' must be an integer >= 0, got {ns!r}")
        self.ns = int(ns)

    def sample(self) -> int:
        return self.ns

    def __repr__(self) -> str:
        return f"ConstantLatency(ns={self.ns})"


def _check_rng(rng: object, kind: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{kind} latency needs a numpy.random.Generator, got {type(rng).__name__}")
    return rng


class _BlockSampler:
    """Hands out samples one at a time from blocks drawn by :meth:`_draw`."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._buf: list[int] = []
        self._pos = 0

    def _draw(self, n: int) -> np.ndarray:
        """``n`` samples as an int64 array, all >= 0."""
        raise NotImplementedError

    def sample(self) -> int:
        pos = self._pos
        buf = self._buf
        if pos >= len(buf):
            # A Python list of ints: indexing it is much faster than indexing numpy.
            buf = self._buf = self._draw(BLOCK).tolist()
            pos = 0
        self._pos = pos + 1
        return buf[pos]


class LogNormalLatency(_BlockSampler):
    """``median_ns * exp(sigma * Z)``, rounded to ns and clipped to [min_ns, max_ns].

    The median of the unclipped distribution is ``median_ns``; ``sigma`` is the
    standard deviation of the log (0 gives a constant).
    """

    def __init__(
        self, median_ns: int, sigma: float, rng: np.random.Generator, min_ns: int = 0, max_ns: int | None = None
    ) -> None:
        if not median_ns > 0:
            raise ScenarioError(f"lognormal latency: field 'median_ns' must be > 0, got {median_ns!r}")
        if not (sigma >= 0 and math.isfinite(sigma)):
            raise ScenarioError(f"lognormal latency: field 'sigma' must be finite and >= 0, got {sigma!r}")
        if not min_ns >= 0:
            raise ScenarioError(f"lognormal latency: field 'min_ns' must be >= 0, got {min_ns!r}")
        if max_ns is not None and not max_ns >= min_ns:
            raise ScenarioError(f"lognormal latency: field 'max_ns' must be >= min_ns ({min_ns}), got {max_ns!r}")
        super().__init__(_check_rng(rng, "lognormal"))
        self.median_ns = median_ns
        self.sigma = float(sigma)
        self.min_ns = int(min_ns)
        self.max_ns = None if max_ns is None else int(max_ns)

    def _draw(self, n: int) -> np.ndarray:
        x = self.median_ns * np.exp(self.sigma * self._rng.standard_normal(n))
        hi = _MAX_NS if self.max_ns is None else self.max_ns
        # Clip in float before the cast: a huge sigma can overflow exp() to inf.
        return np.clip(np.rint(x), self.min_ns, hi).astype(np.int64)

    def __repr__(self) -> str:
        return (
            f"LogNormalLatency(median_ns={self.median_ns}, sigma={self.sigma}, "
            f"min_ns={self.min_ns}, max_ns={self.max_ns})"
        )


class EmpiricalLatency(_BlockSampler):
    """Resamples (with replacement, uniformly) from measured delays."""

    def __init__(self, samples_ns: Sequence[int], rng: np.random.Generator) -> None:
        values = np.asarray(samples_ns)
        if values.ndim != 1 or values.size == 0:
            raise ScenarioError("empirical latency: field 'samples_ns' must be a non-empty list of integers")
        if not np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_:
            raise ScenarioError(f"empirical latency: field 'samples_ns' must hold integers, got dtype {values.dtype}")
        if values.min() < 0:
            raise ScenarioError(f"empirical latency: field 'samples_ns' must be >= 0, got {int(values.min())}")
        super().__init__(_check_rng(rng, "empirical"))
        self.samples_ns = values.astype(np.int64)
        self.min_ns = int(values.min())  # lower bound of every sample (lets a venue bound its lookahead)

    def _draw(self, n: int) -> np.ndarray:
        return self.samples_ns[self._rng.integers(0, self.samples_ns.size, size=n)]

    def __repr__(self) -> str:
        return f"EmpiricalLatency(<{self.samples_ns.size} samples>)"


class UniformLatency(_BlockSampler):
    """Uniform integer delay in [low_ns, high_ns], both ends included."""

    def __init__(self, low_ns: int, high_ns: int, rng: np.random.Generator) -> None:
        if not low_ns >= 0:
            raise ScenarioError(f"uniform latency: field 'low_ns' must be >= 0, got {low_ns!r}")
        if not high_ns >= low_ns:
            raise ScenarioError(f"uniform latency: field 'high_ns' must be >= low_ns ({low_ns}), got {high_ns!r}")
        super().__init__(_check_rng(rng, "uniform"))
        self.low_ns = int(low_ns)
        self.high_ns = int(high_ns)
        self.min_ns = self.low_ns  # lower bound of every sample (lets a venue bound its lookahead)

    def _draw(self, n: int) -> np.ndarray:
        return self._rng.integers(self.low_ns, self.high_ns, size=n, endpoint=True, dtype=np.int64)

    def __repr__(self) -> str:
        return f"UniformLatency(low_ns={self.low_ns}, high_ns={self.high_ns})"


class RecordedLatency:
    """The market-data delay recorded in the data itself: per event, feed receive time - exchange time.

    Scenario config: ``market_data = { kind = "recorded" }`` (the market-data leg only).
    Data whose records carry both an exchange and a receive timestamp (DBN MBO:
    ts_event and ts_recv) replay at the exchange time, and each book update
    reaches the strategy when the feed received it. The canonical event dtype
    has no room for a second timestamp, so the delays travel beside the events:

    * the data source registers every chunk it yields with its delays
      (:meth:`register`; ``scenarios.sources`` does it for a ``dbn`` source, from
      ``DbnMboReader.delayed_chunks``, with ``ts_field = "ts_event"``);
    * the venue says which chunk it starts applying (:meth:`use`) and, before a
      book update caused by market data, which event caused it (:meth:`mark`);
    * a delivery at exchange time ``ts`` then takes :meth:`delay_at`: the marked
      event's delay when its ts is ``ts``; otherwise (trade prints, book changes
      our own orders caused) the delay of the last event of the chunk with a
      ts <= ``ts`` - the same thing unless
      one exchange time spans packets received at different times (307 of the
      62,607 events of the ESH4 sample); 0 before any data.

    Deliveries stay FIFO (a venue's channel never lets one overtake another).
    ``min_ns`` is 0: future delays are unknown, so the venue's lookahead may not
    count on any.
    """

    min_ns = 0

    def __init__(self, keep: int | None = 16) -> None:
        """``keep``: registered chunks remembered (the oldest go first; None: all, for data
        materialized before the run). A streaming source is at most a chunk or two ahead."""
        self._registered: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(chunk) -> (chunk, delays)
        self._keep = keep
        self._ts: list[int] = []
        self._delays: list[int] = []
        self._marked = -1
        self.last = 0  # the delay handed out last
        self.chunks = 0  # chunks registered

    def register(self, chunk: np.ndarray, delays: np.ndarray) -> None:
        """Record the delays (int ns >= 0, one per event) of a chunk the data source is about to yield."""
        d = np.asarray(delays)
        if d.shape != (len(chunk),):
            raise ValueError(f"recorded latency: {d.shape} delays for a chunk of {len(chunk)} events")
        if len(d) and int(d.min()) < 0:
            raise ValueError("recorded latency: negative delay")
        self._registered[id(chunk)] = (chunk, d)
        self.chunks += 1
        while self._keep is not None and len(self._registered) > self._keep:  # the venue is done with those
            del self._registered[next(iter(self._registered))]

    def use(self, chunk: np.ndarray) -> None:
        """The venue starts applying ``chunk``."""
        entry = self._registered.get(id(chunk))
        if entry is None or entry[0] is not chunk:
            raise DataError(
                "recorded market-data latency: the venue got market data without recorded delays "
                "(only a data source with receive timestamps, kind 'dbn', records them)"
            )
        self._ts = chunk["ts"].tolist()
        self._delays = entry[1].tolist()
        self._marked = -1

    def mark(self, index: int) -> None:
        """Event ``index`` of the current chunk caused the book update about to be delivered."""
        self._marked = index

    def delay_at(self, ts: int) -> int:
        """The recorded delay of a delivery at exchange time ``ts`` (see the class docstring)."""
        m = self._marked
        if m >= 0 and self._ts[m] == ts:
            d = self._delays[m]
        else:
            j = bisect_right(self._ts, ts) - 1
            d = self._delays[j] if j >= 0 else self.last
        self.last = d
        return d

    def sample(self) -> int:
        """The last delay handed out (:class:`LatencyModel` protocol; channels call :meth:`delay_at`)."""
        return self.last

    def __repr__(self) -> str:
        return f"RecordedLatency(<{self.chunks} chunks registered>)"


def is_recorded(cfg: object) -> bool:
    """Whether a scenario latency value is ``{kind = "recorded"}``."""
    return isinstance(cfg, dict) and cfg.get("kind") == "recorded"


# --- configuration ---------------------------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)  # strict: no "1000" strings, no bools
_Ns = Annotated[int, Field(ge=0)]


class _ConstantCfg(pydantic.BaseModel):
    model_config = _STRICT
    kind: Literal["constant"]
    ns: _Ns


class _LogNormalCfg(pydantic.BaseModel):
    model_config = _STRICT
    kind: Literal["lognormal"]
    median_ns: Annotated[int, Field(gt=0)]
    sigma: Annotated[float, Field(ge=0)]
    min_ns: _Ns = 0
    max_ns: _Ns | None = None


class _EmpiricalCfg(pydantic.BaseModel):
    model_config = _STRICT
    kind: Literal["empirical"]
    samples_ns: Annotated[list[_Ns], Field(min_length=1)]


class _UniformCfg(pydantic.BaseModel):
    model_config = _STRICT
    kind: Literal["uniform"]
    low_ns: _Ns
    high_ns: _Ns


_CONFIGS: dict[str, type[pydantic.BaseModel]] = {
    "constant": _ConstantCfg,
    "lognormal": _LogNormalCfg,
    "empirical": _EmpiricalCfg,
    "uniform": _UniformCfg,
}


def _scenario_error(what: str, exc: pydantic.ValidationError) -> ScenarioError:
    """Turn a pydantic error into a ScenarioError whose text names every bad field."""
    return validation_error(what, exc)


def latency_from_config(
    cfg: dict[str, Any] | int, rng: np.random.Generator | None, where: str = "latency"
) -> LatencyModel:
    """Build a latency model from a scenario value.

    An integer is a constant delay in ns. A table has a ``kind``:
    ``{"kind": "constant", "ns": 1000}``,
    ``{"kind": "lognormal", "median_ns": 20000, "sigma": 0.5, "min_ns": 5000, "max_ns": 1000000}``,
    ``{"kind": "empirical", "samples_ns": [...]}``,
    ``{"kind": "uniform", "low_ns": 1000, "high_ns": 3000}``.
    ``where`` prefixes error messages (e.g. ``"latency.order_entry"``).
    Bad configs raise :class:`ScenarioError` naming the field.
    """
    if isinstance(cfg, bool):
        raise ScenarioError(f"{where}: expected an integer ns or a table with a 'kind' field, got a boolean")
    if isinstance(cfg, int | np.integer):
        if cfg < 0:
            raise ScenarioError(f"{where}: a constant latency must be >= 0 ns, got {int(cfg)}")
        return ConstantLatency(int(cfg))
    if not isinstance(cfg, dict):
        raise ScenarioError(f"{where}: expected an integer ns or a table with a 'kind' field, got {type(cfg).__name__}")
    kind = cfg.get("kind")
    if kind is None:
        raise ScenarioError(f"{where}: field 'kind' is required (one of {', '.join(sorted(_CONFIGS))})")
    schema = _CONFIGS.get(kind) if isinstance(kind, str) else None
    if kind == "recorded":
        raise ScenarioError(
            f"{where}: kind 'recorded' (delays recorded in the data) is only for a venue's market_data latency"
        )
    if schema is None:
        raise ScenarioError(f"{where}: field 'kind' must be one of {', '.join(sorted(_CONFIGS))}, got {kind!r}")
    try:
        parsed = schema.model_validate(cfg)
    except pydantic.ValidationError as exc:
        raise _scenario_error(f"{where} (kind {kind!r})", exc) from None
    if isinstance(parsed, _ConstantCfg):
        return ConstantLatency(parsed.ns)
    if rng is None:
        raise ScenarioError(f"{where}: a {kind} latency is random and needs a random generator")
    try:
        if isinstance(parsed, _LogNormalCfg):
            return LogNormalLatency(parsed.median_ns, parsed.sigma, rng, parsed.min_ns, parsed.max_ns)
        if isinstance(parsed, _EmpiricalCfg):
            return EmpiricalLatency(parsed.samples_ns, rng)
        assert isinstance(parsed, _UniformCfg)
        return UniformLatency(parsed.low_ns, parsed.high_ns, rng)
    except ScenarioError as exc:  # cross-field checks (max_ns >= min_ns, ...): add the location
        raise ScenarioError(f"{where}: {exc}") from None


@dataclass
class VenueLatency:
    """The three latency legs of a venue."""

    market_data: LatencyModel  # venue market data -> strategy
    order_entry: LatencyModel  # strategy order/cancel -> venue
    response: LatencyModel  # venue ack/fill/reject -> strategy

    @classmethod
    def from_config(cls, cfg: dict[str, Any], rng: np.random.Generator | None, where: str = "latency") -> VenueLatency:
        """``{"market_data": ..., "order_entry": ..., "response": ...}``; each leg as in
        :func:`latency_from_config`, missing legs are 0 ns. The legs share ``rng``."""
        if not isinstance(cfg, dict):
            raise ScenarioError(
                f"{where}: expected a table of market_data/order_entry/response, got {type(cfg).__name__}"
            )
        legs = ("market_data", "order_entry", "response")
        unknown = sorted(set(cfg) - set(legs))
        if unknown:
            raise ScenarioError(f"{where}: unknown field '{unknown[0]}' (expected {', '.join(legs)})")
        made = {leg: latency_from_config(cfg.get(leg, 0), rng, f"{where}.{leg}") for leg in legs}
        return cls(**made)
