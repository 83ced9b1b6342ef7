"""Exact-behaviour tests of the reference matching engine (venues.matching)."""

from __future__ import annotations

import numpy as np
import pytest

from kernel.errors import DataError
from kernel.events import ADD, CANCEL, CLEAR, EXECUTE, MARKET, MODIFY, TRADE, empty_events
from kernel.orders import OrderType, STPMode, TimeInForce
from venues.matching import (
    ExecReport,
    MatchingEngine,
    ReportKind,
    benchmark,
    make_benchmark_events,
)

B, S = 1, -1
P, Q = 1, 2  # two participants
ACK, REJ, FILL, CXL, EXP, REP, TRG = (
    ReportKind.ACK,
    ReportKind.REJECT,
    ReportKind.FILL,
    ReportKind.CANCEL,
    ReportKind.EXPIRE,
    ReportKind.REPLACE,
    ReportKind.TRIGGER,
)
LIM, MKT, STP, STPL = OrderType.LIMIT, OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT
GTC, DAY, GTD, IOC, FOK = TimeInForce.GTC, TimeInForce.DAY, TimeInForce.GTD, TimeInForce.IOC, TimeInForce.FOK


class Rec:
    """An engine wired to report and trade recorders."""

    def __init__(self, stp: STPMode = STPMode.NONE) -> None:
        self.reports: list[ExecReport] = []
        self.trades: list[tuple[int, int, int, int]] = []
        self.e = MatchingEngine(
            instrument=3, stp_mode=stp, on_report=self.reports.append, on_trade=lambda *a: self.trades.append(a)
        )

    def take(self) -> list[tuple]:
        """Reports since the last call, as (kind, id, price, qty, leaves, liquidity)."""
        out = [(r.kind, r.order_id, r.price, r.qty, r.leaves, r.liquidity) for r in self.reports]
        self.reports.clear()
        return out

    def take_full(self) -> list[ExecReport]:
        out = list(self.reports)
        self.reports.clear()
        return out

    def take_trades(self) -> list[tuple[int, int, int, int]]:
        out = list(self.trades)
        self.trades.clear()
        return out


@pytest.fixture
def r() -> Rec:
    return Rec()


def asks(e: MatchingEngine, *specs: tuple[int, int, int]) -> None:
    """Background asks (order_id, price, qty)."""
    for oid, px, q in specs:
        e.add(0, oid, S, px, q)


def bids(e: MatchingEngine, *specs: tuple[int, int, int]) -> None:
    for oid, px, q in specs:
        e.add(0, oid, B, px, q)


# --------------------------------------------------------------------- limit


def test_limit_rests_with_ack_and_queue_order(r: Rec) -> None:
    e = r.e
    e.submit(10, 7, P, B, 5, 100)
    e.submit(11, 8, Q, B, 3, 100)
    e.add(12, 1, B, 100, 4)
    e.submit(13, 9, P, B, 2, 99)
    assert r.take() == [(ACK, 7, 100, 5, 5, ""), (ACK, 8, 100, 3, 3, ""), (ACK, 9, 99, 2, 2, "")]
    assert e.level_orders(B, 100) == [7, 8, 1]
    assert [e.queue_ahead(i) for i in (7, 8, 1, 9)] == [0, 5, 8, 0]
    assert e.best_bid() == (100, 12) and e.best_ask() is None
    assert e.top() == (100, 12, 0, 0)
    assert e.depth(B, 5) == [(100, 12), (99, 2)]
    assert e.depth(B, 1) == [(100, 12)]
    assert e.order_info(7) == (B, 100, 5, 0)
    assert len(e) == 4 and r.trades == []


def test_price_time_priority_fills_at_resting_prices(r: Rec) -> None:
    e = r.e
    asks(e, (1, 101, 4), (2, 101, 3), (3, 100, 2), (4, 102, 5), (5, 101, 6))
    e.submit(20, 7, P, B, 12, 101)
    assert r.take() == [
        (ACK, 7, 101, 12, 12, ""),
        (FILL, 7, 100, 2, 10, "T"),
        (FILL, 7, 101, 4, 6, "T"),
        (FILL, 7, 101, 3, 3, "T"),
        (FILL, 7, 101, 3, 0, "T"),
    ]
    assert r.take_trades() == [(20, 100, 2, B), (20, 101, 4, B), (20, 101, 3, B), (20, 101, 3, B)]
    assert e.level_orders(S, 101) == [5]
    assert e.order_info(5) == (S, 101, 3, 0)
    assert e.top() == (0, 0, 101, 3)
    assert (e.last_trade_price, e.trade_count, e.traded_qty) == (101, 4, 12)


def test_limit_partial_fill_rests_remainder_behind_its_level(r: Rec) -> None:
    e = r.e
    asks(e, (1, 101, 4))
    bids(e, (2, 99, 1))
    e.submit(1, 7, P, S, 6, 99)  # takes the 99 bid, rests 5 at 99 (new ask level)
    assert r.take() == [(ACK, 7, 99, 6, 6, ""), (FILL, 7, 99, 1, 5, "T")]
    assert e.top() == (0, 0, 99, 5)
    e.add(2, 3, S, 99, 2)
    assert e.level_orders(S, 99) == [7, 3]
    assert e.queue_ahead(3) == 5


def test_maker_fill_reports_and_background_is_silent(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, S, 5, 101)
    e.add(2, 1, S, 101, 5)
    r.take()
    assert e.market(3, B, 7) == 7
    assert r.take_full() == [ExecReport(FILL, 3, 7, P, 101, 5, 0, "", "M")]
    assert r.take_trades() == [(3, 101, 5, B), (3, 101, 2, B)]
    assert e.order_info(1) == (S, 101, 3, 0)


def test_both_sides_participants_get_own_fill(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, S, 5, 101)
    e.submit(2, 8, Q, B, 2, 101)
    assert r.take_full()[2:] == [
        ExecReport(FILL, 2, 7, P, 101, 2, 3, "", "M"),
        ExecReport(FILL, 2, 8, Q, 101, 2, 0, "", "T"),
    ]


# -------------------------------------------------------------------- market


def test_market_sweeps_levels_and_cancels_rest(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 2), (2, 101, 3))
    e.submit(5, 7, P, B, 8, 0, MKT, tif=GTD)  # tif ignored, no expire_ts needed
    rep = r.take_full()
    assert [(x.kind, x.price, x.qty, x.leaves, x.liquidity) for x in rep] == [
        (ACK, 0, 8, 8, ""),
        (FILL, 100, 2, 6, "T"),
        (FILL, 101, 3, 3, "T"),
        (CXL, 0, 3, 0, ""),
    ]
    assert "no liquidity" in rep[-1].reason
    assert e.top() == (0, 0, 0, 0) and len(e) == 0


