"""Crossing market-data adds: matched for synthetic flow, resting for recorded data before the
start (the exchange's book is rebuilt), matched again from the start on (``crossing_adds``)."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.feeds.cache import write_cache
from kernel.events import ADD, MD_DTYPE, MODIFY
from scenarios.loader import parse_scenario
from scenarios.runner import Run

T0 = 1_704_205_800_000_000_000
SCENARIO = """
name = "crossing"
seed = 1
start = "{start}"
duration = "1s"
[[instruments]]
id = 0
symbol = "X"
tick_size = 0.01
[[venues]]
name = "V"
instruments = ["X"]
{crossing}
[[data]]
venue = "V"
instrument = "X"
kind = "cache"
path = "tape.npy"
[store]
enabled = false
"""


def _tape() -> np.ndarray:
    """Bid 100 x 5, ask 101 x 5; at +1 ms a bid at 102 x 3 crosses (an auction order); at +1 s
    (after the start) a bid at 103 x 2 crosses too; at +1.5 s the ask is modified down to 99."""
    rows = [
        (T0, 1, 100, 5, ADD, 1),
        (T0 + 1, 2, 101, 5, ADD, -1),
        (T0 + 1_000_000, 3, 102, 3, ADD, 1),
        (T0 + 1_000_000_000, 4, 103, 2, ADD, 1),
        (T0 + 1_500_000_000, 5, 110, 4, ADD, -1),
        (T0 + 1_600_000_000, 5, 99, 4, MODIFY, -1),
    ]
    ev = np.zeros(len(rows), MD_DTYPE)
    for k, (ts, oid, px, qty, action, side) in enumerate(rows):
        ev[k]["ts"], ev[k]["order_id"], ev[k]["price"], ev[k]["qty"] = ts, oid, px, qty
        ev[k]["action"], ev[k]["side"] = action, side
    return ev


def _run(tmp_path, crossing: str, engine: str) -> Run:
    write_cache(iter([_tape()]), tmp_path / "tape.npy", {"source": "test"})
    text = SCENARIO.format(start="2024-01-02T14:30:00.5", crossing=crossing)
    sc = parse_scenario(text, "<test>")
    sc = sc.model_copy(update={"engine": engine})
    sc._base_dir = tmp_path
    run = Run(sc, with_strategy=False)
    run.run()
    return run


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_auto_rests_before_the_start_and_matches_after(tmp_path, engine):
    run = _run(tmp_path, "", engine)
    book = run.venues["V"].engines[0]
    # Before the start (14:30:00.5) the crossing bid 102 x 3 rested: no trade. From the start on
    # the bid 103 x 2 trades 2 against the ask 101 (3 left), and the ask modified from 110 down
    # to 99 trades with the bids: 3 at 102, then 1 at 100.
    assert book.trade_count == 3
    assert book.traded_qty == 2 + 3 + 1
    assert book.top() == (100, 4, 101, 3)
    assert book.rest_crossing is False


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_rest_keeps_every_crossing_add_resting(tmp_path, engine):
    run = _run(tmp_path, 'crossing_adds = "rest"', engine)
    book = run.venues["V"].engines[0]
    assert book.trade_count == 0
    assert book.top() == (103, 2, 99, 4)  # crossed, as the tape's book is


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_match_trades_crossing_adds_from_the_first_event(tmp_path, engine):
    run = _run(tmp_path, 'crossing_adds = "match"', engine)
    book = run.venues["V"].engines[0]
    # 102 x 3 takes 3 of the ask (2 left), 103 x 2 takes the rest, the ask 99 x 4 takes bid 100 x 4.
    assert (book.trade_count, book.traded_qty) == (3, 3 + 2 + 4)
    assert book.top() == (100, 1, 0, 0)


def test_unknown_crossing_mode_is_a_clear_error():
    from kernel.errors import ScenarioError

    with pytest.raises(ScenarioError, match=r"venues\[0\]\.crossing_adds"):
        parse_scenario(SCENARIO.format(start="2024-01-02T14:30:00", crossing='crossing_adds = "sometimes"'), "<t>")
