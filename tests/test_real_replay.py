"""Replays of real exchange data through the full stack (skipped without the shared samples)."""

from __future__ import annotations

import pytest

from adapters.feeds.lobster import LobsterReader
from scenarios.loader import load_scenario
from scenarios.runner import Run

# Golden fingerprint of the bundled lobster_aapl scenario; update only on purpose.
GOLDEN_LOBSTER_AAPL = "dfb4e8cabf502d66bc65ae38723427d06839c76d103eeb526ed7f13342d213b6"


@pytest.fixture
def lobster_env(shared_data, monkeypatch):
    monkeypatch.setenv("PARITY_SHARED_DATA", str(shared_data))
    return shared_data


def test_lobster_aapl_market_maker_replay(lobster_env):
    scenario, _ = load_scenario("lobster_aapl")
    run = Run(scenario)
    result = run.run()
    lob = lobster_env / "lobster"
    reader = LobsterReader(
        lob / "AAPL_2012-06-21_34200000_57600000_message_1.csv",
        lob / "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv",
        tick_size=0.01,
    )
    events = sum(len(c) for c in reader.chunks())
    s = result.summary
    assert s["market_events"] == events
    assert s["start_ns"] == run.start_ns and run.end_ns > run.start_ns
    assert s["fills"] > 100
    # Every fill is accounted for in the position.
    assert s["positions"]["AAPL"] == sum(f["qty"] * f["side"] for f in result.fills)
    book = run.venues["NASDAQ"].engines[0]
    bid, _, ask, _ = book.top()
    assert not (bid and ask and bid >= ask)
    assert result.fingerprint == GOLDEN_LOBSTER_AAPL


def test_lobster_scenario_without_shared_data_names_the_variable(monkeypatch):
    monkeypatch.delenv("PARITY_SHARED_DATA", raising=False)
    from kernel.errors import ScenarioError

    scenario, _ = load_scenario("lobster_aapl")
    with pytest.raises(ScenarioError, match=r"data\[0\]\.path: .*PARITY_SHARED_DATA.* not set"):
        Run(scenario)
