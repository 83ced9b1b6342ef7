"""Scenario configuration of agent populations (``[[agents]]``) and agent-only venues
(``[[agent_venues]]``).

The scenario schema embeds these models; the per-kind ``params`` tables are
validated by the parameter models next to each population (see
:mod:`venues.agents.populations`), so an unknown or mistyped parameter is an
error naming the population and the field.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from kernel.clock import parse_duration
from kernel.errors import ScenarioError, validation_error
from venues.latency import ConstantLatency, LatencyModel, latency_from_config

AgentKind = Literal["noise", "market_maker", "momentum", "value", "informed", "arbitrage", "news"]

# A delay: int ns, a duration string ("50us") or a latency-model table ({kind = "lognormal", ...}).
Delay = int | str | dict[str, Any]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_duration(v: int | str, what: str, allow_zero: bool = False) -> int | str:
    try:
        ns = parse_duration(v)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid {what} {v!r}: use ns or a number with ns/us/ms/s/m/h") from exc
    if ns < 0 or (ns == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else 'positive'}, got {v!r}")
    return v


class AgentVenueConfig(_Strict):
    """A venue only agents trade on: a matching engine for an instrument that also trades
    elsewhere (so that routing and arbitrage between venues can emerge)."""

    name: str = Field(min_length=1)
    instruments: list[str] = Field(min_length=1, description="instrument symbols traded here")
    stp: Literal["none", "cancel_newest", "cancel_oldest", "decrement_both"] = "cancel_newest"


class AgentPopulationConfig(_Strict):
    """One population of agents of the same kind.

    ``wake_interval`` is each agent's mean time between wake-ups (exponential
    inter-arrival times, drawn from the agent's own RNG stream);
    ``wake_dispersion`` spreads the agents' rates (log-normal sigma of the per-agent
    mean). ``latency`` maps a venue name to the agent → venue delay: a constant or a
    latency model sampled once per agent (the rows of the latency matrix);
    ``jitter`` is added per message; ``compute_delay`` is sampled once per agent.
    """

    kind: AgentKind
    name: str = ""
    count: int = Field(default=1, ge=1, le=1_000_000)
    instrument: str = ""
    venues: list[str] = Field(default_factory=list)
    wake_interval: int | str = "10s"
    wake_dispersion: float = Field(default=0.0, ge=0.0, le=5.0)
    # Wake-up rate x (news volatility) ** activity_coupling: trading activity clusters with news.
    activity_coupling: float = Field(default=0.0, ge=0.0, le=3.0)
    compute_delay: Delay = 0
    latency: dict[str, Delay] = Field(default_factory=dict)
    jitter: Delay = 0
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("wake_interval")
    @classmethod
    def _wake(cls, v: int | str) -> int | str:
        return _check_duration(v, "wake_interval")

    @property
    def label(self) -> str:
        return self.name or self.kind


def delay_model(value: Delay, rng: np.random.Generator, where: str) -> LatencyModel:
    """A latency model from an int of ns, a duration string or a model table."""
    if isinstance(value, str):
        try:
            value = parse_duration(value)
        except ValueError as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    return latency_from_config(value, rng, where)


def is_zero(model: LatencyModel) -> bool:
    return isinstance(model, ConstantLatency) and model.ns == 0


def validate_params(model: type[BaseModel], params: dict[str, Any], where: str) -> Any:
    """Validate a ``params`` table; errors name ``where`` and every bad field."""
    try:
        return model.model_validate(params)
    except pydantic.ValidationError as exc:
        raise validation_error(where, exc, root="<params>", quoted=False) from None


def duration_ns(value: int | str, where: str) -> int:
    try:
        ns = parse_duration(value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if ns < 0:
        raise ScenarioError(f"{where}: must be >= 0, got {value!r}")
    return ns
