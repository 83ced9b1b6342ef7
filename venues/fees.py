"""Fee models: what a venue (or broker) charges per fill.

A fee is in currency units: positive is a cost, negative a rebate. Every model
gets the fill's ``price`` (integer ticks), ``qty`` (integer lots), ``liquidity``
(``"M"`` maker: the fill rested on the book, ``"T"`` taker: it took liquidity)
and ``tick_value`` (currency per tick per lot), so the fill's notional is
``price * qty * tick_value``.

Scenarios build a model with :func:`fee_model_from_config`; bad configs raise
:class:`~kernel.errors.ScenarioError` naming the offending field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol, runtime_checkable

import pydantic
from pydantic import ConfigDict, Field

from kernel.errors import ScenarioError, validation_error

_LIQUIDITY = ("M", "T")


def _check_fill(qty: int, liquidity: str) -> None:
    """Reject calls that can only be a caller's bug (not a scenario problem)."""
    if liquidity not in _LIQUIDITY:
        raise ValueError(f"liquidity must be 'M' (maker) or 'T' (taker), got {liquidity!r}")
    if qty < 0:
        raise ValueError(f"fill qty must be >= 0, got {qty}")


@runtime_checkable
class FeeModel(Protocol):
    """Anything that prices a fill."""

    def fee(self, price: int, qty: int, liquidity: str, tick_value: float) -> float:
        """Fee in currency for one fill: > 0 cost, < 0 rebate."""
        ...


class ZeroFees:
    """No fees at all (useful as a baseline)."""

    def fee(self, price: int, qty: int, liquidity: str, tick_value: float) -> float:
        _check_fill(qty, liquidity)
        return 0.0

    def __repr__(self) -> str:
        return "ZeroFees()"


class MakerTakerBps:
    """Fee in basis points of notional, by liquidity flag.

    ``maker_bps`` is usually negative (a rebate for resting liquidity),
    ``taker_bps`` positive. 1 bp = 1e-4 of notional.
    """

    def __init__(self, maker_bps: float, taker_bps: float) -> None:
        self.maker_bps = float(maker_bps)
        self.taker_bps = float(taker_bps)

    def fee(self, price: int, qty: int, liquidity: str, tick_value: float) -> float:
        _check_fill(qty, liquidity)
        bps = self.maker_bps if liquidity == "M" else self.taker_bps
        return price * qty * tick_value * bps * 1e-4

    def __repr__(self) -> str:
        return f"MakerTakerBps(maker_bps={self.maker_bps}, taker_bps={self.taker_bps})"


def _apply_caps(raw: float, notional: float, min_fee: float, max_pct: float | None) -> float:
    """Apply a per-order minimum, then a percent-of-notional maximum.

    The maximum is applied last, so on a tiny trade where ``max_pct`` of the
    notional is below the minimum the maximum wins (IBKR's documented rule:
    "if the calculated maximum per order is less than the minimum per order,
    the maximum per order will be assessed").
    """
    fee = max(raw, min_fee)
    if max_pct is not None:
        fee = min(fee, abs(notional) * max_pct / 100.0)
    return fee


class PerUnitFee:
    """A fixed fee per lot (share/contract), independent of liquidity.

    ``min_per_order`` is charged when the per-lot fee is smaller;
    ``max_pct_of_notional`` (in percent, e.g. 1.0 = 1 %) caps the fee.
    Each fill is treated as one order for the minimum and the cap.
    A zero-quantity fill costs nothing.
    """

    def __init__(self, per_lot: float, min_per_order: float = 0.0, max_pct_of_notional: float | None = None) -> None:
        if per_lot < 0:
            raise ScenarioError(f"per_unit fee: field 'per_lot' must be >= 0, got {per_lot}")
        if min_per_order < 0:
            raise ScenarioError(f"per_unit fee: field 'min_per_order' must be >= 0, got {min_per_order}")
        if max_pct_of_notional is not None and max_pct_of_notional < 0:
            raise ScenarioError(f"per_unit fee: field 'max_pct_of_notional' must be >= 0, got {max_pct_of_notional}")
        self.per_lot = float(per_lot)
        self.min_per_order = float(min_per_order)
        self.max_pct_of_notional = None if max_pct_of_notional is None else float(max_pct_of_notional)

    def fee(self, price: int, qty: int, liquidity: str, tick_value: float) -> float:
        _check_fill(qty, liquidity)
        if qty == 0:
            return 0.0
        return _apply_caps(self.per_lot * qty, price * qty * tick_value, self.min_per_order, self.max_pct_of_notional)

    def __repr__(self) -> str:
        return (
            f"PerUnitFee(per_lot={self.per_lot}, min_per_order={self.min_per_order}, "
            f"max_pct_of_notional={self.max_pct_of_notional})"
        )


