"""StoreWriter: a run's rows written in batches off the trading thread; a lost batch
never leaves gaps and never lets the run be marked complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.store import RunStore
from adapters.store.writer import StoreWriter, order_row
from kernel.errors import AdapterError
from scenarios.loader import parse_scenario
from scenarios.runner import Run

ROOT = Path(__file__).resolve().parents[1]
TOML = (ROOT / "scenarios" / "bundled" / "default.toml").read_text().replace('duration = "30s"', 'duration = "2s"')


def run_with_writer(store: RunStore, **kwargs):
    scenario = parse_scenario(TOML, "<test>")
    run = Run(scenario)
    writer = StoreWriter(store, run.run_id, **kwargs)
    writer.begin(scenario.name, TOML, scenario.seed, scenario.mode)
    run.oms.observers.append(writer)
    result = run.run(lambda now: writer.tick())
    return run, writer, result


def test_streamed_run_matches_the_result(tmp_path):
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        run, writer, result = run_with_writer(store, batch_rows=200, flush_interval_s=0.05)
        writer.finish(result.summary, result.fingerprint)
        stored = store.get_run(run.run_id)
        assert stored["status"] == "complete" and stored["fingerprint"] == result.fingerprint
        assert writer.batches_written > 3 and writer.batches_dropped == 0
        assert store.orders(run.run_id) == [order_row(o) for o in sorted(result.orders, key=lambda o: o.order_id)]
        fills = store.fills(run.run_id)
        assert [f["seq"] for f in fills] == list(range(len(result.fills))) and len(fills) > 0
        assert [(f["order_id"], f["qty"], f["price"]) for f in fills] == [
            (f["order_id"], f["qty"], f["price"]) for f in result.fills
        ]
        assert len(store.risk_events(run.run_id)) == len(result.risk_events)


def test_a_lost_batch_stops_writing_and_fails_the_run(tmp_path, monkeypatch):
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        real = store.write_batch
        calls = {"n": 0}

        def flaky(run_id, **rows):
            calls["n"] += 1
            if calls["n"] >= 3:
                raise AdapterError("database went away")
            return real(run_id, **rows)

        monkeypatch.setattr(store, "write_batch", flaky)
        run, writer, result = run_with_writer(store, batch_rows=100, flush_interval_s=0.05, retries=2, backoff_s=0.001)
        with pytest.raises(AdapterError, match="lost"):
            writer.finish(result.summary, result.fingerprint)
        stored = store.get_run(run.run_id)
        assert stored["status"] == "failed" and "database went away" in stored["error"]
        assert writer.batches_written == 2 and writer.batches_dropped >= 1 and writer.write_failures >= 3
        fills = store.fills(run.run_id)
        assert [f["seq"] for f in fills] == list(range(len(fills)))  # a prefix, no gaps
        order_ids = {o["order_id"] for o in store.orders(run.run_id)}
        assert {f["order_id"] for f in fills} <= order_ids  # every stored fill has its order


def test_fail_marks_the_run_failed_after_writing_what_it_has(tmp_path):
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        run, writer, result = run_with_writer(store, batch_rows=10_000, flush_interval_s=3600)
        assert store.get_run(run.run_id)["counts"]["fills"] == 0  # nothing handed over yet
        writer.fail("RuntimeError: strategy blew up")
        stored = store.get_run(run.run_id)
        assert stored["status"] == "failed" and stored["error"] == "RuntimeError: strategy blew up"
        assert stored["counts"]["fills"] == len(result.fills)


def test_alerts_and_snapshots_go_in_the_same_batches(tmp_path):
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        writer = StoreWriter(store, "r1")
        writer.begin("x", "", 1, "sim")
        writer.pnl_snapshots([{"ts": 1, "realized": 0.0, "unrealized": 0.0, "equity": 0.0}])
        writer.alert({"ts": 2, "rule": "kill", "kind": "kill_switch", "severity": "critical", "message": "halted"})
        writer.finish({}, "fp")
        assert store.get_run("r1")["counts"]["pnl_snapshots"] == 1
        assert store.alerts("r1")[0]["message"] == "halted"


def test_every_batch_prefix_is_consistent_when_batches_are_small(tmp_path, monkeypatch):
    """A crash keeps a prefix of the batches: after each one, every fill and every accepted risk
    decision already has its order row, and the order rows cover their fills."""
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        seen: dict[str, list] = {"orders": {}, "fills": [], "risk": []}
        real = store.write_batch
        problems = []

        def checking(run_id, **rows):
            for o in rows.get("orders", ()):
                seen["orders"][o["order_id"]] = o
            seen["fills"] += rows.get("fills", ())
            seen["risk"] += rows.get("risk_events", ())
            orders = seen["orders"]
            accepted = {e["order_id"] for e in seen["risk"] if e["accepted"]}
            if not accepted <= orders.keys() or not all(f["order_id"] in orders for f in seen["fills"]):
                problems.append("an accepted risk decision or a fill without its order")
            for oid in {f["order_id"] for f in seen["fills"]}:
                if orders[oid]["filled_qty"] < sum(f["qty"] for f in seen["fills"] if f["order_id"] == oid):
                    problems.append(f"order {oid} behind its fills")
            return real(run_id, **rows)

        monkeypatch.setattr(store, "write_batch", checking)
        run, writer, result = run_with_writer(store, batch_rows=1, flush_interval_s=3600)
        writer.finish(result.summary, result.fingerprint)
        assert writer.batches_written > 100 and len(seen["risk"]) == len(result.risk_events) > 0
        assert problems == []
