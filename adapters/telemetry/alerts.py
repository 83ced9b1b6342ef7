"""The alert engine and its notifiers.

:class:`AlertEngine` evaluates :class:`~adapters.telemetry.rules.AlertRule`
conditions on a snapshot of the run (see ``MetricsObserver.snapshot``):

* **deduplication** — a rule notifies when its condition becomes true and
  then stays quiet while it remains true (unless ``repeat_after_s``); it
  re-arms when the condition clears (optionally notifying "resolved");
* **rate limiting** — at most one notification per rule per
  ``min_interval_s`` (a flapping condition is suppressed and counted) and at
  most ``max_per_minute`` notifications for all rules together.

Notifications go to a :class:`Dispatcher`: one background worker and queue
per channel, so the trading thread only enqueues (never blocks on I/O) and a
failing channel never delays the others. A failed send is retried with
exponential backoff; when the retries are exhausted the failure is counted
(``parity_alert_notifications_total{outcome="failed"}``) and logged.

Channels implement the :class:`Notifier` protocol (``name`` + ``send``):
:class:`LogNotifier`, :class:`SmtpNotifier` (e-mail) and
:class:`WebhookNotifier` (Slack-compatible JSON) are built in.
"""

from __future__ import annotations

import contextvars
import json
import queue
import smtplib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

from adapters.logging_setup import get_logger
from adapters.telemetry.rules import AlertRule

log = get_logger("alerts")

NS = 1_000_000_000


@dataclass
class Alert:
    """One notification-worthy event of a rule."""

    rule: str
    kind: str
    severity: str
    state: str  # "firing" | "resolved"
    message: str
    value: float | None = None
    ts: int = 0  # run time (ns)
    wall_ts: int = 0  # wall clock (ns since the epoch)
    run_id: str = ""
    scenario: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        word = "RESOLVED" if self.state == "resolved" else self.severity.upper()
        return f"[parity] {word} {self.rule}: {self.message}"

    def store_row(self) -> dict[str, Any]:
        return {
            "ts": self.ts, "wall_ts": self.wall_ts, "rule": self.rule, "kind": self.kind,
            "severity": self.severity, "state": self.state, "value": self.value, "message": self.message,
        }  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- notifiers


@runtime_checkable
class Notifier(Protocol):
    """A notification channel. ``send`` raises on failure (the dispatcher retries and reports)."""

    name: str

    def send(self, alert: Alert) -> None: ...


class LogNotifier:
    name = "log"

    def send(self, alert: Alert) -> None:
        level = {"critical": 50, "warning": 30}.get(alert.severity, 20)
        log.log(level, "ALERT %s", alert.title, extra={"alert_rule": alert.rule, "alert_state": alert.state})


