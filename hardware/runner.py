"""Run the RTL under cocotb + Icarus Verilog and check it against the reference model.

* :func:`build` compiles ``hardware/rtl`` for a :class:`~hardware.model.HwParams`
  with ``cocotb_tools.runner`` (Icarus), cached per parameter set and source hash;
* :func:`simulate` runs the generic bench (:mod:`hardware.bench`) on one job;
* :func:`run_stream` is the whole check: the reference model's expected OUCH
  bytes for a packet stream, the simulation of the same stream (random tvalid
  gaps, tready back-pressure, partial beats, an optional kill), the byte-for-byte
  comparison (first differing message reported), the counters compared, and
  the latency / throughput figures.

Latency of an Enter Order = cycle its first beat is presented on m_axis minus
the cycle the last input beat of the message that triggered it was accepted.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import logging
import os
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hardware.model import (
    COUNTER_ADDRESSES,
    STAT_POSITION,
    STAT_STATUS,
    HwConfig,
    HwParams,
    ModelResult,
    ReferenceModel,
    describe_mismatch,
    split_frames,
)

RTL_DIR = Path(__file__).resolve().parent / "rtl"
TOPLEVEL = "top"
LATENCY_BOUND = 12  # cycles, asserted (the design's bound is LATENCY_CYCLES, see README)
LATENCY_CYCLES = 8  # an order into an idle pipeline (measured exactly; see README)
KILL_CYCLES = 2  # no Enter Order is first presented later than this after kill_in is sampled
ISOLATION = 6  # cycles between triggers for an order to find the output and the risk gate idle


class HardwareUnavailable(RuntimeError):
    """Icarus Verilog or cocotb is missing."""


def rtl_sources() -> list[Path]:
    return sorted(RTL_DIR.glob("*.v"))


def check_tools() -> None:
    """Raise HardwareUnavailable naming what is missing."""
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise HardwareUnavailable("Icarus Verilog (iverilog, vvp) not found: apt-get install -y iverilog")
    try:
        import cocotb  # noqa: F401
        import cocotb_tools.runner  # noqa: F401
    except ImportError as exc:
        raise HardwareUnavailable(f"cocotb is not installed ({exc}): pip install -e '.[hw]'") from exc


def build_root() -> Path:
    return Path(os.environ.get("PARITY_HW_BUILD", Path(tempfile.gettempdir()) / "parity-hw-build"))


def build(params: HwParams, waves: bool = False) -> Path:
    """Compile the RTL (cached: one build per parameter set, source contents and waves flag)."""
    check_tools()
    h = hashlib.sha256(b"build layout 2")
    for src in rtl_sources():
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    h.update(json.dumps(params.verilog(), sort_keys=True).encode() + bytes([waves]))
    final = build_root() / f"{TOPLEVEL}-{h.hexdigest()[:16]}"
    if (final / "sim.vvp").is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    (tmp / "rtl").mkdir()
    for src in rtl_sources():  # the build compiles (and is later checked against) its own copy
        shutil.copy2(src, tmp / "rtl" / src.name)
    _runner(params, tmp, waves)
    try:
        tmp.rename(final)  # atomic: a concurrent build of the same key may have won
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _runner(params: HwParams, build_dir: Path, waves: bool):
    """An Icarus runner set up for ``build_dir``, compiling the copy of the sources in
    ``build_dir/rtl`` if the build is missing (a cached build is never recompiled in
    place: editing hardware/rtl makes a new build directory)."""
    from cocotb_tools.runner import get_runner

    runner = get_runner("icarus")
    runner.log.setLevel(logging.ERROR)  # not "Skipping compilation" for every run of a cached build
    runner.build(
        sources=sorted((build_dir / "rtl").glob("*.v")) or rtl_sources(),
        hdl_toplevel=TOPLEVEL,
        parameters=params.verilog(),
        build_dir=build_dir,
        waves=waves,
        timescale=("1ns", "1ps"),
        log_file=build_dir / "build.log",
    )
    return runner


# --------------------------------------------------------------------------- one simulation


@dataclass
class SimResult:
    messages: list[bytes]  # OUCH messages out, in order
    first_cycle: list[int]  # cycle each message's first beat was accepted
    last_cycle: list[int]  # cycle each message's last beat was accepted
    present_cycle: list[int]  # cycle each message's first beat was first presented
    accepted: list[int]  # cycle each input beat was accepted
    cycles: int
    stats: dict[str, int]
    positions: list[int]
    status: int
    kill_cycle: int | None
    timeout: bool
    waves: Path | None = None
    sim_seconds: float = 0.0  # wall time of the simulator process
    sim_cpu_seconds: float = 0.0  # its CPU time


def make_beats(packets: Sequence[bytes], data_bytes: int, rng: random.Random, partial: float) -> list[list[int]]:
    """[offset, nbytes, last] beats of the concatenated packets; a share ``partial`` of the beats is short."""
    beats: list[list[int]] = []
    base = 0
    for p in packets:
        pos, n = 0, len(p)
        while pos < n:
            nb = data_bytes if partial <= 0 or rng.random() >= partial else rng.randrange(1, data_bytes)
            nb = min(nb, n - pos)
            beats.append([base + pos, nb, int(pos + nb == n)])
            pos += nb
        base += n
    return beats


def simulate(
    params: HwParams,
    writes: list[tuple[int, int]],
    packets: Sequence[bytes],
    *,
    seed: int = 0,
    valid_prob: float = 1.0,
    ready_prob: float = 1.0,
    partial: float = 0.0,
    kill_after_beats: int | None = None,
    kill_at_cycle: int | None = None,
    waves: Path | None = None,
    max_cycles: int | None = None,
) -> tuple[SimResult, list[list[int]]]:
    """Run the bench on ``packets`` and return what came out (and the beats sent)."""
    build_dir = build(params, waves=waves is not None)
    rng = random.Random(seed)
    beats = make_beats(packets, params.data_bytes, rng, partial)
    stat_addrs = (
        sorted(set(COUNTER_ADDRESSES.values())) + [STAT_STATUS] + [STAT_POSITION + s for s in range(params.num_instr)]
    )
    job = {
        "writes": [list(w) for w in writes],
        "stream": b"".join(packets).hex(),
        "beats": beats,
        "seed": seed + 1,
        "valid_prob": valid_prob,
        "ready_prob": ready_prob,
        "kill_after_beats": kill_after_beats,
        "kill_at_cycle": kill_at_cycle,
        "stat_addrs": stat_addrs,
        "max_cycles": max_cycles,
    }
    with tempfile.TemporaryDirectory(prefix="parity-hw-run-") as tmp:
        tmpd = Path(tmp)
        (tmpd / "job.json").write_text(json.dumps(job))
        env = {
            "PARITY_HW_JOB": str(tmpd / "job.json"),
            "PARITY_HW_RESULT": str(tmpd / "result.json"),
            # Writes at the falling edge, far from the rising edge that samples them: the
            # simulator's own write scheduling is safe and saves a callback per cycle.
            "COCOTB_TRUST_INERTIAL_WRITES": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(RTL_DIR.parents[1]), os.environ.get("PYTHONPATH")])),
        }
        plusargs = [f"+dumpfile_path={waves}"] if waves is not None else []
        runner = _runner(params, build_dir, waves is not None)
        log = tmpd / "sim.log"
        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            runner.test(
                test_module="hardware.bench",
                hdl_toplevel=TOPLEVEL,
                build_dir=build_dir,
                test_dir=tmpd,
                extra_env=env,
                plusargs=plusargs,
                waves=waves is not None,
                results_xml=str(tmpd / "results.xml"),
                log_file=log,
            )
        except SystemExit as exc:  # the cocotb runner exits on a failed bench under pytest
            raise RuntimeError(f"the cocotb bench failed ({exc.code}):\n{_tail(log)}") from None
        sim_seconds = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        sim_cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
        res_path = tmpd / "result.json"
        if not res_path.is_file():
            raise RuntimeError(f"the cocotb bench wrote no result:\n{_tail(log)}")
        res = json.loads(res_path.read_text())
    messages, first, lastc = _messages(res["out"])
    stats = {name: res["stats"][str(a)] for name, a in COUNTER_ADDRESSES.items()}
    positions = []
    for s in range(params.num_instr):
        v = res["stats"][str(STAT_POSITION + s)]
        positions.append(v - (1 << 64) if v >= 1 << 63 else v)
    sim = SimResult(
        messages, first, lastc, res["present"], res["accepted"], res["cycles"], stats, positions,
        res["stats"][str(STAT_STATUS)], res["kill_cycle"], res["timeout"], waves, sim_seconds, sim_cpu,
    )  # fmt: skip
    return sim, beats


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no simulator log)"


def _messages(out: list[list[int]]) -> tuple[list[bytes], list[int], list[int]]:
    msgs: list[bytes] = []
    first: list[int] = []
    lastc: list[int] = []
    cur = bytearray()
    for cycle, data, keep, last in out:
        nb = bin(keep).count("1")
        if keep != (1 << nb) - 1:
            raise AssertionError(f"cycle {cycle}: output tkeep {keep:#x} is not contiguous from lane 0")
        if not cur:
            first.append(cycle)
        cur += data.to_bytes(8, "little")[:nb]
        if last:
            msgs.append(bytes(cur))
            lastc.append(cycle)
            cur = bytearray()
    if cur:
        raise AssertionError(f"output ends inside a message ({len(cur)} bytes without tlast)")
    return msgs, first, lastc


# --------------------------------------------------------------------------- the check


@dataclass
class HwRun:
    """A stream through both the reference model and the RTL."""

    name: str
    params: HwParams
    config: HwConfig
    model: ModelResult
    sim: SimResult
    beats: list[list[int]]
    mismatch: str | None
    counter_diffs: dict[str, tuple[int, int]] = field(default_factory=dict)
    latencies: list[int] = field(default_factory=list)
    isolated: list[int] = field(default_factory=list)  # latencies of orders that found the pipeline idle

    @property
    def ok(self) -> bool:
        return self.mismatch is None and not self.counter_diffs and not self.domain_problems()

    def domain_problems(self) -> list[str]:
        """Reasons the stream is outside the RTL's exactness domain (none for a valid test)."""
        out = []
        if self.model.max_levels > self.params.levels:
            out.append(f"the book reached {self.model.max_levels} levels on a side (RTL keeps {self.params.levels})")
        if self.model.crossed_adds:
            out.append(f"{self.model.crossed_adds} adds crossed the book")
        if self.sim.timeout:
            out.append(f"the simulation timed out after {self.sim.cycles} cycles")
        return out

    def check(self) -> None:
        """Raise AssertionError describing the first problem."""
        problems = self.domain_problems()
        if problems:
            raise AssertionError(f"{self.name}: " + "; ".join(problems))
        if self.mismatch:
            raise AssertionError(f"{self.name}: {self.mismatch}")
        if self.counter_diffs:
            diffs = ", ".join(f"{k}: model {m} RTL {r}" for k, (m, r) in sorted(self.counter_diffs.items()))
            raise AssertionError(f"{self.name}: counters differ: {diffs}")

    def summary(self) -> dict[str, Any]:
        lat = self.latencies
        accepted = self.sim.accepted
        span = (accepted[-1] - accepted[0] + 1) if accepted else 0
        frames = len(self.model.frames)
        return {
            "name": self.name,
            "messages_in": frames,
            "beats_in": len(self.beats),
            "cycles": self.sim.cycles,
            "orders_out": len(self.sim.messages),
            "enter_orders": sum(1 for m in self.sim.messages if m[:1] == b"O"),
            "cancel_orders": sum(1 for m in self.sim.messages if m[:1] == b"X"),
            "match": self.mismatch is None,
            "counters_match": not self.counter_diffs,
            "latency_min": min(lat) if lat else None,
            "latency_median": statistics.median(lat) if lat else None,
            "latency_max": max(lat) if lat else None,
            "isolated_orders": len(self.isolated),
            "isolated_latency_min": min(self.isolated) if self.isolated else None,
            "isolated_latency_median": statistics.median(self.isolated) if self.isolated else None,
            "isolated_latency_max": max(self.isolated) if self.isolated else None,
            "beats_per_cycle": round(len(self.beats) / span, 4) if span else None,
            "messages_per_cycle": round(frames / span, 4) if span else None,
            "stream_cycles": span,
        }


