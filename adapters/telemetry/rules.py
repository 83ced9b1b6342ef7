"""Alert rule configuration (pydantic): the scenario's ``[alerts]`` section and the
``PARITY_ALERT_RULES_FILE`` TOML file share these models.

```toml
[alerts]
enabled = true
channels = ["log", "email", "webhook"]   # default for rules that name none
min_interval_s = 60                      # per rule: no second notification sooner
max_per_minute = 20                      # all rules together

[[alerts.rules]]
kind = "kill_switch"                     # trading state HALTED / kill switch engaged
severity = "critical"

[[alerts.rules]]
kind = "drawdown"
threshold = 500.0                        # account currency
```

Kinds and their ``threshold``: ``drawdown`` (currency, required),
``reject_rate`` (fraction of the latest orders, default 0.5, needs
``min_orders``), ``disconnect`` (none), ``stale_data`` (seconds, default 5),
``kill_switch`` (none), ``latency_slo`` (p99 tick-to-order seconds, default 0.001).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

AlertKind = Literal["drawdown", "reject_rate", "disconnect", "stale_data", "kill_switch", "latency_slo"]
Severity = Literal["info", "warning", "critical"]
CHANNELS = ("log", "email", "webhook")
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "drawdown": None,
    "reject_rate": 0.5,
    "disconnect": None,
    "stale_data": 5.0,
    "kill_switch": None,
    "latency_slo": 0.001,
}
DEFAULT_SEVERITY: dict[str, str] = {"kill_switch": "critical", "disconnect": "critical"}


class AlertRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: AlertKind
    name: str = Field(default="", max_length=64, description="defaults to the kind")
    threshold: float | None = Field(default=None, ge=0)
    severity: Severity | None = None
    min_orders: int = Field(default=20, ge=1, description="reject_rate: orders needed in the window")
    channels: list[str] | None = Field(default=None, description="None: the [alerts] default channels")
    repeat_after_s: float | None = Field(default=None, gt=0, description="notify again while still firing")
    notify_resolved: bool = False

    @model_validator(mode="after")
    def _fill_defaults(self) -> AlertRule:
        if not self.name:
            self.name = self.kind
        if self.threshold is None:
            self.threshold = DEFAULT_THRESHOLDS[self.kind]
            if self.kind == "drawdown":
                raise ValueError("a drawdown rule needs a threshold (account currency)")
        if self.severity is None:
            self.severity = DEFAULT_SEVERITY.get(self.kind, "warning")  # type: ignore[assignment]
        if self.channels is not None:
            for ch in self.channels:
                if ch not in CHANNELS:
                    raise ValueError(f"unknown channel {ch!r} (known: {', '.join(CHANNELS)})")
        return self


class AlertsConfig(BaseModel):
    """The scenario's optional ``[alerts]`` section (off by default)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    channels: list[str] = Field(default_factory=lambda: ["log"])
    rules: list[AlertRule] = Field(default_factory=list)
    min_interval_s: float = Field(default=60.0, ge=0)
    max_per_minute: int = Field(default=20, ge=1)

    @model_validator(mode="after")
    def _check(self) -> AlertsConfig:
        for ch in self.channels:
            if ch not in CHANNELS:
                raise ValueError(f"unknown channel {ch!r} (known: {', '.join(CHANNELS)})")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"alert rule names must be unique, got {names} (set name = ... to tell them apart)")
        return self


def load_rules_file(path: str | Path) -> list[AlertRule]:
    """``[[rules]]`` tables of a TOML file; errors name the file and the rule."""
    from kernel.errors import ScenarioError

    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{p}: cannot read alert rules: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: invalid TOML: {exc}") from None
    rules = []
    for i, raw in enumerate(data.get("rules", [])):
        try:
            rules.append(AlertRule.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise ScenarioError(f"{p}: rules[{i}]{'.' + where if where else ''}: {err['msg']}") from None
    return rules


def merge_rules(scenario_rules: list[AlertRule], file_rules: list[AlertRule]) -> list[AlertRule]:
    """Scenario rules, then the file's rules whose names the scenario does not use (the scenario wins)."""
    names = {r.name for r in scenario_rules}
    return list(scenario_rules) + [r for r in file_rules if r.name not in names]


__all__ = ["CHANNELS", "AlertKind", "AlertRule", "AlertsConfig", "load_rules_file", "merge_rules"]
