"""Strategy → OMS → risk → simulated venue → OMS → strategy, with exact times, fills and PnL."""

from __future__ import annotations

import pytest

from kernel.events import ADD, CANCEL
from kernel.orders import OrderStatus, OrderType, Side, TimeInForce
from kernel.risk import TradingState
from tests.helpers import START, Scripted, book_rows, events, market, run_with, scenario

ENTRY, RESPONSE, MD = 1000, 500, 100


def test_limit_order_joins_queue_behind_resting_orders_and_fills_after_them():
    data = events(book_rows(100, 101, qty=10) + [market(50_000, -1, 12)])
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 100))])
    run = run_with(scenario(), data, s)
    result = run.run()
    # Arrives at 10_000 + ENTRY, ack back after RESPONSE; the sell market order of 12 takes
    # the 10 resting ahead of us first, then 2 of ours (maker, rebate 1 bps of 2*100*0.01).
    assert s.events[0] == (10_000 + ENTRY + RESPONSE, 1, "ACCEPTED", "ACK")
    assert s.fills == [(50_000 + RESPONSE, 1, 100, 2, "M", pytest.approx(-1e-4 * 2 * 100 * 0.01))]
    order = run.oms.orders[1]
    assert order.status == OrderStatus.PARTIALLY_FILLED and order.leaves_qty == 3
    assert run.portfolio.position(0) == 2
    assert result.summary["fills"] == 1


def test_cancel_ahead_advances_queue_position():
    rows = book_rows(100, 101, qty=10) + [(20_000, CANCEL, 1, 100, 0, 1), market(50_000, -1, 4)]
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 100))])
    run = run_with(scenario(), events(rows), s)
    run.run()
    # The order ahead of ours was cancelled: the market sell of 4 fills us first.
    assert [(f[2], f[3]) for f in s.fills] == [(100, 4)]


def test_marketable_ioc_takes_liquidity_and_cancels_rest_with_taker_fee():
    data = events(book_rows(100, 101, qty=3))
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 101, tif=TimeInForce.IOC))])
    run = run_with(scenario(), data, s)
    run.run()
    fee = 2e-4 * 3 * 101 * 0.01
    assert s.fills == [(10_000 + ENTRY + RESPONSE, 1, 101, 3, "T", pytest.approx(fee))]
    order = run.oms.orders[1]
    assert order.status == OrderStatus.CANCELLED and order.filled_qty == 3
    assert run.portfolio.fees == pytest.approx(fee)
    assert run.portfolio.cash == pytest.approx(-3 * 101 * 0.01 - fee)


def test_round_trip_pnl_and_marks():
    # After our buy lifts 4 of the 10 offered at 101, a buyer lifts the rest and bids 103.
    rows = book_rows(100, 101, qty=10) + [(30_000, ADD, 1, 103, 11, 50)]
    script = [
        (10_000, lambda st: st.ctx.buy(0, 4, 101, tif=TimeInForce.IOC)),
        (40_000, lambda st: st.ctx.sell(0, 4, 103, tif=TimeInForce.IOC)),
    ]
    s = Scripted(script)
    run = run_with(scenario(), events(rows), s)
    result = run.run()
    assert [(f[2], f[3]) for f in s.fills] == [(101, 4), (103, 4)]
    assert run.portfolio.realized_pnl() == pytest.approx(4 * 2 * 0.01)
    assert run.portfolio.position(0) == 0
    fees = 2e-4 * 4 * 101 * 0.01 + 2e-4 * 4 * 103 * 0.01
    assert result.summary["net_pnl"] == pytest.approx(0.08 - fees, abs=1e-6)


def test_subscribed_book_updates_arrive_after_market_data_latency():
    rows = book_rows(100, 101, qty=10) + [(5_000, ADD, 1, 100, 7, 9), (6_000, ADD, 1, 99, 7, 10)]
    s = Scripted([], subscribe=True)
    run = run_with(scenario(), events(rows), s)
    run.run()
    # The initial book (two adds at 0 → two top changes), then the join at 100; the add at 99
    # does not change the top and is not delivered.
    assert [(b.ts - START, b.bid_px, b.bid_qty, b.ask_px) for b in s.books] == [
        (0, 100, 10, 0),
        (0, 100, 10, 101),
        (5_000, 100, 17, 101),
    ]
    assert run.bus.book_updates == 3