class SmtpNotifier:
    """E-mail over SMTP (optionally STARTTLS and login)."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int = 25,
        sender: str = "parity@localhost",
        recipients: Iterable[str] = (),
        user: str | None = None,
        password: SecretStr | None = None,
        starttls: bool = False,
        timeout: float = 5.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.recipients = list(recipients)
        if not self.recipients:
            raise ValueError("SMTP notifier needs at least one recipient (PARITY_SMTP_TO)")
        self.user, self.password, self.starttls, self.timeout = user, password, starttls, timeout

    def message(self, alert: Alert) -> EmailMessage:
        msg = EmailMessage()
        msg["Subject"] = alert.title
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        lines = [alert.title, ""] + [f"{k}: {v}" for k, v in alert.as_dict().items() if k != "labels"]
        msg.set_content("\n".join(lines) + "\n")
        return msg

    def send(self, alert: Alert) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password.get_secret_value() if self.password else "")
            smtp.send_message(self.message(alert))


class WebhookNotifier:
    """POSTs Slack-compatible JSON (``text`` + ``blocks``) to an incoming-webhook URL."""

    name = "webhook"
    COLORS = {"critical": "#d32f2f", "warning": "#f9a825", "info": "#1976d2"}

    def __init__(self, url: str | SecretStr, timeout: float = 5.0) -> None:
        self._url = url if isinstance(url, SecretStr) else SecretStr(url)
        self.timeout = timeout

    @staticmethod
    def payload(alert: Alert) -> dict[str, Any]:
        fields = [
            {"type": "mrkdwn", "text": f"*Rule*\n{alert.rule}"},
            {"type": "mrkdwn", "text": f"*Severity*\n{alert.severity}"},
            {"type": "mrkdwn", "text": f"*State*\n{alert.state}"},
            {"type": "mrkdwn", "text": f"*Run*\n{alert.run_id or '-'}"},
        ]
        if alert.value is not None:
            fields.append({"type": "mrkdwn", "text": f"*Value*\n{alert.value:g}"})
        return {
            "text": alert.title,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{alert.title}*"}},
                {"type": "section", "fields": fields},
            ],
            "attachments": [{"color": WebhookNotifier.COLORS.get(alert.severity, "#888888"), "text": alert.message}],
        }

    def send(self, alert: Alert) -> None:
        body = json.dumps(self.payload(alert)).encode()
        req = urllib.request.Request(
            self._url.get_secret_value(), data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 (configured URL)
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"webhook answered HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            raise RuntimeError(f"webhook unreachable: {exc.reason}") from None
        if not 200 <= status < 300:
            raise RuntimeError(f"webhook answered HTTP {status}")


# --------------------------------------------------------------------------- dispatcher


_STOP = object()


class _Channel:
    def __init__(self, notifier: Notifier, maxsize: int) -> None:
        self.notifier = notifier
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self.thread: threading.Thread | None = None


class Dispatcher:
    """Delivers alerts to notifiers on background workers (one per channel) with retries.

    Args:
        notifiers: the channels.
        retries: attempts after the first failed one.
        backoff_s: delay before the first retry; doubles for each further retry.
        on_outcome: ``(channel, outcome)`` callback, outcome one of ``sent``,
            ``retry``, ``failed`` (retries exhausted), ``dropped`` (queue full).
        queue_size: alerts waiting per channel before new ones are dropped.
    """

    def __init__(
        self,
        notifiers: Iterable[Notifier],
        *,
        retries: int = 3,
        backoff_s: float = 0.5,
        on_outcome: Callable[[str, str], None] | None = None,
        queue_size: int = 100,
    ) -> None:
        self.retries = retries
        self.backoff_s = backoff_s
        self.on_outcome = on_outcome
        self.channels: dict[str, _Channel] = {n.name: _Channel(n, queue_size) for n in notifiers}
        self.outcomes: dict[tuple[str, str], int] = {}
        self.failures: list[tuple[str, str, str]] = []  # (channel, rule, error)
        self._lock = threading.Lock()
        self._closed = False
        ctx = contextvars.copy_context()
        for name, ch in self.channels.items():
            ch.thread = threading.Thread(
                target=ctx.copy().run, args=(self._work, ch), name=f"notify-{name}", daemon=True
            )
            ch.thread.start()

    def _count(self, channel: str, outcome: str) -> None:
        with self._lock:
            self.outcomes[(channel, outcome)] = self.outcomes.get((channel, outcome), 0) + 1
        if self.on_outcome is not None:
            try:
                self.on_outcome(channel, outcome)
            except Exception:  # a metrics callback must not kill the worker
                log.exception("notification outcome callback failed")

    def dispatch(self, alert: Alert, channels: Iterable[str] | None = None) -> None:
        """Queue ``alert`` for ``channels`` (default: all); never blocks."""
        names = list(self.channels) if channels is None else [c for c in channels if c in self.channels]
        for name in names:
            try:
                self.channels[name].queue.put_nowait(alert)
            except queue.Full:
                self._count(name, "dropped")
                log.error("notification queue of %s is full: alert %s dropped", name, alert.rule)

    def _work(self, ch: _Channel) -> None:
        while True:
            item = ch.queue.get()
            if item is _STOP:
                return
            self._deliver(ch.notifier, item)

    def _deliver(self, notifier: Notifier, alert: Alert) -> None:
        delay = self.backoff_s
        error = ""
        for attempt in range(self.retries + 1):
            try:
                notifier.send(alert)
                self._count(notifier.name, "sent")
                return
            except Exception as exc:  # any channel failure is retried and reported, never raised
                error = f"{type(exc).__name__}: {exc}"
                if attempt < self.retries:
                    self._count(notifier.name, "retry")
                    log.warning(
                        "notification via %s failed (attempt %d), retrying: %s", notifier.name, attempt + 1, error
                    )
                    time.sleep(delay)
                    delay *= 2
        self._count(notifier.name, "failed")
        with self._lock:
            self.failures.append((notifier.name, alert.rule, error))
        log.error("notification via %s failed after %d attempts: %s", notifier.name, self.retries + 1, error)

    def count(self, channel: str, outcome: str) -> int:
        with self._lock:
            return self.outcomes.get((channel, outcome), 0)

    def close(self, timeout: float = 5.0) -> int:
        """Let the workers finish what is queued, waiting at most ``timeout`` seconds in all.

        Returns the number of channels still busy (their workers are daemon threads
        and die with the process).
        """
        if not self._closed:
            self._closed = True
            for ch in self.channels.values():
                ch.queue.put(_STOP)
        deadline = time.monotonic() + timeout
        busy = 0
        for name, ch in self.channels.items():
            assert ch.thread is not None
            ch.thread.join(max(0.0, deadline - time.monotonic()))
            if ch.thread.is_alive():
                busy += 1
                log.warning("notification channel %s still busy at shutdown", name)
        return busy


# --------------------------------------------------------------------------- engine


class _RuleState:
    __slots__ = ("firing", "last_notified", "fired", "suppressed")

    def __init__(self) -> None:
        self.firing = False
        self.last_notified: float | None = None
        self.fired = 0
        self.suppressed = 0


def condition(rule: AlertRule, snap: dict[str, Any]) -> tuple[bool, float | None, str]:
    """Whether ``rule`` holds on ``snap``, the value it looked at and a message."""
    t = rule.threshold
    kind = rule.kind
    if kind == "drawdown":
        v = float(snap.get("drawdown", 0.0))
        return v >= (t or 0.0), v, f"drawdown {v:.2f} reached {t:.2f}"
    if kind == "reject_rate":
        v = float(snap.get("reject_rate", 0.0))
        enough = snap.get("orders_in_window", 0) >= rule.min_orders
        return enough and v >= (t or 0.0), v, f"reject rate {v:.1%} over {snap.get('orders_in_window', 0)} orders"
    if kind == "disconnect":
        down = snap.get("disconnected") or []
        return bool(down), float(len(down)), f"adapter disconnected: {', '.join(down)}" if down else "connected"
    if kind == "stale_data":
        v = float(snap.get("staleness_s", 0.0))
        return v > (t or 0.0), v, f"market data {v:.1f} s old (limit {t:g} s)"
    if kind == "kill_switch":
        halted = snap.get("trading_state") == "HALTED" or bool(snap.get("killed"))
        return halted, 1.0 if halted else 0.0, f"trading state {snap.get('trading_state')}: kill switch engaged"
    if kind == "latency_slo":
        v = float(snap.get("latency_p99_s", 0.0))
        return v > (t or 0.0), v, f"tick-to-order p99 {v * 1e6:.0f} us above SLO {(t or 0) * 1e6:.0f} us"
    raise ValueError(f"unknown alert kind {kind!r}")  # pragma: no cover - the schema forbids it


class AlertEngine:
    """Evaluates rules with deduplication and rate limiting; hands alerts to a dispatcher.

    Args:
        rules: the rules.
        dispatcher: where notifications go (None: only ``on_alert``).
        default_channels: channels for rules that name none.
        min_interval_s: per rule, the least time between two notifications.
        max_per_minute: notifications per minute for all rules together.
        on_alert: called with every alert that is notified (store, metrics).
        run_id, scenario: copied into alerts.
        clock: monotonic seconds; wall: wall-clock ns (tests inject both).
    """

    def __init__(
        self,
        rules: Iterable[AlertRule],
        dispatcher: Dispatcher | None = None,
        *,
        default_channels: Iterable[str] = ("log",),
        min_interval_s: float = 60.0,
        max_per_minute: int = 20,
        on_alert: Callable[[Alert], None] | None = None,
        run_id: str = "",
        scenario: str = "",
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], int] = time.time_ns,
    ) -> None:
        self.rules = list(rules)
        self.dispatcher = dispatcher
        self.default_channels = list(default_channels)
        self.min_interval_s = min_interval_s
        self.max_per_minute = max_per_minute
        self.on_alert = on_alert
        self.run_id, self.scenario = run_id, scenario
        self._clock, self._wall = clock, wall
        self.state = {r.name: _RuleState() for r in self.rules}
        self._recent: list[float] = []  # notification times in the last minute
        self.alerts: list[Alert] = []
        self.suppressed = 0
        self.dispatch_seconds = 0.0  # time the trading thread spent handing alerts over

    def evaluate(self, snap: dict[str, Any]) -> list[Alert]:
        """Check every rule on ``snap``; return the alerts notified now."""
        out: list[Alert] = []
        now = self._clock()
        for rule in self.rules:
            st = self.state[rule.name]
            holds, value, message = condition(rule, snap)
            if holds and not st.firing:
                st.firing = True
                st.fired += 1
                self._notify(rule, st, "firing", value, message, snap, now, out)
            elif holds and rule.repeat_after_s is not None and st.last_notified is not None:
                if now - st.last_notified >= rule.repeat_after_s:
                    self._notify(rule, st, "firing", value, message, snap, now, out)
            elif not holds and st.firing:
                st.firing = False
                if rule.notify_resolved:
                    self._notify(rule, st, "resolved", value, f"resolved: {message}", snap, now, out)
        return out

    def _notify(self, rule: AlertRule, st: _RuleState, state: str, value: float | None, message: str,
                snap: dict[str, Any], now: float, out: list[Alert]) -> None:  # fmt: skip
        if st.last_notified is not None and now - st.last_notified < self.min_interval_s:
            st.suppressed += 1
            self.suppressed += 1
            log.info("alert %s suppressed (rule rate limit %g s)", rule.name, self.min_interval_s)
            return
        self._recent = [t for t in self._recent if now - t < 60.0]
        if len(self._recent) >= self.max_per_minute:
            st.suppressed += 1
            self.suppressed += 1
            log.warning("alert %s suppressed (more than %d notifications a minute)", rule.name, self.max_per_minute)
            return
        st.last_notified = now
        self._recent.append(now)
        alert = Alert(
            rule=rule.name, kind=rule.kind, severity=rule.severity or "warning", state=state, message=message,
            value=value, ts=int(snap.get("ts", 0)), wall_ts=self._wall(), run_id=self.run_id, scenario=self.scenario,
        )  # fmt: skip
        self.alerts.append(alert)
        out.append(alert)
        started = time.perf_counter()
        if self.on_alert is not None:
            self.on_alert(alert)
        if self.dispatcher is not None:
            self.dispatcher.dispatch(alert, rule.channels if rule.channels is not None else self.default_channels)
        self.dispatch_seconds += time.perf_counter() - started


def build_notifiers(channels: Iterable[str], settings: Any) -> list[Notifier]:
    """The notifiers for ``channels`` from :class:`~adapters.config.Settings`.

    Raises:
        ScenarioError: a channel is asked for but not configured (names the variable).
    """
    from kernel.errors import ScenarioError

    out: list[Notifier] = []
    for ch in dict.fromkeys(channels):
        if ch == "log":
            out.append(LogNotifier())
        elif ch == "email":
            if not settings.smtp_host or not settings.smtp_recipients:
                raise ScenarioError("alerts: channel 'email' needs PARITY_SMTP_HOST and PARITY_SMTP_TO")
            out.append(
                SmtpNotifier(
                    settings.smtp_host,
                    settings.smtp_port,
                    settings.smtp_from,
                    settings.smtp_recipients,
                    settings.smtp_user,
                    settings.smtp_password,
                    settings.smtp_starttls,
                    settings.smtp_timeout_s,
                )  # fmt: skip
            )
        elif ch == "webhook":
            if settings.webhook_url is None or not settings.webhook_url.get_secret_value():
                raise ScenarioError("alerts: channel 'webhook' needs PARITY_WEBHOOK_URL")
            out.append(WebhookNotifier(settings.webhook_url, settings.webhook_timeout_s))
        else:
            raise ScenarioError(f"alerts: unknown channel {ch!r}")
    return out


__all__ = [
    "Alert",
    "AlertEngine",
    "Dispatcher",
    "LogNotifier",
    "Notifier",
    "SmtpNotifier",
    "WebhookNotifier",
    "build_notifiers",
    "condition",
]
