"""The bundled real-data scenarios dbn_esh4 and binance_btcusdt through the runner (shared samples needed).

Each runs shortened by a duration override, with a golden fingerprint (update
only on purpose) and accounting checks: the position equals the sum of the
signed fills, every fill is inside the run, and the book is not crossed at the
end. ``parity replay NAME`` is exercised once on the full DBN scenario.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from adapters.feeds.binance import BinanceDepthReader
from adapters.feeds.dbn import DbnMboReader
from kernel.errors import ScenarioError
from scenarios.loader import load_scenario
from scenarios.runner import SETTLE_NS, Run, RunResult
from venues.latency import RecordedLatency

# Golden fingerprints of the shortened runs (SHORT); update only on purpose.
GOLDEN = {
    "dbn_esh4": "93e6dee7f0196799abf6e22ba915d6c35a6fbe272f8a8bef7d0ebfe76858ed23",
    "binance_btcusdt": "6e56bc59cd668f2a83c1e32e48f2c9d9c4ee7e0bbb0a733f7d15d97aa7ae2c6a",
}
SHORT = {"dbn_esh4": "10m", "binance_btcusdt": "120s"}


@pytest.fixture
def shared_env(shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PARITY_SHARED_DATA", str(shared_data))
    return shared_data


def run_short(name: str) -> tuple[Run, RunResult]:
    scenario, _ = load_scenario(name, {"duration": SHORT[name]})
    run = Run(scenario)
    return run, run.run()


def check_accounting(run: Run, result: RunResult, venue: str, symbol: str) -> dict[str, Any]:
    s = result.summary
    assert s["positions"][symbol] == sum(f["qty"] * f["side"] for f in result.fills)
    assert s["fills"] == len(result.fills) > 0 and s["orders"] > 0 and s["risk_rejections"] == 0
    assert all(run.start_ns <= f["ts"] <= run.end_ns + SETTLE_NS for f in result.fills)
    bid, _, ask, _ = run.venues[venue].engines[0].top()
    assert bid and ask and bid < ask
    return s


def test_dbn_esh4(shared_env: Path) -> None:
    run, result = run_short("dbn_esh4")
    s = check_accounting(run, result, "GLBX", "ESH4")
    inst = run.instruments[0]
    assert (inst.tick_size, inst.multiplier, inst.tick_value) == (0.25, 50.0, 12.5)
    assert s["start_ns"] == 1_703_545_201_000_000_000 and s["end_ns"] == s["start_ns"] + 600 * 10**9
    # The pre-open and the auction build the book before the start; deliveries carry the recorded delays.
    md = run.venues["GLBX"].latency.market_data
    assert isinstance(md, RecordedLatency) and md.chunks >= 1
    # Every event up to the end was applied (ts_event: the exchange's time, with a recorded latency).
    r = DbnMboReader(shared_env / "databento" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst", 0.25, ts_field="ts_event")
    ts = np.concatenate([c["ts"] for c in r.chunks()])
    assert s["market_events"] == int((ts <= run.end_ns + SETTLE_NS).sum())  # the settling second replays too
    assert result.fingerprint == GOLDEN["dbn_esh4"], result.fingerprint


def test_binance_btcusdt(shared_env: Path) -> None:
    run, result = run_short("binance_btcusdt")
    s = check_accounting(run, result, "BINANCE_USDM", "BTCUSDT")
    inst = run.instruments[0]
    assert (inst.tick_size, inst.lot_size) == (0.1, 0.001)
    r = BinanceDepthReader(shared_env / "binance" / "usdm" / "btcusdt_20240808.gz", tick_size=0.1, lot_size=0.001)
    first = next(iter(r.chunks()))
    assert s["start_ns"] == int(first["ts"][0]) and s["end_ns"] == s["start_ns"] + 120 * 10**9
    assert s["fees"] > 0  # maker 2 bps / taker 5 bps of the notional
    assert result.fingerprint == GOLDEN["binance_btcusdt"], result.fingerprint


def test_parity_replay_dbn_esh4(shared_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scenarios.cli import main

    assert main(["replay", "dbn_esh4"]) == 0
    out = capsys.readouterr().out
    assert "dbn_esh4" in out and "ESH4=" in out and "fingerprint" in out


@pytest.mark.parametrize("name", sorted(SHORT))
def test_without_shared_data_the_variable_is_named(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARITY_SHARED_DATA", raising=False)
    scenario, _ = load_scenario(name)
    with pytest.raises(ScenarioError, match=r"data\[0\]\.path: .*PARITY_SHARED_DATA.* not set"):
        Run(scenario)


def test_binance_btcusdt_with_recorded_latency(shared_env: Path) -> None:
    """The capture's receive times as the market-data latency (clock offset estimated from the file)."""
    scenario, _ = load_scenario("binance_btcusdt", {"duration": SHORT["binance_btcusdt"]})
    d = scenario.model_dump()
    d["venues"][0]["latency"]["market_data"] = {"kind": "recorded"}
    run = Run(scenario.model_validate(d))
    result = run.run()
    check_accounting(run, result, "BINANCE_USDM", "BTCUSDT")
    md = run.venues["BINANCE_USDM"].latency.market_data
    assert isinstance(md, RecordedLatency) and md.chunks >= 1
    # Every book update reached the strategy no earlier than its exchange time plus the
    # recorded delay of the event behind it (>= 0, a few ms typically): here, later than 0 ns.
    assert 0 < md.last < 100_000_000
    assert result.fingerprint != GOLDEN["binance_btcusdt"]
