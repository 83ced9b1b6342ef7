"""Tests of venues.fees: exact fee numbers, caps, IBKR tiers and config parsing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import ScenarioError
from venues.fees import (
    FeeModel,
    IBKRTieredFee,
    MakerTakerBps,
    PerUnitFee,
    ZeroFees,
    fee_model_from_config,
)

# A $50.00 stock quoted in cents: price 5000 ticks, tick value $0.01 per share (lot_size 1).
PX = 5000
TV = 0.01


# ---------------------------------------------------------------- simple models


def test_zero_fees() -> None:
    assert ZeroFees().fee(PX, 100, "M", TV) == 0.0
    assert ZeroFees().fee(PX, 100, "T", TV) == 0.0


def test_maker_taker_rebate_and_fee_exact() -> None:
    m = MakerTakerBps(maker_bps=-0.2, taker_bps=0.3)
    # notional = 10000 * 2 * 1.0 = 20000; 1 bp = 1e-4
    assert m.fee(10_000, 2, "M", 1.0) == pytest.approx(-0.4)
    assert m.fee(10_000, 2, "T", 1.0) == pytest.approx(0.6)
    assert m.fee(10_000, 0, "T", 1.0) == 0.0


@given(
    price=st.integers(1, 10**7),
    qty=st.integers(1, 10**6),
    maker=st.floats(-5, -0.01),
    taker=st.floats(0.01, 5),
)
@settings(max_examples=50, deadline=None)
def test_maker_taker_signs_and_linearity(price: int, qty: int, maker: float, taker: float) -> None:
    m = MakerTakerBps(maker, taker)
    assert m.fee(price, qty, "M", 0.01) < 0 < m.fee(price, qty, "T", 0.01)
    assert m.fee(price, 2 * qty, "T", 0.01) == pytest.approx(2 * m.fee(price, qty, "T", 0.01))


def test_per_unit_fee_plain_min_and_max() -> None:
    f = PerUnitFee(per_lot=0.005, min_per_order=1.0, max_pct_of_notional=1.0)
    assert f.fee(PX, 1000, "T", TV) == pytest.approx(5.0)  # 1000 * 0.005, between min and max
    assert f.fee(PX, 100, "M", TV) == pytest.approx(1.0)  # 0.5 raised to the minimum
    # 100 shares at $0.50 (50 ticks): notional 50, 1 % = 0.5 < minimum 1.0 -> the maximum wins
    assert f.fee(50, 100, "T", TV) == pytest.approx(0.5)
    assert PerUnitFee(per_lot=1.0, max_pct_of_notional=1.0).fee(100, 10, "T", TV) == pytest.approx(0.1)
    assert PerUnitFee(per_lot=0.01).fee(PX, 7, "M", TV) == pytest.approx(0.07)  # no caps
    assert f.fee(PX, 0, "T", TV) == 0.0  # nothing traded, no minimum


def test_bad_liquidity_or_qty_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="liquidity"):
        MakerTakerBps(0, 0).fee(PX, 1, "X", TV)
    with pytest.raises(ValueError, match="qty"):
        PerUnitFee(0.01).fee(PX, -1, "T", TV)


def test_models_satisfy_the_protocol() -> None:
    for m in (ZeroFees(), MakerTakerBps(-0.2, 0.3), PerUnitFee(0.005), IBKRTieredFee()):
        assert isinstance(m, FeeModel)


# ---------------------------------------------------------------- IBKR tiered


def test_ibkr_first_tier_min_and_rate() -> None:
    f = IBKRTieredFee()
    assert f.fee(PX, 100, "T", TV) == pytest.approx(0.35)  # 100 * 0.0035 = 0.35 == the minimum
    assert f.fee(PX, 50, "T", TV) == pytest.approx(0.35)  # 0.175 raised to the minimum
    assert f.fee(PX, 1000, "M", TV) == pytest.approx(3.5)  # maker or taker: same commission
    assert f.monthly_volume == 1150


def test_ibkr_tier_crossing_is_marginal() -> None:
    f = IBKRTieredFee(monthly_volume=299_900)
    assert f.current_rate() == 0.0035
    # 100 shares left in tier 1 at 0.0035, 900 in tier 2 at 0.002
    assert f.fee(PX, 1000, "T", TV) == pytest.approx(100 * 0.0035 + 900 * 0.002)
    assert f.monthly_volume == 300_900
    assert f.current_rate() == 0.002
    assert f.fee(PX, 1000, "T", TV) == pytest.approx(2.0)


def test_ibkr_all_tiers() -> None:
    rates = [(0, 0.0035), (300_000, 0.002), (3_000_000, 0.0015), (20_000_000, 0.001), (100_000_000, 0.0005)]
    for volume, rate in rates:
        f = IBKRTieredFee(monthly_volume=volume)
        assert f.current_rate() == rate
        assert f.fee(PX, 10_000, "T", TV) == pytest.approx(10_000 * rate)
    # Crossing the last boundary: 10 shares at 0.001 and 990 at 0.0005 = 0.505
    f = IBKRTieredFee(monthly_volume=100_000_000 - 10)
    assert f.fee(PX, 1000, "T", TV) == pytest.approx(10 * 0.001 + 990 * 0.0005)
    # A fill spanning several tiers at once
    f = IBKRTieredFee(monthly_volume=0)
    shares = 3_500_000
    expected = 300_000 * 0.0035 + 2_700_000 * 0.002 + 500_000 * 0.0015
    assert f.fee(PX, shares, "T", TV) == pytest.approx(expected)


def test_ibkr_max_one_percent_of_trade_value() -> None:
    f = IBKRTieredFee()
    # 1000 shares at $0.10: value $100, raw 3.50 -> capped at 1 % = 1.00
    assert f.fee(10, 1000, "T", TV) == pytest.approx(1.0)
    # 10 shares at $1: value $10, raw 0.035 -> min 0.35 -> max 0.10 wins
    assert f.fee(100, 10, "T", TV) == pytest.approx(0.1)


def test_ibkr_lot_size_and_reset() -> None:
    f = IBKRTieredFee(lot_size=100)
    # 2 lots = 200 shares at $50 (price * tick_value = $5000 per lot of 100 shares)
    assert f.fee(PX, 2, "T", 100 * TV) == pytest.approx(0.7)
    assert f.monthly_volume == 200
    f.reset_month()
    assert f.monthly_volume == 0


@given(st.lists(st.integers(1, 2_000_000), min_size=1, max_size=8), st.integers(0, 150_000_000))
@settings(max_examples=60, deadline=None)
def test_ibkr_uncapped_fee_does_not_depend_on_fill_split(fills: list[int], start: int) -> None:
    # Without the per-order min/max, charging tiers marginally makes the split irrelevant.
    split = IBKRTieredFee(min_per_order=0.0, max_pct_of_trade_value=1e9, monthly_volume=start)
    whole = IBKRTieredFee(min_per_order=0.0, max_pct_of_trade_value=1e9, monthly_volume=start)
    total = sum(split.fee(PX, q, "T", TV) for q in fills)
    assert total == pytest.approx(whole.fee(PX, sum(fills), "T", TV), rel=1e-9)
    assert split.monthly_volume == whole.monthly_volume == start + sum(fills)


def test_ibkr_constructor_validation_names_field() -> None:
    with pytest.raises(ScenarioError, match="lot_size"):
        IBKRTieredFee(lot_size=0)
    with pytest.raises(ScenarioError, match="tiers"):
        IBKRTieredFee(tiers=((100, 0.01), (50, 0.005), (float("inf"), 0.001)))
    with pytest.raises(ScenarioError, match="per_lot"):
        PerUnitFee(per_lot=-1)


# ---------------------------------------------------------------- config


def test_config_builds_each_model() -> None:
    m = fee_model_from_config({"model": "maker_taker", "maker_bps": -0.2, "taker_bps": 0.3})
    assert isinstance(m, MakerTakerBps) and m.maker_bps == -0.2 and m.taker_bps == 0.3
    assert isinstance(fee_model_from_config({"model": "zero"}), ZeroFees)
    p = fee_model_from_config({"model": "per_unit", "per_lot": 0.005, "min_per_order": 1, "max_pct_of_notional": 1})
    assert isinstance(p, PerUnitFee) and (p.per_lot, p.min_per_order, p.max_pct_of_notional) == (0.005, 1.0, 1.0)
    assert isinstance(fee_model_from_config({"model": "per_unit", "per_lot": 1}), PerUnitFee)
    i = fee_model_from_config({"model": "ibkr_tiered", "lot_size": 100})
    assert isinstance(i, IBKRTieredFee) and i.lot_size == 100 and i.min_per_order == 0.35
    assert i.max_pct_of_trade_value == 1.0


@pytest.mark.parametrize(
    ("cfg", "words"),
    [
        ({"model": "flat"}, ["'model'", "flat", "maker_taker"]),
        ({"maker_bps": 1.0}, ["'model'", "required"]),
        ({"model": 3}, ["'model'"]),
        ({"model": "maker_taker", "maker_bps": -0.2}, ["'taker_bps'", "required"]),
        ({"model": "maker_taker", "maker_bps": "x", "taker_bps": 0.3}, ["'maker_bps'"]),
        ({"model": "maker_taker", "maker_bps": True, "taker_bps": 0.3}, ["'maker_bps'"]),
        ({"model": "maker_taker", "maker_bps": float("nan"), "taker_bps": 0.3}, ["'maker_bps'"]),
        ({"model": "maker_taker", "maker_bps": -0.2, "taker_bps": 0.3, "rebate": 1}, ["'rebate'", "unknown"]),
        ({"model": "per_unit"}, ["'per_lot'"]),
        ({"model": "per_unit", "per_lot": -0.01}, ["'per_lot'", "greater than or equal"]),
        ({"model": "per_unit", "per_lot": 0.01, "max_pct_of_notional": -1}, ["'max_pct_of_notional'"]),
        ({"model": "ibkr_tiered", "lot_size": 0}, ["'lot_size'"]),
        ({"model": "ibkr_tiered", "lot_size": 1.5}, ["'lot_size'"]),
        ({"model": "zero", "per_lot": 1}, ["'per_lot'", "unknown"]),
    ],
)
def test_config_errors_name_the_field(cfg: dict, words: list[str]) -> None:
    with pytest.raises(ScenarioError) as info:
        fee_model_from_config(cfg)
    for word in words:
        assert word in str(info.value)


def test_config_must_be_a_table() -> None:
    with pytest.raises(ScenarioError, match="'model'"):
        fee_model_from_config("maker_taker")  # type: ignore[arg-type]