def test_market_on_empty_book(r: Rec) -> None:
    r.e.submit(5, 7, P, S, 4, order_type=MKT)
    rep = r.take_full()
    assert [(x.kind, x.qty, x.leaves) for x in rep] == [(ACK, 4, 4), (CXL, 4, 0)]
    assert rep[1].reason == "no liquidity: market order 7 has 4 unfilled"


# ----------------------------------------------------------------- IOC / FOK


def test_ioc_fills_then_cancels_remainder(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 2), (2, 102, 5))
    e.submit(1, 7, P, B, 5, 101, tif=IOC)
    rep = r.take_full()
    assert [(x.kind, x.price, x.qty, x.leaves) for x in rep] == [
        (ACK, 101, 5, 5),
        (FILL, 100, 2, 3),
        (CXL, 101, 3, 0),
    ]
    assert rep[-1].reason == "IOC order 7: unfilled remainder 3 cancelled"
    assert e.top() == (0, 0, 102, 5)


def test_fok_killed_without_trading(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 2), (2, 101, 3), (3, 102, 10))
    e.submit(1, 7, P, B, 6, 101, tif=FOK)
    rep = r.take_full()
    assert [(x.kind, x.qty, x.leaves) for x in rep] == [(ACK, 6, 6), (CXL, 6, 0)]
    assert rep[1].reason == "FOK order 7 for 6 killed: only 5 available at 101 or better"
    assert r.trades == [] and e.depth(S, 5) == [(100, 2), (101, 3), (102, 10)]


def test_fok_fills_fully_across_levels(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 2), (2, 101, 3), (3, 101, 3))
    e.submit(1, 7, P, B, 6, 101, tif=FOK)
    assert r.take() == [
        (ACK, 7, 101, 6, 6, ""),
        (FILL, 7, 100, 2, 4, "T"),
        (FILL, 7, 101, 3, 1, "T"),
        (FILL, 7, 101, 1, 0, "T"),
    ]
    assert e.order_info(3) == (S, 101, 2, 0)


def test_fok_counts_iceberg_reserve(r: Rec) -> None:
    e = r.e
    e.submit(1, 5, Q, S, 10, 100, display_qty=2)
    r.take()
    e.submit(2, 7, P, B, 9, 100, tif=FOK)
    rep = r.take()
    assert rep[0] == (ACK, 7, 100, 9, 9, "")
    assert [x for x in rep if x[1] == 7 and x[0] == FILL] == [
        (FILL, 7, 100, 2, 7, "T"),
        (FILL, 7, 100, 2, 5, "T"),
        (FILL, 7, 100, 2, 3, "T"),
        (FILL, 7, 100, 2, 1, "T"),
        (FILL, 7, 100, 1, 0, "T"),
    ]
    assert e.order_info(5) == (S, 100, 1, 0)


@pytest.mark.parametrize(
    "mode, expect_avail",
    [
        (STPMode.NONE, None),  # own order counts: fills
        (STPMode.CANCEL_OLDEST, 4),  # own order skipped: 1 + 3
        (STPMode.CANCEL_NEWEST, 1),  # nothing beyond the own order counts
        (STPMode.DECREMENT_BOTH, 3),  # own 2 decrement the FOK: 1 + 2 of the last order
    ],
)
def test_fok_excludes_orders_blocked_by_stp(mode: STPMode, expect_avail: int | None) -> None:
    r = Rec(mode)
    e = r.e
    e.add(0, 1, S, 100, 1)
    e.submit(0, 5, P, S, 2, 100)
    e.add(0, 2, S, 100, 3)
    r.take()
    e.submit(1, 7, P, B, 5, 100, tif=FOK)
    rep = r.take_full()
    if expect_avail is None:
        assert [x.kind for x in rep if x.order_id == 7] == [ACK, FILL, FILL, FILL]
    else:
        assert [(x.kind, x.order_id) for x in rep] == [(ACK, 7), (CXL, 7)]
        assert f"only {expect_avail} available" in rep[1].reason
        assert e.level_orders(S, 100) == [1, 5, 2]


def test_fok_with_cancel_oldest_passes_when_others_suffice() -> None:
    r = Rec(STPMode.CANCEL_OLDEST)
    e = r.e
    e.submit(0, 5, P, S, 2, 100)
    e.add(0, 1, S, 100, 3)
    r.take()
    e.submit(1, 7, P, B, 3, 100, tif=FOK)
    rep = r.take()
    assert [x[:5] for x in rep] == [(ACK, 7, 100, 3, 3), (CXL, 5, 100, 2, 0), (FILL, 7, 100, 3, 0)]
    assert len(e) == 0


# ---------------------------------------------------------------- post-only


def test_post_only_rejected_when_crossing(r: Rec) -> None:
    e = r.e
    asks(e, (1, 101, 5))
    bids(e, (2, 99, 5))
    e.submit(1, 7, P, B, 3, 101, post_only=True)
    e.submit(1, 8, P, S, 3, 98, post_only=True)
    rep = r.take_full()
    assert [(x.kind, x.order_id, x.price, x.qty, x.leaves) for x in rep] == [(REJ, 7, 101, 3, 0), (REJ, 8, 98, 3, 0)]
    assert rep[0].reason == "post-only order 7 would cross best ask 101"
    assert rep[1].reason == "post-only order 8 would cross best bid 99"
    assert r.trades == [] and len(e) == 2


def test_post_only_rests_when_not_crossing(r: Rec) -> None:
    e = r.e
    asks(e, (1, 101, 5))
    e.submit(1, 7, P, B, 3, 100, post_only=True)
    assert r.take() == [(ACK, 7, 100, 3, 3, "")]
    assert e.top() == (100, 3, 101, 5)


# --------------------------------------------------------------------- stops


def test_buy_stop_waits_then_triggers_as_market(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 1), (2, 101, 2), (3, 103, 5))
    e.submit(1, 7, P, B, 4, order_type=STP, stop_price=101)
    assert r.take() == [(ACK, 7, 0, 4, 4, "")]
    assert e.stop_count == 1 and e.order_info(7) is None and e.open_qty(7) == 4 and len(e) == 3
    e.market(2, B, 1)  # trade at 100: below the stop
    assert r.take() == [] and e.stop_count == 1
    e.market(3, B, 1)  # trade at 101: triggers
    rep = r.take_full()
    assert [(x.kind, x.price, x.qty, x.leaves, x.liquidity) for x in rep] == [
        (TRG, 0, 4, 4, ""),
        (FILL, 101, 1, 3, "T"),
        (FILL, 103, 3, 0, "T"),
    ]
    assert rep[0].ts == 3 and rep[0].reason == "stop 101 triggered by last trade 101"
    assert e.stop_count == 0 and e.top() == (0, 0, 103, 2)


