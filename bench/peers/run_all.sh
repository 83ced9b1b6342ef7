#!/usr/bin/env bash
# parity vs hftbacktest vs NautilusTrader on the same generated events, one run:
#   bash bench/peers/run_all.sh [EVENTS]
# Each peer gets its own venv (hftbacktest pins numpy<2.3); the first run installs them.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
N="${1:-1000000}"
DATA="$HERE/data"
cd "$ROOT"
[ -f "$DATA/events_l2.npy" ] || "$PY" "$HERE/make_events.py" "$DATA" "$N"
if [ ! -x "$HERE/.venv-hftbacktest/bin/python" ]; then
  "$PY" -m venv "$HERE/.venv-hftbacktest"
  "$HERE/.venv-hftbacktest/bin/pip" install -q "hftbacktest>=2.2" "numpy<2.3"
fi
if [ ! -x "$HERE/.venv-nautilus/bin/python" ]; then
  "$PY" -m venv "$HERE/.venv-nautilus"
  "$HERE/.venv-nautilus/bin/pip" install -q nautilus_trader
fi
"$PY" "$HERE/run_parity.py" "$DATA" > "$DATA/parity.json"
"$HERE/.venv-hftbacktest/bin/python" "$HERE/run_hftbacktest.py" "$DATA" > "$DATA/hftbacktest.json" || echo '{}' > "$DATA/hftbacktest.json"
"$HERE/.venv-nautilus/bin/python" "$HERE/run_nautilus.py" "$DATA" > "$DATA/nautilus.json" || echo '{}' > "$DATA/nautilus.json"
"$PY" - "$DATA" <<'PYEOF'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
p = json.loads((d / "parity.json").read_text())
h = json.loads((d / "hftbacktest.json").read_text() or "{}")
n = json.loads((d / "nautilus.json").read_text() or "{}")
print(json.dumps({"parity": p, "hftbacktest": h, "nautilus_trader": n}, indent=2))
pe = p["no_strategy"]["events_per_second"]
pw = p["python_wakeup_per_top_change"]["events_per_second"]
if h.get("no_strategy"):
    print(f"parity/hftbacktest replay, no strategy: {pe / h['no_strategy']['events_per_second']:.2f}x "
          f"({pe:,} L3 ev/s vs {h['no_strategy']['events_per_second']:,} L2 ev/s)")
if n.get("python_strategy_per_delta"):
    ne = n["python_strategy_per_delta"]["events_per_second"]
    nw = n["python_strategy_per_delta"]["wakeups"] / n["python_strategy_per_delta"]["seconds"]
    print(f"parity bare Python callback per top change / NautilusTrader Python strategy: {pw / ne:.2f}x "
          f"({pw:,} vs {ne:,} ev/s)")
    for label, mine, theirs in (
        ("both strategies count their wake-ups", "full_simulation_python_strategy_counts", "python_strategy_per_delta"),
        ("both also read the top of the book", "full_simulation_python_strategy", "python_strategy_per_delta_reads_top"),
    ):
        full, peer = p.get(mine), n.get(theirs)
        if not full or not peer:
            continue
        pf, ne = full["events_per_second"], peer["events_per_second"]
        nw = peer["wakeups"] / peer["seconds"]
        print(f"like-for-like ({label}), parity full simulation with a Python Strategy woken per top change / "
              f"NautilusTrader BacktestEngine with a Python strategy per delta: {pf / ne:.2f}x ({pf:,} vs {ne:,} "
              f"ev/s; wake-ups/s {full['wakeups_per_second']:,} vs {round(nw):,})")
PYEOF
