"""Constant memory: a 320 MB generated ITCH file replays in bounded RSS.

The file (10 M messages, 11 M events) is written with numpy + numba
(:mod:`adapters.feeds.itch_synth`). Each replay runs in a child process
(``python -m scenarios.feed_bench rss``), which warms up on a small file
(imports, compiled kernels), takes its RSS, resets the peak-RSS mark
(``/proc/self/clear_refs``), replays the big file and reports ``VmHWM``.

Budgets: the reader alone may grow by RSS_BUDGET_READER_MB (the file is
more than 10x that; one read block, one output chunk and the order map
are ~8 MB), the full runner (venue books, kernel, journal) by
RSS_BUDGET_RUNNER_MB. Were events or orders kept per message, 11 M events
would take 440 MB. The 2 GB version is ``parity bench --feeds --big``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from adapters.feeds.itch_synth import write_synthetic_binaryfile

REPO = Path(__file__).resolve().parents[1]
FILE_MB = 320
RSS_BUDGET_READER_MB = 24
RSS_BUDGET_RUNNER_MB = 64


def _replay(path: Path, *extra: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "scenarios.feed_bench", "rss", str(path), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_large_itch_file_replays_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "big_20190130.itch"
    info = write_synthetic_binaryfile(path, FILE_MB * 1_000_000, seed=3)
    assert path.stat().st_size == info["bytes"] >= FILE_MB * 1_000_000
    assert info["bytes"] / 1e6 >= 10 * RSS_BUDGET_READER_MB

    reader = _replay(path)
    assert reader["messages"] == info["messages"] and reader["events"] > info["messages"]
    growth = reader["peak_rss_mb"] - reader["rss_before_mb"]
    assert growth < RSS_BUDGET_READER_MB, reader

    runner = _replay(path, "--runner")
    assert runner["events"] > info["messages"] // 10  # one symbol of eight
    growth = runner["peak_rss_mb"] - runner["rss_before_mb"]
    assert growth < RSS_BUDGET_RUNNER_MB, runner