def test_sell_stop_limit_triggers_and_rests_with_new_time_priority(r: Rec) -> None:
    e = r.e
    bids(e, (1, 100, 1), (2, 99, 2))
    asks(e, (3, 102, 1))
    e.submit(1, 7, P, S, 5, 99, STPL, stop_price=100)
    e.add(2, 4, S, 99, 1)  # crosses bid 100: a trade at 100 triggers the stop
    rep = r.take()
    assert rep == [(ACK, 7, 99, 5, 5, ""), (TRG, 7, 99, 5, 5, ""), (FILL, 7, 99, 2, 3, "T")]
    # The stop limit swept bid 99 and rests 3 at 99.
    assert e.top() == (0, 0, 99, 3)
    e.add(3, 5, S, 99, 1)
    assert e.level_orders(S, 99) == [7, 5]


def test_sell_stop_does_not_trigger_before_any_trade(r: Rec) -> None:
    e = r.e
    bids(e, (1, 100, 5))
    e.submit(1, 7, P, S, 2, order_type=STP, stop_price=99)
    assert r.take() == [(ACK, 7, 0, 2, 2, "")] and e.stop_count == 1


def test_stop_triggers_immediately_if_already_crossed(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 1), (2, 101, 5))
    e.market(0, B, 1)  # last trade 100
    e.submit(1, 7, P, B, 2, order_type=STP, stop_price=100)
    assert r.take() == [(ACK, 7, 0, 2, 2, ""), (TRG, 7, 0, 2, 2, ""), (FILL, 7, 101, 2, 0, "T")]


def test_stop_cascade_and_deterministic_order(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 1), (2, 101, 1), (3, 102, 1), (4, 103, 10))
    # Stops 8 and 9 share stop price 100 (arrival 9 after 8? no: 9 arrives first), 7 is at 101.
    e.submit(1, 9, P, B, 1, order_type=STP, stop_price=100)
    e.submit(1, 8, P, B, 1, order_type=STP, stop_price=100)
    e.submit(1, 7, Q, B, 1, order_type=STP, stop_price=102)  # only reachable by the cascade
    r.take()
    e.market(2, B, 1)  # trades at 100: triggers 9 then 8 (same stop, arrival order)
    rep = r.take()
    assert rep == [
        (TRG, 9, 0, 1, 1, ""),
        (FILL, 9, 101, 1, 0, "T"),
        (TRG, 8, 0, 1, 1, ""),
        (FILL, 8, 102, 1, 0, "T"),  # the last trade is now 102: 7 triggers in the next check
        (TRG, 7, 0, 1, 1, ""),
        (FILL, 7, 103, 1, 0, "T"),
    ]
    assert e.stop_count == 0


def test_stop_batch_order_buys_ascending_sells_descending(r: Rec) -> None:
    e = r.e
    bids(e, (1, 90, 100))
    asks(e, (2, 110, 100))
    e.market(0, B, 1)  # last 110
    e.submit(1, 11, P, S, 1, order_type=STP, stop_price=104)
    e.submit(1, 12, P, S, 1, order_type=STP, stop_price=106)
    e.submit(1, 13, P, S, 1, order_type=STP, stop_price=105)
    e.submit(1, 14, P, S, 1, order_type=STP, stop_price=103)  # reached only by the cascade (trades at 90)
    r.take()
    e.trade_print(2, 104, 1, S)
    assert [(k, i) for k, i, *_ in r.take() if k == TRG] == [(TRG, 12), (TRG, 13), (TRG, 11), (TRG, 14)]
    assert e.stop_count == 0
    e2 = Rec().e
    e2.add(0, 2, S, 110, 100)
    e2.market(0, B, 1)  # last 110
    reps: list[ExecReport] = []
    e2.on_report = reps.append
    e2.trade_print(0, 100, 1, S)
    for oid, sp in ((21, 104), (22, 102), (23, 103)):
        e2.submit(1, oid, P, B, 1, order_type=STP, stop_price=sp)
    e2.trade_print(2, 105, 1, B)
    assert [x.order_id for x in reps if x.kind == TRG] == [22, 23, 21]


def test_cancel_and_amend_stop(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, B, 4, 105, STPL, stop_price=101)
    e.submit(1, 8, P, B, 4, order_type=STP, stop_price=101)
    r.take()
    e.amend(2, 7, new_price=106, new_qty=3)
    e.amend(2, 8, new_price=106)
    rep = r.take_full()
    assert [(x.kind, x.order_id, x.price, x.qty, x.leaves) for x in rep] == [(REP, 7, 106, 3, 3), (REJ, 8, 0, 4, 4)]
    assert rep[1].reason == "amend rejected: order 8: a STOP order has no limit price to amend"
    e.cancel(3, 7)
    assert r.take_full() == [ExecReport(CXL, 3, 7, P, 106, 3, 0, "cancelled by request")]
    assert e.stop_count == 1 and e.open_qty(7) == 0


def test_triggered_stop_limit_keeps_its_tif(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 1), (2, 101, 1), (3, 102, 5))
    e.submit(1, 7, P, B, 4, 101, STPL, tif=IOC, stop_price=100)
    e.submit(1, 8, P, B, 2, 99, STPL, tif=GTD, stop_price=100, expire_ts=50)
    r.take()
    e.market(2, B, 1)  # trade at 100 triggers both (same stop price: arrival order)
    rep = r.take_full()
    assert [(x.kind, x.order_id, x.price, x.qty, x.leaves) for x in rep] == [
        (TRG, 7, 101, 4, 4),
        (FILL, 7, 101, 1, 3),
        (CXL, 7, 101, 3, 0),
        (TRG, 8, 99, 2, 2),
    ]
    assert rep[2].reason == "IOC order 7: unfilled remainder 3 cancelled"
    assert e.order_info(8) == (B, 99, 2, 0)
    e.expire(50)
    assert r.take() == [(EXP, 8, 99, 2, 0, "")]


# ------------------------------------------------------------------ icebergs


