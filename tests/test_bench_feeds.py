"""``parity bench --feeds``: the report's shape on a small generated file, absent samples noted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scenarios.cli import main
from scenarios.feed_bench import BookRebuild, format_report, sample_cases


def test_feeds_bench_without_samples_measures_the_generated_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "no-samples"
    empty.mkdir()
    monkeypatch.setenv("PARITY_SHARED_DATA", str(empty))
    assert main(["bench", "--feeds", "--feeds-mb", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["shared_data"] == str(empty)
    assert {n.split(":")[0] for n in report["notes"]} >= {"LOBSTER AAPL level 1", "DBN MBO ESH4", "ITCH pcap captures"}
    gen, runner = report["results"]
    assert gen["format"] == "itch" and gen["messages"] > 50_000 and gen["events"] > gen["messages"]
    assert gen["parse_msgs_per_s"] > 0 and gen["book_events_per_s"] > 0 and gen["instruments"] == 8
    assert gen["peak_rss_mb"] >= gen["rss_before_mb"] > 0
    assert 0 < runner["events"] < gen["events"] and runner["peak_rss_mb"] > 0
    text = format_report(report)
    assert "ITCH generated" in text and "skipped" in text


def test_sample_cases_find_every_format(shared_data: Path) -> None:
    cases, notes = sample_cases(shared_data)
    assert not notes
    assert {fmt for _, fmt, _, _ in cases} == {"itch", "lobster", "dbn", "binance"}
    name, _, opener, _ = next(c for c in cases if c[0].startswith("DBN"))
    book = BookRebuild()
    for chunk in opener().chunks():
        book.apply(chunk)
    assert book.events > 10_000 and book.engines
