"""parity on the shared input: compiled L3 replay (book maintained, no strategy), the same with a
bare Python callback on each top change, and the full simulation (kernel, venue, OMS, portfolio,
journal and fingerprint; latencies as the default scenario's) with a Python Strategy woken on
each top-of-book change - the like-for-like peer of NautilusTrader's BacktestEngine with a
Python strategy. Prints JSON (run with the project's own Python)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from venues.fast.replay import time_replay  # noqa: E402

data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("data")
ev = np.load(data / "events_l3.npy")
SCENARIO = """
name = "peers"
seed = 1
start = "data"
duration = "data"
[[instruments]]
id = 0
symbol = "SYN"
tick_size = 0.01
[[venues]]
name = "V"
instruments = ["SYN"]
crossing_adds = "match"      # synthetic order flow: crossing adds are aggressive orders
[venues.latency]
market_data = "20us"
order_entry = { kind = "lognormal", median_ns = 40000, sigma = 0.25, min_ns = 15000 }
response = "30us"
[[data]]
venue = "V"
instrument = "SYN"
kind = "cache"
path = "l3.npy"
[store]
enabled = false
"""


def full_simulation(events: np.ndarray, repeat: int = 3, reads_top: bool = True) -> dict:
    """Best-of-``repeat`` full simulation with a Python Strategy woken on each top change: the
    bench's TopWatcher (reads the book, keeps spread and imbalance sums), or with ``reads_top``
    False one that only counts its wake-ups (as the NautilusTrader peer's Watch)."""
    from adapters.feeds.cache import write_cache
    from scenarios.bench_fast import TopWatcher
    from scenarios.loader import parse_scenario
    from scenarios.runner import Run

    class CountWatcher(TopWatcher):
        def on_book(self, book) -> None:
            self.books += 1

    best = None
    with tempfile.TemporaryDirectory(prefix="parity-peers-") as tmp:
        write_cache(iter([events]), Path(tmp) / "l3.npy", {"source": "bench/peers"})
        sc = parse_scenario(SCENARIO, "<peers>")
        sc._base_dir = Path(tmp)
        for _ in range(max(1, repeat)):
            watcher = TopWatcher(0) if reads_top else CountWatcher(0)
            run = Run(sc, with_strategy=False, materialize_data=True, strategy=watcher)
            t0 = time.perf_counter()
            run.run()
            wall = time.perf_counter() - t0
            if best is None or wall < best[0]:
                best = (wall, watcher.books, run.kernel.md_events)
    wall, wakes, n = best
    return {
        "events": n,
        "seconds": round(wall, 4),
        "events_per_second": round(n / wall),
        "wakeups": wakes,
        "wakeups_per_second": round(wakes / wall),
    }


time_replay(ev[:10_000])  # warm the kernels
t0 = time.process_time()
no = time_replay(ev, repeat=3)
watch = time_replay(ev, repeat=3, watch_top=True)
full = full_simulation(ev)
count = full_simulation(ev, reads_top=False)
print(json.dumps({"peer": "parity", "no_strategy": no, "python_wakeup_per_top_change": watch,
                  "full_simulation_python_strategy": full,
                  "full_simulation_python_strategy_counts": count}))  # fmt: skip