def test_iceberg_shows_display_and_refreshes_at_back(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, S, 10, 100, display_qty=4)
    e.add(2, 1, S, 100, 2)
    r.take()
    assert e.order_info(7) == (S, 100, 4, 6)
    assert e.best_ask() == (100, 6) and e.queue_ahead(1) == 4
    e.market(3, B, 3)
    assert r.take() == [(FILL, 7, 100, 3, 7, "M")]
    assert e.level_orders(S, 100) == [7, 1] and e.order_info(7) == (S, 100, 1, 6)
    e.market(4, B, 1)  # slice done: refresh 4 at the back
    assert r.take() == [(FILL, 7, 100, 1, 6, "M")]
    assert e.level_orders(S, 100) == [1, 7]
    assert e.order_info(7) == (S, 100, 4, 2)
    assert e.queue_ahead(7) == 2 and e.best_ask() == (100, 6)
    e.market(5, B, 8)  # 2 from order 1, then 4 of 7, refresh 2 (the last, smaller slice), 2 more
    assert r.take() == [(FILL, 7, 100, 4, 2, "M"), (FILL, 7, 100, 2, 0, "M")]
    assert r.take_trades()[-3:] == [(5, 100, 2, B), (5, 100, 4, B), (5, 100, 2, B)]
    assert len(e) == 0


def test_marketable_iceberg_trades_full_qty_then_rests_with_display(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 3), (2, 101, 2))
    e.submit(1, 7, P, B, 10, 100, display_qty=2)
    assert r.take() == [(ACK, 7, 100, 10, 10, ""), (FILL, 7, 100, 3, 7, "T")]
    assert e.order_info(7) == (B, 100, 2, 5)
    assert e.top() == (100, 2, 101, 2)


def test_iceberg_display_equal_qty_is_plain(r: Rec) -> None:
    r.e.submit(1, 7, P, S, 5, 100, display_qty=5)
    assert r.e.order_info(7) == (S, 100, 5, 0)


# ------------------------------------------------------------------------ TIF


def test_day_orders_expire_only_at_day_end(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, B, 5, 100, tif=DAY)
    e.submit(1, 8, P, B, 5, 99, tif=GTC)
    e.submit(1, 9, P, B, 2, order_type=STP, stop_price=200, tif=DAY)
    r.take()
    e.expire(1_000)
    assert r.take() == [] and len(e) == 2
    e.market(2, S, 1)
    r.take()
    e.expire(2_000, day_end=True)
    rep = r.take_full()
    assert [(x.kind, x.order_id, x.qty, x.leaves) for x in rep] == [(EXP, 7, 4, 0), (EXP, 9, 2, 0)]
    assert rep[0].reason == "DAY order 7 expired at end of day 2000"
    assert len(e) == 1 and e.stop_count == 0


def test_gtd_expires_at_expire_ts(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, B, 5, 100, tif=GTD, expire_ts=500)
    e.submit(1, 8, P, B, 5, 100, tif=GTD, expire_ts=600)
    r.take()
    e.expire(499)
    assert r.take() == []
    e.expire(500)
    rep = r.take_full()
    assert rep == [ExecReport(EXP, 500, 7, P, 100, 5, 0, "GTD order 7 expired at 500 (expire_ts 500)")]
    assert e.level_orders(B, 100) == [8]


def test_gtd_expiry_of_filled_or_amended_orders(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, B, 5, 100, tif=GTD, expire_ts=500)
    e.submit(1, 8, P, B, 5, 99, tif=GTD, expire_ts=500)
    e.market(2, S, 5)  # 7 filled
    e.amend(3, 8, new_price=98)  # moved, still GTD
    r.take()
    e.expire(900)
    assert r.take() == [(EXP, 8, 98, 5, 0, "")]
    assert len(e) == 0


@pytest.mark.parametrize(
    "kw, reason",
    [
        ({"tif": GTD}, "order 7: GTD order requires expire_ts, got 0"),
        ({"tif": GTD, "expire_ts": 100}, "order 7: GTD expire_ts 100 is not after ts 100"),
        ({"tif": GTD, "expire_ts": 99}, "order 7: GTD expire_ts 99 is not after ts 100"),
    ],
)
def test_gtd_rejects(r: Rec, kw: dict, reason: str) -> None:
    r.e.submit(100, 7, P, B, 5, 100, **kw)
    assert r.take_full() == [ExecReport(REJ, 100, 7, P, 100, 5, 0, reason)]


# -------------------------------------------------------------------- cancel


def test_cancel_resting_after_partial_fill(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, B, 5, 100)
    e.market(2, S, 2)
    r.take()
    e.cancel(3, 7)
    assert r.take_full() == [ExecReport(CXL, 3, 7, P, 100, 3, 0, "cancelled by request")]
    assert len(e) == 0
    e.cancel(4, 7)
    assert r.take_full() == [ExecReport(REJ, 4, 7, P, 0, 0, 0, "cancel rejected: order 7 is not working")]


def test_cancel_custom_reason_and_filled_and_unknown(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, Q, S, 2, 100)
    e.submit(1, 8, P, S, 2, 101)
    e.cancel(2, 8, "strategy stop")
    e.market(3, B, 2)
    r.take_full()
    e.cancel(4, 7)
    assert r.take_full() == [ExecReport(REJ, 4, 7, Q, 0, 0, 0, "cancel rejected: order 7 is not working")]
    e.cancel(5, 12345)
    assert r.take() == [] and e.unknown_ids == 1


def test_cancel_reason_passed_through(r: Rec) -> None:
    r.e.submit(1, 8, P, S, 2, 101)
    r.take()
    r.e.cancel(2, 8, "strategy stop")
    assert r.take_full()[0].reason == "strategy stop"


def test_cancel_of_rejected_order_goes_to_owner(r: Rec) -> None:
    r.e.submit(1, 7, Q, B, 0, 100)
    r.take()
    r.e.cancel(2, 7)
    assert r.take_full() == [ExecReport(REJ, 2, 7, Q, 0, 0, 0, "cancel rejected: order 7 is not working")]


def test_cancel_background_order_via_cancel(r: Rec) -> None:
    bids(r.e, (1, 100, 5))
    r.e.cancel(1, 1)
    assert len(r.e) == 0 and r.take() == []


# --------------------------------------------------------------------- amend


def _three_bids(r: Rec) -> MatchingEngine:
    e = r.e
    e.add(0, 1, B, 100, 4)
    e.submit(1, 7, P, B, 5, 100)
    e.add(2, 2, B, 100, 3)
    r.take()
    return e