def compare_counters(model: ModelResult, sim: SimResult, params: HwParams, *, killed: bool) -> dict:
    """Counters the model predicts that the RTL disagrees with."""
    diffs = {}
    skip = {"open_overwritten"}
    if killed:  # what got through before the kill depends on timing
        skip |= {"accepted", "enter_orders", "cancel_orders", "candidates"} | {
            k for k in COUNTER_ADDRESSES if k.startswith("reject_")
        }
    for name in COUNTER_ADDRESSES:
        if name in skip:
            continue
        expect = model.counters.get(name, 0)
        got = sim.stats[name]
        if expect != got:
            diffs[name] = (expect, got)
    if not killed:
        for slot, pos in model.positions.items():
            if sim.positions[slot] != pos:
                diffs[f"position[{slot}]"] = (pos, sim.positions[slot])
    return diffs


def run_stream(
    name: str,
    packets: Sequence[bytes],
    config: HwConfig,
    params: HwParams | None = None,
    *,
    seed: int = 0,
    valid_prob: float = 1.0,
    ready_prob: float = 1.0,
    partial: float = 0.0,
    kill_after_beats: int | None = None,
    kill_at_cycle: int | None = None,
    waves: Path | None = None,
) -> HwRun:
    """Model + RTL on the same packets; compare (see the module docstring)."""
    params = params or HwParams()
    model = ReferenceModel(config, params)
    expected = model.run(packets)
    sim, beats = simulate(
        params, config.register_writes(params), packets, seed=seed, valid_prob=valid_prob, ready_prob=ready_prob,
        partial=partial, kill_after_beats=kill_after_beats, kill_at_cycle=kill_at_cycle, waves=waves,
    )  # fmt: skip
    killed = kill_after_beats is not None or kill_at_cycle is not None
    if not killed:
        want = [o.data for o in expected.orders]
        mismatch = describe_mismatch(want, sim.messages)
    else:
        mismatch = _check_kill(model, expected, sim, beats)
    diffs = compare_counters(expected, sim, params, killed=killed)
    run = HwRun(name, params, config, expected, sim, beats, mismatch, diffs)
    run.latencies, run.isolated = latencies(expected, sim, beats)
    return run


