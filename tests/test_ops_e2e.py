"""End to end: a replay whose drawdown limit is breached halts trading, the alert fires once and
reaches the SMTP and webhook test servers, /metrics shows HALTED; a dead notifier does not slow the
run and its failure is reported; a run killed mid-way leaves consistent data in the store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from adapters.config import Settings
from adapters.store import RunStore
from scenarios.loader import parse_scenario
from scenarios.ops import RunOps
from scenarios.runner import Run

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = (ROOT / "scenarios" / "bundled" / "default.toml").read_text()
SHORT = DEFAULT.replace('duration = "30s"', 'duration = "2s"')
assert SHORT.rstrip().splitlines()[-1].startswith("max_daily_loss")  # the file ends in its [risk] table
ALERTS = """max_drawdown = 1.0

[alerts]
enabled = true
channels = ["log", "email", "webhook"]
min_interval_s = 60  # the drawdown flaps around its threshold after the halt: notified once a minute at most

[[alerts.rules]]
kind = "kill_switch"

[[alerts.rules]]
kind = "drawdown"
threshold = 1.0
severity = "warning"
"""
# Halts within the first ms; the market maker then keeps trying (and failing) to quote: keep it short.
BREACH = SHORT.replace('duration = "2s"', 'duration = "500ms"') + ALERTS


def settings_for(smtp_port: int, webhook_url: str, **kw) -> Settings:
    return Settings(
        _env_file=None, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_to="oncall@test", webhook_url=webhook_url,
        notify_retries=1, notify_backoff_s=0.05, **kw,
    )  # fmt: skip


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as resp:
        return resp.read().decode()


def test_drawdown_breach_halts_alerts_once_and_metrics_show_halted(smtp_server, webhook_server, tmp_path):
    scenario = parse_scenario(BREACH, "<e2e>")
    run = Run(scenario)
    settings = settings_for(smtp_server.port, webhook_server.url)
    with RunOps(run, BREACH, settings, store_url=f"sqlite:///{tmp_path / 'runs.db'}", metrics_port=0) as ops:
        result = ops.execute()
        assert result.summary["trading_state"] == "HALTED"
        body = scrape(ops.server.url)
        assert 'parity_risk_trading_state{state="HALTED"} 1.0' in body
        assert 'parity_risk_trading_state{state="ACTIVE"} 0.0' in body
        assert "parity_risk_trading_state_code 3.0" in body
        assert 'parity_alerts_total{rule="kill_switch",severity="critical"} 1.0' in body
        # Deduplicated: the kill switch rule notified once however often it was evaluated.
        assert [a.rule for a in ops.engine.alerts].count("kill_switch") == 1
        assert ops.engine.state["kill_switch"].fired == 1
    # close() waited for the deliveries.
    subjects = [" ".join(str(msg["Subject"]).split()) for _, msg in smtp_server.messages]
    assert sum("kill_switch" in s for s in subjects) == 1 and len(subjects) == 2
    assert any(s.startswith("[parity] CRITICAL kill_switch: trading state HALTED") for s in subjects)
    texts = [b["text"] for b in webhook_server.bodies]
    assert sum("kill_switch" in t for t in texts) == 1 and len(texts) == 2
    with RunStore(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        stored = store.get_run(run.run_id)
        assert stored["status"] == "complete" and stored["summary"]["trading_state"] == "HALTED"
        assert sorted(a["rule"] for a in store.alerts(run.run_id)) == ["drawdown", "kill_switch"]


def test_cli_replay_serves_metrics_and_notifies(smtp_server, webhook_server, tmp_path):
    path = tmp_path / "breach.toml"
    path.write_text(BREACH)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_")}
    env.update(
        PARITY_SMTP_HOST="127.0.0.1", PARITY_SMTP_PORT=str(smtp_server.port), PARITY_SMTP_TO="oncall@test",
        PARITY_WEBHOOK_URL=webhook_server.url, PARITY_LOG_JSON="true",
    )  # fmt: skip
    cmd = [sys.executable, "-m", "scenarios.cli", "replay", str(path), "--json", "--no-store",
           "--metrics-port", "0", "--metrics-linger", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = None
        seen_halted = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not seen_halted:
            line = proc.stderr.readline()
            if url is None:
                m = re.search(r"serving /metrics /healthz /readyz on (http://[\d.:]+)", line)
                url = m.group(1) if m else None
            elif "trading state -> HALTED" in line:
                body = scrape(url)
                seen_halted = 'parity_risk_trading_state{state="HALTED"} 1.0' in body
            if not line and proc.poll() is not None:
                break
        assert url is not None and seen_halted
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert '"trading_state": "HALTED"' in out
    assert webhook_server.received.wait(5) and smtp_server.received.wait(5)
    assert sum("kill_switch" in b["text"] for b in webhook_server.bodies) == 1
    assert "SECRET" not in err  # the webhook URL is a secret: never logged


def test_a_dead_notifier_does_not_slow_the_run_and_is_reported(blackhole, tmp_path, parity_log):
    text = BREACH.replace('channels = ["log", "email", "webhook"]', 'channels = ["webhook"]')
    text = text[: text.index('[[alerts.rules]]\nkind = "drawdown"')]  # the kill switch rule only
    scenario = parse_scenario(text, "<e2e>")
    run = Run(scenario)
    # A hung webhook: each attempt waits the full 2.5 s timeout; with one retry it fails after > 5 s.
    settings = Settings(
        _env_file=None, webhook_url=f"http://127.0.0.1:{blackhole.port}/hook", webhook_timeout_s=2.5,
        notify_retries=1, notify_backoff_s=0.05,
    )  # fmt: skip
    ops = RunOps(run, text, settings)
    started = time.monotonic()
    result = ops.execute()
    run_seconds = time.monotonic() - started
    assert result.summary["trading_state"] == "HALTED" and len(ops.engine.alerts) == 1
    # The run did not wait for even one delivery attempt, and handing alerts over was instant.
    assert run_seconds < 2.5
    assert ops.engine.dispatch_seconds < 0.25
    assert ops.dispatcher.count("webhook", "failed") == 0 and ops.dispatcher.count("webhook", "sent") == 0
    ops.close(notify_timeout=30)
    assert "notification via webhook failed after 2 attempts: TimeoutError: timed out" in parity_log.text
    # The alert failed after its retry, and that was counted (metrics) and logged.
    assert ops.dispatcher.count("webhook", "failed") == 1 and ops.dispatcher.count("webhook", "retry") == 1
    assert ops.metrics.value("parity_alert_notifications_total", channel="webhook", outcome="failed") == 1
    assert "timed out" in ops.dispatcher.failures[0][2]


KILL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", KILL_BACKENDS)
def test_a_killed_run_leaves_consistent_data(request, tmp_path, backend):
    url = f"sqlite:///{tmp_path / 'runs.db'}" if backend == "sqlite" else request.getfixturevalue("fresh_postgres_url")
    path = tmp_path / "long.toml"
    path.write_text(DEFAULT.replace('duration = "30s"', 'duration = "120s"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_")}
    env.update(PARITY_STORE_FLUSH_INTERVAL_S="0.05", PARITY_STORE_BATCH_ROWS="300")
    cmd = [sys.executable, "-m", "scenarios.cli", "replay", str(path), "--json", "--store", url]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        fills = 0
        while time.monotonic() < deadline and fills < 400:
            time.sleep(0.1)
            assert proc.poll() is None, proc.stderr.read()
            with RunStore(url) as store:
                runs = store.list_runs()
                fills = runs[0]["run_id"] and store.get_run(runs[0]["run_id"])["counts"]["fills"] if runs else 0
        assert fills >= 400
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with RunStore(url) as store:
        (run,) = store.list_runs()
        rid = run["run_id"]
        assert run["status"] == "running" and run["finished_at"] is None  # marked incomplete
        fills = store.fills(rid)
        assert [f["seq"] for f in fills] == list(range(len(fills)))  # no gaps, no half batch
        orders = {o["order_id"]: o for o in store.orders(rid)}
        assert all(f["order_id"] in orders for f in fills)  # every fill has its order
        for oid in {f["order_id"] for f in fills}:  # order rows agree with their fills
            assert orders[oid]["filled_qty"] >= sum(f["qty"] for f in fills if f["order_id"] == oid)
        risk = store.risk_events(rid)
        assert [e["seq"] for e in risk] == list(range(len(risk)))
        assert len(orders) >= len({e["order_id"] for e in risk if e["accepted"]}) > 0