def test_amend_qty_down_keeps_priority(r: Rec) -> None:
    e = _three_bids(r)
    assert (e.queue_ahead(7), e.queue_ahead(2)) == (4, 9)
    e.amend(3, 7, new_qty=2)
    assert r.take_full() == [ExecReport(REP, 3, 7, P, 100, 2, 2)]
    assert e.level_orders(B, 100) == [1, 7, 2]
    assert (e.queue_ahead(7), e.queue_ahead(2)) == (4, 6)
    assert e.best_bid() == (100, 9)


def test_amend_qty_up_loses_priority(r: Rec) -> None:
    e = _three_bids(r)
    e.amend(3, 7, new_qty=6)
    assert r.take() == [(REP, 7, 100, 6, 6, "")]
    assert e.level_orders(B, 100) == [1, 2, 7]
    assert (e.queue_ahead(7), e.queue_ahead(2)) == (7, 4)
    assert e.best_bid() == (100, 13)


def test_amend_price_loses_priority_and_same_qty(r: Rec) -> None:
    e = _three_bids(r)
    e.add(3, 3, B, 99, 1)
    e.amend(4, 7, new_price=99)
    assert r.take() == [(REP, 7, 99, 5, 5, "")]
    assert e.level_orders(B, 99) == [3, 7] and e.queue_ahead(7) == 1
    e.amend(5, 7, new_price=100)  # back again: still at the back
    assert e.level_orders(B, 100) == [1, 2, 7]


def test_amend_to_crossing_price_trades_as_taker(r: Rec) -> None:
    e = _three_bids(r)
    asks(e, (5, 101, 2), (6, 102, 1))
    e.amend(3, 7, new_price=101, new_qty=4)
    assert r.take() == [(REP, 7, 101, 4, 4, ""), (FILL, 7, 101, 2, 2, "T")]
    assert e.order_info(7) == (B, 101, 2, 0)
    assert e.top() == (101, 2, 102, 1)


def test_amend_rejects(r: Rec) -> None:
    e = _three_bids(r)
    e.amend(3, 7, new_qty=0)
    e.amend(3, 7, new_qty=-2)
    e.amend(3, 7, new_price=0)
    e.amend(3, 7)
    rep = r.take_full()
    assert [(x.kind, x.price, x.qty, x.leaves) for x in rep] == [(REJ, 100, 5, 5)] * 4
    assert [x.reason for x in rep] == [
        "amend rejected: order 7: new_qty must be a positive integer, got 0",
        "amend rejected: order 7: new_qty must be a positive integer, got -2",
        "amend rejected: order 7: new_price must be a positive integer, got 0",
        "amend rejected: order 7: nothing to change (new_price and new_qty are None)",
    ]
    assert e.level_orders(B, 100) == [1, 7, 2] and e.order_info(7) == (B, 100, 5, 0)
    e.cancel(4, 7)
    r.take()
    e.amend(5, 7, new_qty=3)
    assert r.take_full() == [ExecReport(REJ, 5, 7, P, 0, 0, 0, "amend rejected: order 7 is not working")]
    e.amend(5, 999, new_qty=3)
    assert r.take() == [] and e.unknown_ids == 1


def test_post_only_amend_to_crossing_price_rejected(r: Rec) -> None:
    e = r.e
    asks(e, (1, 101, 5))
    e.submit(1, 7, P, B, 3, 100, post_only=True)
    r.take()
    e.amend(2, 7, new_price=101)
    assert r.take_full() == [
        ExecReport(REJ, 2, 7, P, 100, 3, 3, "amend rejected: post-only order 7 at 101 would cross best ask 101")
    ]
    assert e.order_info(7) == (B, 100, 3, 0) and r.trades == []
    e.amend(3, 7, new_price=99, new_qty=4)
    assert r.take() == [(REP, 7, 99, 4, 4, "")]


def test_amend_iceberg_qty_down(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, S, 10, 100, display_qty=4)
    e.amend(2, 7, new_qty=6)
    assert e.order_info(7) == (S, 100, 4, 2)
    e.amend(3, 7, new_qty=3)
    assert e.order_info(7) == (S, 100, 3, 0) and e.best_ask() == (100, 3)


# ----------------------------------------------------------------------- STP


def test_stp_none_allows_self_trade() -> None:
    r = Rec(STPMode.NONE)
    r.e.submit(1, 5, P, S, 2, 100)
    r.e.submit(2, 7, P, B, 2, 100)
    assert r.take()[2:] == [(FILL, 5, 100, 2, 0, "M"), (FILL, 7, 100, 2, 0, "T")]


def test_stp_cancel_newest() -> None:
    r = Rec(STPMode.CANCEL_NEWEST)
    e = r.e
    e.add(0, 1, S, 100, 1)
    e.submit(0, 5, P, S, 2, 100)
    e.add(0, 2, S, 100, 3)
    r.take()
    e.submit(1, 7, P, B, 5, 100)
    rep = r.take_full()
    assert [(x.kind, x.order_id, x.price, x.qty, x.leaves) for x in rep] == [
        (ACK, 7, 100, 5, 5),
        (FILL, 7, 100, 1, 4),
        (CXL, 7, 100, 4, 0),
    ]
    assert rep[-1].reason == "self-trade prevention"
    assert e.level_orders(S, 100) == [5, 2]
    assert e.best_bid() is None


def test_stp_cancel_oldest() -> None:
    r = Rec(STPMode.CANCEL_OLDEST)
    e = r.e
    e.add(0, 1, S, 100, 1)
    e.submit(0, 5, P, S, 2, 100)
    e.add(0, 2, S, 100, 3)
    r.take()
    e.submit(1, 7, P, B, 5, 100)
    rep = r.take_full()
    assert [(x.kind, x.order_id, x.price, x.qty, x.leaves, x.liquidity) for x in rep] == [
        (ACK, 7, 100, 5, 5, ""),
        (FILL, 7, 100, 1, 4, "T"),
        (CXL, 5, 100, 2, 0, ""),
        (FILL, 7, 100, 3, 1, "T"),
    ]
    assert rep[2].reason == "self-trade prevention: resting order 5 cancelled (CANCEL_OLDEST) against incoming order 7"
    assert e.top() == (100, 1, 0, 0)


def test_stp_decrement_both_resting_larger() -> None:
    r = Rec(STPMode.DECREMENT_BOTH)
    e = r.e
    e.submit(0, 5, P, S, 5, 100)
    r.take()
    e.submit(1, 7, P, B, 3, 100)
    rep = r.take_full()
    reason = "self-trade prevention: decremented by 3 (DECREMENT_BOTH, orders 5 and 7)"
    assert rep == [
        ExecReport(ACK, 1, 7, P, 100, 3, 3),
        ExecReport(REP, 1, 5, P, 100, 2, 2, reason),
        ExecReport(CXL, 1, 7, P, 100, 3, 0, reason),
    ]
    assert r.trades == [] and e.order_info(5) == (S, 100, 2, 0) and e.best_bid() is None


