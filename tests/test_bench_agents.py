"""parity bench --agents / --stress on short runs."""

from __future__ import annotations

import json

from scenarios.bench import agent_benchmarks, matching_stress_benchmark
from scenarios.cli import main


def test_agent_benchmark_reports_messages_per_second():
    report = agent_benchmarks("agents_1000", "20s")
    with_s, without = report["results"]
    assert with_s["agents"] == 1000 and with_s["agent_messages"] > 1000
    assert with_s["messages_per_second"] > 0 and without["agent_messages"] > 1000
    assert with_s["agent_messages"] == with_s["agent_messages_sent"] + with_s["agent_reports"]


def test_stress_benchmark_counts_actions():
    report = matching_stress_benchmark(4_000, shards=4)
    assert report["actions"] == 4_000 and report["trades"] > 0


def test_cli_bench_agents_json(capsys):
    assert main(["bench", "--agents", "--duration", "10s", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in report["results"]] == [
        "agents_1000 10s, with strategy",
        "agents_1000 10s, no strategy",
    ]


def test_floor_verdict_follows_the_measured_rates():
    report = agent_benchmarks("agents_1000", "10s")
    floor = report["floor"]
    assert floor["messages_per_second"] == 150_000
    for r in report["results"]:
        met = floor["met"][r["name"]]
        assert met["agent_messages"] == (r["messages_per_second"] >= 150_000)
        assert met["with_wakeups"] == (r["events_with_wakeups_per_second"] >= 150_000)


def test_cli_bench_agents_prints_the_floor(capsys):
    assert main(["bench", "--agents", "--duration", "10s"]) == 0
    out = capsys.readouterr().out
    assert "floor: 150,000 msgs/s" in out and "agents_1000 10s, no strategy: agent messages" in out
