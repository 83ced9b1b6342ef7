"""Operations around a run: the store writer, metrics, health endpoints and alerting.

:class:`RunOps` wires the optional operational parts onto an assembled
:class:`~scenarios.runner.Run` without changing what the run does (its
journal and fingerprint are the same with or without them)::

    ops = RunOps(run, scenario_text, settings, store_url="sqlite:///runs.db", metrics_port=0)
    with ops:
        result = ops.execute(progress)      # run.run() with the ops' progress hook
    # the run is stored ("complete", or "failed" if run.run raised)

* store: a :class:`~adapters.store.StoreWriter` on the OMS, fed while the
  run goes, PnL snapshots every simulated second, flushed in the background;
* metrics: a :class:`~adapters.telemetry.metrics.MetricsObserver` sampled
  from the loop's progress hook, served on ``/metrics`` when a port is given
  (with ``/healthz`` and ``/readyz``: store reachable, adapters connected,
  data fresh);
* alerts: the scenario's ``[alerts]`` rules merged with
  ``PARITY_ALERT_RULES_FILE``'s, evaluated on each metrics sample and at once
  on a trading-state change, notified through the configured channels.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from adapters.config import Settings
from adapters.logging_setup import add_secrets, get_logger, set_run_id
from adapters.store.run_store import mask_url
from kernel.clock import NS_PER_S
from kernel.risk import TradingState
from scenarios.runner import Run, RunResult

log = get_logger("ops")


class RunOps:
    """Store writer, metrics, HTTP endpoints and alerts for one run (each optional).

    Args:
        run: the assembled run.
        scenario_text: the scenario's TOML (stored with the run).
        settings: process settings (channels, thresholds, batching).
        store_url: write the run to this store (None: no store).
        metrics_port: serve /metrics, /healthz, /readyz on this port (0: ephemeral; None: no server).
        metrics: collect metrics even without a server (tests, alerts imply it).
        snapshot_interval_ns: simulated time between PnL snapshots in the store.
    """

    def __init__(
        self,
        run: Run,
        scenario_text: str,
        settings: Settings | None = None,
        *,
        store_url: str | None = None,
        metrics_port: int | None = None,
        metrics: bool = False,
        snapshot_interval_ns: int = NS_PER_S,
    ) -> None:
        self.run = run
        self.scenario = run.scenario
        self.text = scenario_text
        self.settings = settings if settings is not None else Settings(_env_file=None)  # type: ignore[call-arg]
        self.store_url = store_url
        self.metrics_port = metrics_port
        self.snapshot_interval_ns = snapshot_interval_ns
        self.store: Any = None
        self.writer: Any = None
        self.metrics: Any = None
        self.observer: Any = None
        self.server: Any = None
        self.engine: Any = None
        self.dispatcher: Any = None
        self._next_snapshot = run.start_ns + snapshot_interval_ns
        self._hooks: list[Callable[[int], None]] = []
        self._closed = False
        add_secrets(self.settings.secrets())
        self._log_token = set_run_id(run.run_id)
        rules = self._alert_rules()
        try:
            if store_url:
                self._setup_store(store_url)
            if metrics or metrics_port is not None or rules:
                self._setup_metrics()
            if rules:
                self._setup_alerts(rules)
            if metrics_port is not None:
                self._setup_server(metrics_port)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ assembly

    def _alert_rules(self) -> list[Any]:
        cfg = self.scenario.alerts
        if not cfg.enabled:
            return []
        from adapters.telemetry.rules import load_rules_file, merge_rules

        file_rules = load_rules_file(self.settings.alert_rules_file) if self.settings.alert_rules_file else []
        return merge_rules(cfg.rules, file_rules)

    def _setup_store(self, url: str) -> None:
        from adapters.store import RunStore, StoreWriter

        self.store = RunStore(url)
        self.writer = StoreWriter(
            self.store,
            self.run.run_id,
            batch_rows=self.settings.store_batch_rows,
            flush_interval_s=self.settings.store_flush_interval_s,
        )
        s = self.scenario
        self.writer.begin(s.name, self.text, s.seed, s.mode, s.engine)
        self.run.oms.observers.append(self.writer)
        self._hooks.append(self._store_tick)
        log.info("recording run %s in %s", self.run.run_id, mask_url(url))

    def _setup_metrics(self) -> None:
        try:
            from adapters.telemetry.metrics import MetricsObserver, RunMetrics
        except ImportError as exc:  # prometheus-client missing
            from kernel.errors import ScenarioError

            raise ScenarioError(f"metrics need prometheus-client (pip install 'parity[metrics]'): {exc}") from None
        run = self.run
        self.metrics = RunMetrics(run.run_id, self.scenario.name, self.scenario.mode)
        symbols = {i: inst.symbol for i, inst in run.instruments.items()}
        self.observer = MetricsObserver(self.metrics, symbols, on_state=self._on_state)
        self.observer.bind(portfolio=run.portfolio, risk=run.risk, bus=run.bus, md_events=lambda: run.kernel.md_events)
        for name in run.venues:
            self.metrics.set_adapter_connected(name, True)  # simulated venues are always connected
            self.metrics.set_pacing_queue_depth(name, 0)
        if run.strategy is not None:
            self.observer.wrap_on_book(run.strategy)
        run.oms.observers.append(self.observer)
        self._hooks.append(self.observer.tick)

    def _setup_alerts(self, rules: list[Any]) -> None:
        from adapters.telemetry.alerts import AlertEngine, Dispatcher, build_notifiers

        cfg = self.scenario.alerts
        channels = set(cfg.channels)
        for rule in rules:
            channels.update(rule.channels or [])
        notifiers = build_notifiers(sorted(channels), self.settings)
        self.dispatcher = Dispatcher(
            notifiers,
            retries=self.settings.notify_retries,
            backoff_s=self.settings.notify_backoff_s,
            on_outcome=self.metrics.notification,
        )
        self.engine = AlertEngine(
            rules,
            self.dispatcher,
            default_channels=cfg.channels,
            min_interval_s=cfg.min_interval_s,
            max_per_minute=cfg.max_per_minute,
            on_alert=self._on_alert,
            run_id=self.run.run_id,
            scenario=self.scenario.name,
        )
        self.observer.on_sample = self.engine.evaluate

    def _setup_server(self, port: int) -> None:
        from adapters.telemetry.http import HealthServer

        checks: dict[str, Any] = {
            "adapters": self._check_adapters,
            "data_fresh": self._check_fresh,
        }
        if self.store is not None:
            checks["store"] = lambda: (self.store.ping(), self.store.url)
        self.server = HealthServer(self.metrics, checks, host=self.settings.metrics_host, port=port).start()

    # ------------------------------------------------------------------ hooks

    def _store_tick(self, now_ns: int) -> None:
        if now_ns >= self._next_snapshot:
            self._snapshot(now_ns)
            while self._next_snapshot <= now_ns:
                self._next_snapshot += self.snapshot_interval_ns
        self.writer.tick()

    def _snapshot(self, ts: int) -> None:
        p = self.run.portfolio
        rows = []
        total_pos = 0
        for iid in sorted(self.run.instruments):
            pos = p.position(iid)
            total_pos += pos
            realized, unrealized = p.realized_pnl(iid), p.unrealized_pnl(iid)
            fees = p.fees_by_instrument.get(iid, 0.0)
            rows.append({"ts": ts, "instrument": iid, "position": pos, "realized": realized,
                         "unrealized": unrealized, "fees": fees, "equity": realized + unrealized - fees})  # fmt: skip
        rows.append({"ts": ts, "instrument": None, "position": total_pos, "realized": p.realized_pnl(),
                     "unrealized": p.unrealized_pnl(), "fees": p.fees, "equity": p.net_pnl})  # fmt: skip
        self.writer.pnl_snapshots(rows)

    def _on_state(self, state: TradingState) -> None:
        log.warning("trading state -> %s", state.name)
        if self.engine is not None:
            self.engine.evaluate(self.observer.sample(self.run.kernel.now()))

    def _on_alert(self, alert: Any) -> None:
        self.metrics.alert_raised(alert.rule, alert.severity)
        if self.writer is not None:
            self.writer.alert(alert.store_row())

    def _check_adapters(self) -> tuple[bool, str]:
        down = [name for name, ok in self.metrics.adapters.items() if not ok]
        return not down, ("disconnected: " + ", ".join(down)) if down else "all connected"

    def _check_fresh(self) -> tuple[bool, str]:
        limit = self.settings.data_stale_after_s
        stale = {k: v for k, v in self.metrics.staleness_s.items() if v > limit}
        return not stale, (f"stale (> {limit:g} s): {stale}" if stale else "fresh")

    def progress(self, now_ns: int) -> None:
        """The loop's progress hook: store batches, PnL snapshots, metrics samples, alerts."""
        for hook in self._hooks:
            hook(now_ns)

    # ------------------------------------------------------------------ running

    def execute(self, progress: Callable[[int], None] | None = None) -> RunResult:
        """Run the run with the ops' progress hook (plus ``progress``); store its outcome."""
        hooks = self._hooks
        if progress is not None:
            hooks = [*hooks, progress]
        if not hooks:
            combined = None
        elif len(hooks) == 1:
            combined = hooks[0]
        else:

            def combined(now_ns: int) -> None:
                for hook in hooks:
                    hook(now_ns)

        try:
            result = self.run.run(combined)
        except BaseException as exc:
            if self.writer is not None:
                self.writer.fail(f"{type(exc).__name__}: {exc}")
            raise
        now = self.run.kernel.now()
        if self.observer is not None:
            snap = self.observer.sample(now)
            if self.engine is not None:
                self.engine.evaluate(snap)
        if self.writer is not None:
            self._snapshot(now)
            self.writer.finish(result.summary, result.fingerprint)
            if self.metrics is not None:
                self.metrics.store_progress(self.writer.batches_written, self.writer.batches_dropped, 0)
        return result

    def close(self, notify_timeout: float = 5.0, linger_s: float = 0.0) -> None:
        """Stop the server (after ``linger_s``), let notifications finish, close the store."""
        if self._closed:
            return
        self._closed = True
        if self.dispatcher is not None:
            busy = self.dispatcher.close(notify_timeout)
            if busy:
                log.warning("%d notification channel(s) still busy at exit", busy)
        if self.server is not None:
            if linger_s > 0:
                time.sleep(linger_s)
            self.server.stop()
        if self.writer is not None and not self.writer.finished:
            self.writer.fail("run did not finish")
        if self.store is not None:
            self.store.close()
        with contextlib.suppress(ValueError, RuntimeError):  # reset from another context: leave it
            self._log_token.var.reset(self._log_token)

    def __enter__(self) -> RunOps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def safe_store_url(self) -> str | None:
        return mask_url(self.store_url) if self.store_url else None


__all__ = ["RunOps"]