def frame_last_beats(model: ModelResult, beats: list[list[int]]) -> list[int]:
    ends = [off + nb for off, nb, _ in beats]
    return [bisect.bisect_left(ends, f.end) for f in model.frames]


def latencies(model: ModelResult, sim: SimResult, beats: list[list[int]]) -> tuple[list[int], list[int]]:
    """Cycles from the last input beat of each triggering message to its Enter Order's
    first output beat (its presentation, so output back-pressure does not count), for
    the orders that match the model's; and the same for the orders that found the
    pipeline idle: no other trigger within the ISOLATION cycles before theirs (an
    Enter Order holds the 64-bit output for 6 cycles, a candidate the risk gate for 2)
    and the output link free when the order was ready (back-pressure can hold the
    previous message longer)."""
    last_beat = frame_last_beats(model, beats)
    trig = {f: sim.accepted[last_beat[f]] for f in model.candidate_frames if last_beat[f] < len(sim.accepted)}
    cand_cycles = sorted(trig.values())
    enters = [o for o in model.orders if o.kind == "enter"]
    out, iso = [], []
    k = 0
    for i, m in enumerate(sim.messages):
        if m[:1] != b"O":
            continue
        if k >= len(enters) or enters[k].data != m:
            break
        t = trig[enters[k].frame]
        lat = sim.present_cycle[i] - t
        out.append(lat)
        j = bisect.bisect_left(cand_cycles, t)
        link_free = i == 0 or sim.last_cycle[i - 1] <= t + LATENCY_CYCLES - 1
        if (j == 0 or t - cand_cycles[j - 1] >= ISOLATION) and link_free:
            iso.append(lat)
        k += 1
    return out, iso


