"""``parity bench``: events/s of the reference engine, measured in one process run.

Each case replays the same scenario data; market data are generated before the
clock starts, so the figures time the replay (book, matching, journal, strategy)
and not the synthetic generator, which is timed as its own case.
"""

from __future__ import annotations

import platform
import resource
import time
from typing import Any

from scenarios.loader import load_scenario
from scenarios.runner import Run


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _time_run(scenario, with_strategy: bool) -> tuple[float, Run, dict[str, Any]]:
    run = Run(scenario, with_strategy=with_strategy, materialize_data=True)
    t0 = time.perf_counter()
    result = run.run()
    return time.perf_counter() - t0, run, result.summary


def run_benchmarks(scenario_name: str | None = None, repeat: int = 1, duration: str | None = None) -> dict[str, Any]:
    """Run every case ``repeat`` times and keep the best (least disturbed) timing.
    ``duration`` shortens or lengthens the scenario (e.g. "5s")."""
    scenario, _ = load_scenario(scenario_name, {"duration": duration} if duration else None)
    results: list[dict[str, Any]] = []

    def case(name: str, with_strategy: bool) -> dict[str, Any]:
        best = None
        for _ in range(max(1, repeat)):
            wall, run, summary = _time_run(scenario, with_strategy)
            if best is None or wall < best[0]:
                best = (wall, run, summary)
        wall, run, summary = best
        events = run.kernel.md_events
        row = {
            "name": name,
            "events": events,
            "seconds": round(wall, 4),
            "events_per_second": round(events / wall),
            "strategy_wakeups": run.bus.book_updates,
            "wakeups_per_second": round(run.bus.book_updates / wall),
            "fingerprint": summary["fingerprint"],
        }
        results.append(row)
        return row

    t0 = time.perf_counter()
    run = Run(scenario, with_strategy=False, materialize_data=True)
    gen_wall = time.perf_counter() - t0
    generated = run.materialized_events
    results.append(
        {
            "name": "synthetic generator (assemble + generate)",
            "events": generated,
            "seconds": round(gen_wall, 4),
            "events_per_second": round(generated / gen_wall) if gen_wall else 0,
        }
    )
    base = case(f"reference replay, no strategy ({scenario.name})", False)
    with_strategy = case(f"reference replay, strategy woken per top change ({scenario.name})", True)
    return {
        "results": results,
        "strategy_overhead_ratio": round(base["events_per_second"] / with_strategy["events_per_second"], 3),
        "peak_rss_mb": _peak_rss_mb(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