def test_stp_decrement_both_incoming_larger_continues() -> None:
    r = Rec(STPMode.DECREMENT_BOTH)
    e = r.e
    e.submit(0, 5, P, S, 2, 100)
    e.add(0, 1, S, 100, 1)
    r.take()
    e.submit(1, 7, P, B, 5, 100)
    assert r.take() == [
        (ACK, 7, 100, 5, 5, ""),
        (CXL, 5, 100, 2, 0, ""),
        (REP, 7, 100, 3, 3, ""),
        (FILL, 7, 100, 1, 2, "T"),
    ]
    assert e.top() == (100, 2, 0, 0) and r.take_trades() == [(1, 100, 1, B)]


def test_stp_decrement_both_iceberg_refreshes() -> None:
    r = Rec(STPMode.DECREMENT_BOTH)
    e = r.e
    e.submit(0, 5, P, S, 6, 100, display_qty=2)
    e.add(0, 1, S, 100, 1)
    r.take()
    e.submit(1, 7, P, B, 2, 100)
    assert r.take() == [(ACK, 7, 100, 2, 2, ""), (REP, 5, 100, 4, 4, ""), (CXL, 7, 100, 2, 0, "")]
    assert e.level_orders(S, 100) == [1, 5] and e.order_info(5) == (S, 100, 2, 2)


def test_stp_other_owner_and_background_trade() -> None:
    r = Rec(STPMode.CANCEL_NEWEST)
    e = r.e
    e.submit(0, 5, Q, S, 2, 100)
    e.add(0, 1, S, 100, 1)
    r.take()
    e.submit(1, 7, P, B, 3, 100)
    assert [x[:2] for x in r.take()] == [(ACK, 7), (FILL, 5), (FILL, 7), (FILL, 7)]
    e.submit(2, 8, P, S, 2, 101)
    e.add(3, 2, B, 101, 2)  # background never STPs
    assert [x[:2] for x in r.take()] == [(ACK, 8), (FILL, 8)]


def test_stp_applies_to_background_entry_with_owner() -> None:
    r = Rec(STPMode.CANCEL_NEWEST)
    e = r.e
    e.submit(0, 5, P, S, 2, 100)
    r.take()
    e.add(1, 9, B, 100, 3, owner=P)
    assert r.take() == [(CXL, 9, 100, 3, 0, "")] and len(e) == 1
    assert e.market(2, B, 3, owner=P) == 0


# ----------------------------------------------------------------- rejects


@pytest.mark.parametrize(
    "args, kw, reason",
    [
        ((B, 0, 100), {}, "order 7: qty must be a positive integer, got 0"),
        ((B, -3, 100), {}, "order 7: qty must be a positive integer, got -3"),
        ((B, 1.5, 100), {}, "order 7: qty must be a positive integer, got 1.5"),
        ((B, True, 100), {}, "order 7: qty must be a positive integer, got True"),
        ((B, 5, 0), {}, "order 7: price must be a positive integer for LIMIT orders, got 0"),
        ((B, 5, 100.5), {}, "order 7: price must be a positive integer for LIMIT orders, got 100.5"),
        ((B, 5, -1), {"order_type": STPL, "stop_price": 5}, "positive integer for STOP_LIMIT orders, got -1"),
        ((B, 5, 0), {"order_type": STP}, "order 7: STOP order requires a positive integer stop_price, got 0"),
        ((B, 5, 100), {"order_type": STPL}, "STOP_LIMIT order requires a positive integer stop_price, got 0"),
        ((B, 5, 100), {"display_qty": -1}, "order 7: display_qty must be an integer between 0 and qty 5, got -1"),
        ((B, 5, 100), {"display_qty": 6}, "order 7: display_qty must be an integer between 0 and qty 5, got 6"),
        ((0, 5, 100), {}, "order 7: unknown side 0 (expected 1 buy or -1 sell)"),
        ((2, 5, 100), {}, "order 7: unknown side 2 (expected 1 buy or -1 sell)"),
        ((B, 5, 100), {"order_type": 9}, "order 7: unknown order_type 9"),
        ((B, 5, 100), {"tif": 0}, "order 7: unknown tif 0"),
        ((B, 5, 100), {"order_type": MKT, "post_only": True}, "order 7: post_only requires a LIMIT order, got MARKET"),
    ],
)
def test_submit_rejects(r: Rec, args: tuple, kw: dict, reason: str) -> None:
    r.e.submit(100, 7, P, *args, **kw)
    rep = r.take_full()
    assert len(rep) == 1 and rep[0].kind == REJ
    assert rep[0].reason.endswith(reason) and rep[0].reason.startswith("order 7: ")
    assert rep[0].order_id == 7 and rep[0].leaves == 0 and rep[0].owner == P
    assert len(r.e) == 0 and r.e.stop_count == 0


def test_duplicate_order_id_rejected(r: Rec) -> None:
    e = r.e
    e.submit(1, 7, P, B, 5, 100)
    e.add(1, 1, S, 105, 5)
    e.submit(2, 7, Q, B, 5, 100)  # live participant id
    e.submit(2, 1, Q, B, 5, 100)  # live background id
    e.cancel(3, 7)
    e.submit(4, 7, P, B, 5, 100)  # done, but remembered
    rep = r.take_full()
    rej = [x for x in rep if x.kind == REJ]
    assert [(x.order_id, x.owner, x.reason) for x in rej] == [
        (7, Q, "order 7: duplicate order id 7"),
        (1, Q, "order 1: duplicate order id 1"),
        (7, P, "order 7: duplicate order id 7"),
    ]
    e.cancel(5, 1)  # the background order is untouched by the rejected duplicate
    assert e.top() == (0, 0, 0, 0)


def test_numpy_integer_arguments_accepted(r: Rec) -> None:
    r.e.submit(np.int64(1), np.uint64(7), P, np.int8(-1), np.int64(5), np.int64(100))
    assert r.take() == [(ACK, 7, 100, 5, 5, "")]
    assert all(type(x) is int for x in r.e.order_info(7))


def test_reject_emits_nothing_for_owner_zero(r: Rec) -> None:
    r.e.submit(1, 7, 0, B, 0, 100)
    r.e.submit(1, 8, 0, B, 5, 100)
    assert r.take() == [] and len(r.e) == 1


