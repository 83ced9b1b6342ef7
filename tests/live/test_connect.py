"""Unmodified ib_insync against the fake TWS; mapping and the live kernel in isolation."""

from __future__ import annotations

import asyncio
import time

import pytest
from ib_insync import IB, LimitOrder, Stock

from adapters.ib.mapping import order_from_ib, to_ib_order
from kernel.errors import OrderRejected
from kernel.instruments import Instrument
from kernel.live import LiveKernel
from kernel.loop import PRIO_DELIVERY, PRIO_TIMER, PRIO_VENUE
from kernel.orders import Order, OrderType, Side, TimeInForce
from scenarios.live import fake_server_for
from tests.live.support import manual_scenario, until

pytestmark = pytest.mark.live


def test_unmodified_ib_insync_connects_streams_and_trades() -> None:
    async def main() -> None:
        server = fake_server_for(manual_scenario())
        async with server:
            server.add_order(0, -1, 10010, 5)  # ask 100.10 x 500
            server.add_order(0, 1, 10000, 3)  # bid 100.00 x 300
            ib = IB()
            await ib.connectAsync("127.0.0.1", server.port, clientId=5, timeout=3)
            try:
                assert ib.client.serverVersion() == 157
                assert ib.managedAccounts() == ["DU123456"]
                contract = Stock("SYN", "SMART", "USD")
                ticker = ib.reqMktData(contract)
                ib.reqMktDepth(contract, numRows=3)
                await until(lambda: ticker.bid == 100.0 and ticker.ask == 100.1, what="quotes")
                assert (ticker.bidSize, ticker.askSize) == (300.0, 500.0)
                await until(lambda: len(ticker.domAsks) == 1 and len(ticker.domBids) == 1, what="depth")
                trade = ib.placeOrder(contract, LimitOrder("BUY", 200, 100.10))
                await until(lambda: trade.orderStatus.status == "Filled", what="fill")
                await until(lambda: trade.fills and trade.fills[0].commissionReport.execId, what="commission")
                fill = trade.fills[0]
                assert (fill.execution.shares, fill.execution.price, fill.execution.side) == (200.0, 100.1, "BOT")
                assert fill.commissionReport.commission == pytest.approx(200 * 100.1 * 0.3e-4)
                await until(lambda: ib.positions() and ib.positions()[0].position == 200.0, what="position")
                assert ticker.askSize == 300.0  # 2 lots of 5 gone
            finally:
                ib.disconnect()

    asyncio.run(main())


def test_mapping_round_trip_and_refusals() -> None:
    inst = Instrument(0, "SYN", 0.01, 100)
    cases = [
        Order(1, 0, Side.BUY, 3, 10001, OrderType.LIMIT, TimeInForce.GTC),
        Order(2, 0, Side.SELL, 1, 0, OrderType.MARKET, TimeInForce.IOC),
        Order(3, 0, Side.SELL, 2, 0, OrderType.STOP, TimeInForce.DAY, stop_price=9990),
        Order(4, 0, Side.BUY, 4, 10005, OrderType.STOP_LIMIT, TimeInForce.FOK, stop_price=10003),
        Order(5, 0, Side.BUY, 6, 10000, OrderType.LIMIT, TimeInForce.GTD, display_qty=2,
              expire_ts=1_767_623_460_000_000_000),
    ]  # fmt: skip
    for o in cases:
        ib = to_ib_order(o, inst)
        back = order_from_ib(ib, inst, o.order_id)
        fields = ("side", "qty", "price", "order_type", "tif", "stop_price", "display_qty", "expire_ts")
        assert [getattr(back, f) for f in fields] == [getattr(o, f) for f in fields], o
    assert to_ib_order(cases[0], inst).lmtPrice == 100.01 and to_ib_order(cases[0], inst).totalQuantity == 300
    assert to_ib_order(cases[2], inst).orderType == "STP" and to_ib_order(cases[3], inst).orderType == "STP LMT"
    with pytest.raises(OrderRejected, match="post-only"):
        to_ib_order(Order(9, 0, Side.BUY, 1, 10000, post_only=True), inst)
    ib = to_ib_order(cases[0], inst)
    ib.lmtPrice = 100.005
    with pytest.raises(OrderRejected, match="tick size"):
        order_from_ib(ib, inst)


def test_live_kernel_orders_equal_times_by_priority_and_runs_idle_last() -> None:
    k = LiveKernel(1)
    seen: list[str] = []
    t = time.time_ns() + 10_000_000
    k.call_at(t, seen.append, "timer", priority=PRIO_TIMER)
    k.call_at(t, seen.append, "delivery", priority=PRIO_DELIVERY)
    k.call_at(t, seen.append, "venue", priority=PRIO_VENUE)
    k.call_after(1_000_000, seen.append, "earlier")
    k.call_at(t - 10**9, seen.append, "past")  # a time already gone runs at once

    def idle() -> None:
        seen.append("idle")
        k.stop()

    k.call_at(t, k.when_idle, idle, priority=PRIO_TIMER)
    start = time.monotonic()
    k.run(time.time_ns() + 2_000_000_000)
    assert seen == ["past", "earlier", "venue", "delivery", "timer", "idle"]
    assert time.monotonic() - start < 1.0  # stop() ended the run early
    assert 8_000_000 <= k.now() - (t - 10_000_000)  # wall clock


def test_live_kernel_surfaces_callback_errors() -> None:
    k = LiveKernel(1)

    def boom() -> None:
        raise ValueError("strategy bug")

    k.call_after(0, boom)
    with pytest.raises(ValueError, match="strategy bug"):
        k.run(time.time_ns() + 1_000_000_000)


def test_trades_and_health_of_a_live_session() -> None:
    from tests.live.support import Session

    async def main() -> None:
        async with Session() as s:
            server, venue, bus = s.server, s.venue, s.run.bus
            venue.subscribe(0, trades=True)
            await until(lambda: server.mkt_data_requests, what="subscription at the server")  # paced
            server.add_order(0, -1, 10010, 4)
            server.market_order(0, 1, 3)  # another participant lifts the offer: a trade print
            await until(lambda: bus.trade_updates == 1, what="trade")
            await until(lambda: bus.last_book.get(0) is not None and bus.last_book[0].ask_qty == 1, what="book")
            h = venue.health.snapshot()
            assert h["state"] == "connected" and h["connects"] == 1 and h["client_id"] == 1
            assert h["last_message_age_s"] is not None and h["last_message_age_s"] < 5
            assert h["pacing_sent"] >= 9 and h["pacing_queue_depth"] == 0
            assert s.run.portfolio.position(0) == 0  # not our trade

    asyncio.run(main())
