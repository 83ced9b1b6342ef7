"""Operational risk hooks (reject storms, stale data) and OMS exec-id sequencing, unit level."""

from __future__ import annotations

import pytest

from kernel.errors import ParityError
from kernel.journal import Journal
from kernel.oms import OMS, VenueOrderStatus
from kernel.orders import Order, OrderStatus, Side
from kernel.portfolio import Portfolio
from kernel.reports import ExecReport, ReportKind
from kernel.risk import RiskEngine, RiskLimits, TradingState


def engine(**kw) -> RiskEngine:
    return RiskEngine(RiskLimits(**kw), Portfolio({0: 1.0}))


def test_reject_storm_counts_within_the_window():
    r = engine(reject_storm_count=3, reject_storm_window_ns=100)
    assert r.on_venue_reject(0) is None and r.on_venue_reject(50) is None
    assert r.on_venue_reject(120) is None  # the one at 0 left the window
    assert r.on_venue_reject(140) == TradingState.HALTED
    assert "reject storm: 3 venue rejects" in r.transitions[-1][3]
    assert r.on_venue_reject(170) is None  # already halted


def test_stale_data_moves_to_the_configured_state_once():
    r = engine(stale_data_ns=1000, stale_action="reducing")
    assert r.on_data_age(10, 1000) is None
    assert r.on_data_age(20, 1001) == TradingState.REDUCING
    assert r.on_data_age(30, 5000) is None  # sticky, no repeat
    assert (
        RiskEngine(RiskLimits(stale_data_ns=5, stale_action="halted"), Portfolio({0: 1.0})).on_data_age(1, 6)
        == TradingState.HALTED
    )
    assert engine().on_data_age(0, 10**12) is None  # off by default


@pytest.mark.parametrize(
    "kw", [{"stale_data_ns": 0}, {"reject_storm_count": -1}, {"stale_action": "panic"}, {"reject_storm_action": ""}]
)
def test_bad_operational_limits_raise(kw):
    with pytest.raises(ParityError):
        RiskLimits(**kw)


class _Venue:
    def __init__(self) -> None:
        self.sent: list = []
        self.status = VenueOrderStatus(False, 0)

    def submit(self, order):
        self.sent.append(("new", order.order_id))

    def cancel(self, order):
        self.sent.append(("cancel", order.order_id))

    def reference_price(self, instrument):
        return 100

    def order_status(self, order):
        return self.status


def make_oms():
    now = [0]
    oms = OMS(
        Journal(), Portfolio({0: 1.0}), RiskEngine(RiskLimits(), Portfolio({0: 1.0})), lambda: now[0], lambda f, a: None
    )
    oms.portfolio = oms.risk.portfolio
    venue = _Venue()
    oms.route(0, venue)
    return oms, venue, now


def rep(kind, oid, qty, leaves, seq, price=100):
    return ExecReport(kind, 1, oid, 1, price, qty, leaves, exec_id=(1 << 32) | seq)


def test_exec_ids_dedupe_and_resequence():
    oms, _, _ = make_oms()
    o = oms.submit(Order(0, 0, Side.BUY, 5, 100), None)
    oms.on_report(rep(ReportKind.ACK, o.order_id, 5, 5, 1))
    oms.on_report(rep(ReportKind.FILL, o.order_id, 2, 1, 3))  # ahead of seq 2: held
    assert o.filled_qty == 0 and oms.held_reports == 1
    oms.on_report(rep(ReportKind.FILL, o.order_id, 2, 3, 2))  # fills the gap: 2 then 3 applied
    assert o.filled_qty == 4
    oms.on_report(rep(ReportKind.FILL, o.order_id, 2, 3, 2))  # duplicate
    assert o.filled_qty == 4 and oms.duplicate_reports == 1
    assert oms.portfolio.position(0) == 4


def test_late_fill_after_cancel_is_applied_not_lost():
    oms, _, _ = make_oms()
    o = oms.submit(Order(0, 0, Side.BUY, 5, 100), None)
    oms.on_report(ExecReport(ReportKind.CANCEL, 1, o.order_id, 1, 100, 3, 0, exec_id=(1 << 32) | 1))
    oms.on_report(ExecReport(ReportKind.FILL, 1, o.order_id, 1, 100, 2, 0, exec_id=(1 << 32) | 2))
    assert o.status == OrderStatus.CANCELLED and o.filled_qty == 2 and oms.late_fills == 1
    assert oms.portfolio.position(0) == 2


def test_timeout_rejects_an_order_the_venue_never_saw_and_resends_a_lost_cancel():
    oms, venue, now = make_oms()
    oms.pending_timeout_ns = 100
    a = oms.submit(Order(0, 0, Side.BUY, 5, 100), None)
    now[0] = 99
    assert oms.check_timeouts(99) == 0
    now[0] = 100
    assert oms.check_timeouts(100) == 1
    assert a.status == OrderStatus.REJECTED and "unknown at the venue" in a.reject_reason
    b = oms.submit(Order(0, 0, Side.BUY, 5, 100), None)
    ack = ExecReport(ReportKind.ACK, 100, b.order_id, 1, 100, 5, 5, exec_id=(1 << 32) | 1)
    oms.on_report(ack)
    oms.cancel(b.order_id)
    venue.status = VenueOrderStatus(True, 5, (ack,))
    now[0] = 300
    oms.check_timeouts(300)
    assert venue.sent[-1] == ("cancel", b.order_id) and b.status == OrderStatus.PENDING_CANCEL
    venue.status = VenueOrderStatus(True, 0, (ack,))
    now[0] = 500
    oms.check_timeouts(500)
    assert b.status == OrderStatus.CANCELLED
