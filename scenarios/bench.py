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
    scenario = scenario.model_copy(update={"engine": "reference"})  # the fast cases follow
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
    # The same cases on the fast (numba) engine; `parity bench --fast` has the full comparison.
    reference_scenario = scenario
    scenario = scenario.model_copy(update={"engine": "fast"})
    fast_base = case(f"fast replay, no strategy ({scenario.name})", False)
    case(f"fast replay, strategy woken per top change ({scenario.name})", True)
    scenario = reference_scenario
    return {
        "fast_speedup_no_strategy": round(fast_base["events_per_second"] / max(base["events_per_second"], 1), 2),
        "results": results,
        "strategy_overhead_ratio": round(base["events_per_second"] / with_strategy["events_per_second"], 3),
        "peak_rss_mb": _peak_rss_mb(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


AGENT_MESSAGES_FLOOR = 150_000  # issue floor: agent messages/s on the bundled market


def agent_benchmarks(
    scenario_name: str = "agents_1000", duration: str | None = "6.5h", repeat: int = 1
) -> dict[str, Any]:
    """Agent messages/s of an agent-market scenario (the bundled 1,000-agent market over a
    full 6.5 h trading day by default), with and without the user's strategy.

    Agent messages are the orders, cancels and market orders agents send plus the
    execution reports they receive; wake-ups are counted apart (ABIDES counts them as
    messages too, so ``events_with_wakeups_per_second`` is the like-for-like figure).
    Best of ``repeat``; CPU seconds are reported next to wall seconds because a shared
    machine inflates wall time.
    """
    scenario, _ = load_scenario(scenario_name, {"duration": duration} if duration else None)
    if not scenario.agents:
        from kernel.errors import ScenarioError

        raise ScenarioError(f"bench --agents: scenario {scenario.name!r} has no [[agents]]")
    results = []
    for with_strategy in (True, False):
        best = None
        for _ in range(max(1, repeat)):
            run = Run(scenario, with_strategy=with_strategy)
            c0 = time.process_time()
            t0 = time.perf_counter()
            result = run.run()
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            if best is None or wall < best[0]:
                best = (wall, cpu, result.summary)
        wall, cpu, s = best
        msgs = s["agent_messages"]
        results.append(
            {
                "name": f"{scenario.name} {scenario.duration}, {'with' if with_strategy else 'no'} strategy",
                "agents": s["agents"],
                "agent_messages": msgs,
                "agent_messages_sent": s["agent_messages_sent"],
                "agent_reports": s["agent_reports"],
                "agent_wakeups": s["agent_wakeups"],
                "market_trades": s["market_trades"],
                "strategy_fills": s["fills"],
                "seconds": round(wall, 3),
                "cpu_seconds": round(cpu, 3),
                "messages_per_second": round(msgs / wall),
                "messages_per_cpu_second": round(msgs / cpu) if cpu else 0,
                "events_with_wakeups_per_second": round((msgs + s["agent_wakeups"]) / wall),
                "fingerprint": s["fingerprint"],
            }
        )
    floor = AGENT_MESSAGES_FLOOR
    return {
        "results": results,
        "floor": {
            "messages_per_second": floor,
            "anchor": "10x ABIDES (~14k kernel messages/s; ABIDES counts wake-ups as messages)",
            "met": {
                r["name"]: {
                    "agent_messages": r["messages_per_second"] >= floor,
                    "with_wakeups": r["events_with_wakeups_per_second"] >= floor,
                }
                for r in results
            },
        },
        "peak_rss_mb": _peak_rss_mb(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def matching_stress_benchmark(orders: int = 10_000_000, shards: int = 40) -> dict[str, Any]:
    """The stress suite's random order flow (every order type, amends, cancels, STP, with
    its invariants checked after every action) through the reference engine, one process."""
    from venues.stressflow import run_shard

    n = orders // shards
    t0 = time.perf_counter()
    trades = reports = 0
    for shard in range(shards):
        stats = run_shard(1_000 + shard, n)
        trades += stats["trades"]
        reports += stats["reports"]
    wall = time.perf_counter() - t0
    return {
        "actions": n * shards,
        "shards": shards,
        "seconds": round(wall, 2),
        "actions_per_second": round(n * shards / wall),
        "trades": trades,
        "reports": reports,
        "peak_rss_mb": _peak_rss_mb(),
    }


def feed_benchmarks(
    big: bool = False, generated_mb: float = 100.0, repeat: int = 1, shared: str | None = None
) -> dict[str, Any]:
    """Feed readers: parse and parse + rebuild-book events/s of each format on the shared samples
    (``$PARITY_SHARED_DATA`` or ``../shared/data``; absent formats are noted and skipped) and on a
    generated ITCH file of ``generated_mb`` MB (``big``: also 2 GB, replayed through the runner too),
    with each case's peak RSS. See :mod:`scenarios.feed_bench`."""
    from scenarios.feed_bench import feed_benchmarks as run_feed_benchmarks

    return run_feed_benchmarks(shared, generated_mb, big, repeat)
