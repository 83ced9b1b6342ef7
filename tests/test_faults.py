"""Fault injection: each fault, the expected reaction, and consistency with the venue's record."""

from __future__ import annotations

import pytest

from kernel.errors import ScenarioError
from kernel.orders import OrderStatus
from kernel.risk import TradingState
from scenarios.runner import Run
from tests.helpers import START, Scripted, scenario

MARKET = """
[[data]]
venue = "V"
instrument = "T"
[data.params]
event_rate = 20000.0
p_limit = 0.47
p_cancel = 0.45
p_market = 0.08
initial_price = 10000
[strategy]
path = "strategies.market_maker:MarketMaker"
name = "mm"
[strategy.params]
instrument = "T"
qty = 3
edge = 0
skew = 0.1
max_inventory = 30
"""


def run_faults(faults: str = "", extra: str = "", duration: str = "2s", **kw) -> Run:
    run = Run(scenario(MARKET + extra + faults, duration=duration, **kw))
    run.result = run.run()
    return run


def assert_consistent(run: Run) -> None:
    """No fill lost or double counted: the OMS, the portfolio and the venue's record agree."""
    inj = run.fault_injectors["V"]
    ledger = inj.ledger().get(0, (0, 0))
    oms_fills = run.oms.fills
    assert len(oms_fills) == len(inj.fills)
    assert sum(f["qty"] for f in oms_fills) == sum(r.qty for r in inj.fills)
    assert run.portfolio.position(0) == ledger[0]
    cash = sum(-f["side"] * f["qty"] * f["price"] for f in oms_fills)
    assert cash == ledger[1]
    for order in run.oms.orders.values():
        assert order.filled_qty <= order.qty


def test_no_faults_section_changes_nothing():
    run = run_faults()
    assert run.fault_injectors == {}
    assert "faults" not in run.result.summary


def test_outage_reject_mode_rejects_orders_in_the_window():
    run = run_faults('[[faults]]\nkind = "outage"\nstart = "500ms"\nduration = "300ms"\n')
    rejected = [o for o in run.oms.orders.values() if o.reject_reason == "venue outage"]
    assert rejected
    for o in rejected:
        assert START + 500_000_000 <= o.created_ts + 1000 < START + 800_000_000 + 1000
    assert run.result.summary["faults"]["V"]["outage_reject"] >= len(rejected)
    assert run.kernel.journal.counts["fault"] > 0
    assert any(o.status == OrderStatus.ACCEPTED or o.filled_qty for o in run.oms.orders.values())
    assert_consistent(run)


def test_silent_outage_orders_time_out_and_reconcile():
    faults = '[[faults]]\nkind = "outage"\nmode = "silent"\nstart = "500ms"\nduration = "300ms"\n'
    run = run_faults(faults, '[oms]\npending_timeout = "20ms"\n')
    assert run.oms.timeouts > 0
    lost = run.fault_injectors["V"].counts["outage_lost"]
    assert lost > 0
    timed_out = [o for o in run.oms.orders.values() if "unknown at the venue" in o.reject_reason]
    assert timed_out
    # Nothing stays pending forever: every order is settled or working.
    pending = [o for o in run.oms.orders.values() if o.status in (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL)]
    assert all(o.updated_ts >= START + 2_000_000_000 - 20_000_000 for o in pending)
    recon = run.kernel.journal.of_kind("reconcile")
    assert recon and {r.fields[1] for r in recon} & {"rejected", "cancel_resent", "working"}
    assert_consistent(run)


def test_lost_cancel_is_resent_after_the_timeout():
    # One resting order; its cancel is lost in a silent outage; the OMS reconciles and re-sends.
    sc = scenario(
        '[oms]\npending_timeout = "1ms"\n[[faults]]\nkind = "outage"\nmode = "silent"\n'
        'start = "15us"\nduration = "10us"\n',
        duration="10ms",
    )
    st = Scripted(
        [
            (5_000, lambda s: s.orders.__setitem__("o", s.ctx.buy(0, 1, 50))),
            (15_000, lambda s: s.ctx.cancel(s.orders["o"])),
        ]
    )
    run = Run(sc, with_strategy=False, strategy=st)
    run.run()
    order = st.orders["o"]
    assert order.status == OrderStatus.CANCELLED
    outcomes = [r.fields[1] for r in run.kernel.journal.of_kind("reconcile")]
    assert "cancel_resent" in outcomes


def test_duplicate_reports_are_never_double_counted():
    run = run_faults('[[faults]]\nkind = "duplicate_reports"\nduration = "2s"\n')
    assert run.oms.duplicate_reports > 100
    assert run.kernel.journal.counts["duplicate_report"] == run.oms.duplicate_reports
    assert_consistent(run)


