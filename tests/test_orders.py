"""The order status state machine: every transition in the table and every illegal one."""

from __future__ import annotations

import itertools

import pytest

from kernel.errors import IllegalTransition
from kernel.orders import TERMINAL, TRANSITIONS, Order, OrderStatus, Side, check_transition

S = OrderStatus


def test_table_covers_every_status():
    assert set(TRANSITIONS) == set(OrderStatus)


def test_terminal_states_are_exactly_the_four_final_ones():
    assert TERMINAL == {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}


@pytest.mark.parametrize("current,new", list(itertools.product(OrderStatus, OrderStatus)))
def test_every_pair_is_allowed_or_raises_per_table(current, new):
    if new in TRANSITIONS[current]:
        check_transition(current, new, 7)
    else:
        with pytest.raises(IllegalTransition, match=f"order 7: illegal status transition {current.name} -> {new.name}"):
            check_transition(current, new, 7)


def test_lifecycle_new_to_filled_records_history():
    o = Order(1, 0, Side.BUY, 10, 100)
    o.transition(S.PENDING_NEW, 1)
    o.transition(S.ACCEPTED, 2)
    o.apply_fill(100, 4, 3)
    assert o.status == S.PARTIALLY_FILLED and o.leaves_qty == 6
    o.apply_fill(102, 6, 4)
    assert o.status == S.FILLED and o.leaves_qty == 0
    assert o.avg_fill_price == pytest.approx((100 * 4 + 102 * 6) / 10)
    assert o.history == [S.NEW, S.PENDING_NEW, S.ACCEPTED, S.PARTIALLY_FILLED]
    assert o.updated_ts == 4


def test_overfill_raises():
    o = Order(1, 0, Side.SELL, 5, 100)
    o.transition(S.PENDING_NEW, 1)
    with pytest.raises(IllegalTransition, match="fill of 6 exceeds open quantity 5"):
        o.apply_fill(100, 6, 2)


def test_fill_while_cancel_pending_stays_pending():
    o = Order(1, 0, Side.BUY, 10, 100)
    o.transition(S.PENDING_NEW, 1)
    o.transition(S.ACCEPTED, 2)
    o.transition(S.PENDING_CANCEL, 3)
    o.apply_fill(100, 3, 4)
    assert o.status == S.PENDING_CANCEL and o.filled_qty == 3
    o.transition(S.CANCELLED, 5)
    assert o.leaves_qty == 0 and o.is_terminal


def test_terminal_order_cannot_be_revived():
    o = Order(1, 0, Side.BUY, 10, 100)
    o.transition(S.REJECTED, 1)
    for status in OrderStatus:
        with pytest.raises(IllegalTransition):
            o.transition(status, 2)
