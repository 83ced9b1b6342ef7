"""``parity bench --fast``: the numba fast path against the reference engine, in one process run.

Cases (every one on the same inputs for both engines):

* **engine replay** of a synthetic ~1M-event L3 stream (venues.fast.replay):
  reference ``apply_batch`` over lists vs the compiled loop, with the book
  maintained and no strategy; the compiled loop returning to Python at every
  top-of-book change (a Python callback per wake-up); a numba strategy woken at
  every top change inside the compiled loop (venues.fast.compiled_strategy).
* **full simulation** (kernel, venue, OMS, journal, fingerprint) of the bundled
  default scenario stretched to the same number of events: no strategy, a
  Python strategy woken on each top-of-book change (:class:`TopWatcher`), and
  the scenario's market maker. The fingerprints of both engines must be equal.
* **real data**: the shared LOBSTER and ITCH samples (skipped with a note when
  absent), engine replay of the reader's events and, for LOBSTER AAPL, the full
  simulation with and without the watcher.

Each row has wall and CPU seconds (a shared machine inflates wall time), events
per second on both, wake-ups per second and the case's own peak RSS
(``VmHWM`` after ``/proc/self/clear_refs``). JIT warm-up is measured apart: a
fresh process that loads the cached kernels and replays a few events, and the
numba strategy's compile (not cached on disk).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from kernel.strategy import Strategy

FIELDS = ("ts", "order_id", "price", "qty", "action", "side")
FLOORS = {"replay_events_per_second": 20e6, "python_strategy_events_per_second": 1.5e6, "speedup": 20.0}


class TopWatcher(Strategy):
    """A Python strategy woken on each top-of-book change: it reads the book and keeps a few sums."""

    def __init__(self, instrument: int = 0) -> None:
        super().__init__()
        self.instrument = instrument
        self.books = 0
        self.spread_sum = 0
        self.imbalance = 0.0

    def on_start(self) -> None:
        self.ctx.subscribe(self.instrument)

    def on_book(self, book) -> None:
        self.books += 1
        if book.bid_px and book.ask_px:
            self.spread_sum += book.ask_px - book.bid_px
            self.imbalance = (book.bid_qty - book.ask_qty) / (book.bid_qty + book.ask_qty)


# ----------------------------------------------------------------- measuring


def _rss() -> tuple[bool, Any]:
    from scenarios.feed_bench import peak_rss_mb, reset_peak_rss

    return reset_peak_rss(), peak_rss_mb


def _row(name: str, engine: str, events: int, wall: float, cpu: float, **extra: Any) -> dict[str, Any]:
    row = {
        "name": name,
        "engine": engine,
        "events": events,
        "seconds": round(wall, 4),
        "cpu_seconds": round(cpu, 4),
        "events_per_second": round(events / wall) if wall > 0 else 0,
        "events_per_cpu_second": round(events / cpu) if cpu > 0 else 0,
    }
    wakeups = extra.pop("wakeups", None)
    if wakeups is not None:
        row["wakeups"] = wakeups
        row["wakeups_per_second"] = round(wakeups / wall) if wall > 0 else 0
        row["wakeups_per_cpu_second"] = round(wakeups / cpu) if cpu > 0 else 0
        # Everything a wake-up costs, the compiled replay between wake-ups included.
        row["us_per_wakeup"] = round(wall / wakeups * 1e6, 3) if wakeups else 0.0
    row.update(extra)
    return row


def _best(fn, repeat: int):
    """Run ``fn() -> extra`` ``repeat`` times; keep the fastest (wall, cpu, extra, peak RSS MB)."""
    best = None
    for _ in range(max(1, repeat)):
        _, peak = _rss()
        c0 = time.process_time()
        t0 = time.perf_counter()
        extra = fn()
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        rss = peak()
        if best is None or wall < best[0]:
            best = (wall, cpu, extra, rss)
    return best


# ----------------------------------------------------------------- cases


def engine_cases(name: str, ev: np.ndarray, repeat: int, numba_strategy: bool = True) -> list[dict[str, Any]]:
    """Engine-level replay of ``ev`` (one instrument) by both engines, and the wake-up variants."""
    from venues.fast import FastMatchingEngine
    from venues.fast.replay import replay
    from venues.matching import MatchingEngine

    n = len(ev)
    rows = []
    cols = [ev[f].tolist() for f in FIELDS]

    def ref():
        e = MatchingEngine()
        e.apply_batch(*cols, 0, n, False)
        return {"market_trades": e.trade_count, "resting": len(e)}

    def ref_watch():
        e = MatchingEngine()
        i = wakes = 0
        while i < n:
            i = e.apply_batch(*cols, i, n, True)
            wakes += 1
            e.top()  # what a woken caller reads
        return {"wakeups": wakes}

    def fast():
        e = FastMatchingEngine()
        replay(ev, e)
        return {"market_trades": e.trade_count, "resting": len(e)}

    def fast_watch():
        e = FastMatchingEngine()
        i = wakes = 0
        while i < n:
            i = e.apply_events(ev, i, n, True)
            wakes += 1
            e.top()
        return {"wakeups": wakes}

    for label, engine, fn in (
        ("engine replay, book maintained, no strategy", "reference", ref),
        ("engine replay, book maintained, no strategy", "fast", fast),
        ("engine replay, Python wake-up per top change", "reference", ref_watch),
        ("engine replay, Python wake-up per top change", "fast", fast_watch),
    ):
        wall, cpu, extra, rss = _best(fn, repeat)
        rows.append(_row(f"{label} ({name})", engine, n, wall, cpu, **extra, peak_rss_mb=rss))
    if numba_strategy:
        from venues.fast.compiled_strategy import join_the_touch, run_compiled, watch_only

        for label, strat in (("numba strategy woken per top change, reads the book", watch_only),
                             ("numba strategy woken per top change, quotes the touch", join_the_touch)):  # fmt: skip
            t0 = time.perf_counter()
            run_compiled(ev[:100], strat, entry_latency_ns=40_000)
            jit = time.perf_counter() - t0

            def go(strat=strat):
                r = run_compiled(ev, strat, entry_latency_ns=40_000)
                return {"wakeups": r["wakeups"], "orders": r["orders"], "fills": r["fills"]}

            wall, cpu, extra, rss = _best(go, repeat)
            rows.append(_row(f"{label} ({name})", "fast", n, wall, cpu, **extra, jit_seconds=round(jit, 3),
                             peak_rss_mb=rss))  # fmt: skip
    return rows


def run_cases(scenario, name: str, repeat: int, strategies: tuple[str, ...] = ("none", "watcher", "scenario")):
    """Full simulation of ``scenario`` with both engines (market data generated before the clock starts)."""
    from scenarios.runner import Run

    rows = []
    for strat in strategies:
        if strat == "scenario" and scenario.strategy is None:
            continue
        fps = {}
        for engine in ("reference", "fast"):
            sc = scenario.model_copy(update={"engine": engine})
            best = None
            for _ in range(max(1, repeat)):  # times the run only, not the data generation
                _, peak = _rss()
                if strat == "none":
                    run = Run(sc, with_strategy=False, materialize_data=True)
                elif strat == "watcher":
                    run = Run(sc, with_strategy=False, materialize_data=True, strategy=TopWatcher())
                else:
                    run = Run(sc, materialize_data=True)
                c0 = time.process_time()
                t0 = time.perf_counter()
                res = run.run()
                wall = time.perf_counter() - t0
                cpu = time.process_time() - c0
                if best is None or wall < best[0]:
                    best = (wall, cpu, run, res, peak())
            wall, cpu, run, res, rss = best
            fps[engine] = res.fingerprint
            strat_name = scenario.strategy.path.split(":")[-1] if scenario.strategy else ""
            label = {
                "none": "no strategy",
                "watcher": "Python strategy woken per top change",
                "scenario": f"{strat_name} strategy",
            }[strat]
            wakeups = run.bus.book_updates if strat != "none" else None
            extra = {"wakeups": wakeups} if wakeups is not None else {}
            rows.append(_row(f"full simulation, {label} ({name})", engine, run.kernel.md_events, wall, cpu, **extra,
                             fills=len(res.fills), fingerprint=res.fingerprint, peak_rss_mb=rss))  # fmt: skip
        rows[-1]["same_fingerprint_as_reference"] = fps["fast"] == fps["reference"]
    return rows


def real_data_cases(repeat: int, shared: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """LOBSTER and ITCH samples: engine replay of each, and LOBSTER AAPL through the full simulation."""
    from scenarios.feed_bench import shared_dir

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    root = shared_dir(shared)
    if root is None:
        return rows, ["real data: shared samples not found (set PARITY_SHARED_DATA); LOBSTER/ITCH cases skipped"]
    try:
        from adapters.feeds.lobster import LobsterReader
    except ImportError:
        LobsterReader = None
        notes.append("LOBSTER: adapters.feeds.lobster not available; skipped")
    if LobsterReader is not None:
        lob = root / "lobster"
        for sym, lvl in (("AAPL", 1), ("GOOG", 10)):
            msg = lob / f"{sym}_2012-06-21_34200000_57600000_message_{lvl}.csv"
            book = lob / f"{sym}_2012-06-21_34200000_57600000_orderbook_{lvl}.csv"
            if not msg.is_file():
                notes.append(f"LOBSTER {sym}: {msg} missing; skipped")
                continue
            chunks = list(LobsterReader(msg, book if book.is_file() else None, tick_size=0.01).chunks())
            ev = np.ascontiguousarray(np.concatenate(chunks))
            rows += engine_cases(f"LOBSTER {sym} level {lvl}, {len(ev):,} events", ev, repeat, numba_strategy=True)
        from scenarios.loader import load_scenario

        old = os.environ.get("PARITY_SHARED_DATA")
        os.environ["PARITY_SHARED_DATA"] = str(root)
        try:
            sc, _ = load_scenario("lobster_aapl")
            rows += run_cases(sc, "LOBSTER AAPL", repeat, ("none", "watcher", "scenario"))
        except Exception as exc:  # the bundled scenario may be missing in an older checkout
            notes.append(f"LOBSTER AAPL full simulation skipped: {type(exc).__name__}: {exc}")
        finally:
            if old is None:
                os.environ.pop("PARITY_SHARED_DATA", None)
            else:
                os.environ["PARITY_SHARED_DATA"] = old
    try:
        from adapters.feeds.itch import ItchReader
    except ImportError:
        notes.append("ITCH: adapters.feeds.itch not available; skipped")
        return rows, notes
    files = sorted((root / "itch" / "binaryfile").glob("*.itch"))
    if not files:
        notes.append("ITCH: no BinaryFILE sample; skipped")
        return rows, notes
    chunks = [c for f in files for c in ItchReader(f, date="2019-01-30", strict=False).chunks()]
    ev = np.concatenate(chunks) if chunks else np.zeros(0)
    if not len(ev):
        notes.append(
            f"ITCH BinaryFILE fragment ({', '.join(f.name for f in files)}): no order events (the opening "
            "of a day: system and stock-directory messages); nothing to replay"
        )
    else:
        # One book per instrument: replay the busiest instrument's events.
        inst, counts = np.unique(ev["instrument"], return_counts=True)
        one = np.ascontiguousarray(ev[ev["instrument"] == inst[np.argmax(counts)]])
        notes.append(
            f"ITCH BinaryFILE fragment: {len(ev):,} events over {len(inst)} instruments; "
            f"the busiest ({len(one):,} events) is replayed (too small for a stable rate)"
        )
        rows += engine_cases(f"ITCH fragment, {len(one):,} events", one, max(repeat, 5), numba_strategy=False)
    return rows, notes


def warm_up_seconds() -> dict[str, float]:
    """JIT warm-up in a fresh process: import + load the cached kernels + a first replay (cache warm)."""
    code = (
        "import time; t=time.perf_counter(); c=time.process_time();"
        "from venues.fast import FastMatchingEngine; from venues.fast.replay import replay, synthetic_l3;"
        "e=FastMatchingEngine(); replay(synthetic_l3(1000), e);"
        "print(time.perf_counter()-t, time.process_time()-c)"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    wall, cpu = (float(x) for x in out.stdout.split())
    return {"jit_warmup_seconds": round(wall, 3), "jit_warmup_cpu_seconds": round(cpu, 3)}


def cold_compile_seconds() -> dict[str, float]:
    """Compile every kernel from scratch (an empty NUMBA_CACHE_DIR), in a fresh process."""
    import tempfile

    root = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="parity-numba-") as tmp:
        env = {**os.environ, "PYTHONPATH": str(root), "NUMBA_CACHE_DIR": tmp}
        code = (
            "import time; t=time.perf_counter(); c=time.process_time(); import venues.fast.engine;"
            "print(time.perf_counter()-t, time.process_time()-c)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
        )
    wall, cpu = (float(x) for x in out.stdout.split())
    return {"jit_cold_compile_seconds": round(wall, 3), "jit_cold_compile_cpu_seconds": round(cpu, 3)}


def fast_benchmarks(
    events: int = 1_000_000, repeat: int = 1, real_data: bool = True, cold: bool = False, shared: str | None = None
) -> dict[str, Any]:
    """Every fast-path case (see the module docstring); ``events`` sizes the synthetic cases."""
    from scenarios.loader import load_scenario
    from venues.fast.replay import deep_book_l3, synthetic_l3

    report: dict[str, Any] = {"results": [], "notes": []}
    report.update(warm_up_seconds())
    if cold:
        report.update(cold_compile_seconds())
    ev = synthetic_l3(events)
    report["results"] += engine_cases(f"synthetic L3, {len(ev):,} events", ev, repeat)
    deep = deep_book_l3(5_000)
    report["results"] += engine_cases(
        "deep book: 5,000 bid levels added in random price order, then cancelled", deep, repeat, numba_strategy=False
    )
    sc, _ = load_scenario("default")
    duration_s = events / 30_000.0  # the default scenario's event rate
    sc = sc.model_copy(update={"duration": f"{duration_s:.3f}s"})
    sc = sc.model_validate(sc.model_dump())
    report["results"] += run_cases(sc, f"default scenario, {duration_s:.0f} s", repeat)
    if real_data:
        rows, notes = real_data_cases(repeat, shared)
        report["results"] += rows
        report["notes"] += notes
    report["summary"] = summarize(report["results"])
    report.update({"python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count()})
    return report


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """fast/reference speed-ups of paired cases, and the issue's floors against the measured rates."""
    by = {}
    for r in rows:
        by.setdefault(r["name"], {})[r["engine"]] = r
    speedups = {}
    for name, pair in by.items():
        if "fast" in pair and "reference" in pair:
            f, ref = pair["fast"], pair["reference"]
            speedups[name] = {
                "wall": round(f["events_per_second"] / max(ref["events_per_second"], 1), 2),
                "cpu": round(f["events_per_cpu_second"] / max(ref["events_per_cpu_second"], 1), 2),
            }
    synth = [r for r in rows if r["name"].startswith("engine replay, book maintained") and "synthetic" in r["name"]]
    replay_fast = next((r for r in synth if r["engine"] == "fast"), None)
    py = [r for r in rows if r["engine"] == "fast" and "Python strategy woken" in r["name"] and "default" in r["name"]]
    floors = {}
    if replay_fast:
        floors["replay_events_per_second"] = {
            "floor": FLOORS["replay_events_per_second"],
            "measured_wall": replay_fast["events_per_second"],
            "measured_cpu": replay_fast["events_per_cpu_second"],
        }
        name = replay_fast["name"]
        if name in speedups:
            floors["speedup_engine_replay"] = {"floor": FLOORS["speedup"], **speedups[name]}
    if py:
        floors["python_strategy_events_per_second"] = {
            "floor": FLOORS["python_strategy_events_per_second"],
            "measured_wall": py[0]["events_per_second"],
            "measured_cpu": py[0]["events_per_cpu_second"],
            "wakeups_per_second": py[0]["wakeups_per_second"],
            "us_per_wakeup": py[0]["us_per_wakeup"],
        }
    return {"speedup_fast_over_reference": speedups, "floors": floors}


