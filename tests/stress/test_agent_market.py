"""Stress tier: the bundled 1,000-agent market over three hours - stylized facts."""

from __future__ import annotations

import pytest

from scenarios.loader import load_scenario
from scenarios.runner import Run
from venues.agents.stylized import stylized_facts

pytestmark = pytest.mark.stress


@pytest.fixture(scope="module")
def bundled_run():
    sc, _ = load_scenario("agents_1000", {"duration": "3h", "seed": 11})
    run = Run(sc, with_strategy=False)
    run.run()
    return run


def test_stylized_facts_of_the_bundled_market(bundled_run):
    m = bundled_run.agent_market
    for key in (("SIM", 0), ("ALT", 0)):
        f = stylized_facts(m.samples[key].arrays(), m.sample_interval_ns)
        assert f["returns"] >= 170
        assert f["excess_kurtosis"] > 0.5, f  # heavy tails at 1 min
        assert all(x > 0 for x in f["abs_return_acf"][:5]), f  # volatility clustering, lags 1-5
        assert f["spread_min"] >= 1, f  # non-negative spread: never crossed or locked when two-sided
        assert f["two_sided_fraction"] > 0.99, f
        assert 20 <= f["depth_mean"] <= 5_000, f  # plausible depth (top 5 levels, lots)


def test_bundled_market_agent_count_and_books(bundled_run):
    m = bundled_run.agent_market
    assert m.agents == 1000
    for eng in (bundled_run.venues["SIM"].engines[0], m.books["ALT"][0][0]):
        eng.check_integrity()
