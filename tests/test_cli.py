"""The ``parity`` CLI: default run, --json, --out, store, bad input → one line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scenarios.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHORT_TOML = (
    (ROOT / "scenarios" / "bundled" / "default.toml").read_text().replace('duration = "30s"', 'duration = "2s"')
)


@pytest.fixture
def short_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "short.toml"
    path.write_text(SHORT_TOML)
    return path


def test_replay_prints_summary_and_stores_run(short_scenario, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["replay", str(short_scenario), "--store", url]) == 0
    out = capsys.readouterr().out
    assert "market events" in out and "fingerprint" in out and f"in {url}" in out
    assert main(["runs", "--store", url, "list"]) == 0
    listed = capsys.readouterr().out
    assert "complete" in listed and "default" in listed


def test_replay_json_matches_stored_run(short_scenario, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    assert main(["replay", str(short_scenario), "--json", "--store", url]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["market_events"] > 10_000
    assert len(summary["fingerprint"]) == 64
    from adapters.store import RunStore

    with RunStore(url) as store:
        stored = store.get_run(summary["run_id"])
        assert stored["fingerprint"] == summary["fingerprint"]
        assert stored["counts"]["fills"] == summary["fills"]
        assert stored["status"] == "complete"


def test_replay_seed_override_changes_fingerprint(short_scenario, capsys):
    main(["replay", str(short_scenario), "--json", "--no-store"])
    a = json.loads(capsys.readouterr().out)
    main(["replay", str(short_scenario), "--json", "--no-store", "--seed", "99"])
    b = json.loads(capsys.readouterr().out)
    assert a["seed"] == 42 and b["seed"] == 99
    assert a["fingerprint"] != b["fingerprint"]


def test_replay_out_dir_writes_files(short_scenario, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["replay", str(short_scenario), "--no-store", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"scenario.toml", "summary.json", "orders.csv", "fills.csv"}
    summary = json.loads((out / "summary.json").read_text())
    fills = (out / "fills.csv").read_text().splitlines()
    assert len(fills) == summary["fills"] + 1  # header
    assert (out / "scenario.toml").read_text() == SHORT_TOML


def test_list_shows_bundled_scenarios(capsys):
    assert main(["replay", "--list"]) == 0
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()]
    assert {"default", "taker"} <= set(names)


@pytest.mark.parametrize(
    "toml_patch,expected",
    [
        (("seed = 42", "seed = 42\nbogus = 1"), "bogus: unknown field"),
        (("seed = 42", 'seed = "x"'), "seed: Input should be a valid integer"),
        (('stp = "cancel_newest"', 'stp = "sometimes"'), "venues[0].stp: Input should be"),
        (
            ('path = "strategies.market_maker:MarketMaker"', 'path = "strategies.nope:Missing"'),
            "strategy.path: cannot import module 'strategies.nope'",
        ),
        (
            ('path = "strategies.market_maker:MarketMaker"', 'path = "strategies.market_maker:Nope"'),
            "strategy.path: module 'strategies.market_maker' has no class 'Nope'",
        ),
        (("qty = 2", "qty = 2\nwrong_param = 3"), "strategy.params: strategies.market_maker:MarketMaker"),
        (('instruments = ["SYN"]', 'instruments = ["XYZ"]'), "venue 'SIM' lists unknown instrument 'XYZ'"),
        (('duration = "2s"', 'duration = "2 parsecs"'), "duration"),
        (("event_rate = 30000.0", "event_rate = -5.0"), "data[0].params"),
        (('market_data = "20us"', "market_data = { kind = 'warp' }"), "venues.SIM.latency.market_data"),
    ],
)
def test_bad_scenario_one_line_exit_2(tmp_path, capsys, toml_patch, expected):
    old, new = toml_patch
    assert old in SHORT_TOML
    path = tmp_path / "bad.toml"
    path.write_text(SHORT_TOML.replace(old, new, 1))
    assert main(["replay", str(path), "--no-store"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("parity: error: ")
    assert expected in err
    if "strategy" not in expected and "latency" not in expected and "params" not in expected:
        assert str(path) in err


def test_missing_file_and_invalid_toml(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope.toml")]) == 2
    assert "no such scenario file" in capsys.readouterr().err
    bad = tmp_path / "broken.toml"
    bad.write_text("name = [unclosed")
    assert main(["replay", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: invalid TOML" in err


def test_console_script_runs_without_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "replay", str(tmp_path / "missing.toml")],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "scenarios.cli", "--debug", "replay", str(tmp_path / "missing.toml")],
        env=env, cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert "Traceback" in debug.stderr


def test_bench_json_reports_each_case(capsys):
    assert main(["bench", "--json", "--duration", "200ms"]) == 0
    report = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in report["results"]]
    assert names[0].startswith("synthetic generator")
    assert any("no strategy" in n for n in names) and any("strategy woken" in n for n in names)
    replay = report["results"][1:]
    assert replay[0]["events"] == replay[1]["events"] > 1000
    assert replay[1]["strategy_wakeups"] > 0 and replay[0]["strategy_wakeups"] == 0
    assert report["peak_rss_mb"] > 0
