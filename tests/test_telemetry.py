"""Metrics in a private registry per run, the metrics observer, and the /metrics /healthz /readyz server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from adapters.telemetry.http import HealthServer
from adapters.telemetry.metrics import METRICS, MetricsObserver, RunMetrics, all_metric_names
from kernel.risk import TradingState
from scenarios.loader import parse_scenario
from scenarios.ops import RunOps
from scenarios.runner import Run

ROOT = Path(__file__).resolve().parents[1]
TOML = (ROOT / "scenarios" / "bundled" / "default.toml").read_text().replace('duration = "30s"', 'duration = "2s"')


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_each_run_has_its_own_registry_with_every_metric():
    a, b = RunMetrics("a"), RunMetrics("b")
    a["parity_orders_total"].labels("X", "BUY").inc(3)
    assert a.value("parity_orders_total", instrument="X", side="BUY") == 3
    assert b.value("parity_orders_total", instrument="X", side="BUY") is None
    a["parity_tick_to_order_latency_seconds"].observe(1e-5)
    text = a.exposition().decode()
    exposed = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    # Everything exposed is declared, and every unlabelled metric is exposed from the start.
    assert exposed <= all_metric_names() | {n.replace("_total", "_created") for n in all_metric_names()} | {
        "parity_tick_to_order_latency_seconds_created"
    }
    for spec in METRICS:
        if not spec.labels and spec.kind != "histogram":
            assert spec.name in exposed, spec.name
    assert a.value("parity_risk_trading_state", state="ACTIVE") == 1
    assert a.value("parity_run_info", run_id="a", scenario="", mode="sim") == 1


def test_observer_counts_a_run_and_changes_nothing():
    scenario = parse_scenario(TOML, "<test>")
    plain = Run(scenario).run()
    run = Run(scenario)
    metrics = RunMetrics(run.run_id, scenario.name)
    obs = MetricsObserver(metrics, {0: "SYN"}, sample_interval_s=0.01)
    obs.bind(portfolio=run.portfolio, risk=run.risk, bus=run.bus, md_events=lambda: run.kernel.md_events)
    obs.wrap_on_book(run.strategy)
    run.oms.observers.append(obs)
    result = run.run(obs.tick)
    obs.sample(run.kernel.now())
    assert result.fingerprint == plain.fingerprint
    s = result.summary
    v = metrics.value
    orders = sum(v("parity_orders_total", instrument="SYN", side=side) or 0 for side in ("BUY", "SELL"))
    assert orders == s["orders"]
    fills = sum(v("parity_fills_total", instrument="SYN", liquidity=liq) or 0 for liq in ("M", "T"))
    assert fills == s["fills"]
    assert v("parity_events_processed_total") == s["market_events"]
    assert v("parity_position_lots", instrument="SYN") == s["positions"]["SYN"]
    assert v("parity_pnl", kind="net") == pytest.approx(s["net_pnl"], abs=1e-6)
    assert v("parity_max_drawdown") == pytest.approx(s["max_drawdown"], abs=1e-6)
    assert v("parity_tick_to_order_latency_seconds_count") > 0
    assert v("parity_data_staleness_seconds", instrument="SYN") is not None
    snap = obs.snapshot(run.kernel.now())
    assert snap["trading_state"] == "ACTIVE" and snap["latency_p99_s"] > 0


def test_rejects_are_counted_by_source_and_reason():
    metrics = RunMetrics()
    obs = MetricsObserver(metrics, {0: "SYN"})
    text = TOML.replace("max_order_qty = 50", "max_order_qty = 1").replace('duration = "2s"', 'duration = "300ms"')
    scenario = parse_scenario(text, "<test>")
    run = Run(scenario)
    run.oms.observers.append(obs)
    result = run.run()
    risk_rejects = result.summary["risk_rejections"]
    assert risk_rejects > 0
    assert metrics.value("parity_order_rejects_total", source="risk", reason="max_order_qty") == risk_rejects
    assert obs.snapshot(0)["reject_rate"] == 1.0


def test_state_change_updates_the_gauge_and_calls_back():
    seen = []
    metrics = RunMetrics()
    obs = MetricsObserver(metrics, {}, on_state=seen.append)
    obs.on_state(TradingState.HALTED)
    assert seen == [TradingState.HALTED]
    assert metrics.value("parity_risk_trading_state", state="HALTED") == 1
    assert metrics.value("parity_risk_trading_state", state="ACTIVE") == 0
    assert metrics.value("parity_risk_trading_state_code") == 3


def test_health_endpoints():
    metrics = RunMetrics("r1")
    state = {"store": True}
    checks = {"store": lambda: (state["store"], "sqlite"), "broken": lambda: True}
    with HealthServer(metrics, checks, port=0) as server:
        code, body = get(server.url + "/metrics")
        assert code == 200 and 'parity_run_info{mode="sim",run_id="r1",scenario=""} 1.0' in body
        assert get(server.url + "/healthz") == (200, "ok\n")
        code, body = get(server.url + "/readyz")
        assert code == 200 and json.loads(body)["ready"] is True
        state["store"] = False
        code, body = get(server.url + "/readyz")
        report = json.loads(body)
        assert code == 503 and report["checks"]["store"] == {"ok": False, "detail": "sqlite"}
        server.ready_checks["raises"] = lambda: 1 / 0
        state["store"] = True
        code, body = get(server.url + "/readyz")
        assert code == 503 and "ZeroDivisionError" in body
        assert get(server.url + "/nope")[0] == 404
    with HealthServer(None, alive=lambda: (False, "loop stuck"), port=0) as server:
        assert get(server.url + "/healthz") == (503, "unhealthy: loop stuck\n")


def test_ops_readiness_reflects_store_adapters_and_data(tmp_path):
    scenario = parse_scenario(TOML, "<test>")
    run = Run(scenario)
    with RunOps(run, TOML, store_url=f"sqlite:///{tmp_path / 'r.db'}", metrics_port=0) as ops:
        ops.execute()
        url = ops.server.url
        code, body = get(url + "/readyz")
        assert code == 200, body
        assert set(json.loads(body)["checks"]) == {"store", "adapters", "data_fresh"}
        ops.metrics.set_adapter_connected("SIM", False)
        ops.metrics.set_staleness("SYN", 999.0)
        code, body = get(url + "/readyz")
        checks = json.loads(body)["checks"]
        assert code == 503 and not checks["adapters"]["ok"] and not checks["data_fresh"]["ok"]
        assert "SIM" in checks["adapters"]["detail"]
        assert 'parity_adapter_connected{adapter="SIM"} 0.0' in get(url + "/metrics")[1]
