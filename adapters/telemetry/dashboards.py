"""Generate ``deploy/grafana/dashboard.json`` and ``deploy/prometheus/alerts.yml`` from the metrics in code.

    python -m adapters.telemetry.dashboards deploy/     # rewrite both files

Every expression uses only metric names declared in
:data:`adapters.telemetry.metrics.METRICS`; ``tests/test_deploy.py`` checks
that the committed files equal this output and that every ``parity_*`` name
in ``deploy/`` exists in code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from adapters.telemetry.metrics import METRIC_NAMES

DATASOURCE = {"type": "prometheus", "uid": "prometheus"}

# (title, panel type, unit, [(expr, legend)])
PANELS: list[tuple[str, str, str, list[tuple[str, str]]]] = [
    ("Trading state", "stat", "none", [("max by (job) (parity_risk_trading_state_code)", "{{job}}")]),
    ("Net PnL", "stat", "currencyUSD", [('sum(parity_pnl{kind="net"})', "net")]),
    ("Drawdown", "stat", "currencyUSD", [("max(parity_drawdown)", "drawdown")]),
    ("Adapters connected", "stat", "none", [("min(parity_adapter_connected)", "connected")]),
    ("PnL", "timeseries", "currencyUSD", [("sum by (kind) (parity_pnl)", "{{kind}}")]),
    (
        "Drawdown",
        "timeseries",
        "currencyUSD",
        [("max(parity_drawdown)", "current"), ("max(parity_max_drawdown)", "max")],
    ),
    ("Position (lots)", "timeseries", "none", [("sum by (instrument) (parity_position_lots)", "{{instrument}}")]),
    (
        "Orders, fills and rejects / s",
        "timeseries",
        "ops",
        [
            ("sum(rate(parity_orders_total[1m]))", "orders"),
            ("sum(rate(parity_fills_total[1m]))", "fills"),
            ("sum by (reason) (rate(parity_order_rejects_total[1m]))", "rejects {{reason}}"),
        ],
    ),
    (
        "Tick-to-order latency",
        "timeseries",
        "s",
        [
            (f"histogram_quantile({q}, sum by (le) (rate(parity_tick_to_order_latency_seconds_bucket[5m])))", f"p{p}")
            for q, p in ((0.5, 50), (0.99, 99), (0.999, 99.9))
        ],
    ),
    ("Market-data events / s", "timeseries", "ops", [("sum(rate(parity_events_processed_total[1m]))", "events")]),
    ("Event-loop lag", "timeseries", "s", [("max(parity_event_loop_lag_seconds)", "lag")]),
    (
        "Data staleness",
        "timeseries",
        "s",
        [("max by (instrument) (parity_data_staleness_seconds)", "{{instrument}}")],
    ),
    (
        "Adapter pacing queue",
        "timeseries",
        "none",
        [("sum by (adapter) (parity_pacing_queue_depth)", "{{adapter}}")],
    ),
    (
        "Alerts and notifications",
        "timeseries",
        "none",
        [
            ("sum by (rule) (increase(parity_alerts_total[5m]))", "alert {{rule}}"),
            ("sum by (channel, outcome) (increase(parity_alert_notifications_total[5m]))", "{{channel}} {{outcome}}"),
        ],
    ),
    (
        "Run store",
        "timeseries",
        "none",
        [
            ("sum by (outcome) (increase(parity_store_batches_total[5m]))", "batches {{outcome}}"),
            ("max(parity_store_queue_depth)", "queue"),
        ],
    ),
]

# (alert, expr, for, severity, summary)
ALERT_RULES: list[tuple[str, str, str, str, str]] = [
    ("ParityDown", 'up{job=~"parity.*"} == 0', "1m", "critical", "parity target {{ $labels.instance }} is down"),
    (
        "ParityTradingHalted",
        "max by (job, instance) (parity_risk_trading_state_code) == 3",
        "0m",
        "critical",
        "trading HALTED on {{ $labels.instance }} (kill switch or PnL limit)",
    ),
    (
        "ParityTradingReducing",
        "max by (job, instance) (parity_risk_trading_state_code) == 2",
        "5m",
        "warning",
        "trading REDUCING on {{ $labels.instance }}",
    ),
    (
        "ParityDrawdownHigh",
        "max by (job, instance) (parity_drawdown) > 1000",
        "1m",
        "warning",
        "drawdown {{ $value }} on {{ $labels.instance }}",
    ),
    (
        "ParityRejectRateHigh",
        "sum by (job, instance) (rate(parity_order_rejects_total[5m]))"
        " / clamp_min(sum by (job, instance) (rate(parity_orders_total[5m])), 1e-9) > 0.2",
        "5m",
        "warning",
        "more than 20% of orders rejected on {{ $labels.instance }}",
    ),
    (
        "ParityAdapterDisconnected",
        "min by (job, instance, adapter) (parity_adapter_connected) == 0",
        "30s",
        "critical",
        "adapter {{ $labels.adapter }} disconnected",
    ),
    (
        "ParityDataStale",
        "max by (job, instance, instrument) (parity_data_staleness_seconds) > 5",
        "1m",
        "warning",
        "market data for {{ $labels.instrument }} older than 5 s",
    ),
    (
        "ParityLatencySLO",
        "histogram_quantile(0.99, sum by (job, instance, le) (rate(parity_tick_to_order_latency_seconds_bucket[5m])))"
        " > 0.001",
        "5m",
        "warning",
        "tick-to-order p99 above 1 ms",
    ),
    (
        "ParityEventLoopLag",
        "max by (job, instance) (parity_event_loop_lag_seconds) > 0.5",
        "2m",
        "warning",
        "event loop blocked for {{ $value }} s",
    ),
    (
        "ParityNotificationsFailing",
        'sum by (job, instance, channel) (increase(parity_alert_notifications_total{outcome="failed"}[15m])) > 0',
        "0m",
        "warning",
        "alert channel {{ $labels.channel }} is failing",
    ),
    (
        "ParityStoreBatchesDropped",
        'sum by (job, instance) (increase(parity_store_batches_total{outcome="dropped"}[15m])) > 0',
        "0m",
        "critical",
        "run store batches dropped: the run record is incomplete",
    ),
]


def grafana_dashboard() -> dict[str, Any]:
    panels = []
    x = y = prev_h = 0
    for i, (title, kind, unit, targets) in enumerate(PANELS, start=1):
        w, h = (6, 4) if kind == "stat" else (12, 8)
        if x + w > 24:
            x, y = 0, y + prev_h
        panel: dict[str, Any] = {
            "id": i,
            "title": title,
            "type": kind,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [
                {"refId": chr(ord("A") + j), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                for j, (expr, legend) in enumerate(targets)
            ],
        }
        if title == "Trading state":
            panel["fieldConfig"]["defaults"]["mappings"] = [
                {"type": "value", "options": {"1": {"text": "ACTIVE", "color": "green"},
                                              "2": {"text": "REDUCING", "color": "orange"},
                                              "3": {"text": "HALTED", "color": "red"}}}
            ]  # fmt: skip
        panels.append(panel)
        x += w
        prev_h = h
    return {
        "uid": "parity-run",
        "title": "parity",
        "tags": ["parity"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def prometheus_rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "parity",
                "rules": [
                    {
                        "alert": name,
                        "expr": expr,
                        "for": duration,
                        "labels": {"severity": severity},
                        "annotations": {"summary": summary},
                    }
                    for name, expr, duration, severity, summary in ALERT_RULES
                ],
            }
        ]
    }


HEADER = "# Generated by `python -m adapters.telemetry.dashboards deploy/` from the metrics in code; do not edit.\n"


def render() -> dict[str, str]:
    """Relative path under deploy/ -> file content."""
    import yaml

    return {
        "grafana/dashboard.json": json.dumps(grafana_dashboard(), indent=2) + "\n",
        "prometheus/alerts.yml": HEADER + yaml.safe_dump(prometheus_rules(), sort_keys=False, width=200),
    }


def referenced_metrics(text: str) -> set[str]:
    """Every ``parity_*`` metric name in ``text``."""
    import re

    return set(re.findall(r"\bparity_[a-z0-9_]+\b", text))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "deploy")
    for rel, content in render().items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        print(f"wrote {path}")
    unknown = set().union(*(referenced_metrics(c) for c in render().values())) - _all_names()
    if unknown:
        print(f"unknown metric names: {sorted(unknown)}", file=sys.stderr)
        return 1
    return 0


def _all_names() -> set[str]:
    from adapters.telemetry.metrics import all_metric_names

    return all_metric_names() | set(METRIC_NAMES)


if __name__ == "__main__":
    sys.exit(main())
