"""``parity data inspect`` / ``convert`` on generated and real files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adapters.feeds.cache import CacheReader
from adapters.feeds.itch_encoder import encode_events
from kernel.events import ADD, CANCEL, EXECUTE, MD_DTYPE
from scenarios.cli import main

MIDNIGHT_2024_01_02_NY = 1_704_171_600_000_000_000  # 2024-01-02 00:00 America/New_York in ns


@pytest.fixture
def itch_file(tmp_path):
    ev = np.zeros(4, MD_DTYPE)
    t0 = MIDNIGHT_2024_01_02_NY + 34_200 * 10**9
    rows = [(t0, 1, 1000000, 10, 7, ADD, 1), (t0 + 5, 2, 1000100, 5, 7, ADD, -1),
            (t0 + 9, 1, 1000000, 4, 7, EXECUTE, 1), (t0 + 12, 2, 1000100, 0, 7, CANCEL, -1)]  # fmt: skip
    for i, (ts, oid, px, qty, inst, action, side) in enumerate(rows):
        ev[i] = (ts, oid, px, qty, inst, action, side, 1, 0)
    path = tmp_path / "sample_20240102.itch"
    path.write_bytes(encode_events(ev, {7: "TEST"}, "2024-01-02"))
    return path


def test_inspect_reports_counts_and_validation(itch_file, capsys):
    assert main(["data", "inspect", str(itch_file), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "itch"
    assert info["events"] == 4
    assert info["events_by_action"] == {"add": 2, "cancel": 1, "execute": 1}
    assert info["instruments"] == {"7": "TEST"}
    assert info["valid"] is True
    assert info["records_by_type"]["A"] == 2


def test_convert_writes_a_cache_that_reads_back_identically(itch_file, tmp_path, capsys):
    out = tmp_path / "c.npy"
    assert main(["data", "convert", str(itch_file), str(out)]) == 0
    cached = np.concatenate(list(CacheReader(out).chunks()))
    from adapters.feeds.itch import read_itch

    assert np.array_equal(cached, read_itch(itch_file))


def test_unknown_file_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "notes.bin"
    bad.write_bytes(b"\x00\x01garbage")
    assert main(["data", "inspect", str(bad)]) == 2
    assert "unknown market-data format" in capsys.readouterr().err


def test_inspect_real_lobster_sample(shared_data, capsys):
    path = shared_data / "lobster" / "AAPL_2012-06-21_34200000_57600000_message_1.csv"
    assert main(["data", "inspect", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    # MANIFEST: 118,497 messages; types 1/2/3/4/5 = 54,818 / 252 / 28,437 / 23,658 / 11,332.
    assert sum(info["records_by_type"].values()) == 118_497
    assert info["events_by_action"]["trade"] == 11_332
    assert info["valid"] is True
