"""Tests of kernel.portfolio: accounting, PnL, drawdown and the accounting identity."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.errors import DataError
from kernel.portfolio import Portfolio

TV = {1: 10.0, 2: 0.5, 3: 12.5}


def test_empty_portfolio() -> None:
    p = Portfolio(TV, starting_cash=1000.0)
    assert p.cash == 1000.0
    assert p.equity == 1000.0
    assert p.position(1) == 0
    assert p.avg_price(1) == 0.0
    assert p.realized_pnl() == 0.0
    assert p.unrealized_pnl() == 0.0
    assert p.net_pnl == 0.0
    assert p.peak_equity == 1000.0
    assert p.max_drawdown == 0.0
    assert p.fill_count == 0 and p.traded_qty == 0
    assert p.gross_position() == 0 and p.gross_exposure() == 0.0


def test_buy_then_sell_round_trip() -> None:
    p = Portfolio(TV)
    assert p.on_fill(1, 1, 5, 100, 1.0, ts=1) == 0.0
    assert p.position(1) == 5
    assert p.avg_price(1) == 100.0
    assert p.cash == -(5 * 100 * 10.0) - 1.0
    r = p.on_fill(1, -1, 5, 103, 1.0, ts=2)
    assert r == (103 - 100) * 5 * 10.0
    assert p.position(1) == 0
    assert p.avg_price(1) == 0.0
    assert p.realized_pnl(1) == 150.0
    assert p.fees == 2.0
    assert p.fees_by_instrument[1] == 2.0
    assert p.net_pnl == 148.0
    assert p.cash == 148.0
    assert p.fill_count == 2 and p.traded_qty == 10


def test_short_round_trip() -> None:
    p = Portfolio(TV)
    p.on_fill(2, -1, 4, 200, 0.0, ts=1)
    assert p.position(2) == -4
    assert p.avg_price(2) == 200.0
    r = p.on_fill(2, 1, 4, 190, 0.0, ts=2)
    assert r == (200 - 190) * 4 * 0.5
    assert p.realized_pnl() == 20.0


def test_adding_averages_entry_price() -> None:
    p = Portfolio(TV)
    p.on_fill(1, 1, 1, 100, 0.0, ts=1)
    p.on_fill(1, 1, 3, 104, 0.0, ts=2)
    assert p.position(1) == 4
    assert p.avg_price(1) == 103.0
    # Partial close keeps the average and realizes against it.
    r = p.on_fill(1, -1, 2, 105, 0.0, ts=3)
    assert r == (105 - 103) * 2 * 10.0
    assert p.position(1) == 2
    assert p.avg_price(1) == 103.0


def test_flip_through_zero() -> None:
    p = Portfolio(TV)
    p.on_fill(1, 1, 3, 100, 0.0, ts=1)
    r = p.on_fill(1, -1, 5, 110, 0.0, ts=2)
    assert r == (110 - 100) * 3 * 10.0  # only the closed 3 lots realize
    assert p.position(1) == -2
    assert p.avg_price(1) == 110.0
    r = p.on_fill(1, 1, 2, 105, 0.0, ts=3)
    assert r == (110 - 105) * 2 * 10.0
    assert p.position(1) == 0 and p.avg_price(1) == 0.0


def test_fees_and_rebates() -> None:
    p = Portfolio(TV)
    p.on_fill(1, 1, 1, 100, 2.5, ts=1)
    p.on_fill(2, 1, 1, 100, -0.75, ts=2)  # rebate
    assert p.fees == 1.75
    assert p.fees_by_instrument == {1: 2.5, 2: -0.75, 3: 0.0}
    assert p.cash == -1000.0 - 2.5 - 50.0 + 0.75


def test_mark_unrealized_equity_and_exposure() -> None:
    p = Portfolio(TV, starting_cash=10_000.0)
    p.on_fill(1, 1, 2, 100, 0.0, ts=1)
    p.on_fill(2, -1, 10, 50, 0.0, ts=2)
    # No mark yet: unrealized 0 and positions valued at cost.
    assert p.unrealized_pnl() == 0.0
    assert p.equity == 10_000.0
    assert p.gross_exposure() == 2 * 100 * 10.0 + 10 * 50 * 0.5
    p.mark(1, 97, ts=3)
    p.mark(2, 52, ts=4)
    assert p.unrealized_pnl(1) == (97 - 100) * 2 * 10.0
    assert p.unrealized_pnl(2) == (52 - 50) * -10 * 0.5
    assert p.unrealized_pnl() == -70.0
    assert p.net_pnl == -70.0
    assert p.equity == pytest.approx(10_000.0 - 70.0)
    assert p.gross_exposure() == 2 * 97 * 10.0 + 10 * 52 * 0.5
    assert p.gross_position() == 12
    assert p.mark_price(1) == 97
    assert p.mark_price(3) is None


def test_drawdown_tracking() -> None:
    p = Portfolio(TV, starting_cash=100.0)
    p.on_fill(1, 1, 1, 100, 0.0, ts=1)
    p.mark(1, 110, ts=2)  # +100
    assert p.peak_equity == 200.0
    assert p.max_drawdown == 0.0
    p.mark(1, 104, ts=3)  # +40
    assert p.drawdown == 60.0
    assert p.max_drawdown == 60.0
    p.mark(1, 108, ts=4)  # recovers partly: max drawdown stays
    assert p.drawdown == 20.0
    assert p.max_drawdown == 60.0
    p.mark(1, 120, ts=5)  # new peak
    assert p.peak_equity == 300.0
    assert p.drawdown == 0.0
    assert p.max_drawdown == 60.0


def test_drawdown_from_fees_only() -> None:
    p = Portfolio(TV)
    p.on_fill(1, 1, 1, 100, 3.0, ts=1)
    assert p.max_drawdown == 3.0


def test_snapshot_is_json_able() -> None:
    p = Portfolio(TV, starting_cash=5.0)
    p.on_fill(1, 1, 2, 100, 0.5, ts=7)
    p.mark(1, 101, ts=8)
    snap = p.snapshot()
    assert json.loads(json.dumps(snap)) == snap
    assert snap["ts"] == 8
    assert snap["instruments"]["1"] == {
        "position": 2,
        "avg_price": 100.0,
        "mark": 101,
        "realized_pnl": 0.0,
        "unrealized_pnl": 20.0,
        "fees": 0.5,
        "fill_count": 1,
        "traded_qty": 2,
    }
    assert snap["instruments"]["3"]["mark"] is None
    assert snap["net_pnl"] == 19.5
    assert snap["fill_count"] == 1


def test_bad_inputs_raise() -> None:
    p = Portfolio(TV)
    with pytest.raises(DataError, match="unknown instrument 9"):
        p.on_fill(9, 1, 1, 100, 0.0, ts=1)
    with pytest.raises(DataError, match="unknown instrument 9"):
        p.mark(9, 100, ts=1)
    with pytest.raises(DataError, match="side 0"):
        p.on_fill(1, 0, 1, 100, 0.0, ts=1)
    with pytest.raises(DataError, match="non-positive qty 0"):
        p.on_fill(1, 1, 0, 100, 0.0, ts=1)
    with pytest.raises(DataError, match="tick_value"):
        Portfolio({1: 0.0})
    # Queries on unknown instruments are lenient.
    assert p.position(9) == 0 and p.realized_pnl(9) == 0.0 and p.unrealized_pnl(9) == 0.0


# -- property tests ---------------------------------------------------------------

_fill = st.tuples(
    st.just("fill"),
    st.sampled_from(sorted(TV)),
    st.sampled_from([1, -1]),
    st.integers(1, 50),
    st.integers(1, 10_000),
    st.floats(-5.0, 5.0, allow_nan=False),
)
_mark = st.tuples(st.just("mark"), st.sampled_from(sorted(TV)), st.integers(1, 10_000))


@settings(max_examples=150, deadline=None)
@given(st.floats(-1e6, 1e6, allow_nan=False), st.lists(st.one_of(_fill, _mark), max_size=60))
def test_accounting_invariants(starting_cash: float, steps: list[tuple]) -> None:
    p = Portfolio(TV, starting_cash=starting_cash)
    signed = dict.fromkeys(TV, 0)
    last_max_dd = 0.0
    flow = abs(starting_cash)  # scale for the tolerance
    for ts, step in enumerate(steps):
        if step[0] == "fill":
            _, inst, side, qty, price, fee = step
            p.on_fill(inst, side, qty, price, fee, ts)
            signed[inst] += side * qty
            flow += qty * price * TV[inst] + abs(fee)
        else:
            _, inst, price = step
            p.mark(inst, price, ts)
        for inst in TV:
            assert p.position(inst) == signed[inst]
            if signed[inst] == 0:
                assert p.avg_price(inst) == 0.0
        lhs = (
            p.cash
            - starting_cash
            + sum(
                p.position(i) * (p.mark_price(i) if p.mark_price(i) is not None else p.avg_price(i)) * TV[i] for i in TV
            )
        )
        rhs = p.realized_pnl() + p.unrealized_pnl() - p.fees
        assert math.isclose(lhs, rhs, rel_tol=1e-6, abs_tol=1e-9 * max(1.0, flow))
        assert math.isclose(p.equity - starting_cash, p.net_pnl, rel_tol=1e-6, abs_tol=1e-9 * max(1.0, flow))
        assert p.max_drawdown >= 0.0
        assert p.max_drawdown >= last_max_dd
        last_max_dd = p.max_drawdown
        assert p.gross_position() == sum(abs(v) for v in signed.values())


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(TV)),
    st.integers(1, 10**6),
    st.integers(-(10**6), 10**6),
    st.integers(-(10**6), 10**6),
    st.sampled_from([1, -1]),
)
def test_round_trip_realized_is_exact(inst: int, q: int, p1: int, p2: int, first: int) -> None:
    p = Portfolio(TV)
    p.on_fill(inst, first, q, p1, 0.0, ts=1)
    r = p.on_fill(inst, -first, q, p2, 0.0, ts=2)
    expected = (p2 - p1) * q * TV[inst] if first == 1 else (p1 - p2) * q * TV[inst]
    assert r == expected
    assert p.realized_pnl(inst) == expected
    assert p.position(inst) == 0


def test_marks_through_the_bus_equal_portfolio_mark() -> None:
    """The bus marks a flat instrument by setting its record itself: the portfolio's marks,
    last valuation time, PnL and drawdown are those of Portfolio.mark on the same books."""
    from kernel.marketdata import MarketDataBus
    from kernel.reports import BookTop

    books = [(10, 100, 102), (11, 101, 103), (12, 0, 103), (13, 99, 101), (14, 98, 100), (15, 104, 106)]
    fills = {12: (1, 1, 3, 102), 14: (1, -1, 1, 99)}  # ts -> instrument, side, qty, price (after that book)
    by_bus, direct = Portfolio({1: 10.0, 2: 5.0}), Portfolio({1: 10.0, 2: 5.0})
    bus = MarketDataBus(mark_record=by_bus.mark_record)
    for ts, bid, ask in books:
        bus.publish_book(BookTop(ts, 1, bid, 1, ask, 1, (), ()))
        if bid and ask:
            direct.mark(1, (bid + ask) / 2, ts)
        if ts in fills:
            for p in (by_bus, direct):
                p.on_fill(*fills[ts], fee=0.5, ts=ts)
    assert by_bus.snapshot() == direct.snapshot()
    assert by_bus.last_ts == 15 and by_bus.mark_price(1) == 105.0 and by_bus.max_drawdown > 0
