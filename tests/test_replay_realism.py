"""L3 replay realism: our orders in the historical FIFO queue, and the documented impact rules."""

from __future__ import annotations

from kernel.events import ADD, CANCEL, EXECUTE
from kernel.orders import Side, TimeInForce
from tests.helpers import Scripted, book_rows, events, run_with, scenario
from venues.simulated import PARTICIPANT_BASE

ENTRY, RESPONSE = 1000, 500


def _engine(run):
    return run.venues["V"].engines[0]


def test_execution_of_order_ahead_does_not_fill_us_but_advances_queue():
    rows = book_rows(100, 101, qty=10) + [(20_000, EXECUTE, 1, 0, 6, 1)]
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 100))])
    run = run_with(scenario(), events(rows), s)
    run.run()
    assert s.fills == []
    assert _engine(run).queue_ahead(PARTICIPANT_BASE + 1) == 4  # 10 ahead, 6 executed


def test_execution_of_order_behind_us_fills_us_first_and_leaves_it_resting():
    # bg#1 (10) ahead of us, bg#30 (10) behind us; history executes 4 of bg#30.
    rows = book_rows(100, 101, qty=10) + [(15_000, ADD, 1, 100, 10, 30), (20_000, EXECUTE, 1, 0, 4, 30)]
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 100))])
    run = run_with(scenario(), events(rows), s)
    run.run()
    assert [(f[0], f[2], f[3], f[4]) for f in s.fills] == [(20_000 + RESPONSE, 100, 4, "M")]
    # The aggressor traded with us instead: bg#30 was not hit (market impact of our presence).
    assert _engine(run).order_info(30) == (1, 100, 10, 0)


def test_execution_larger_than_our_order_fills_us_then_the_historical_order():
    rows = book_rows(100, 101, qty=10) + [(15_000, ADD, 1, 100, 10, 30), (20_000, EXECUTE, 1, 0, 8, 30)]
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 100))])
    run = run_with(scenario(), events(rows), s)
    run.run()
    assert [(f[2], f[3]) for f in s.fills] == [(100, 5)]
    assert _engine(run).order_info(30) == (1, 100, 7, 0)  # 8 executed: 5 by us, 3 by bg#30


def test_our_better_priced_order_is_hit_at_our_price():
    rows = book_rows(100, 102, qty=10) + [(20_000, EXECUTE, 1, 0, 3, 1)]
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 2, 101))])
    run = run_with(scenario(), events(rows), s)
    run.run()
    assert [(f[2], f[3]) for f in s.fills] == [(101, 2)]
    assert _engine(run).order_info(1) == (1, 100, 9, 0)  # 3 executed: 2 by us at 101, 1 by bg#1


def test_cancels_ahead_then_execution_reaches_us():
    rows = book_rows(100, 101, qty=10) + [
        (15_000, ADD, 1, 100, 10, 30),
        (18_000, CANCEL, 1, 100, 0, 1),  # the order ahead of us leaves
        (20_000, EXECUTE, 1, 0, 2, 30),
    ]
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 5, 100))])
    run = run_with(scenario(), events(rows), s)
    run.run()
    assert [(f[2], f[3]) for f in s.fills] == [(100, 2)]


def test_liquidity_we_took_is_gone_for_later_historical_executions():
    rows = book_rows(100, 101, qty=3) + [(20_000, EXECUTE, -1, 0, 3, 2)]
    s = Scripted([(10_000, lambda st: st.ctx.submit(0, Side.BUY, 3, 101, tif=TimeInForce.IOC))])
    run = run_with(scenario(), events(rows), s)
    run.run()
    assert [(f[2], f[3], f[4]) for f in s.fills] == [(101, 3, "T")]
    engine = _engine(run)
    assert engine.unknown_ids == 1  # the historical execution of ask #2 found it already taken by us
    assert engine.best_ask() is None
