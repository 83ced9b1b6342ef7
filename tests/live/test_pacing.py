"""Pacing: a burst of 500 order actions never exceeds 50 messages/s at the server."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.ib.pacing import Pacer, max_in_window
from kernel.orders import Order, OrderStatus, OrderType, Side
from tests.live.support import Session, until

pytestmark = pytest.mark.live


def test_burst_of_500_order_actions_stays_under_50_messages_per_second(record_property) -> None:
    async def main() -> tuple[int, float, int]:
        async with Session() as s:
            run, server, pacer = s.run, s.server, s.venue.conn.pacer
            started = time.monotonic()
            orders = [run.oms.submit(Order(0, 0, Side.BUY, 1, 9000 + i, OrderType.LIMIT), None) for i in range(250)]
            for o in orders:
                assert run.oms.cancel(o.order_id)
            assert pacer.depth >= 480  # the burst waits in the pacer, nothing is dropped
            await until(lambda: all(o.status == OrderStatus.CANCELLED for o in orders), timeout=30, what="cancels")
            took = time.monotonic() - started
            actions = [m for _, _, m in server.received if m in ("3", "4")]
            assert actions.count("3") == 250 and actions.count("4") == 250
            return max_in_window(server.received_times()), took, pacer.max_depth

    peak, took, depth = asyncio.run(main())
    record_property("max_msgs_in_any_1s", peak)
    record_property("burst_seconds", round(took, 2))
    print(f"pacing: 500 actions in {took:.2f}s, max {peak} messages in any 1 s window, max queue {depth}")
    assert peak <= 50
    assert took >= (500 - 50) / 50  # it really was spread out


def test_pacer_refuses_settings_that_could_exceed_the_limit() -> None:
    with pytest.raises(ValueError, match="TWS allows 50"):
        Pacer(rate=48, burst=5)
    Pacer(rate=45, burst=5)


def test_max_in_window() -> None:
    s = 1_000_000_000
    assert max_in_window([0, s // 2, s, s + 1, 3 * s]) == 3  # [0, s] holds three
    assert max_in_window([]) == 0