def test_out_of_order_reports_lose_no_fill():
    faults = '[[faults]]\nkind = "reorder_reports"\nduration = "2s"\nprobability = 0.3\nlag = "2ms"\n'
    run = run_faults(faults)
    assert run.fault_injectors["V"].counts["reorder"] > 50
    assert_consistent(run)


def test_partial_fill_storm_splits_fills_and_keeps_quantities():
    base = run_faults()
    run = run_faults('[[faults]]\nkind = "partial_fills"\nduration = "2s"\npieces = 3\n')
    assert run.fault_injectors["V"].counts["partial_fills"] > 0
    assert len(run.oms.fills) > len(base.oms.fills) * 0.9
    assert_consistent(run)


def test_reject_storm_halts_trading_per_config():
    risk = "[risk]\nreject_storm_count = 20\nreject_storm_window_ns = 50000000\n"
    run = run_faults('[[faults]]\nkind = "reject_storm"\nstart = "1s"\nduration = "200ms"\n', risk)
    assert run.risk.state == TradingState.HALTED
    ts, _, new, reason = run.risk.transitions[-1]
    assert new == TradingState.HALTED and "reject storm" in reason and ts >= START + 1_000_000_000
    assert not any(o.created_ts > ts and o.status != OrderStatus.REJECTED for o in run.oms.orders.values())
    assert_consistent(run)


def test_reject_storm_can_move_to_reducing():
    risk = "[risk]\nreject_storm_count = 20\nreject_storm_window_ns = 50000000\nreject_storm_action = 'reducing'\n"
    run = run_faults('[[faults]]\nkind = "reject_storm"\nstart = "1s"\nduration = "200ms"\n', risk)
    assert run.risk.state == TradingState.REDUCING


@pytest.mark.parametrize("kind", ["md_gap", "stale_feed"])
@pytest.mark.parametrize("action, state", [("reducing", TradingState.REDUCING), ("halted", TradingState.HALTED)])
def test_stale_market_data_moves_the_trading_state(kind, action, state):
    faults = f'[[faults]]\nkind = "{kind}"\nstart = "1s"\nduration = "500ms"\nlag = "200ms"\n'
    risk = f"[risk]\nstale_data_ns = 50000000\nstale_action = '{action}'\n"
    run = run_faults(faults, risk)
    assert run.risk.state == state
    ts, _, _, reason = next(t for t in run.risk.transitions if t[2] == state)
    assert START + 1_000_000_000 < ts < START + 1_500_000_000 and "stale data" in reason
    assert_consistent(run)


def test_market_data_gap_without_stale_limit_only_drops_updates():
    base = run_faults()
    run = run_faults('[[faults]]\nkind = "md_gap"\nstart = "500ms"\nduration = "500ms"\n')
    assert run.risk.state == TradingState.ACTIVE
    assert run.bus.book_updates < base.bus.book_updates


def test_latency_spike_delays_acks():
    sc = scenario(
        '[[faults]]\nkind = "latency_spike"\nstart = "10us"\nduration = "10us"\nlag = "7ms"\n', duration="20ms"
    )
    st = Scripted([(5_000, lambda s: s.ctx.buy(0, 1, 50)), (15_000, lambda s: s.ctx.buy(0, 1, 50))])
    run = Run(sc, with_strategy=False, strategy=st)
    run.run()
    acks = [(t, oid) for t, oid, status, kind in st.events if kind == "ACK"]
    # ENTRY 1000 + RESPONSE 500; the second order arrives inside the spike window.
    assert acks == [(5_000 + 1_500, 1), (15_000 + 1_500 + 7_000_000, 2)]


def test_faults_are_deterministic():
    faults = (
        '[[faults]]\nkind = "reorder_reports"\nprobability = 0.5\nduration = "2s"\n'
        '[[faults]]\nkind = "reject_storm"\nprobability = 0.2\nstart = "1s"\n'
    )
    a = run_faults(faults)
    b = run_faults(faults)
    assert a.result.fingerprint == b.result.fingerprint
    assert a.result.summary["faults"] == b.result.summary["faults"]


def test_bad_fault_config_names_the_field():
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.venue: unknown venue 'X'"):
        Run(scenario('[[faults]]\nkind = "outage"\nvenue = "X"\n'))
    with pytest.raises(ScenarioError, match="faults"):
        from scenarios.loader import parse_scenario
        from tests.helpers import BASE_TOML

        parse_scenario(BASE_TOML + '[[faults]]\nkind = "meteor"\n')