def test_risk_rejection_is_journaled_with_reason_and_never_reaches_venue():
    sc = scenario("[risk]\nmax_order_qty = 3\n")
    s = Scripted([(10_000, lambda st: st.orders.__setitem__("o", st.ctx.submit(0, Side.BUY, 5, 100)))])
    run = run_with(sc, events(book_rows()), s)
    run.run()
    order = s.orders["o"]
    assert order.status == OrderStatus.REJECTED
    assert order.reject_reason == "order 1: qty 5 exceeds max_order_qty 3"
    risk = run.kernel.journal.of_kind("risk")
    assert [r.fields for r in risk] == [(1, 0, "max_order_qty", "order 1: qty 5 exceeds max_order_qty 3")]
    assert run.venues["V"].reports == 0
    assert s.events == [(10_000, 1, "REJECTED", None)]


def test_kill_switch_cancels_working_orders_and_rejects_new_ones():
    def kill(st):
        st.ctx.kill_switch("test")

    def late(st):
        st.orders["late"] = st.ctx.submit(0, Side.BUY, 1, 99)

    script = [
        (10_000, lambda st: st.ctx.submit(0, Side.BUY, 2, 99)),
        (10_000, lambda st: st.ctx.submit(0, Side.SELL, 2, 102)),
        (20_000, kill),
        (30_000, late),
    ]
    s = Scripted(script)
    run = run_with(scenario(), events(book_rows()), s)
    run.run()
    assert run.risk.state == TradingState.HALTED
    assert run.oms.orders[1].status == OrderStatus.CANCELLED
    assert run.oms.orders[2].status == OrderStatus.CANCELLED
    assert s.orders["late"].status == OrderStatus.REJECTED
    assert "HALTED" in s.orders["late"].reject_reason
    assert not run.oms.working


def test_kill_switch_with_flatten_closes_the_position():
    script = [
        (10_000, lambda st: st.ctx.buy(0, 3, 101, tif=TimeInForce.IOC)),
        (20_000, lambda st: st.ctx.kill_switch("flatten test", flatten=True)),
    ]
    s = Scripted(script)
    run = run_with(scenario(), events(book_rows(qty=10)), s)
    run.run()
    assert run.portfolio.position(0) == 0
    flatten = run.oms.orders[2]
    assert flatten.tag == "flatten" and flatten.order_type == OrderType.MARKET and flatten.filled_qty == 3


def test_amend_down_keeps_priority_and_amend_price_loses_it():
    rows = book_rows(100, 101, qty=10) + [(15_000, ADD, 1, 100, 10, 20), market(60_000, -1, 12)]
    script = [
        (10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 100)),
        (30_000, lambda st: st.ctx.modify(1, qty=3)),
    ]
    s = Scripted(script)
    run = run_with(scenario(), events(rows), s)
    run.run()
    # Queue at 100: bg#1 (10), ours (3 after amend down, priority kept), bg#20 (10).
    assert [(f[2], f[3]) for f in s.fills] == [(100, 2)]
    assert run.oms.orders[1].qty == 3


def test_duplicate_cancel_requests_are_refused_locally():
    def twice(st):
        st.orders["a"] = st.ctx.cancel(1)
        st.orders["b"] = st.ctx.cancel(1)

    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 99)), (20_000, twice)])
    run = run_with(scenario(), events(book_rows()), s)
    run.run()
    assert s.orders == {"a": True, "b": False}
    assert run.oms.orders[1].status == OrderStatus.CANCELLED


def test_day_order_expires_at_session_end_and_gtd_at_its_time():
    gtd_at = START + 300_000

    def place(st):
        st.ctx.submit(0, Side.BUY, 1, 99, tif=TimeInForce.DAY)
        st.ctx.submit(0, Side.BUY, 1, 98, tif=TimeInForce.GTD, expire_ts=gtd_at)

    s = Scripted([(10_000, place)])
    run = run_with(scenario(), events(book_rows()), s)
    run.run()
    day, gtd = run.oms.orders[1], run.oms.orders[2]
    assert day.status == OrderStatus.EXPIRED and gtd.status == OrderStatus.EXPIRED
    assert gtd.updated_ts == gtd_at + RESPONSE
    assert day.updated_ts == run.end_ns + RESPONSE
    assert [r.fields[0] for r in run.kernel.journal.of_kind("expire")] == [2, 1]


def test_post_only_that_would_cross_is_rejected_by_venue_with_reason():
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 1, 101, post_only=True))])
    run = run_with(scenario(), events(book_rows()), s)
    run.run()
    order = run.oms.orders[1]
    assert order.status == OrderStatus.REJECTED
    assert order.reject_reason == "post-only order 1 would cross best ask 101"
    assert s.events == [(10_000 + ENTRY + RESPONSE, 1, "REJECTED", "REJECT")]
