"""Alert engine (dedup, rate limits, repeat, resolve), dispatcher (retries, backoff, failure
reporting, never blocking), and the SMTP / webhook notifiers against local servers."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from adapters.config import Settings
from adapters.telemetry.alerts import (
    Alert,
    AlertEngine,
    Dispatcher,
    LogNotifier,
    Notifier,
    SmtpNotifier,
    WebhookNotifier,
    build_notifiers,
)
from adapters.telemetry.rules import AlertRule, AlertsConfig, load_rules_file, merge_rules
from kernel.errors import ScenarioError

HALTED = {"ts": 1, "trading_state": "HALTED", "drawdown": 10.0}
ACTIVE = {"ts": 2, "trading_state": "ACTIVE", "drawdown": 0.0}


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def engine(rules, **kw):
    clock = Clock()
    sent: list[Alert] = []
    eng = AlertEngine(rules, None, on_alert=sent.append, clock=clock, **kw)
    return eng, clock, sent


def test_a_rule_fires_once_while_its_condition_holds():
    eng, clock, sent = engine([AlertRule(kind="kill_switch")], min_interval_s=0)
    for _ in range(100):
        eng.evaluate(HALTED)
        clock.t += 1
    assert len(sent) == 1 and sent[0].state == "firing" and sent[0].severity == "critical"
    assert sent[0].message.startswith("trading state HALTED")


def test_rearms_after_clearing_and_rate_limits_flapping():
    eng, clock, sent = engine([AlertRule(kind="drawdown", threshold=5, notify_resolved=True)], min_interval_s=60)
    eng.evaluate(HALTED)
    clock.t += 1
    eng.evaluate(ACTIVE)  # resolved within 60 s: suppressed
    clock.t += 1
    eng.evaluate(HALTED)  # fires again within 60 s: suppressed
    assert [a.state for a in sent] == ["firing"] and eng.suppressed == 2
    clock.t += 120
    eng.evaluate(ACTIVE)
    clock.t += 120
    eng.evaluate(HALTED)
    assert [a.state for a in sent] == ["firing", "resolved", "firing"]


def test_repeat_after_and_global_rate_limit():
    eng, clock, sent = engine([AlertRule(kind="kill_switch", repeat_after_s=10)], min_interval_s=0)
    for _ in range(5):
        eng.evaluate(HALTED)
        clock.t += 10
    assert len(sent) == 5
    rules = [AlertRule(kind="drawdown", name=f"dd{i}", threshold=1) for i in range(10)]
    eng, clock, sent = engine(rules, max_per_minute=3)
    eng.evaluate(HALTED)
    assert len(sent) == 3 and eng.suppressed == 7


@pytest.mark.parametrize(
    "rule,firing,quiet",
    [
        (AlertRule(kind="reject_rate", threshold=0.5, min_orders=10),
         {"reject_rate": 0.6, "orders_in_window": 10}, {"reject_rate": 0.6, "orders_in_window": 9}),
        (AlertRule(kind="disconnect"), {"disconnected": ["IB"]}, {"disconnected": []}),
        (AlertRule(kind="stale_data", threshold=2), {"staleness_s": 2.5}, {"staleness_s": 1.0}),
        (AlertRule(kind="latency_slo", threshold=1e-4), {"latency_p99_s": 2e-4}, {"latency_p99_s": 5e-5}),
        (AlertRule(kind="kill_switch"), {"trading_state": "ACTIVE", "killed": True}, {"trading_state": "REDUCING"}),
    ],
)  # fmt: skip
def test_every_rule_kind(rule, firing, quiet):
    eng, _, sent = engine([rule])
    eng.evaluate(quiet)
    assert sent == []
    eng.evaluate(firing)
    assert len(sent) == 1 and sent[0].kind == rule.kind


def test_rule_validation_and_rules_file(tmp_path):
    with pytest.raises(ValueError, match="needs a threshold"):
        AlertRule(kind="drawdown")
    with pytest.raises(ValueError, match="unknown channel 'pager'"):
        AlertsConfig(channels=["pager"])
    with pytest.raises(ValueError, match="names must be unique"):
        AlertsConfig(rules=[AlertRule(kind="kill_switch"), AlertRule(kind="kill_switch")])
    path = tmp_path / "rules.toml"
    path.write_text(
        '[[rules]]\nkind = "stale_data"\nthreshold = 3\n[[rules]]\nkind = "kill_switch"\nseverity = "info"\n'
    )
    file_rules = load_rules_file(path)
    merged = merge_rules([AlertRule(kind="kill_switch")], file_rules)
    assert [(r.name, r.severity) for r in merged] == [("kill_switch", "critical"), ("stale_data", "warning")]
    path.write_text('[[rules]]\nkind = "drawdown"\nthreshold = -1\n')
    with pytest.raises(ScenarioError, match=r"rules\.toml: rules\[0\]\.threshold: "):
        load_rules_file(path)


class Flaky:
    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[float] = []

    def send(self, alert: Alert) -> None:
        self.calls.append(time.monotonic())
        if len(self.calls) <= self.failures:
            raise ConnectionError("channel down")


def alert(rule: str = "kill_switch") -> Alert:
    return Alert(rule, "kill_switch", "critical", "firing", "halted", 1.0, ts=5, run_id="r1")


def test_dispatcher_retries_with_backoff_then_succeeds():
    flaky = Flaky(failures=2)
    assert isinstance(flaky, Notifier)
    outcomes = []
    d = Dispatcher([flaky], retries=3, backoff_s=0.02, on_outcome=lambda c, o: outcomes.append((c, o)))
    d.dispatch(alert())
    assert d.close(5) == 0
    assert outcomes == [("flaky", "retry"), ("flaky", "retry"), ("flaky", "sent")]
    gaps = [b - a for a, b in zip(flaky.calls, flaky.calls[1:], strict=False)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04  # exponential backoff


def test_a_failing_channel_is_reported_and_does_not_delay_the_others(parity_log):
    dead, good = Flaky(failures=10**6), Flaky(failures=0)
    good.name = "good"
    d = Dispatcher([dead, good], retries=2, backoff_s=0.2)
    started = time.perf_counter()
    for i in range(3):
        d.dispatch(alert(f"r{i}"))
    assert time.perf_counter() - started < 0.5  # dispatch only enqueues (the dead channel takes > 1 s)
    deadline = time.monotonic() + 5
    while d.count("good", "sent") < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert d.count("good", "sent") == 3 and d.count("flaky", "failed") == 0  # good done while dead still retries
    d.close(10)
    assert d.count("flaky", "failed") == 3 and d.count("flaky", "retry") == 6
    assert d.failures[0] == ("flaky", "r0", "ConnectionError: channel down")
    assert "notification via flaky failed after 3 attempts" in parity_log.text


def test_a_full_queue_drops_and_counts():
    class Slow:
        name = "slow"

        def send(self, alert):
            time.sleep(0.5)

    d = Dispatcher([Slow()], queue_size=1)
    for _ in range(5):
        d.dispatch(alert())
    assert d.count("slow", "dropped") >= 3
    d.close(3)


def test_smtp_notifier_delivers(smtp_server):
    n = SmtpNotifier("127.0.0.1", smtp_server.port, "parity@test", ["ops@test", "desk@test"], timeout=5)
    n.send(alert())
    assert smtp_server.received.wait(5)
    rcpts, msg = smtp_server.messages[0]
    assert rcpts == ["ops@test", "desk@test"]
    assert msg["Subject"] == "[parity] CRITICAL kill_switch: halted" and "run_id: r1" in msg.get_payload()


def test_webhook_notifier_posts_slack_json(webhook_server):
    WebhookNotifier(webhook_server.url).send(alert())
    body = webhook_server.bodies[0]
    assert body["text"] == "[parity] CRITICAL kill_switch: halted"
    assert body["blocks"][0]["type"] == "section" and body["attachments"][0]["color"] == "#d32f2f"
    webhook_server.status = 500
    with pytest.raises(RuntimeError, match="HTTP 500"):
        WebhookNotifier(webhook_server.url).send(alert())


def test_webhook_errors_do_not_show_the_url(blackhole):
    url = f"http://127.0.0.1:{blackhole.port}/hooks/SECRET"
    with pytest.raises(Exception) as info:
        WebhookNotifier(SecretStr(url), timeout=0.2).send(alert())
    assert "SECRET" not in str(info.value)


def test_build_notifiers_from_settings(webhook_server):
    s = Settings(_env_file=None, smtp_host="127.0.0.1", smtp_to="a@b", webhook_url=webhook_server.url)
    names = [n.name for n in build_notifiers(["log", "email", "webhook", "log"], s)]
    assert names == ["log", "email", "webhook"]
    with pytest.raises(ScenarioError, match="PARITY_SMTP_HOST"):
        build_notifiers(["email"], Settings(_env_file=None))
    with pytest.raises(ScenarioError, match="PARITY_WEBHOOK_URL"):
        build_notifiers(["webhook"], Settings(_env_file=None))
    LogNotifier().send(alert())
