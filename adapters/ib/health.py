"""Health of the IB connection as a plain object (read by telemetry later)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

# Connection states.
DISCONNECTED = "disconnected"
CONNECTING = "connecting"
CONNECTED = "connected"
DEGRADED = "degraded"  # socket up, TWS lost its link to IB (1100)
RECONNECTING = "reconnecting"
CLOSED = "closed"  # closed on purpose

# TWS "farm" status codes: data/HMDS/security-definition farm connectivity.
FARM_BROKEN = {2103: "market data", 2105: "historical data", 2157: "security definition"}
FARM_OK = {2104: "market data", 2106: "historical data", 2158: "security definition"}
FARM_INACTIVE = {2107: "historical data", 2108: "market data"}


@dataclass
class Health:
    """Connection state, last message age and pacing figures of one IB connection."""

    host: str = ""
    port: int = 0
    client_id: int = 0
    state: str = DISCONNECTED
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    client_id_conflicts: int = 0
    last_message_mono_ns: int = 0  # time.monotonic_ns() of the last message received (0: none)
    last_error: tuple[int, str] | None = None
    farms: dict[str, str] = field(default_factory=dict)  # farm -> "ok" | "broken" | "inactive"
    resubscriptions: int = 0
    reconciliations: int = 0
    reconnect_delays_s: list[float] = field(default_factory=list)
    reconnect_durations_s: list[float] = field(default_factory=list)  # drop -> API ready again
    pacing_queue_depth: int = 0
    pacing_max_depth: int = 0
    pacing_sent: int = 0
    pacing_delayed: int = 0
    position_mismatches: int = 0

    def last_message_age_s(self, now_mono_ns: int | None = None) -> float | None:
        """Seconds since the last message from TWS, None before the first."""
        if not self.last_message_mono_ns:
            return None
        now = time.monotonic_ns() if now_mono_ns is None else now_mono_ns
        return (now - self.last_message_mono_ns) / 1e9

    @property
    def ready(self) -> bool:
        return self.state == CONNECTED

    def snapshot(self) -> dict[str, Any]:
        """A JSON-friendly copy with the derived last message age."""
        out = asdict(self)
        out["last_message_age_s"] = self.last_message_age_s()
        return out
