"""Agent-based market: wiring, latency, determinism, conservation, impact, stylized facts."""

from __future__ import annotations

import numpy as np
import pytest

from kernel.errors import ScenarioError
from kernel.orders import TimeInForce
from scenarios.runner import Run
from tests.helpers import START, Scripted, scenario
from venues.agents import AGENT_ORDER_BASE, AGENT_OWNER_BASE
from venues.agents.stylized import stylized_facts

SMALL = """
[[agents]]
kind = "news"
[agents.params]
initial = 100.0
sigma = 0.2
[[agents]]
kind = "noise"
count = 50
wake_interval = "1s"
latency = { V = "30us" }
[agents.params]
lifetime = "3s"
offset_decay = 0.2
[[agents]]
kind = "market_maker"
name = "mm"
count = 2
wake_interval = "200ms"
[[agents]]
kind = "value"
count = 20
wake_interval = "2s"
[[agents]]
kind = "momentum"
count = 10
wake_interval = "2s"
[agents.params]
threshold = 0.5
[[agents]]
kind = "informed"
count = 3
"""


def small(extra: str = "", **kw):
    return scenario(SMALL + extra, duration=kw.pop("duration", "20s"), **kw)


def test_agents_trade_and_report():
    run = Run(small(), with_strategy=False)
    res = run.run()
    s = res.summary
    assert s["agents"] == 85
    assert s["agent_messages_sent"] > 1000 and s["agent_fills"] > 100
    assert s["market_trades"] > 50
    eng = run.venues["V"].engines[0]
    eng.check_integrity()
    assert s["populations"]["noise"]["wakeups"] > 500


def test_conservation_of_quantity_and_cash_between_agents_and_strategy():
    # Agents only trade with each other and the strategy: positions and cash sum to zero.
    buys = [(k * 1_000_000_000, lambda st: st.ctx.buy(0, 5, 200, tif=TimeInForce.IOC)) for k in range(1, 6)]
    sells = [
        (k * 1_000_000_000 + 500_000_000, lambda st: st.ctx.sell(0, 3, 1, tif=TimeInForce.IOC)) for k in range(1, 6)
    ]
    strat = Scripted(buys + sells)
    run = Run(small(), with_strategy=False, strategy=strat)
    run.run()
    m = run.agent_market
    inv = sum(sum(p.inv) for p in m.populations)
    cash = sum(sum(p.cash) for p in m.populations)
    pos = run.portfolio.position(0)
    s_cash = sum(-f["side"] * f["qty"] * f["price"] for f in run.oms.fills)
    assert len(run.oms.fills) > 0
    assert inv + pos == 0
    assert cash + s_cash == 0


def test_same_seed_same_fingerprint_and_seed_changes_it():
    a = Run(small(), with_strategy=False).run()
    b = Run(small(), with_strategy=False).run()
    c = Run(small(seed=2), with_strategy=False).run()
    assert a.fingerprint == b.fingerprint
    assert a.summary["agent_messages"] == b.summary["agent_messages"]
    assert a.fingerprint != c.fingerprint
    assert a.journal.counts["agent_flow"] > 0


def test_agent_messages_arrive_after_compute_delay_plus_latency():
    sc = scenario(
        """
[[agents]]
kind = "noise"
count = 3
wake_interval = "100ms"
compute_delay = "7us"
latency = { V = 1000 }
[agents.params]
p_market = 0.0
lifetime = 0
""",
        duration="1s",
    )
    run = Run(sc, with_strategy=False)
    pop = run.agent_market.populations[0]
    eng = run.venues["V"].engines[0]
    seen = []
    orig = eng.add

    def spy(ts, oid, side, price, qty, owner=0):
        seen.append((ts, oid, owner))
        orig(ts, oid, side, price, qty, owner)

    eng.add = spy
    wakes = set()
    orig_wake = pop.wake

    def wake_spy(i, t):
        wakes.add((i, t))
        orig_wake(i, t)

    pop.wake = wake_spy
    run.run()
    assert len(seen) > 10
    for ts, oid, owner in seen:
        i = owner - AGENT_OWNER_BASE
        assert 0 <= i < 3 and oid >= AGENT_ORDER_BASE
        assert (i, ts - 7_000 - 1_000) in wakes  # decided at a wake-up, arrived 8 us later


