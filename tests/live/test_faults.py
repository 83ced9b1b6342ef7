"""Fault injection against the fake TWS: drops, connectivity notices, client id conflicts,
order rejects, the kill switch."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.ib import health as H
from kernel.orders import Order, OrderStatus, OrderType, Side
from tests.live.support import Session, until

pytestmark = pytest.mark.live

BID, ASK = 10000, 10010


def _limit(side: Side, qty: int, price: int) -> Order:
    return Order(0, 0, side, qty, price, OrderType.LIMIT)


def test_drop_with_working_orders_and_a_fill_in_the_outage_reconciles_exactly_once() -> None:
    async def main() -> dict:
        async with Session() as s:
            server, run, venue = s.server, s.run, s.venue
            server.add_order(0, -1, ASK, 10)  # someone offers; our bids rest below
            venue.subscribe(0)
            a = run.oms.submit(_limit(Side.BUY, 3, BID), None)
            b = run.oms.submit(_limit(Side.BUY, 2, BID - 1), None)
            await until(lambda: a.status == b.status == OrderStatus.ACCEPTED, what="acks")
            server.market_order(0, -1, 1)  # a fill while connected: live
            await until(lambda: len(run.oms.fills) == 1, what="live fill")
            live_exec = venue._seen_exec.copy()

            t_drop = time.monotonic()
            assert server.drop_connections() == 1
            await until(lambda: venue.health.state == H.RECONNECTING, what="drop noticed")
            server.market_order(0, -1, 3)  # in the outage: 2 more for a (filled), 1 for b
            assert len(server.executions) == 3
            await until(lambda: venue.health.reconnects == 1, what="reconnect")
            t_back = time.monotonic() - t_drop
            await until(lambda: len(run.oms.fills) == 3, what="reconciled fills")
            await asyncio.sleep(0.05)  # nothing more may come: no double count
            assert len(run.oms.fills) == 3 and venue.duplicate_fills == 0
            assert {f["order_id"]: 0 for f in run.oms.fills} == {a.order_id: 0, b.order_id: 0}
            assert len(venue._seen_exec) == 3 and live_exec < venue._seen_exec
            assert a.status == OrderStatus.FILLED and a.filled_qty == 3
            assert b.status == OrderStatus.PARTIALLY_FILLED and b.filled_qty == 1 and b.is_working
            assert run.portfolio.position(0) == server.position(0) == 4
            assert venue.ib_positions() == {0: 4}
            assert venue.health.position_mismatches == 0
            # Trading goes on over the new session: b fills live, market data flow again.
            server.market_order(0, -1, 1)
            await until(lambda: b.status == OrderStatus.FILLED, what="fill after reconnect")
            assert run.portfolio.position(0) == server.position(0) == 5
            assert len(server.mkt_data_requests) == 2  # resubscribed on the new session
            await until(lambda: run.bus.last_book.get(0) is not None and run.bus.last_book[0].ask_px == ASK)
            rec = [r for r in run.kernel.journal.records if r.kind == "reconcile"]
            result = await s.finish()
            assert result.summary["fills"] == 4
            return {"reconnect_s": t_back, "delays": venue.health.reconnect_delays_s, "rec": rec}

    out = asyncio.run(main())
    assert [r.fields[1] for r in out["rec"]] == [0, 1]  # first connect, then the reconnect
    assert out["reconnect_s"] < 2.0
    assert 0.05 * 0.75 <= out["delays"][0] <= 0.05 * 1.25  # backoff base with +/-25 % jitter


def test_pending_order_lost_in_the_drop_is_rejected_and_a_pending_cancel_is_sent_again() -> None:
    async def main() -> None:
        async with Session() as s:
            server, run, venue = s.server, s.run, s.venue
            keep = run.oms.submit(_limit(Side.BUY, 1, BID), None)
            await until(lambda: keep.status == OrderStatus.ACCEPTED)
            server.drop_connections()
            await until(lambda: not venue.conn.is_ready, what="drop")
            lost = run.oms.submit(_limit(Side.BUY, 1, BID - 2), None)  # cannot be sent
            assert lost.status == OrderStatus.PENDING_NEW
            run.oms.cancel(keep.order_id)  # queued until the session is back
            await until(lambda: venue.health.reconnects == 1, what="reconnect")
            await until(lambda: lost.is_terminal and keep.is_terminal, what="settled")
            assert lost.status == OrderStatus.REJECTED and "not connected" in lost.reject_reason
            assert keep.status == OrderStatus.CANCELLED
            assert not any(o.working for o in server.orders.values())

    asyncio.run(main())


def test_1100_then_1102_resubscribes_market_data_and_farm_notices_are_tracked() -> None:
    async def main() -> None:
        async with Session() as s:
            server, venue = s.server, s.venue
            venue.subscribe(0, depth=2)
            await until(lambda: len(server.mkt_data_requests) == 1 and len(server.depth_requests) == 1)
            assert venue.health.farms == {"market data": "ok", "historical data": "ok", "security definition": "ok"}
            server.send_error(2103)
            server.send_error(1100)
            await until(lambda: venue.health.state == H.DEGRADED, what="1100")
            assert venue.health.farms["market data"] == "broken"
            server.send_error(1102)
            server.send_error(2104)
            await until(lambda: venue.health.state == H.CONNECTED, what="1102")
            await until(lambda: len(server.mkt_data_requests) == 2 and len(server.depth_requests) == 2)
            assert venue.health.farms["market data"] == "ok" and venue.health.resubscriptions == 1
            server.add_order(0, 1, BID, 4)  # data flow on the new subscription
            await until(lambda: s.run.bus.last_book.get(0) is not None and s.run.bus.last_book[0].bid_px == BID)
            server.send_error(1101)  # restored, data lost: resubscribed too
            await until(lambda: len(server.mkt_data_requests) == 3)

    asyncio.run(main())


def test_client_id_in_use_326_moves_to_the_next_id() -> None:
    async def main() -> None:
        s = Session(client_id=7)
        s.server.client_ids_in_use = {7, 8}
        started = time.monotonic()
        async with s:
            assert time.monotonic() - started < 2.0  # not a timeout: 326 is acted on at once
            assert s.venue.conn.client_id == 9 and s.venue.health.client_id == 9
            assert s.venue.health.client_id_conflicts == 2
            assert s.server.sessions[0].client_id == 9
            order = s.run.oms.submit(_limit(Side.BUY, 1, BID), None)
            await until(lambda: order.status == OrderStatus.ACCEPTED)
            assert s.server.orders[max(s.server.orders)].client_id == 9

    asyncio.run(main())


def test_order_reject_201_reaches_the_oms_with_its_reason() -> None:
    async def main() -> None:
        async with Session() as s:
            s.server.reject_next_orders("Insufficient margin for this order")
            bad = s.run.oms.submit(_limit(Side.BUY, 1, BID), None)
            good = s.run.oms.submit(_limit(Side.BUY, 1, BID), None)
            await until(lambda: bad.is_terminal and good.status == OrderStatus.ACCEPTED)
            assert bad.status == OrderStatus.REJECTED
            assert "201" in bad.reject_reason and "Insufficient margin for this order" in bad.reject_reason
            rejects = [r for r in s.run.kernel.journal.records if r.kind == "reject"]
            assert rejects and rejects[0].fields[0] == bad.order_id and "Insufficient margin" in rejects[0].fields[2]
            post = s.run.oms.submit(Order(0, 0, Side.BUY, 1, BID, OrderType.LIMIT, post_only=True), None)
            await until(lambda: post.is_terminal)
            assert post.status == OrderStatus.REJECTED and "post-only" in post.reject_reason

    asyncio.run(main())


def test_kill_switch_cancels_at_ib_with_global_cancel() -> None:
    async def main() -> None:
        async with Session() as s:
            orders = [s.run.oms.submit(_limit(Side.BUY, 1, BID - i), None) for i in range(3)]
            await until(lambda: all(o.status == OrderStatus.ACCEPTED for o in orders))
            s.run.oms.kill("test kill")
            await until(lambda: all(o.status == OrderStatus.CANCELLED for o in orders), what="cancelled")
            assert s.server.global_cancels == 1
            assert not any(o.working for o in s.server.orders.values())
            assert any(r.kind == "global_cancel" for r in s.run.kernel.journal.records)

    asyncio.run(main())


def test_reconnect_backs_off_exponentially_while_tws_is_down() -> None:
    async def main() -> None:
        async with Session(connect_timeout=0.25) as s:
            venue = s.venue
            order = s.run.oms.submit(_limit(Side.BUY, 2, BID), None)
            await until(lambda: order.status == OrderStatus.ACCEPTED)
            await s.server.restart(down_s=0.9)  # refused meanwhile: attempts fail and back off
            await until(lambda: venue.health.reconnects == 1, timeout=10, what="reconnect after restart")
            delays = venue.health.reconnect_delays_s
            assert len(delays) >= 3
            for n, d in enumerate(delays):  # 0.05 * 2**n, +/-25 % jitter from the seeded stream
                assert 0.05 * 2**n * 0.75 <= d <= 0.05 * 2**n * 1.25
            assert venue.conn.backoff(20) <= 30.0 * 1.25  # capped
            s.server.market_order(0, -1, 2)  # the order survived the restart and fills live
            await until(lambda: order.status == OrderStatus.FILLED)
            assert s.run.portfolio.position(0) == s.server.position(0) == 2

    asyncio.run(main())
