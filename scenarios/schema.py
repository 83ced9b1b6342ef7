"""The scenario schema (pydantic). A scenario is one TOML file describing a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from adapters.telemetry.rules import AlertsConfig
from kernel.clock import parse_duration, parse_timestamp
from venues.agents.config import AgentPopulationConfig, AgentVenueConfig
from venues.faults import FaultConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstrumentConfig(_Strict):
    id: int = Field(ge=0)
    symbol: str = Field(min_length=1)
    tick_size: float = Field(default=0.01, gt=0)
    lot_size: float = Field(default=1.0, gt=0)
    multiplier: float = Field(default=1.0, gt=0)
    currency: str = "USD"


class LatencyConfig(_Strict):
    """Each channel: an int of ns, a duration string, or a model table."""

    market_data: int | str | dict[str, Any] = 0
    order_entry: int | str | dict[str, Any] = 0
    response: int | str | dict[str, Any] = 0


class VenueConfig(_Strict):
    name: str = Field(min_length=1)
    instruments: list[str] = Field(min_length=1, description="instrument symbols traded here")
    stp: Literal["none", "cancel_newest", "cancel_oldest", "decrement_both"] = "cancel_newest"
    latency: LatencyConfig = LatencyConfig()
    fees: dict[str, Any] = Field(default_factory=lambda: {"model": "zero"})
    adapter: Literal["sim", "ibkr"] = Field(
        default="sim", description="who serves this venue in mode = 'live' (sim mode simulates every venue)"
    )
    crossing_adds: Literal["auto", "match", "rest"] = Field(
        default="auto",
        description=(
            "market-data adds / modifies that cross the book: 'match' trades them (synthetic order flow), "
            "'rest' leaves them resting as the exchange's book shows them (recorded data: auctions, "
            "pre-open); 'auto': with a recorded (not synthetic) [[data]] source, rest before the start "
            "(rebuilding the exchange's book) and match from the start on, else match"
        ),
    )


class DataConfig(_Strict):
    """One market-data source feeding one instrument of one venue."""

    venue: str
    instrument: str
    kind: Literal["synthetic", "itch", "lobster", "dbn", "binance", "cache"] = "synthetic"
    path: str | None = Field(default=None, description="data file; $VARS expanded, relative to the scenario file")
    params: dict[str, Any] = Field(default_factory=dict)


class StrategyConfig(_Strict):
    path: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", description="module.path:ClassName")
    name: str = "strategy"
    params: dict[str, Any] = Field(default_factory=dict)


class RiskConfig(_Strict):
    max_order_qty: int | None = Field(default=None, gt=0)
    max_order_notional: float | None = Field(default=None, gt=0)
    price_band_bps: float | None = Field(default=None, gt=0)
    max_position: int | None = Field(default=None, gt=0)
    max_gross_position: int | None = Field(default=None, gt=0)
    max_open_orders: int | None = Field(default=None, gt=0)
    max_orders_per_sec: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, gt=0)
    max_daily_loss: float | None = Field(default=None, gt=0)
    max_drawdown: float | None = Field(default=None, gt=0)
    reducing_drawdown: float | None = Field(default=None, gt=0)
    # Operational limits: market data older than stale_data_ns, or reject_storm_count venue
    # rejects within reject_storm_window_ns, move the trading state to the action.
    stale_data_ns: int | None = Field(default=None, gt=0)
    stale_action: Literal["reducing", "halted"] | None = None
    reject_storm_count: int | None = Field(default=None, gt=0)
    reject_storm_window_ns: int | None = Field(default=None, gt=0)
    reject_storm_action: Literal["reducing", "halted"] | None = None


class OmsConfig(_Strict):
    """OMS timeouts: orders pending longer than ``pending_timeout`` are reconciled with
    the venue, checked every ``check_interval`` (default: half the timeout)."""

    pending_timeout: int | str | None = None
    check_interval: int | str | None = None


class LiveConfig(_Strict):
    """The [live] section: where the IB session is and how the adapter behaves (mode = "live")."""

    host: str = "127.0.0.1"
    port: int = Field(default=7497, gt=0, lt=65536, description="7497 TWS paper, 4002 Gateway paper")
    client_id: int = Field(default=1, ge=0)
    account: str = ""
    exchange: str = "SMART"
    sec_type: str = "STK"
    connect_timeout: float = Field(default=4.0, gt=0, description="seconds")
    max_msgs_per_sec: float = Field(default=40.0, gt=0, description="pacing rate; TWS allows 50 messages/s")
    burst: int = Field(default=5, gt=0)
    reconnect_backoff: float = Field(default=0.5, gt=0, description="first reconnect delay, seconds (doubles)")
    reconnect_max: float = Field(default=30.0, gt=0, description="longest reconnect delay, seconds")
    settle: str | int = Field(default="2s", description="after the end: time for cancels to be confirmed")
    lockstep: bool = Field(default=False, description="step with the fake TWS server (tests only)")


class StoreConfig(_Strict):
    url: str = "sqlite:///parity_runs.db"
    enabled: bool = True


class Scenario(_Strict):
    """A complete run description. ``start`` / ``duration`` may be ``"data"``: taken
    from the first / last market-data event."""

    name: str = Field(min_length=1)
    description: str = ""
    seed: int = Field(default=0, ge=0, lt=2**63)
    start: str | int = "2026-01-05T14:30:00"
    duration: str | int = "60s"
    mode: Literal["sim", "live"] = "sim"
    # Matching engine: "fast" (numba, venues.fast) or "reference" (venues.matching, the
    # readable specification). Same reports and fingerprint; not part of the journal.
    engine: Literal["fast", "reference"] = "fast"
    starting_cash: float = 0.0
    instruments: list[InstrumentConfig] = Field(min_length=1)
    venues: list[VenueConfig] = Field(min_length=1)
    data: list[DataConfig] = Field(default_factory=list)
    strategy: StrategyConfig | None = None
    risk: RiskConfig = RiskConfig()
    store: StoreConfig = StoreConfig()
    live: LiveConfig = LiveConfig()  # [live]: used when mode = "live"
    alerts: AlertsConfig = AlertsConfig()  # optional [alerts] section, off by default
    # Agent-based market (venues/agents): populations, and venues only agents trade on.
    agents: list[AgentPopulationConfig] = Field(default_factory=list)
    agent_venues: list[AgentVenueConfig] = Field(default_factory=list)
    # Fault injection on simulated venues (venues/faults.py) and OMS timeouts.
    faults: list[FaultConfig] = Field(default_factory=list)
    oms: OmsConfig = OmsConfig()

    # Folder of the scenario file: relative data paths resolve against it.
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    @field_validator("start")
    @classmethod
    def _check_start(cls, v: str | int) -> str | int:
        if v == "data":
            return v
        try:
            parse_timestamp(v)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid start time {v!r}: use ISO-8601, e.g. '2026-01-05T14:30:00'") from exc
        return v

    @field_validator("duration")
    @classmethod
    def _check_duration(cls, v: str | int) -> str | int:
        if v == "data":
            return v
        if parse_duration(v) <= 0:
            raise ValueError("duration must be positive")
        return v

    @model_validator(mode="after")
    def _check_references(self) -> Scenario:
        symbols = [i.symbol for i in self.instruments]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"instrument symbols must be unique, got {symbols}")
        ids = [i.id for i in self.instruments]
        if len(set(ids)) != len(ids):
            raise ValueError(f"instrument ids must be unique, got {ids}")
        venue_names = [v.name for v in self.venues]
        if len(set(venue_names)) != len(venue_names):
            raise ValueError(f"venue names must be unique, got {venue_names}")
        traded: dict[str, str] = {}
        for v in self.venues:
            for sym in v.instruments:
                if sym not in symbols:
                    raise ValueError(f"venue {v.name!r} lists unknown instrument {sym!r} (known: {symbols})")
                if sym in traded:
                    raise ValueError(f"instrument {sym!r} is traded on both {traded[sym]!r} and {v.name!r}")
                traded[sym] = v.name
        for d in self.data:
            if d.venue not in venue_names:
                raise ValueError(f"data source names unknown venue {d.venue!r} (known: {venue_names})")
            if traded.get(d.instrument) != d.venue:
                raise ValueError(f"data source instrument {d.instrument!r} is not traded on venue {d.venue!r}")
        return self

    @model_validator(mode="after")
    def _check_live(self) -> Scenario:
        if self.mode == "live":
            for v in self.venues:
                if v.adapter != "ibkr":
                    raise ValueError(f"venue {v.name!r}: mode = 'live' needs adapter = 'ibkr' (the live adapter)")
        return self

    @property
    def start_ns(self) -> int | None:
        """Start time; None when the scenario starts with its data (``start = "data"``)."""
        return None if self.start == "data" else parse_timestamp(self.start)

    @property
    def duration_ns(self) -> int | None:
        """Duration; None when the run lasts as long as its data (``duration = "data"``)."""
        return None if self.duration == "data" else parse_duration(self.duration)