# ----------------------------------------------------------- background path


def test_add_crossing_trades_first_then_rests(r: Rec) -> None:
    e = r.e
    e.submit(0, 7, P, S, 2, 100)
    e.add(0, 1, S, 101, 2)
    r.take()
    e.add(5, 2, B, 101, 5)
    assert r.take() == [(FILL, 7, 100, 2, 0, "M")]
    assert r.take_trades() == [(5, 100, 2, B), (5, 101, 2, B)]
    assert e.top() == (101, 1, 0, 0) and e.order_info(2) == (B, 101, 1, 0)


def test_add_duplicate_and_zero_qty_ignored(r: Rec) -> None:
    e = r.e
    e.add(0, 1, B, 100, 5)
    e.add(0, 1, B, 101, 5)
    e.add(0, 2, B, 101, 0)
    assert e.top() == (100, 5, 0, 0) and e.duplicate_ids == 1 and len(e) == 1


def test_add_with_owner_is_remembered_for_late_cancels(r: Rec) -> None:
    e = r.e
    e.add(0, 9, B, 100, 2, owner=P)
    e.market(1, S, 2)
    assert r.take() == [(FILL, 9, 100, 2, 0, "M")]
    e.cancel(2, 9)
    assert r.take() == [(REJ, 9, 0, 0, 0, "")] and e.unknown_ids == 0


def test_remove_partial_full_unknown(r: Rec) -> None:
    e = r.e
    bids(e, (1, 100, 5), (2, 100, 3))
    assert e.remove(1, 1, 2) is True
    assert e.order_info(1) == (B, 100, 3, 0) and e.level_orders(B, 100) == [1, 2]
    assert e.remove(1, 1, 3) is True  # >= remaining: delete
    assert e.remove(1, 2) is True
    assert e.remove(1, 2) is False and e.unknown_ids == 1
    assert len(e) == 0 and e.top() == (0, 0, 0, 0)


def test_remove_participant_reports_cancel(r: Rec) -> None:
    e = r.e
    e.submit(0, 7, P, B, 10, 100, display_qty=3)
    r.take()
    e.remove(1, 7, 5)  # hidden first
    assert r.take_full() == [ExecReport(CXL, 1, 7, P, 100, 5, 5, "reduced by market data")]
    assert e.order_info(7) == (B, 100, 3, 2)
    e.remove(2, 7, 4)
    assert e.order_info(7) == (B, 100, 1, 0) and e.best_bid() == (100, 1)
    e.remove(3, 7)
    assert r.take()[-1] == (CXL, 7, 100, 1, 0, "")


def test_market_returns_filled_and_discards_rest(r: Rec) -> None:
    e = r.e
    asks(e, (1, 100, 2), (2, 102, 3))
    assert e.market(1, B, 10) == 5
    assert e.market(1, B, 10) == 0 and e.market(1, S, 0) == 0
    assert r.take_trades() == [(1, 100, 2, B), (1, 102, 3, B)]


def test_market_with_owner_reports_taker_fills_with_id_zero(r: Rec) -> None:
    asks(r.e, (1, 100, 2))
    assert r.e.market(1, B, 1, owner=P) == 1
    assert r.take() == [(FILL, 0, 100, 1, 0, "T")]


def test_execute(r: Rec) -> None:
    e = r.e
    bids(e, (1, 100, 5))
    e.submit(0, 7, P, B, 4, 100)
    r.take()
    assert e.execute(1, 1, 2) is True
    assert e.order_info(1) == (B, 100, 3, 0) and e.best_bid() == (100, 7)
    assert e.execute(2, 7, 10, price=99) is True  # capped at leaves, price override
    assert r.take() == [(FILL, 7, 99, 4, 0, "M")]
    assert r.take_trades() == [(1, 100, 2, S), (2, 99, 4, S)]
    assert (e.last_trade_price, e.trade_count, e.traded_qty) == (99, 2, 6)
    assert e.execute(3, 7, 1) is False and e.unknown_ids == 1
    assert e.execute(3, 1, 0) is True and e.order_info(1) == (B, 100, 3, 0)


def test_execute_iceberg_refresh(r: Rec) -> None:
    e = r.e
    e.submit(0, 7, P, S, 10, 100, display_qty=4)
    e.add(0, 1, S, 100, 1)
    r.take()
    e.execute(1, 7, 5)  # 4 visible + 1 hidden; refresh min(4, 5) at the back
    assert r.take() == [(FILL, 7, 100, 5, 5, "M")]
    assert e.level_orders(S, 100) == [1, 7] and e.order_info(7) == (S, 100, 4, 1)
    assert e.best_ask() == (100, 5)


def test_modify_priority_rules(r: Rec) -> None:
    e = r.e
    bids(e, (1, 100, 5), (2, 100, 5), (3, 100, 5))
    assert e.modify(1, 1, 100, 3) is True  # qty down keeps priority
    assert e.level_orders(B, 100) == [1, 2, 3] and e.queue_ahead(2) == 3
    assert e.modify(2, 1, 0, 4) is True  # price 0: unchanged; qty up loses priority
    assert e.level_orders(B, 100) == [2, 3, 1]
    assert e.modify(3, 2, 99, 5) is True
    assert e.level_orders(B, 99) == [2] and e.depth(B, 3) == [(100, 9), (99, 5)]
    asks(e, (4, 102, 2))
    assert e.modify(4, 3, 103, 5) is True  # crosses: trades as a taker, rests 3
    assert r.take_trades() == [(4, 102, 2, B)]
    assert e.top() == (103, 3, 0, 0)
    assert e.modify(5, 3, 103, 0) is True and e.order_info(3) is None
    assert e.modify(5, 42, 100, 1) is False and e.unknown_ids == 1


def test_clear_cancels_participants_keeps_stops(r: Rec) -> None:
    e = r.e
    bids(e, (1, 100, 5))
    e.submit(0, 7, P, S, 2, 105)
    e.submit(0, 8, P, S, 2, order_type=STP, stop_price=90)
    r.take()
    e.clear(9)
    assert r.take_full() == [ExecReport(CXL, 9, 7, P, 105, 2, 0, "book cleared")]
    assert len(e) == 0 and e.top() == (0, 0, 0, 0) and e.stop_count == 1
    e.add(10, 2, S, 101, 1)
    assert e.top() == (0, 0, 101, 1)


# ----------------------------------------------------------------- apply_batch