def _check_kill(model: ReferenceModel, expected: ModelResult, sim: SimResult, beats: list[list[int]]) -> str | None:
    """Kill run: the Enter Orders out are a prefix of the model's; none is presented
    later than KILL_CYCLES after the kill; then one Cancel per remembered day order."""
    enters = [m for m in sim.messages if m[:1] == b"O"]
    want = [o.data for o in expected.orders if o.kind == "enter"]
    prefix = describe_mismatch(want[: len(enters)], enters)
    if prefix:
        return "before the kill: " + prefix
    kc = sim.kill_cycle
    if kc is None:
        return "the bench never asserted kill_in"
    for i, m in enumerate(sim.messages):
        if m[:1] == b"O" and sim.present_cycle[i] > kc + KILL_CYCLES:
            return (
                f"Enter Order {i} first presented at cycle {sim.present_cycle[i]}, "
                f"{sim.present_cycle[i] - kc} cycles after the kill (bound {KILL_CYCLES})"
            )
    sent = [o for o in expected.orders if o.kind == "enter"][: len(enters)]
    day = [o for o in sent if o in expected.day_orders]
    cancels = [m for m in sim.messages if m[:1] == b"X"]
    want_c = [o.data for o in model.cancels_after(day)] if model.config.cancel_on_kill else []
    order_ok = all(m[:1] == b"O" for m in sim.messages[: len(enters)])
    if not order_ok:
        return "a Cancel Order went out before the last Enter Order"
    return describe_mismatch(want_c, cancels)


