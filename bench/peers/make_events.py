"""Generate the shared input of the peer comparison (run with the project's own Python).

Writes into OUT (default bench/peers/data):
  events_l3.npy  the synthetic L3 order flow (MD_DTYPE) parity replays;
  events_l2.npy  the same market as L2 depth updates (ts, side, price, level qty after the event),
                 derived by replaying the L3 stream through parity's book: what hftbacktest and
                 NautilusTrader consume.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from venues.fast import FastMatchingEngine  # noqa: E402
from venues.fast.replay import synthetic_l3  # noqa: E402

L2_DTYPE = np.dtype([("ts", "<i8"), ("side", "i1"), ("price", "<i8"), ("qty", "<i8")])


def to_l2(ev: np.ndarray) -> np.ndarray:
    """One row per price level whose visible quantity changed, after each event (depth 50 a side)."""
    e = FastMatchingEngine(capacity=1 << 14)
    out = []
    before = {1: {}, -1: {}}
    for i in range(len(ev)):
        e.apply_events(ev, i, i + 1, False)
        ts = int(ev["ts"][i])
        for side in (1, -1):
            now = dict(e.depth(side, 50))
            old = before[side]
            for px, q in now.items():
                if old.get(px) != q:
                    out.append((ts, side, px, q))
            for px in old:
                if px not in now:
                    out.append((ts, side, px, 0))
            before[side] = now
    return np.array(out, dtype=L2_DTYPE)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("data")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    out.mkdir(parents=True, exist_ok=True)
    ev = synthetic_l3(n)
    np.save(out / "events_l3.npy", ev)
    l2 = to_l2(ev)
    np.save(out / "events_l2.npy", l2)
    print(f"{len(ev):,} L3 events, {len(l2):,} L2 level updates -> {out}")


if __name__ == "__main__":
    main()
