"""Parameter sweeps on Dask distributed: grid, store, resume, identical to sequential runs."""

from __future__ import annotations

import pytest

from kernel.errors import ScenarioError
from scenarios.cli import main
from scenarios.sweep import build_scenario, grid, parse_param, parse_seeds, run_point, set_path, sweep
from tests.helpers import BASE_TOML

pytest.importorskip("dask.distributed")

TEXT = (
    BASE_TOML.replace('duration = "1s"', 'duration = "300ms"').replace("enabled = false", "enabled = true")
    + """
[[data]]
venue = "V"
instrument = "T"
[data.params]
event_rate = 10000.0
p_limit = 0.47
p_cancel = 0.45
p_market = 0.08
initial_price = 10000
[strategy]
path = "strategies.market_maker:MarketMaker"
[strategy.params]
instrument = "T"
qty = 2
edge = 0
"""
)


def test_parsing_params_seeds_and_paths():
    assert parse_param("strategy.params.edge=0,1,2") == ("strategy.params.edge", [0, 1, 2])
    assert parse_param("risk.price_band_bps=1.5, 2") == ("risk.price_band_bps", [1.5, 2])
    assert parse_param("strategy.params.instrument='T'") == ("strategy.params.instrument", ["T"])
    assert parse_seeds("0..3") == [0, 1, 2, 3] and parse_seeds("5,7") == [5, 7]
    raw = {"venues": [{"latency": {}}]}
    set_path(raw, "venues.0.latency.order_entry", 5)
    assert raw == {"venues": [{"latency": {"order_entry": 5}}]}
    with pytest.raises(ScenarioError, match="expected PATH=VALUE"):
        parse_param("edge")
    with pytest.raises(ScenarioError, match="--seeds"):
        parse_seeds("a..b")
    with pytest.raises(ScenarioError, match="no such list element"):
        set_path(raw, "venues.3.name", "x")


def test_grid_keys_depend_on_scenario_params_and_seed():
    pts = grid(TEXT, [("strategy.params.edge", [0, 1])], [0, 1])
    assert len(pts) == 4 and len({p.key for p in pts}) == 4
    again = grid(TEXT, [("strategy.params.edge", [0, 1])], [0, 1])
    assert [p.key for p in pts] == [p.key for p in again]
    other = grid(TEXT + "\n# changed\n", [("strategy.params.edge", [0, 1])], [0, 1])
    assert not {p.key for p in pts} & {p.key for p in other}
    sc = build_scenario(TEXT, "<t>", (("strategy.params.edge", 1),), 9)
    assert sc.strategy.params["edge"] == 1 and sc.seed == 9


def test_bad_param_path_fails_before_running():
    with pytest.raises(ScenarioError, match="strategy.params: .*nope"):
        sweep(TEXT, "<t>", [("strategy.params.nope", [1])], [0], None)


def test_sweep_on_a_two_worker_local_cluster_matches_sequential_runs_and_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    params = [("strategy.params.edge", [0, 1])]
    seen: list[str] = []
    res = sweep(TEXT, "<t>", params, [0, 1], url, workers=2, processes=False, progress=seen.append)
    assert res.ran == 4 and res.skipped == 0 and len(seen) == 4
    for p in grid(TEXT, params, [0, 1]):
        assert res.fingerprints[p.key] == run_point(TEXT, "<t>", p.params, p.seed)["fingerprint"]
    rows = {r["params"]["strategy.params.edge"]: r for r in res.rows}
    assert rows[0]["runs"] == 2 and rows[0]["ci95_low"] <= rows[0]["mean_pnl"] <= rows[0]["ci95_high"]
    # Re-running resumes: every run is already stored, nothing runs, same summary.
    again = sweep(TEXT, "<t>", params, [0, 1], url, workers=2, processes=False)
    assert again.ran == 0 and again.skipped == 4
    assert again.rows == res.rows and again.fingerprints == res.fingerprints
    from adapters.store import RunStore

    store = RunStore(url)
    try:
        run = store.get_run(grid(TEXT, params, [0])[0].key)
        assert run["status"] == "complete" and run["counts"]["orders"] > 0
    finally:
        store.close()


def test_cli_sweep_prints_the_summary_table(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(TEXT)
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    argv = ["sweep", str(path), "--param", "strategy.params.edge=0,2", "--seeds", "0..1", "--store", url, "--threads"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "95% CI" in out and "edge=0" in out and "edge=2" in out and "4 ran, 0 already stored" in out
    assert main(argv) == 0
    assert "0 ran, 4 already stored" in capsys.readouterr().out
