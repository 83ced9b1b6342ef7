"""``parity bench --feeds``: parse and parse + rebuild-book speed of every feed reader, and peak RSS.

Cases: the shared real samples (``$PARITY_SHARED_DATA`` or ``../shared/data``;
a format whose files are absent is listed with a note and skipped) and a
generated ITCH BinaryFILE (:mod:`adapters.feeds.itch_synth`, written before
any clock starts). Per case:

* **parse**: the reader's ``chunks()`` to the end (best of ``repeat``);
* **parse + book**: the same chunks applied to one numba L3 book per
  instrument (:class:`venues.fast.FastMatchingEngine`, the simulated venue's
  default engine, through ``run_events``), i.e. the book is rebuilt from the feed;
* **peak RSS** of the parse + book pass: the process's high-water mark is
  reset before the pass (``/proc/self/clear_refs``) and read after it
  (``VmHWM``), next to the RSS before it, so each case reports its own peak.

``--big`` adds a 2 GB generated ITCH file, parsed + rebuilt and replayed
through the full runner (one symbol, no strategy), to show constant memory:
RSS must not grow with the file.

The same module measures one replay in a child process for the
constant-memory test: ``python -m scenarios.feed_bench rss FILE [--runner]``
prints JSON (RSS before, peak, messages, events, seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

KIB = 1024


# --- memory ------------------------------------------------------------------------------------


def _status_kib(key: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (VmRSS, VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    """Current resident set size, MB."""
    v = _status_kib("VmRSS")
    return None if v is None else round(v / KIB, 1)


def peak_rss_mb() -> float | None:
    """Peak resident set size since the start or the last :func:`reset_peak_rss`, MB."""
    v = _status_kib("VmHWM")
    if v is None:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / KIB, 1)
    return round(v / KIB, 1)


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


# --- the book ----------------------------------------------------------------------------------


class BookRebuild:
    """One numba L3 book per instrument, fed MD_DTYPE chunks in order."""

    def __init__(self) -> None:
        from venues.fast import FastMatchingEngine, core

        self._cls = FastMatchingEngine
        self._nord = core.S_NORD
        self.engines: dict[int, Any] = {}
        self.events = 0

    def _engine(self, iid: int) -> Any:
        eng = self.engines.get(iid)
        if eng is None:
            eng = self.engines[iid] = self._cls(instrument=iid)
        return eng

    def apply(self, chunk: np.ndarray) -> None:
        """Apply a chunk (split by instrument, keeping each instrument's order)."""
        n = len(chunk)
        if not n:
            return
        inst = chunk["instrument"]
        if (inst == inst[0]).all():
            self._engine(int(inst[0])).run_events(chunk, 0, n, 0)
        else:
            order = np.argsort(inst, kind="stable")
            part = chunk[order]
            keys = inst[order]
            cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
            for a, b in zip(np.r_[0, cuts], np.r_[cuts, n], strict=True):
                self._engine(int(keys[a])).run_events(part, int(a), int(b), 0)
        self.events += n

    def resting(self) -> int:
        """Orders resting over all books."""
        return sum(int(e._st[self._nord]) for e in self.engines.values())


# --- cases -------------------------------------------------------------------------------------


Opener = Callable[[], Any]


def shared_dir(explicit: str | Path | None = None) -> Path | None:
    """The shared samples: ``explicit``, $PARITY_SHARED_DATA, ../shared/data beside the repo, /work/shared/data."""
    here = Path(__file__).resolve().parents[2] / "shared" / "data"
    for c in (explicit, os.environ.get("PARITY_SHARED_DATA"), here, "/work/shared/data"):
        if c and Path(c).is_dir():
            return Path(c)
    return None


def sample_cases(root: Path | None) -> tuple[list[tuple[str, str, Opener, int]], list[str]]:
    """(name, format, reader factories, input bytes) of every shared sample present, and notes on absent ones."""
    from adapters.feeds.binance import BinanceDepthReader
    from adapters.feeds.dbn import DbnMboReader
    from adapters.feeds.itch import ItchReader
    from adapters.feeds.lobster import LobsterReader

    cases: list[tuple[str, str, Opener, int]] = []
    notes: list[str] = []
    if root is None:
        return cases, ["shared samples not found (set PARITY_SHARED_DATA): only the generated ITCH file is measured"]

    def multi(factories: list[Opener]) -> Opener:
        class _Many:
            """The files one after the other, each reader opened when its turn comes."""

            def chunks(self) -> Iterator[np.ndarray]:
                for f in factories:
                    yield from f().chunks()

        return _Many

    def add(name: str, fmt: str, files: list[Path], make: Callable[[Path], Any]) -> None:
        files = [f for f in files if f.is_file()]
        if not files:
            notes.append(f"{name}: skipped, no {fmt} sample under {root}")
            return
        size = sum(f.stat().st_size for f in files)
        opener = (lambda f=files[0]: make(f)) if len(files) == 1 else multi([lambda f=f: make(f) for f in files])
        cases.append((name, fmt, opener, size))

    itch = root / "itch"
    add("ITCH BinaryFILE fragment", "itch", sorted((itch / "binaryfile").glob("*.itch")),
        lambda f: ItchReader(f, date="2019-01-30", strict=False))  # fmt: skip
    add("ITCH pcap captures", "itch", sorted((itch / "pcap").rglob("*.pcap")),
        lambda f: ItchReader(f, date="2023-08-22", strict=False))  # fmt: skip
    lob = root / "lobster"
    for sym, lvl in (("AAPL", 1), ("GOOG", 10)):
        msg = lob / f"{sym}_2012-06-21_34200000_57600000_message_{lvl}.csv"
        book = lob / f"{sym}_2012-06-21_34200000_57600000_orderbook_{lvl}.csv"
        add(f"LOBSTER {sym} level {lvl}", "lobster", [msg],
            lambda f, b=book: LobsterReader(f, b if b.is_file() else None, tick_size=0.01))  # fmt: skip
    add("DBN MBO ESH4", "dbn", sorted((root / "databento").glob("*.dbn*")), lambda f: DbnMboReader(f, tick_size=0.25))
    add("Binance BTCUSDT depth", "binance", sorted((root / "binance").rglob("*.gz")),
        lambda f: BinanceDepthReader(f, tick_size="0.1", lot_size="0.001"))  # fmt: skip
    return cases, notes


def _count_chunks(chunks: Iterable[np.ndarray]) -> int:
    return sum(len(c) for c in chunks)


def measure(name: str, fmt: str, opener: Opener, size: int, repeat: int = 1) -> dict[str, Any]:
    """One case: parse (best of ``repeat``), then parse + book with its peak RSS."""
    row: dict[str, Any] = {"name": name, "format": fmt, "bytes": size}
    try:
        best = None
        for _ in range(max(1, repeat)):
            reader = opener()
            t0 = time.perf_counter()
            c0 = time.process_time()
            events = _count_chunks(reader.chunks())
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            if best is None or wall < best[0]:
                best = (wall, cpu)
        assert best is not None
        stats = getattr(reader, "stats", None)
        msgs = getattr(stats, "total_messages", None) if stats is not None else None
        row.update(events=events, parse_s=round(best[0], 4), parse_cpu_s=round(best[1], 4))
        row["parse_events_per_s"] = round(events / best[0]) if best[0] else 0
        row["parse_events_per_cpu_s"] = round(events / best[1]) if best[1] else 0
        if isinstance(msgs, int):
            row["messages"] = msgs
            row["parse_msgs_per_s"] = round(msgs / best[0]) if best[0] else 0
            row["parse_msgs_per_cpu_s"] = round(msgs / best[1]) if best[1] else 0
        book = BookRebuild()
        rss0 = rss_mb()
        reset = reset_peak_rss()
        t0 = time.perf_counter()
        c0 = time.process_time()
        for chunk in opener().chunks():
            book.apply(chunk)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        row.update(book_s=round(wall, 4), book_cpu_s=round(cpu, 4), instruments=len(book.engines))
        row["book_events_per_s"] = round(book.events / wall) if wall else 0
        row["resting_at_end"] = book.resting()
        row["rss_before_mb"] = rss0
        row["peak_rss_mb"] = peak_rss_mb()
        if not reset:
            row["peak_rss_note"] = "process peak (could not reset the high-water mark)"
    except Exception as e:  # a failing reader is a bench result, not a crash
        row["error"] = f"{type(e).__name__}: {e}"
    return row


def generated_case(directory: Path, mb: float, seed: int = 0) -> tuple[str, str, Opener, int, float]:
    """Write a synthetic ITCH file of ``mb`` MB into ``directory``; the case and the generation seconds."""
    from adapters.feeds.itch import ItchReader
    from adapters.feeds.itch_synth import write_synthetic_binaryfile

    path = directory / "synthetic_20190130.itch"
    t0 = time.perf_counter()
    info = write_synthetic_binaryfile(path, int(mb * 1e6), seed)
    gen = time.perf_counter() - t0
    name = f"ITCH generated {info['bytes'] / 1e6:,.0f} MB"
    return name, "itch", lambda: ItchReader(path), info["bytes"], gen


RUNNER_TOML = """
name = "itch_replay"
seed = 1
start = "data"
duration = "data"
[[instruments]]
id = 0
symbol = "{symbol}"
tick_size = 0.01
[[venues]]
name = "V"
instruments = ["{symbol}"]
[[data]]
venue = "V"
instrument = "{symbol}"
kind = "itch"
path = "{path}"
[store]
enabled = false
"""


def runner_replay(path: Path, symbol: str = "SYM1") -> dict[str, Any]:
    """Replay ``path`` (one symbol, no strategy) through the full runner; events, seconds, RSS before / peak."""
    from scenarios.loader import parse_scenario
    from scenarios.runner import Run

    sc = parse_scenario(RUNNER_TOML.format(symbol=symbol, path=path), "<feed bench>")
    rss0 = rss_mb()
    reset = reset_peak_rss()
    t0 = time.perf_counter()
    run = Run(sc, with_strategy=False)
    run.run()
    wall = time.perf_counter() - t0
    return {
        "events": run.kernel.md_events, "seconds": round(wall, 3),
        "events_per_s": round(run.kernel.md_events / wall) if wall else 0,
        "rss_before_mb": rss0, "peak_rss_mb": peak_rss_mb(), "peak_reset": reset,
    }  # fmt: skip


def warm_up() -> None:
    """Load the compiled kernels (ITCH decoder, book) so that no case times numba's cache loading."""
    from adapters.feeds.itch import ItchReader
    from adapters.feeds.itch_synth import write_synthetic_binaryfile

    with tempfile.TemporaryDirectory(prefix="parity-warm-") as tmp:
        warm = Path(tmp) / "warm_20190130.itch"
        write_synthetic_binaryfile(warm, 1_000_000, seed=1, batch_orders=10_000)
        book = BookRebuild()
        for chunk in ItchReader(warm).chunks():
            book.apply(chunk)


def feed_benchmarks(
    shared: str | Path | None = None, generated_mb: float = 100.0, big: bool = False, repeat: int = 3
) -> dict[str, Any]:
    """Every case (see the module docstring), parse timed as the best of ``repeat`` (1 for the 2 GB
    file); ``big`` adds the 2 GB constant-memory run."""
    root = shared_dir(shared)
    cases, notes = sample_cases(root)
    warm_up()
    results = [measure(*c, repeat=repeat) for c in cases]
    out: dict[str, Any] = {"shared_data": str(root) if root else None, "notes": notes}
    with tempfile.TemporaryDirectory(prefix="parity-feedbench-") as tmp:
        sizes = [generated_mb] + ([2000.0] if big else [])
        for mb in sizes:
            name, fmt, opener, size, gen = generated_case(Path(tmp), mb)
            row = measure(name, fmt, opener, size, repeat=repeat if mb == generated_mb else 1)
            row["generate_s"] = round(gen, 2)
            results.append(row)
            rr = runner_replay(Path(tmp) / "synthetic_20190130.itch")
            results.append({"name": f"{name}, runner (SYM1, no strategy)", "format": "itch", **rr})
            (Path(tmp) / "synthetic_20190130.itch").unlink()
    out.update(results=results, peak_rss_mb=peak_rss_mb(), python=platform.python_version(),
               machine=platform.machine(), cpus=os.cpu_count())  # fmt: skip
    return out


def format_report(report: dict[str, Any]) -> str:
    """A text table of :func:`feed_benchmarks` (rates per wall second; ITCH messages also per CPU second)."""
    lines = [
        f"{'case':<46} {'MB':>8} {'events':>11} {'parse ev/s':>11} {'msgs/s':>11} {'msgs/CPU-s':>11} "
        f"{'+book ev/s':>11} {'peak RSS':>9}"
    ]
    blank = f"{'':>11}"
    for r in report["results"]:
        if "error" in r:
            lines.append(f"{r['name']:<46} error: {r['error']}")
            continue
        if "parse_s" not in r:  # the runner row
            lines.append(
                f"{r['name']:<46} {'':>8} {r['events']:>11,} {blank} {blank} {blank} {r['events_per_s']:>11,} "
                f"{r['peak_rss_mb']:>6} MB  (before {r['rss_before_mb']} MB, {r['seconds']} s)"
            )
            continue
        msgs = f"{r['parse_msgs_per_s']:>11,}" if "parse_msgs_per_s" in r else blank
        cpu = f"{r['parse_msgs_per_cpu_s']:>11,}" if "parse_msgs_per_cpu_s" in r else blank
        lines.append(
            f"{r['name']:<46} {r['bytes'] / 1e6:>8.1f} {r['events']:>11,} {r['parse_events_per_s']:>11,} {msgs} "
            f"{cpu} {r['book_events_per_s']:>11,} {r['peak_rss_mb']:>6} MB  (before {r['rss_before_mb']} MB)"
        )
    lines += [f"note: {n}" for n in report["notes"]]
    lines.append(f"process peak RSS: {report['peak_rss_mb']} MB; python {report['python']}, {report['cpus']} CPUs")
    return "\n".join(lines)


# --- child-process RSS measurement (the constant-memory test) ------------------------------------


def measure_rss(path: Path, runner: bool = False) -> dict[str, Any]:
    """Warm up on a small generated file (imports, compiled kernels, buffers), then replay ``path``:
    through ``ItchReader.chunks()``, or with ``runner`` through the full runner; RSS before and peak."""
    from adapters.feeds.itch import ItchReader
    from adapters.feeds.itch_synth import write_synthetic_binaryfile

    with tempfile.TemporaryDirectory(prefix="parity-rss-") as tmp:
        warm = Path(tmp) / "warm_20190130.itch"
        write_synthetic_binaryfile(warm, 2_000_000, seed=1, batch_orders=20_000)
        if runner:
            runner_replay(warm)
        else:
            _count_chunks(ItchReader(warm).chunks())
    if runner:
        out = runner_replay(path)
        out["mode"] = "runner"
        return out
    rss0 = rss_mb()
    reset = reset_peak_rss()
    reader = ItchReader(path)
    t0 = time.perf_counter()
    events = _count_chunks(reader.chunks())
    wall = time.perf_counter() - t0
    return {
        "mode": "reader", "messages": reader.stats.total_messages, "events": events, "seconds": round(wall, 3),
        "rss_before_mb": rss0, "peak_rss_mb": peak_rss_mb(), "peak_reset": reset,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m scenarios.feed_bench")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("rss", help="replay FILE once and print RSS before / peak as JSON")
    r.add_argument("file")
    r.add_argument("--runner", action="store_true", help="through the full runner (symbol SYM1, no strategy)")
    b = sub.add_parser("run", help="the feed benchmarks (as parity bench --feeds)")
    b.add_argument("--big", action="store_true")
    b.add_argument("--mb", type=float, default=100.0, help="size of the generated ITCH file")
    b.add_argument("--repeat", type=int, default=3, help="parse passes per case (the best counts)")
    b.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.cmd == "rss":
        print(json.dumps(measure_rss(Path(a.file), a.runner)))
        return 0
    report = feed_benchmarks(generated_mb=a.mb, big=a.big, repeat=a.repeat)
    print(json.dumps(report, indent=2) if a.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
