"""Stress: randomized scenarios (hypothesis), order bursts against the throttle, flat RSS."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.orders import OrderStatus, OrderType, Side, TimeInForce
from kernel.strategy import Strategy
from scenarios.loader import load_scenario
from scenarios.runner import Run
from tests.helpers import START, scenario

pytestmark = pytest.mark.stress

MARKET = """
[[data]]
venue = "V"
instrument = "T"
[data.params]
event_rate = 10000.0
p_limit = 0.47
p_cancel = 0.45
p_market = 0.08
initial_price = 10000
"""


class RandomTrader(Strategy):
    """Random orders of every kind, cancels and amends on book updates; a kill switch at ``kill_at``."""

    def __init__(self, activity: float = 0.3, kill_at: int = 0, flatten: bool = False) -> None:
        super().__init__(activity=activity, kill_at=kill_at, flatten=flatten)
        self.activity, self.kill_at, self.flatten = activity, kill_at, flatten
        self.killed_ts: int | None = None
        self.crossed = 0

    def on_start(self) -> None:
        self.ctx.subscribe(0)
        if self.kill_at:
            self.ctx.set_timer("kill", self.kill_at)

    def on_timer(self, name: str, ts: int) -> None:
        self.killed_ts = ts
        self.ctx.kill_switch("random stress", flatten=self.flatten)

    def on_book(self, book) -> None:
        if book.bid_px and book.ask_px and book.bid_px >= book.ask_px:
            self.crossed += 1
        rng = self.ctx.rng
        if rng.random() > self.activity or not book.bid_px or not book.ask_px:
            return
        u = rng.random()
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        qty = int(rng.integers(1, 6))
        px = (book.bid_px if side > 0 else book.ask_px) - int(side) * int(rng.integers(-2, 5))
        mine = self.ctx.open_orders()
        if u < 0.45:
            self.ctx.submit(0, side, qty, px, post_only=bool(rng.random() < 0.3))
        elif u < 0.55:
            self.ctx.submit(0, side, qty, order_type=OrderType.MARKET)
        elif u < 0.65:
            self.ctx.submit(0, side, qty, px, tif=TimeInForce.IOC)
        elif u < 0.85 and mine:
            self.ctx.cancel(mine[int(rng.integers(0, len(mine)))])
        elif mine:
            o = mine[int(rng.integers(0, len(mine)))]
            self.ctx.modify(o, price=o.price + int(rng.integers(-2, 3)))


FAULTS = st.sampled_from(
    [
        "",
        '[[faults]]\nkind = "duplicate_reports"\nprobability = 0.5\nduration = "1s"\n',
        '[[faults]]\nkind = "reorder_reports"\nprobability = 0.3\nduration = "1s"\n',
        '[[faults]]\nkind = "partial_fills"\nduration = "1s"\n',
        '[[faults]]\nkind = "reject_storm"\nprobability = 0.5\nstart = "100ms"\nduration = "100ms"\n',
        '[[faults]]\nkind = "latency_spike"\nstart = "50ms"\nduration = "100ms"\nlag = "3ms"\n',
        '[oms]\npending_timeout = "5ms"\n[[faults]]\nkind = "outage"\nmode = "silent"\nstart = "100ms"\n'
        'duration = "50ms"\n',
        '[[faults]]\nkind = "md_gap"\nstart = "100ms"\nduration = "100ms"\n',
    ]
)


@settings(
    max_examples=int(os.environ.get("PARITY_STRESS_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
@given(
    seed=st.integers(0, 10_000),
    entry=st.integers(0, 200_000),
    response=st.integers(0, 100_000),
    md=st.integers(0, 50_000),
    max_position=st.integers(1, 40),
    max_open=st.integers(1, 15),
    rate=st.floats(20, 5_000),
    activity=st.floats(0.05, 1.0),
    kill=st.sampled_from([0, 150_000_000, 300_000_000]),
    flatten=st.booleans(),
    faults=FAULTS,
)
def test_random_scenarios_keep_their_invariants(
    seed, entry, response, md, max_position, max_open, rate, activity, kill, flatten, faults
):
    toml = (
        f"[risk]\nmax_position = {max_position}\nmax_open_orders = {max_open}\nmax_orders_per_sec = {rate}\n" + faults
    )
    base = scenario(MARKET + toml, duration="400ms", seed=seed)
    for leg, v in (("market_data", md), ("order_entry", entry), ("response", response)):
        setattr(base.venues[0].latency, leg, v)
    strat = RandomTrader(activity, kill, flatten)
    run = Run(base, with_strategy=False, strategy=strat)
    res = run.run()
    assert run.oms.orders  # the random trader traded
    # No crossed book: in the engine, and in every book the strategy saw.
    run.venues["V"].engines[0].check_integrity()
    assert strat.crossed == 0
    # Conservation of quantity and cash: position and cash follow the applied fills exactly,
    # and (with faults) equal the venue's own record.
    fills = run.oms.fills
    assert run.portfolio.position(0) == sum(f["side"] * f["qty"] for f in fills)
    cash = sum(-f["side"] * f["qty"] * f["price"] * 0.01 for f in fills) - sum(f["fee"] for f in fills)
    assert run.portfolio.cash == pytest.approx(cash, abs=1e-6)
    for o in run.oms.orders.values():
        assert 0 <= o.filled_qty <= o.qty
    inj = run.fault_injectors.get("V")
    if inj is not None:
        assert len(inj.fills) == len(fills)
        assert inj.ledger().get(0, (0, 0))[0] == run.portfolio.position(0)
    # The kill switch stops order flow: nothing created after it was accepted (flatten aside).
    if kill:
        assert strat.killed_ts is not None
        after = [o for o in run.oms.orders.values() if o.created_ts > strat.killed_ts and o.tag != "flatten"]
        assert all(o.status == OrderStatus.REJECTED for o in after)
        accepted_late = [
            r
            for r in run.kernel.journal.of_kind("accept")
            if run.oms.orders[r.fields[0]].created_ts > strat.killed_ts and run.oms.orders[r.fields[0]].tag != "flatten"
        ]
        assert not accepted_late
    # The fingerprint is stable on a re-run.
    strat2 = RandomTrader(activity, kill, flatten)
    again = Run(base, with_strategy=False, strategy=strat2).run()
    assert again.fingerprint == res.fingerprint


class Burst(Strategy):
    """Fires ``per_tick`` order actions every ``tick`` ns from the start for one second."""

    def __init__(self, per_tick: int, tick: int, tif: TimeInForce) -> None:
        super().__init__()
        self.per_tick, self.tick, self.tif = per_tick, tick, tif
        self.sent = 0

    def on_start(self) -> None:
        self.ctx.set_timer("burst", 0, repeat_ns=self.tick)

    def on_timer(self, name: str, ts: int) -> None:
        if ts >= START + 1_000_000_000:
            self.ctx.cancel_timer("burst")
            return
        submit = self.ctx.submit
        for k in range(self.per_tick):
            side = Side.BUY if k & 1 else Side.SELL
            submit(0, side, 1, 50 if side > 0 else 20_000, tif=self.tif)
        self.sent += self.per_tick


def _burst(per_tick: int, tick: int, tif: TimeInForce, risk: str) -> tuple[Run, Burst]:
    sc = scenario("[[data]]\nvenue = 'V'\ninstrument = 'T'\n[data.params]\nevent_rate = 1000.0\n" + risk, duration="1s")
    strat = Burst(per_tick, tick, tif)
    run = Run(sc, with_strategy=False, strategy=strat)
    run.kernel.journal.keep_records = False  # a million journal records need not stay in memory
    run.run()
    return run, strat


def test_one_million_order_actions_in_one_second_hit_the_throttle_exactly():
    n = int(os.environ.get("PARITY_BURST_ACTIONS", "1000000"))
    ticks = 1000
    run, strat = _burst(n // ticks, 1_000_000, TimeInForce.IOC, "[risk]\nmax_orders_per_sec = 10000\nburst = 100\n")
    assert strat.sent == n
    accepted = [e for e in run.oms.risk_events if e["accepted"]]
    refused = [e for e in run.oms.risk_events if not e["accepted"]]
    # Token bucket: 100 at once, then 10 per 1 ms tick, exactly.
    assert len(accepted) == 100 + (ticks - 1) * 10
    assert len(refused) == n - len(accepted)
    assert {e["check"] for e in refused} == {"max_orders_per_sec"}
    assert run.kernel.journal.counts["risk"] == n
    # The IOC orders far from the market never fill; all accepted ones end cancelled.
    assert run.portfolio.position(0) == 0
    assert all(o.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED) for o in run.oms.orders.values())


def test_burst_of_resting_orders_stops_at_max_open_orders():
    run, _ = _burst(20, 1_000_000, TimeInForce.GTC, "[risk]\nmax_open_orders = 250\n")
    accepted = [e for e in run.oms.risk_events if e["accepted"]]
    checks = {e["check"] for e in run.oms.risk_events if not e["accepted"]}
    assert len(accepted) == 250 and len(run.oms.working) == 250
    assert checks == {"max_open_orders"}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.parametrize("name, segment, segments", [("default", 10, 9), ("agents_1000", 600, 7)])
def test_long_runs_keep_rss_flat(name, segment, segments):
    """RSS after warm-up vs. at the end of a long run (journal in streaming mode)."""
    sc, _ = load_scenario(name, {"duration": f"{segment * segments}s"})
    run = Run(sc, with_strategy=False)
    run.kernel.journal.keep_records = False
    seen = []
    for k in range(1, segments + 1):
        run.kernel.run(run.start_ns + k * segment * 1_000_000_000)
        seen.append(_rss_mb())
    growth = max(seen[2:]) - seen[1]
    print(f"{name}: RSS per segment (MB) {np.round(seen, 1).tolist()}, growth after warm-up {growth:.1f} MB")
    assert growth < 40, seen