# IBKR Pro "tiered" US stock commission: (upper bound of monthly shares, USD per share).
IBKR_US_STOCK_TIERS: tuple[tuple[float, float], ...] = (
    (300_000, 0.0035),
    (3_000_000, 0.002),
    (20_000_000, 0.0015),
    (100_000_000, 0.001),
    (float("inf"), 0.0005),
)


class IBKRTieredFee:
    """IBKR Pro tiered commission for US stocks (commission only).

    The per-share rate falls with the cumulative number of shares traded this
    month (:data:`IBKR_US_STOCK_TIERS`), with a minimum of ``min_per_order``
    (0.35 USD) and a maximum of ``max_pct_of_trade_value`` percent (1 %) of the
    trade value. The model is stateful: every fill adds ``qty * lot_size``
    shares to the monthly volume; call :meth:`reset_month` at a month boundary.

    Simplifications (documented, deliberate):

    * each fill is treated as a separate order execution for the minimum and
      the maximum (IBKR applies them per order, summed over its partial fills);
    * a fill that crosses a tier boundary is charged marginally: the shares
      below the boundary at the old rate, the rest at the new rate, so the fee
      does not depend on how a volume is split into fills (before the caps);
    * exchange, clearing, regulatory and pass-through fees are not modelled,
      and liquidity (maker/taker) does not change the commission.

    ``price * tick_value`` is the price of one lot in USD; a share costs that
    divided by ``lot_size``.
    """

    def __init__(
        self,
        lot_size: int = 1,
        min_per_order: float = 0.35,
        max_pct_of_trade_value: float = 1.0,
        tiers: tuple[tuple[float, float], ...] = IBKR_US_STOCK_TIERS,
        monthly_volume: int = 0,
    ) -> None:
        if lot_size < 1:
            raise ScenarioError(f"ibkr_tiered fee: field 'lot_size' must be >= 1, got {lot_size}")
        if min_per_order < 0:
            raise ScenarioError(f"ibkr_tiered fee: field 'min_per_order' must be >= 0, got {min_per_order}")
        if max_pct_of_trade_value < 0:
            raise ScenarioError(
                f"ibkr_tiered fee: field 'max_pct_of_trade_value' must be >= 0, got {max_pct_of_trade_value}"
            )
        if monthly_volume < 0:
            raise ScenarioError(f"ibkr_tiered fee: field 'monthly_volume' must be >= 0, got {monthly_volume}")
        bounds = [b for b, _ in tiers]
        if not tiers or bounds != sorted(bounds) or bounds[-1] != float("inf") or any(r < 0 for _, r in tiers):
            raise ScenarioError(
                "ibkr_tiered fee: field 'tiers' must be (upper_bound, rate) pairs with increasing bounds, "
                "non-negative rates, and a last bound of infinity"
            )
        self.lot_size = int(lot_size)
        self.min_per_order = float(min_per_order)
        self.max_pct_of_trade_value = float(max_pct_of_trade_value)
        self.tiers = tuple((float(b), float(r)) for b, r in tiers)
        self.monthly_volume = int(monthly_volume)  # shares traded so far this month

    def current_rate(self) -> float:
        """Per-share rate the next share would be charged."""
        for bound, rate in self.tiers:
            if self.monthly_volume < bound:
                return rate
        return self.tiers[-1][1]  # unreachable: the last bound is infinite

    def _commission(self, shares: int) -> float:
        """Marginal per-share commission of ``shares`` on top of the monthly volume."""
        total = 0.0
        done = self.monthly_volume
        left = shares
        for bound, rate in self.tiers:
            if left <= 0:
                break
            room = bound - done  # shares left in this tier (may be <= 0 if already past it)
            if room <= 0:
                continue
            take = left if left <= room else int(room)
            total += take * rate
            done += take
            left -= take
        return total

    def fee(self, price: int, qty: int, liquidity: str, tick_value: float) -> float:
        _check_fill(qty, liquidity)
        if qty == 0:
            return 0.0
        shares = qty * self.lot_size
        raw = self._commission(shares)
        self.monthly_volume += shares
        return _apply_caps(raw, price * qty * tick_value, self.min_per_order, self.max_pct_of_trade_value)

    def reset_month(self) -> None:
        """Start a new month: the cumulative volume goes back to zero."""
        self.monthly_volume = 0

    def __repr__(self) -> str:
        return f"IBKRTieredFee(lot_size={self.lot_size}, monthly_volume={self.monthly_volume})"