def split_stream_frames(packets: Sequence[bytes]) -> int:
    return len(split_frames(packets))


# --------------------------------------------------------------------------- presets and the CLI

RANDOM_KNOBS = {"valid_prob": 0.85, "ready_prob": 0.75, "partial": 0.2}
RANDOM_MALFORMED = 0.03


def levels_for(max_levels: int, minimum: int = 32) -> int:
    """The smallest power-of-two LEVELS >= ``minimum`` that holds ``max_levels``."""
    n = minimum
    while n < max_levels:
        n *= 2
    return n


def run_random(seed: int, messages: int, params: HwParams | None = None, waves: Path | None = None) -> HwRun:
    """A random ITCH stream (valid and malformed frames) with random tvalid gaps,
    tready back-pressure and partial beats."""
    from hardware.stimulus import RandomItch, random_config

    params = params or HwParams()
    packets = RandomItch(seed, max_levels=params.levels, malformed=RANDOM_MALFORMED).packets(messages)
    return run_stream(
        f"random seed {seed}", packets, random_config(seed), params, seed=seed, waves=waves, **RANDOM_KNOBS
    )


def run_scenario(name: str | None, events: int | None, waves: Path | None = None) -> HwRun:
    """A scenario rendered to ITCH (first ``events`` events of each data feed, None = all);
    LEVELS is sized to the rendered book (at least 32)."""
    from hardware.stimulus import scenario_stream
    from scenarios.loader import load_scenario

    scenario, _ = load_scenario(name)
    st = scenario_stream(scenario, events)
    probe = ReferenceModel(st.config, HwParams(levels=1 << 12)).run(st.packets)
    params = HwParams(levels=levels_for(probe.max_levels))
    return run_stream(scenario.name, st.packets, st.config, params, waves=waves)


