"""Tests of kernel.risk: every pre-trade check, check ordering, the token bucket,
the trading-state machine and PnL-driven state changes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import IllegalTransition, ParityError
from kernel.orders import Order, OrderStatus, OrderType, Side
from kernel.portfolio import Portfolio
from kernel.risk import RiskDecision, RiskEngine, RiskLimits, TradingState

TV = {1: 10.0, 2: 2.0}
OK = RiskDecision(True, "ok", "")


def order(
    oid: int = 12,
    side: Side = Side.BUY,
    qty: int = 10,
    price: int = 100,
    instrument: int = 1,
    order_type: OrderType = OrderType.LIMIT,
    stop_price: int = 0,
) -> Order:
    return Order(
        order_id=oid,
        instrument=instrument,
        side=side,
        qty=qty,
        price=price,
        order_type=order_type,
        stop_price=stop_price,
    )


def engine(starting_cash: float = 0.0, **limits: object) -> RiskEngine:
    return RiskEngine(RiskLimits(**limits), Portfolio(TV, starting_cash))


def check(eng: RiskEngine, o: Order, ts: int = 0, ref: int | None = 100, n: int = 0, buy: int = 0, sell: int = 0):
    return eng.check_order(o, ts, ref, n, buy, sell)


# -- individual checks -----------------------------------------------------------


def test_no_limits_accepts() -> None:
    eng = engine()
    assert check(eng, order(qty=10**9, price=10**9), ref=None) == OK


def test_limits_validation() -> None:
    with pytest.raises(ParityError, match="RiskLimits.max_order_qty must be positive"):
        RiskLimits(max_order_qty=0)
    with pytest.raises(ParityError, match="RiskLimits.max_drawdown must be positive"):
        RiskLimits(max_drawdown=-1.0)


def test_max_order_qty() -> None:
    eng = engine(max_order_qty=100)
    assert check(eng, order(qty=100)) == OK
    assert check(eng, order(qty=500)) == RiskDecision(
        False, "max_order_qty", "order 12: qty 500 exceeds max_order_qty 100"
    )


def test_invalid_qty_and_unknown_instrument() -> None:
    eng = engine()
    assert check(eng, order(qty=0)) == RiskDecision(False, "qty", "order 12: qty 0 is not positive")
    assert check(eng, order(instrument=7)) == RiskDecision(False, "instrument", "order 12: unknown instrument 7")


def test_max_order_notional_limit_price() -> None:
    eng = engine(max_order_notional=10_000.0)
    assert check(eng, order(qty=10, price=100)) == OK  # 10 * 100 * 10.0 = 10000
    assert check(eng, order(qty=11, price=100)) == RiskDecision(
        False, "max_order_notional", "order 12: notional 11000.00 exceeds max_order_notional 10000.00"
    )
    # The limit price is used, not the reference.
    assert check(eng, order(qty=10, price=101), ref=50) == RiskDecision(
        False, "max_order_notional", "order 12: notional 10100.00 exceeds max_order_notional 10000.00"
    )
    # A limit order needs no reference for the notional check.
    assert check(eng, order(qty=10, price=100), ref=None) == OK


def test_max_order_notional_market_order_uses_reference() -> None:
    eng = engine(max_order_notional=10_000.0)
    mkt = order(qty=10, price=0, order_type=OrderType.MARKET)
    assert check(eng, mkt, ref=100) == OK
    assert check(eng, mkt, ref=120) == RiskDecision(
        False, "max_order_notional", "order 12: notional 12000.00 exceeds max_order_notional 10000.00"
    )
    assert check(eng, mkt, ref=None) == RiskDecision(
        False, "reference_price", "order 12: no reference price for max_order_notional"
    )
    # Stop orders use their stop price.
    stop = order(qty=10, price=0, order_type=OrderType.STOP, stop_price=120)
    assert check(eng, stop, ref=None).check == "max_order_notional"


def test_no_reference_price_only_matters_with_notional_or_band() -> None:
    mkt = order(order_type=OrderType.MARKET, price=0)
    assert check(engine(max_order_qty=100, max_position=100), mkt, ref=None) == OK
    assert check(engine(price_band_bps=50.0), mkt, ref=None) == RiskDecision(
        False, "reference_price", "order 12: no reference price for price_band_bps"
    )
    assert check(engine(price_band_bps=50.0), order(), ref=None) == RiskDecision(
        False, "reference_price", "order 12: no reference price for price_band_bps"
    )


def test_price_band() -> None:
    eng = engine(price_band_bps=50.0)
    # Band edges are inclusive and exact: 10000 * (1 +- 0.005) = [9950, 10050].
    assert check(eng, order(price=10_050), ref=10_000) == OK
    assert check(eng, order(price=9_950), ref=10_000) == OK
    assert check(eng, order(price=10_051), ref=10_000) == RiskDecision(
        False,
        "price_band_bps",
        "order 12: price 10051 outside price_band_bps 50 around reference 10000 [9950.00, 10050.00]",
    )
    assert check(eng, order(price=9_949, side=Side.SELL), ref=10_000).check == "price_band_bps"
    # Market orders have no limit price to band.
    assert check(eng, order(price=0, order_type=OrderType.MARKET), ref=10_000) == OK
    # Stop-limit orders are banded on their limit price.
    sl = order(price=11_000, order_type=OrderType.STOP_LIMIT, stop_price=10_000)
    assert check(eng, sl, ref=10_000).check == "price_band_bps"


def test_max_open_orders() -> None:
    eng = engine(max_open_orders=5)
    assert check(eng, order(), n=4) == OK
    assert check(eng, order(), n=5) == RiskDecision(
        False, "max_open_orders", "order 12: open orders 6 would exceed max_open_orders 5"
    )


def test_max_position_worst_case() -> None:
    eng = engine(max_position=20)
    eng.portfolio.on_fill(1, 1, 5, 100, 0.0, ts=0)
    # 5 + open buy 10 + 5 = 20: at the limit.
    assert check(eng, order(qty=5), buy=10) == OK
    assert check(eng, order(qty=6), buy=10) == RiskDecision(
        False, "max_position", "order 12: worst-case position 21 exceeds max_position 20"
    )
    # Open sells do not offset a buy's worst case.
    assert check(eng, order(qty=6), buy=10, sell=50).check == "max_position"
    # Sell side: 5 - open sell 10 - 15 = -20 ok, -21 rejected.
    assert check(eng, order(side=Side.SELL, qty=15), sell=10) == OK
    assert check(eng, order(side=Side.SELL, qty=16), sell=10) == RiskDecision(
        False, "max_position", "order 12: worst-case position -21 exceeds max_position 20"
    )


def test_max_position_allows_reducing_when_over_limit() -> None:
    eng = engine(max_position=20)
    eng.portfolio.on_fill(1, 1, 30, 100, 0.0, ts=0)
    assert check(eng, order(side=Side.SELL, qty=5)) == OK
    assert check(eng, order(side=Side.BUY, qty=1)).check == "max_position"


def test_max_gross_position() -> None:
    eng = engine(max_gross_position=30)
    eng.portfolio.on_fill(2, -1, 10, 100, 0.0, ts=0)
    eng.portfolio.on_fill(1, 1, 5, 100, 0.0, ts=0)
    # other instruments 10 + worst(5 + open buy 5 + 10) = 30.
    assert check(eng, order(qty=10), buy=5) == OK
    assert check(eng, order(qty=11), buy=5) == RiskDecision(
        False, "max_gross_position", "order 12: worst-case gross position 31 exceeds max_gross_position 30"
    )
    # Working orders on other instruments count when passed in.
    assert eng.check_order(order(qty=10), 0, 100, 0, 5, 0, other_open_lots=1).check == "max_gross_position"
    # An order that does not raise the instrument's worst case passes even over the limit.
    assert eng.check_order(order(side=Side.SELL, qty=5), 0, 100, 0, 0, 0, other_open_lots=100) == OK


def test_rate_throttle_refill_timing() -> None:
    eng = engine(max_orders_per_sec=10.0, burst=2)
    assert check(eng, order(1), ts=0) == OK
    assert check(eng, order(2), ts=0) == OK
    assert check(eng, order(3), ts=0) == RiskDecision(
        False, "max_orders_per_sec", "order 3: order rate exceeds max_orders_per_sec 10 (burst 2)"
    )
    # One token takes exactly 100 ms at 10/s.
    assert check(eng, order(4), ts=99_999_999).check == "max_orders_per_sec"
    assert check(eng, order(5), ts=100_000_000) == OK
    assert check(eng, order(6), ts=100_000_000).check == "max_orders_per_sec"
    # A long idle period refills only up to the burst capacity.
    assert eng.tokens(10_000_000_000) == 2.0
    assert check(eng, order(7), ts=10_000_000_000) == OK
    assert check(eng, order(8), ts=10_000_000_000) == OK
    assert check(eng, order(9), ts=10_000_000_000).check == "max_orders_per_sec"


def test_rate_throttle_fractional_rate_exact() -> None:
    eng = engine(max_orders_per_sec=3.0)  # default burst = 3
    for i in range(3):
        assert check(eng, order(i), ts=0) == OK
    assert check(eng, order(3), ts=0) == RiskDecision(
        False, "max_orders_per_sec", "order 3: order rate exceeds max_orders_per_sec 3 (burst 3)"
    )
    assert check(eng, order(4), ts=333_333_333).check == "max_orders_per_sec"  # 0.999999999 token
    assert check(eng, order(5), ts=333_333_334) == OK


def test_rate_throttle_slow_rate_default_burst_one() -> None:
    eng = engine(max_orders_per_sec=0.5)
    assert check(eng, order(1), ts=0) == OK
    assert check(eng, order(2), ts=1_999_999_999).check == "max_orders_per_sec"
    assert check(eng, order(3), ts=2_000_000_000) == OK


def test_rate_token_consumed_only_when_all_checks_pass() -> None:
    eng = engine(max_orders_per_sec=1.0, max_order_qty=10)
    assert check(eng, order(1, qty=11), ts=0).check == "max_order_qty"
    assert check(eng, order(2, qty=10), ts=0) == OK
    assert check(eng, order(3, qty=10), ts=0).check == "max_orders_per_sec"


def test_rate_throttle_ignores_time_going_backwards() -> None:
    eng = engine(max_orders_per_sec=1.0)
    assert check(eng, order(1), ts=5_000_000_000) == OK
    assert check(eng, order(2), ts=1_000_000_000).check == "max_orders_per_sec"
    assert check(eng, order(3), ts=6_000_000_000) == OK


def test_check_ordering() -> None:
    limits = dict(
        max_order_qty=10,
        max_order_notional=500.0,
        price_band_bps=10.0,
        max_open_orders=1,
        max_position=5,
        max_gross_position=5,
        max_orders_per_sec=1.0,
        burst=1,
    )
    eng = engine(**limits)
    eng.check_order(order(1, qty=1, price=10), 0, 10, 0, 0, 0)  # spends the only token
    # Violates every limit; each time the first failing check is relaxed the next shows.
    expected = [
        ("max_order_qty", {"max_order_qty": None}),
        ("max_order_notional", {"max_order_notional": None}),
        ("price_band_bps", {"price_band_bps": None}),
        ("max_open_orders", {"max_open_orders": None}),
        ("max_position", {"max_position": None}),
        ("max_gross_position", {"max_gross_position": None}),
        ("max_orders_per_sec", {"max_orders_per_sec": None}),
    ]
    bad = order(2, qty=20, price=200)
    for name, relax in expected:
        assert eng.check_order(bad, 0, 100, 3, 0, 0).check == name
        limits.update(relax)
        new = engine(**limits)
        if new._bucket is not None:
            new.check_order(order(1, qty=1, price=100), 0, 100, 0, 0, 0)
        eng = new
    assert eng.check_order(bad, 0, 100, 3, 0, 0) == OK


def test_state_check_comes_first() -> None:
    eng = engine(max_order_qty=1)
    eng.kill(0, "test")
    assert check(eng, order(qty=50)).check == "trading_state"


# -- trading states ---------------------------------------------------------------


def test_halted_rejects_everything() -> None:
    eng = engine()
    eng.portfolio.on_fill(1, 1, 10, 100, 0.0, ts=0)
    eng.set_state(TradingState.HALTED, 5, "manual")
    reason = "order 12: trading state HALTED rejects new orders"
    for o in (
        order(),
        order(side=Side.SELL, qty=1),  # even a reducing order
        order(order_type=OrderType.MARKET, price=0),
        order(instrument=2),
    ):
        assert check(eng, o) == RiskDecision(False, "trading_state", reason)


def test_reducing_with_working_orders() -> None:
    eng = engine()
    eng.portfolio.on_fill(1, 1, 10, 100, 0.0, ts=0)
    eng.set_state(TradingState.REDUCING, 1, "manual")
    assert check(eng, order(side=Side.SELL, qty=10)) == OK
    assert check(eng, order(side=Side.SELL, qty=6), sell=4) == OK
    assert check(eng, order(side=Side.SELL, qty=7), sell=4) == RiskDecision(
        False, "trading_state", "order 12: SELL 7 does not reduce position 10 (open SELL 4) while REDUCING"
    )
    assert check(eng, order(side=Side.BUY, qty=1)) == RiskDecision(
        False, "trading_state", "order 12: BUY 1 does not reduce position 10 (open BUY 0) while REDUCING"
    )
    # Flat instrument: nothing reduces.
    assert check(eng, order(instrument=2, side=Side.SELL, qty=1)).check == "trading_state"
    # Short position: buys reduce.
    eng.portfolio.on_fill(2, -1, 3, 100, 0.0, ts=2)
    assert check(eng, order(instrument=2, side=Side.BUY, qty=3)) == OK
    assert check(eng, order(instrument=2, side=Side.BUY, qty=2), buy=2).check == "trading_state"
    # Reducing orders still go through the limit checks.
    eng.limits.max_order_qty = 5
    assert check(eng, order(side=Side.SELL, qty=6)).check == "max_order_qty"


def test_is_reducing() -> None:
    eng = engine()
    eng.portfolio.on_fill(1, 1, 10, 100, 0.0, ts=0)
    assert eng.is_reducing(-1, 10, 1, 0, 0)
    assert not eng.is_reducing(-1, 11, 1, 0, 0)
    assert eng.is_reducing(-1, 5, 1, 100, 5)  # open buys do not matter for a sell
    assert not eng.is_reducing(1, 1, 1, 0, 0)
    assert not eng.is_reducing(-1, 0, 1, 0, 0)
    assert not eng.is_reducing(1, 1, 2, 0, 0)


def test_flatten_bypasses_state_but_must_reduce() -> None:
    eng = engine(max_order_qty=1, max_orders_per_sec=1.0, burst=1)
    eng.portfolio.on_fill(1, 1, 10, 100, 0.0, ts=0)
    eng.kill(1, "operator")
    sell = order(side=Side.SELL, qty=10, order_type=OrderType.MARKET, price=0)
    assert eng.check_order(sell, 2, None, 0, 0, 0, flatten=True) == OK
    assert eng.check_order(sell, 2, None, 0, 0, 0, flatten=True) == OK  # no rate token used
    assert eng.check_order(order(side=Side.SELL, qty=11), 2, None, 0, 0, 0, flatten=True) == RiskDecision(
        False, "flatten", "order 12: flatten SELL 11 does not reduce position 10 (open SELL 0)"
    )
    assert eng.check_order(order(side=Side.BUY, qty=1), 2, None, 0, 0, 0, flatten=True).check == "flatten"


def test_transition_table() -> None:
    eng = engine()
    with pytest.raises(IllegalTransition, match="ACTIVE -> ACTIVE"):
        eng.set_state(TradingState.ACTIVE, 1, "x")
    eng.set_state(TradingState.REDUCING, 1, "a")
    eng.set_state(TradingState.ACTIVE, 2, "b")
    eng.set_state(TradingState.REDUCING, 3, "c")
    eng.set_state(TradingState.HALTED, 4, "d")
    with pytest.raises(IllegalTransition, match=r"HALTED -> ACTIVE \(only reset\(\) leaves HALTED\)"):
        eng.set_state(TradingState.ACTIVE, 5, "e")
    with pytest.raises(IllegalTransition, match="HALTED -> REDUCING"):
        eng.set_state(TradingState.REDUCING, 5, "e")
    eng.reset(6, "morning")
    assert eng.state == TradingState.ACTIVE
    A, R, H = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED
    assert eng.transitions == [
        (1, A, R, "a"),
        (2, R, A, "b"),
        (3, A, R, "c"),
        (4, R, H, "d"),
        (6, H, A, "morning"),
    ]


def test_kill_and_reset() -> None:
    eng = engine()
    assert not eng.killed
    eng.kill(10, "fat finger")
    assert eng.killed and eng.state == TradingState.HALTED
    eng.kill(11, "again")  # idempotent: no self-transition recorded
    assert eng.transitions == [(10, TradingState.ACTIVE, TradingState.HALTED, "fat finger")]
    assert check(eng, order()).check == "trading_state"
    eng.reset(20, "cleared")
    assert not eng.killed and eng.state == TradingState.ACTIVE
    assert check(eng, order()) == OK
    eng.reset(21, "noop")  # already ACTIVE: no transition
    assert len(eng.transitions) == 2


# -- PnL-driven states ----------------------------------------------------------------


def test_daily_loss_halts() -> None:
    eng = engine(max_daily_loss=1000.0)
    p = eng.portfolio
    p.on_fill(1, 1, 10, 100, 0.0, ts=1)
    p.mark(1, 91, ts=2)  # -900
    assert eng.on_pnl(2) is None
    p.mark(1, 90, ts=3)  # -1000
    assert eng.on_pnl(3) == TradingState.HALTED
    assert eng.transitions[-1] == (
        3,
        TradingState.ACTIVE,
        TradingState.HALTED,
        "daily loss 1000.00 reached max_daily_loss 1000.00",
    )
    assert eng.on_pnl(4) is None  # already halted
    # A reset rebases the daily loss: the same loss does not halt again.
    eng.reset(5, "ops")
    assert eng.on_pnl(5) is None
    p.mark(1, 1, ts=6)
    assert eng.on_pnl(6) == TradingState.HALTED


def test_daily_loss_counts_fees_and_start_day() -> None:
    eng = engine(max_daily_loss=10.0)
    p = eng.portfolio
    p.on_fill(1, 1, 1, 100, 6.0, ts=1)
    assert eng.on_pnl(1) is None
    eng.start_day(2)
    p.on_fill(1, -1, 1, 100, 6.0, ts=3)  # -12 total but only -6 today
    assert eng.on_pnl(3) is None
    assert eng.daily_pnl() == -6.0
    p.on_fill(1, 1, 1, 100, 4.0, ts=4)
    assert eng.on_pnl(4) == TradingState.HALTED


def test_drawdown_halts_and_reducing_drawdown_reduces() -> None:
    eng = engine(reducing_drawdown=300.0, max_drawdown=500.0)
    p = eng.portfolio
    p.on_fill(1, 1, 10, 100, 0.0, ts=1)
    p.mark(1, 110, ts=2)  # +1000 peak
    assert eng.on_pnl(2) is None
    p.mark(1, 107, ts=3)  # drawdown 300
    assert eng.on_pnl(3) == TradingState.REDUCING
    assert eng.transitions[-1][3] == "drawdown 300.00 reached reducing_drawdown 300.00"
    p.mark(1, 109, ts=4)  # recovers: REDUCING is sticky
    assert eng.on_pnl(4) is None
    assert eng.state == TradingState.REDUCING
    p.mark(1, 105, ts=5)  # drawdown 500
    assert eng.on_pnl(5) == TradingState.HALTED
    assert eng.transitions[-1] == (
        5,
        TradingState.REDUCING,
        TradingState.HALTED,
        "drawdown 500.00 reached max_drawdown 500.00",
    )


def test_drawdown_peak_between_on_pnl_calls_counts() -> None:
    # The portfolio tracks the peak at every mark, so a peak the engine never
    # saw directly still sets the drawdown.
    eng = engine(max_drawdown=500.0)
    p = eng.portfolio
    p.on_fill(1, 1, 10, 100, 0.0, ts=1)
    p.mark(1, 150, ts=2)
    p.mark(1, 145, ts=3)
    assert eng.on_pnl(3) == TradingState.HALTED


def test_drawdown_rebased_after_reset() -> None:
    eng = engine(max_drawdown=500.0)
    p = eng.portfolio
    p.on_fill(1, 1, 10, 100, 0.0, ts=1)
    p.mark(1, 150, ts=2)
    p.mark(1, 100, ts=3)
    assert eng.on_pnl(3) == TradingState.HALTED
    eng.reset(4, "ops")
    assert eng.drawdown() == 0.0
    p.mark(1, 96, ts=5)  # 400 below the reset level
    assert eng.on_pnl(5) is None
    p.mark(1, 120, ts=6)  # +200 at 120 vs old peak +500: seen at on_pnl
    assert eng.on_pnl(6) is None
    p.mark(1, 70, ts=7)  # 500 below the post-reset high
    assert eng.on_pnl(7) == TradingState.HALTED
    eng.reset(8, "ops")
    p.mark(1, 200, ts=9)  # new all-time high (+1000) between on_pnl calls
    p.mark(1, 150, ts=10)
    assert eng.on_pnl(10) == TradingState.HALTED


# -- amends -------------------------------------------------------------------------


def working(oid: int = 12, side: Side = Side.BUY, qty: int = 10, price: int = 100, filled: int = 0) -> Order:
    o = order(oid, side=side, qty=qty, price=price)
    o.transition(OrderStatus.PENDING_NEW, 0)
    o.transition(OrderStatus.ACCEPTED, 0)
    if filled:
        o.apply_fill(price, filled, 0)
    return o


def test_amend_checks_new_values() -> None:
    eng = engine(max_order_qty=20, max_position=25, price_band_bps=100.0)
    o = working(qty=10)
    # open_buy 10 includes this order's leaves; replaced by the new qty.
    assert eng.check_amend(o, 100, 20, 0, 100, 1, 10, 0) == OK
    assert eng.check_amend(o, 100, 21, 0, 100, 1, 10, 0) == RiskDecision(
        False, "max_order_qty", "order 12: qty 21 exceeds max_order_qty 20"
    )
    assert eng.check_amend(o, 102, 10, 0, 100, 1, 10, 0).check == "price_band_bps"
    assert eng.check_amend(o, 100, 20, 0, 100, 2, 16, 0) == RiskDecision(
        False, "max_position", "order 12: worst-case position 26 exceeds max_position 25"
    )


def test_amend_of_partially_filled_order() -> None:
    eng = engine(max_position=10)
    o = working(qty=10, filled=4)
    eng.portfolio.on_fill(1, 1, 4, 100, 0.0, ts=0)
    # position 4 + new leaves (10 - 4) = 10.
    assert eng.check_amend(o, 100, 10, 0, 100, 1, 6, 0) == OK
    assert eng.check_amend(o, 100, 11, 0, 100, 1, 6, 0).check == "max_position"
    assert eng.check_amend(o, 100, 4, 0, 100, 1, 6, 0) == RiskDecision(
        False, "qty", "order 12: amended qty 4 is not above filled qty 4"
    )


def test_amend_open_orders_not_incremented() -> None:
    eng = engine(max_open_orders=3)
    o = working()
    assert eng.check_amend(o, 101, 10, 0, 100, 3, 10, 0) == OK
    assert eng.check_amend(o, 101, 10, 0, 100, 4, 10, 0) == RiskDecision(
        False, "max_open_orders", "order 12: open orders 4 would exceed max_open_orders 3"
    )


def test_amend_rate_tokens() -> None:
    eng = engine(max_orders_per_sec=1.0, burst=1)
    o = working()
    assert eng.check_amend(o, 101, 10, 0, 100, 1, 10, 0) == OK  # price change: token used
    assert eng.check_amend(o, 102, 10, 0, 100, 1, 10, 0).check == "max_orders_per_sec"
    assert eng.check_amend(o, 100, 12, 0, 100, 1, 10, 0).check == "max_orders_per_sec"  # qty up
    assert eng.check_amend(o, 100, 5, 0, 100, 1, 10, 0) == OK  # qty down: no token needed
    assert eng.tokens(0) == 0.0


def test_amend_states() -> None:
    eng = engine()
    eng.portfolio.on_fill(1, 1, 10, 100, 0.0, ts=0)
    buy = working(side=Side.BUY, qty=10)
    sell = working(13, side=Side.SELL, qty=4)
    eng.set_state(TradingState.REDUCING, 1, "dd")
    assert eng.check_amend(buy, 100, 5, 2, 100, 2, 10, 4) == OK  # qty down always fine
    assert eng.check_amend(buy, 101, 10, 2, 100, 2, 10, 4) == RiskDecision(
        False, "trading_state", "order 12: BUY 10 does not reduce position 10 (open BUY 0) while REDUCING"
    )
    assert eng.check_amend(sell, 100, 10, 2, 100, 2, 10, 4) == OK
    assert eng.check_amend(sell, 100, 11, 2, 100, 2, 10, 4).check == "trading_state"
    eng.kill(3, "stop")
    assert eng.check_amend(sell, 99, 4, 4, 100, 2, 10, 4) == RiskDecision(
        False, "trading_state", "order 13: trading state HALTED rejects amends that add risk"
    )
    assert eng.check_amend(sell, 100, 2, 4, 100, 2, 10, 4) == OK


# -- property tests ------------------------------------------------------------------

MAX_POS = 25
MAX_GROSS = 40

_submit = st.tuples(
    st.just("submit"), st.sampled_from([1, 2]), st.sampled_from([1, -1]), st.integers(1, 30), st.booleans()
)
_fill = st.tuples(st.just("fill"), st.integers(0, 1000))
_cancel = st.tuples(st.just("cancel"), st.integers(0, 1000))
_state = st.tuples(st.just("state"), st.sampled_from([TradingState.ACTIVE, TradingState.REDUCING]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_submit, _fill, _cancel, _state), max_size=80))
def test_accepted_orders_never_exceed_position_limits(steps: list[tuple]) -> None:
    eng = RiskEngine(RiskLimits(max_position=MAX_POS, max_gross_position=MAX_GROSS), Portfolio(TV))
    p = eng.portfolio
    working_orders: list[tuple[int, int, int]] = []  # (instrument, side, qty)

    def open_qty(inst: int, side: int) -> int:
        return sum(q for i, s, q in working_orders if i == inst and s == side)

    def worst(inst: int) -> int:
        pos = p.position(inst)
        return max(abs(pos + open_qty(inst, 1)), abs(pos - open_qty(inst, -1)))

    oid = 0
    for ts, step in enumerate(steps):
        kind = step[0]
        if kind == "submit":
            _, inst, side, qty, flatten = step
            oid += 1
            other = sum(q for i, _, q in working_orders if i != inst)
            d = eng.check_order(
                order(oid, Side(side), qty, 100, inst),
                ts,
                100,
                len(working_orders),
                open_qty(inst, 1),
                open_qty(inst, -1),
                flatten=flatten,
                other_open_lots=other,
            )
            if d.accepted:
                working_orders.append((inst, side, qty))
        elif kind == "fill" and working_orders:
            inst, side, qty = working_orders.pop(step[1] % len(working_orders))
            p.on_fill(inst, side, qty, 100, 0.0, ts)  # filled in full
        elif kind == "cancel" and working_orders:
            working_orders.pop(step[1] % len(working_orders))
        elif kind == "state" and step[1] != eng.state:
            eng.set_state(step[1], ts, "test")
        for inst in TV:
            pos = p.position(inst)
            assert pos + open_qty(inst, 1) <= MAX_POS
            assert pos - open_qty(inst, -1) >= -MAX_POS
            assert abs(pos) <= MAX_POS
        assert sum(worst(i) for i in TV) <= MAX_GROSS
        assert p.gross_position() <= MAX_GROSS
