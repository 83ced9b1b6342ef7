"""parity on the shared input: compiled L3 replay (book maintained, no strategy) and with a
Python callback on each top change; prints JSON (run with the project's own Python)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from venues.fast.replay import time_replay  # noqa: E402

data = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("data")
ev = np.load(data / "events_l3.npy")
time_replay(ev[:10_000])  # warm the kernels
t0 = time.process_time()
no = time_replay(ev, repeat=3)
watch = time_replay(ev, repeat=3, watch_top=True)
print(json.dumps({"peer": "parity", "no_strategy": no, "python_wakeup_per_top_change": watch}))