def _events(rows: list[tuple[int, int, int, int, int, int]]) -> np.ndarray:
    ev = empty_events(len(rows))
    for k, (t, oid, px, q, a, s) in enumerate(rows):
        ev[k] = (t, oid, px, q, 0, a, s, 0, 0)
    return ev


def _cols(ev: np.ndarray, as_list: bool) -> list:
    return [ev[f].tolist() if as_list else ev[f] for f in ("ts", "order_id", "price", "qty", "action", "side")]


ROWS = [
    (1, 1, 100, 5, ADD, B),  # 0 top: new bid
    (2, 2, 99, 5, ADD, B),  # 1 deeper bid: no top change
    (3, 3, 102, 4, ADD, S),  # 2 top: new ask
    (4, 4, 103, 4, ADD, S),  # 3 no
    (5, 2, 0, 2, CANCEL, 0),  # 4 partial cancel of a deeper bid: no
    (6, 4, 104, 4, MODIFY, S),  # 5 modify a deeper ask: no
    (7, 3, 0, 1, EXECUTE, 0),  # 6 top: best ask qty 4 -> 3
    (8, 0, 101, 7, TRADE, B),  # 7 trade print: no
    (9, 0, 0, 6, MARKET, S),  # 8 top: sweeps bid 100 and 1 of 99
    (10, 5, 98, 1, ADD, B),  # 9 no
    (11, 9, 0, 0, CANCEL, 0),  # 10 unknown id: no
    (12, 0, 0, 0, CLEAR, 0),  # 11 top: empty
    (13, 6, 50, 1, ADD, S),  # 12 top
]
TOP_CHANGES = [0, 2, 6, 8, 11, 12]


@pytest.mark.parametrize("as_list", [True, False])
def test_apply_batch_actions(as_list: bool) -> None:
    r = Rec()
    ev = _events(ROWS)
    cols = _cols(ev, as_list)
    e = r.e
    assert e.apply_batch(*cols, 0, 9, False) == 9
    assert e.depth(B, 5) == [(99, 2)]
    assert e.depth(S, 5) == [(102, 3), (104, 4)]
    assert r.take_trades() == [(7, 102, 1, B), (8, 101, 7, B), (9, 100, 5, S), (9, 99, 1, S)]
    assert (e.last_trade_price, e.trade_count, e.traded_qty) == (99, 4, 14)
    assert e.apply_batch(*cols, 9, len(ROWS), False) == len(ROWS)
    assert e.unknown_ids == 1 and e.top() == (0, 0, 50, 1) and len(e) == 1
    assert all(type(x) is int for x in e.order_info(6))


@pytest.mark.parametrize("as_list", [True, False])
def test_apply_batch_watch_top_returns_after_each_top_change(as_list: bool) -> None:
    e = MatchingEngine()
    cols = _cols(_events(ROWS), as_list)
    stops = []
    i = 0
    while i < len(ROWS):
        i = e.apply_batch(*cols, i, len(ROWS), True)
        stops.append(i)
    assert stops == [k + 1 for k in TOP_CHANGES]
    assert e.top() == (0, 0, 50, 1)
    assert e.apply_batch(*cols, 3, 5, True) == 5  # nothing top-changing: returns stop


def test_apply_batch_watch_top_detects_cancel_at_best_and_crossing_add() -> None:
    e = MatchingEngine()
    rows = [
        (1, 1, 100, 5, ADD, B),
        (1, 2, 100, 5, ADD, B),  # adds to best qty
        (1, 3, 101, 1, ADD, S),
        (1, 4, 101, 1, ADD, B),  # crossing add: trades
        (1, 2, 0, 0, CANCEL, 0),  # cancel at best
    ]
    cols = _cols(_events(rows), True)
    assert [e.apply_batch(*cols, k, 5, True) for k in range(5)] == [1, 2, 3, 4, 5]


def test_apply_batch_unknown_action_raises() -> None:
    rows = [(1, 1, 100, 5, ADD, B), (2, 1, 100, 5, 9, B)]
    with pytest.raises(DataError, match="market-data event 1: unknown action 9"):
        MatchingEngine().apply_batch(*_cols(_events(rows), True), 0, 2, False)


def test_apply_batch_triggers_stops_and_reports_participant_fills() -> None:
    r = Rec()
    e = r.e
    e.submit(0, 7, P, S, 2, 100)
    e.submit(0, 8, P, B, 1, order_type=STP, stop_price=100)
    r.take()
    rows = [(1, 1, 101, 3, ADD, S), (2, 0, 0, 3, MARKET, B)]
    assert e.apply_batch(*_cols(_events(rows), True), 0, 2, False) == 2
    assert r.take() == [(FILL, 7, 100, 2, 0, "M"), (TRG, 8, 0, 1, 1, ""), (FILL, 8, 101, 1, 0, "T")]
    assert e.top() == (0, 0, 101, 1)


def test_apply_batch_matches_method_calls_on_synthetic_stream() -> None:
    ev = make_benchmark_events(5_000, seed=3)
    fast = MatchingEngine()
    stepped = MatchingEngine()
    slow = MatchingEngine()
    cols = _cols(ev, True)
    assert fast.apply_batch(*cols, 0, len(ev), False) == len(ev)
    i = 0
    while i < len(ev):
        i = stepped.apply_batch(*_cols(ev, False), i, len(ev), True)
    for t, oid, px, q, a, s in zip(*cols, strict=True):
        if a == ADD:
            slow.add(t, oid, s, px, q)
        elif a == CANCEL:
            slow.remove(t, oid, q)
        else:
            slow.market(t, s, q)
    for eng in (fast, stepped):
        assert eng.depth(B, 1000) == slow.depth(B, 1000) and eng.depth(S, 1000) == slow.depth(S, 1000)
        assert (eng.trade_count, eng.traded_qty, len(eng)) == (slow.trade_count, slow.traded_qty, len(slow))
        eng.check_integrity()


def test_benchmark_smoke() -> None:
    assert benchmark(2_000, repeat=1) > 0


# -------------------------------------------------------------------- queries


def test_queries_on_empty_and_unknown() -> None:
    e = MatchingEngine()
    assert e.best_bid() is None and e.best_ask() is None and e.top() == (0, 0, 0, 0)
    assert e.depth(B, 3) == [] and e.depth(S, 0) == [] and e.level_orders(B, 100) == []
    assert e.queue_ahead(1) == -1 and e.order_info(1) is None and e.open_qty(1) == 0 and len(e) == 0
    asks(e, (1, 103, 1), (2, 101, 2), (3, 102, 3), (4, 101, 4))
    assert e.depth(S, 2) == [(101, 6), (102, 3)]
    e.check_integrity()