# --- configuration ---------------------------------------------------------------------------------------------------

_STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)  # strict: no "0.3" strings or bools
_NonNeg = Annotated[float, Field(ge=0)]


class _ZeroCfg(pydantic.BaseModel):
    model_config = _STRICT
    model: Literal["zero"]


class _MakerTakerCfg(pydantic.BaseModel):
    model_config = _STRICT
    model: Literal["maker_taker"]
    maker_bps: float
    taker_bps: float


class _PerUnitCfg(pydantic.BaseModel):
    model_config = _STRICT
    model: Literal["per_unit"]
    per_lot: _NonNeg
    min_per_order: _NonNeg = 0.0
    max_pct_of_notional: _NonNeg | None = None


class _IBKRCfg(pydantic.BaseModel):
    model_config = _STRICT
    model: Literal["ibkr_tiered"]
    lot_size: Annotated[int, Field(ge=1)] = 1
    min_per_order: _NonNeg = 0.35
    max_pct_of_trade_value: _NonNeg = 1.0
    monthly_volume: Annotated[int, Field(ge=0)] = 0


_CONFIGS: dict[str, type[pydantic.BaseModel]] = {
    "zero": _ZeroCfg,
    "maker_taker": _MakerTakerCfg,
    "per_unit": _PerUnitCfg,
    "ibkr_tiered": _IBKRCfg,
}


def _scenario_error(what: str, exc: pydantic.ValidationError) -> ScenarioError:
    """Turn a pydantic error into a ScenarioError whose text names every bad field."""
    return validation_error(what, exc)


def fee_model_from_config(cfg: dict[str, Any]) -> FeeModel:
    """Build a fee model from a scenario's ``fees`` table.

    ``{"model": "zero"}``, ``{"model": "maker_taker", "maker_bps": -0.2, "taker_bps": 0.3}``,
    ``{"model": "per_unit", "per_lot": 0.005, "min_per_order": 1.0, "max_pct_of_notional": 1.0}``,
    ``{"model": "ibkr_tiered", "lot_size": 1}``. Unknown models, unknown or
    missing fields and bad values raise :class:`ScenarioError` naming the field.
    """
    if not isinstance(cfg, dict):
        raise ScenarioError(f"fees: expected a table with a 'model' field, got {type(cfg).__name__}")
    model = cfg.get("model")
    if model is None:
        raise ScenarioError(f"fees: field 'model' is required (one of {', '.join(sorted(_CONFIGS))})")
    schema = _CONFIGS.get(model) if isinstance(model, str) else None
    if schema is None:
        raise ScenarioError(f"fees: field 'model' must be one of {', '.join(sorted(_CONFIGS))}, got {model!r}")
    try:
        parsed = schema.model_validate(cfg)
    except pydantic.ValidationError as exc:
        raise _scenario_error(f"fees (model {model!r})", exc) from None
    params = parsed.model_dump(exclude={"model"})
    if isinstance(parsed, _ZeroCfg):
        return ZeroFees()
    if isinstance(parsed, _MakerTakerCfg):
        return MakerTakerBps(**params)
    if isinstance(parsed, _PerUnitCfg):
        return PerUnitFee(**params)
    return IBKRTieredFee(**params)
