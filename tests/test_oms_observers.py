"""OMS observers: every order change, fill, risk decision and trading-state change is seen,
and attaching an observer changes nothing in the run (same fingerprint)."""

from __future__ import annotations

from pathlib import Path

from kernel.oms import OMSObserver
from kernel.risk import TradingState
from scenarios.loader import parse_scenario
from scenarios.runner import Run

ROOT = Path(__file__).resolve().parents[1]
TOML = (ROOT / "scenarios" / "bundled" / "default.toml").read_text().replace('duration = "30s"', 'duration = "2s"')


class Recorder(OMSObserver):
    def __init__(self) -> None:
        self.orders: dict[int, str] = {}
        self.order_calls = 0
        self.fills: list[dict] = []
        self.risk: list[dict] = []
        self.states: list[TradingState] = []

    def on_order(self, order):
        self.order_calls += 1
        self.orders[order.order_id] = order.status.name

    def on_fill(self, fill):
        self.fills.append(fill)

    def on_risk(self, event):
        self.risk.append(event)

    def on_state(self, state):
        self.states.append(state)


def _run(extra: str = "", observe: bool = True, duration: str = "2s"):
    scenario = parse_scenario(TOML.replace('duration = "2s"', f'duration = "{duration}"') + extra, "<test>")
    run = Run(scenario)
    rec = Recorder()
    if observe:
        run.oms.observers.append(rec)
    return run.run(), rec, run


def test_observer_sees_everything_and_changes_nothing():
    result, rec, run = _run()
    plain, _, _ = _run(observe=False)
    assert result.fingerprint == plain.fingerprint
    assert rec.fills == result.fills and len(rec.fills) > 0
    assert rec.risk == result.risk_events
    # The last state each order was seen in is its final state.
    assert rec.orders == {o.order_id: o.status.name for o in result.orders}
    assert rec.order_calls > len(result.orders)


def test_observer_sees_the_halt():
    # A tiny drawdown limit halts the market maker quickly (it then keeps quoting into rejections: keep it short).
    _, rec, run = _run("max_drawdown = 1.0\n", duration="300ms")
    assert run.risk.state == TradingState.HALTED
    assert rec.states == [TradingState.HALTED]


def test_kill_switch_is_reported_once():
    scenario = parse_scenario(TOML, "<test>")
    run = Run(scenario, with_strategy=False)
    rec = Recorder()
    run.oms.observers.append(rec)
    run.oms.kill("operator")
    run.oms.kill("again")
    assert rec.states == [TradingState.HALTED]