def test_latency_matrix_is_sampled_per_agent_and_venue():
    sc = scenario(
        """
[[agent_venues]]
name = "ALT"
instruments = ["T"]
[[agents]]
kind = "noise"
count = 40
latency = { V = { kind = "uniform", low_ns = 1000, high_ns = 9000 }, ALT = "50us" }
""",
        duration="1s",
    )
    run = Run(sc, with_strategy=False)
    pop = run.agent_market.populations[0]
    v_lat = [row[0] for row in pop.delay]
    assert len(set(v_lat)) > 10 and all(1000 <= x <= 9000 for x in v_lat)
    assert all(row[1] == 50_000 for row in pop.delay)
    assert [v.name for v in pop.venues] == ["V", "ALT"]


def test_agents_react_to_the_strategy_market_impact():
    # A strategy that keeps lifting the offer moves the price up against the no-strategy run.
    script = [(k * 200_000_000, lambda st: st.ctx.buy(0, 20, 10_000, tif=TimeInForce.IOC)) for k in range(1, 90)]
    base = Run(small(), with_strategy=False)
    base.run()
    hit = Run(small(), with_strategy=False, strategy=Scripted(script))
    hit.run()
    assert hit.portfolio.position(0) > 200
    mid_base = np.mean(base.agent_market.samples[("V", 0)].arrays()["ask"][-5:])
    mid_hit = np.mean(hit.agent_market.samples[("V", 0)].arrays()["ask"][-5:])
    assert mid_hit > mid_base + 3


def test_strategy_sees_agent_book_updates():
    strat = Scripted([], subscribe=True)
    run = Run(small(duration="3s"), with_strategy=False, strategy=strat)
    run.run()
    assert len(strat.books) > 20
    assert all(b.ts >= START for b in strat.books)


@pytest.mark.parametrize(
    "extra, match",
    [
        ('[[agents]]\nkind = "noise"\nvenues = ["NOPE"]\n', "unknown venue 'NOPE'"),
        ('[[agents]]\nkind = "noise"\n[agents.params]\nbogus = 1\n', r"agents\[0\]\.params: bogus: unknown field"),
        ('[[agents]]\nkind = "arbitrage"\n', "arbitrage needs at least two venues"),
        ('[[agents]]\nkind = "noise"\nlatency = { X = 5 }\n', "not one of this population's venues"),
        ('[[agents]]\nkind = "noise"\ncount = 2\n[[agents]]\nkind = "noise"\n', "used twice"),
    ],
)
def test_bad_agent_config_names_the_field(extra, match):
    with pytest.raises(ScenarioError, match=match):
        Run(scenario(extra), with_strategy=False)


def test_arbitrage_links_two_venues():
    sc = scenario(
        """
[[agent_venues]]
name = "ALT"
instruments = ["T"]
[[agents]]
kind = "news"
[agents.params]
initial = 100.0
[[agents]]
kind = "noise"
count = 60
wake_interval = "500ms"
[[agents]]
kind = "arbitrage"
count = 2
wake_interval = "50ms"
""",
        duration="30s",
    )
    run = Run(sc, with_strategy=False)
    res = run.run()
    assert res.summary["populations"]["arbitrage"]["fills"] > 0
    a = run.agent_market.samples[("V", 0)].arrays()
    b = run.agent_market.samples[("ALT", 0)].arrays()
    crossed = (a["bid"] > b["ask"]) & (b["ask"] > 0)
    assert crossed.mean() < 0.2


def test_small_market_spread_and_depth_are_plausible():
    run = Run(small(duration="60s"), with_strategy=False)
    run.run()
    m = run.agent_market
    f = stylized_facts(m.samples[("V", 0)].arrays(), m.sample_interval_ns, horizon_ns=5_000_000_000)
    assert f["spread_min"] >= 1 and f["two_sided_fraction"] > 0.9
    assert 5 <= f["depth_mean"] <= 2_000


def test_agent_market_fingerprint_is_the_same_in_other_processes_and_hash_seeds():
    import os
    import subprocess
    import sys

    code = (
        "from scenarios.loader import load_scenario; from scenarios.runner import Run; "
        "sc, _ = load_scenario('agents_1000', {'duration': '5s'}); print(Run(sc).run().fingerprint)"
    )
    prints = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        prints.add(out.stdout.strip())
    from scenarios.loader import load_scenario

    sc, _ = load_scenario("agents_1000", {"duration": "5s"})
    prints.add(Run(sc).run().fingerprint)
    assert len(prints) == 1
