"""Scenario [[data]] kinds: file sources through the full replay path."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.feeds.cache import write_cache
from adapters.feeds.itch import read_itch
from adapters.feeds.itch_encoder import encode_events
from kernel.errors import ScenarioError
from scenarios.loader import parse_scenario
from scenarios.runner import Run
from venues.synthetic import SyntheticMarket, SyntheticParams

TEMPLATE = """
name = "files"
seed = 3
start = "data"
duration = "data"
[[instruments]]
id = 0
symbol = "SYN"
tick_size = 0.0001
[[venues]]
name = "V"
instruments = ["SYN"]
[[data]]
venue = "V"
instrument = "SYN"
kind = "{kind}"
path = "{path}"
[store]
enabled = false
"""


@pytest.fixture(scope="module")
def synthetic_events() -> np.ndarray:
    start = 1_704_205_800_000_000_000  # 2024-01-02 14:30 UTC = 09:30 New York
    params = SyntheticParams(start_ts=start, duration_ns=200_000_000, event_rate=20_000.0, instrument=0)
    return SyntheticMarket(params, np.random.default_rng(5)).generate()


def _run(tmp_path, kind: str, name: str) -> Run:
    sc = parse_scenario(TEMPLATE.format(kind=kind, path=name), "<test>")
    sc._base_dir = tmp_path
    run = Run(sc)
    run.run()
    return run


def test_cache_source_replays_every_event_and_matches_direct_replay(tmp_path, synthetic_events):
    write_cache(iter([synthetic_events]), tmp_path / "syn.npy", {"source": "test"})
    run = _run(tmp_path, "cache", "syn.npy")
    assert run.kernel.md_events == len(synthetic_events)
    assert run.start_ns == int(synthetic_events["ts"][0])
    assert run.end_ns == int(synthetic_events["ts"][-1])


def test_itch_source_replays_the_encoded_market(tmp_path, synthetic_events):
    # ITCH carries no market orders: render the book's L3 result through a replay first.
    from kernel.events import ADD, CANCEL

    l3 = synthetic_events[np.isin(synthetic_events["action"], (ADD, CANCEL))].copy()
    l3 = l3[l3["price"] > 0]
    l3["instrument"] = 1  # ITCH stock locates start at 1; the scenario maps it to instrument 0
    (tmp_path / "m_20240102.itch").write_bytes(encode_events(l3, {1: "SYN"}, "2024-01-02"))
    parsed = read_itch(tmp_path / "m_20240102.itch")
    run = _run(tmp_path, "itch", "m_20240102.itch")
    assert run.kernel.md_events == len(parsed) > 0


def test_missing_file_names_the_field(tmp_path):
    sc = parse_scenario(TEMPLATE.format(kind="cache", path="nope.npy"), "<test>")
    sc._base_dir = tmp_path
    with pytest.raises(ScenarioError, match=r"data\[0\]\.path: data file .*nope\.npy does not exist"):
        Run(sc)


def test_synthetic_source_cannot_start_from_data(tmp_path):
    text = TEMPLATE.format(kind="synthetic", path="x").replace('path = "x"\n', "")
    with pytest.raises(ScenarioError, match="synthetic data needs an explicit start and duration"):
        Run(parse_scenario(text, "<test>"))