def _floor_line(key: str, v: dict[str, Any]) -> str:
    """One floor, its measured figure(s) and the verdict on the wall-clock figure."""
    if "measured_wall" in v:
        measured, floor = v["measured_wall"], v["floor"]
        extra = ""
        if "us_per_wakeup" in v:
            extra = f"; {v['wakeups_per_second']:,} wake-ups/s, {v['us_per_wakeup']} us each"
        text = f"{measured:,} events/s wall ({v['measured_cpu']:,}/cpu-s{extra}) against {floor:,.0f}"
    else:
        measured, floor = v["wall"], v["floor"]
        text = f"{measured}x wall ({v['cpu']}x cpu) against {floor}x"
    return f"floor {key}: {text}: {'met' if measured >= floor else 'NOT met'}"


def format_report(report: dict[str, Any]) -> str:
    lines = []
    for k in (
        "jit_warmup_seconds",
        "jit_warmup_cpu_seconds",
        "jit_cold_compile_seconds",
        "jit_cold_compile_cpu_seconds",
    ):
        if k in report:
            lines.append(f"{k}: {report[k]}")
    for r in report["results"]:
        wake = ""
        if "wakeups_per_second" in r:
            wake = f"  {r['wakeups_per_second']:>10,} wakeups/s ({r['us_per_wakeup']} us each)"
        lines.append(
            f"{r['engine']:<9} {r['name'][:88]:<88} {r['events']:>10,} ev {r['events_per_second']:>12,} ev/s "
            f"({r['events_per_cpu_second']:>12,}/cpu-s){wake}  rss {r.get('peak_rss_mb')}"
        )
    for name, s in report["summary"]["speedup_fast_over_reference"].items():
        lines.append(f"speed-up {s['wall']:>7}x wall {s['cpu']:>7}x cpu  {name}")
    for k, v in report["summary"]["floors"].items():
        lines.append(_floor_line(k, v))
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)