def run_samples(waves: Path | None = None, **knobs: Any) -> HwRun:
    """Every real ITCH sample of the shared data folder, one stream."""
    from hardware.stimulus import samples_config, samples_packets, shared_itch_dir

    if shared_itch_dir() is None:
        raise FileNotFoundError("real ITCH samples not found: set PARITY_SHARED_DATA to the shared/data folder")
    packets = samples_packets()
    return run_stream("real ITCH samples", packets, samples_config(packets), waves=waves, **knobs)


def format_run(run: HwRun, wall: float) -> str:
    s = run.summary()
    p = run.params
    lines = [
        f"hw run           {run.name}: {s['messages_in']:,} ITCH messages in {s['beats_in']:,} beats",
        "RTL parameters   " + " ".join(f"{k}={v}" for k, v in p.verilog().items()),
        "OUCH output      "
        + (
            f"MATCH: {s['orders_out']:,} messages byte for byte "
            f"({s['enter_orders']:,} enter, {s['cancel_orders']:,} cancel)"
            if run.mismatch is None
            else f"MISMATCH: {run.mismatch}"
        ),
        "counters         "
        + (
            "match the model (messages by type, malformed, order table, book, risk, encoder)"
            if not run.counter_diffs
            else "DIFFER: " + ", ".join(f"{k} model {m} RTL {r}" for k, (m, r) in sorted(run.counter_diffs.items()))
        ),
    ]
    if s["latency_min"] is not None:
        lines.append(
            f"latency cycles   all orders: min {s['latency_min']} / median {s['latency_median']}"
            f" / max {s['latency_max']};"
            f" pipeline idle ({s['isolated_orders']} orders): min {s['isolated_latency_min']} / median"
            f" {s['isolated_latency_median']} / max {s['isolated_latency_max']} (bound {LATENCY_BOUND})"
        )
    lines.append(
        f"throughput       {s['beats_per_cycle']} beats/cycle, {s['messages_per_cycle']} messages/cycle "
        f"over {s['stream_cycles']:,} cycles ({s['messages_per_cycle'] * 250:.1f} M messages/s at 250 MHz)"
    )
    sim_s = run.sim.sim_seconds
    lines.append(
        f"simulated        {s['cycles']:,} cycles in {sim_s:.1f} s ({s['cycles'] / max(sim_s, 1e-9):,.0f} cycles/s); "
        f"{wall:.1f} s with rendering and the model"
    )
    problems = run.domain_problems()
    if problems:
        lines.append("outside domain   " + "; ".join(problems))
    if run.sim.waves is not None:
        lines.append(f"waves            {run.sim.waves}")
    return "\n".join(lines)


def run_cli(args: Any) -> int:
    """``parity hw``: 0 when every run matches the model, 1 on a mismatch, 2 when the tools are missing."""
    import sys

    try:
        check_tools()
    except HardwareUnavailable as exc:
        print(f"parity: error: {exc}", file=sys.stderr)
        return 2
    waves = None
    if args.waves is not None:
        what = "random" if args.random else "samples" if args.samples else Path(args.scenario or "default").stem
        waves = Path(args.waves or f"parity_hw_{what}.fst").resolve()
    jobs = []
    if args.random:
        for seed in range(1, args.seeds + 1):
            jobs.append(lambda seed=seed: run_random(seed, args.messages, waves=waves if seed == 1 else None))
    elif args.samples:
        jobs.append(lambda: run_samples(waves=waves))
    else:
        events = None if args.events == 0 else args.events
        jobs.append(lambda: run_scenario(args.scenario, events, waves=waves))
    ok = True
    reports = []
    for job in jobs:
        t0 = time.perf_counter()
        try:
            run = job()
        except FileNotFoundError as exc:
            print(f"parity: error: {exc}", file=sys.stderr)
            return 2
        wall = time.perf_counter() - t0
        ok &= run.ok
        if args.json:
            reports.append({**run.summary(), "wall_seconds": round(wall, 2), "ok": run.ok, "mismatch": run.mismatch})
        else:
            print(format_run(run, wall))
            print()
    if args.json:
        print(json.dumps(reports, indent=2))
    return 0 if ok else 1
