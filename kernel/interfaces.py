"""The interfaces the kernel defines and venues, adapters and stores implement."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kernel.orders import Order

if TYPE_CHECKING:
    from kernel.loop import Kernel


class Venue(Protocol):
    """A place orders go: a simulated matching venue or a live broker adapter.

    The venue reports back through ``kernel.oms.on_report`` (after its own
    response latency) and publishes book/trade updates through
    ``kernel.deliver_book`` / ``kernel.deliver_trade``.
    """

    name: str

    def attach(self, kernel: Kernel) -> None:
        """Bind to the kernel (scheduler, clock, OMS)."""

    def submit(self, order: Order) -> None: ...

    def cancel(self, order: Order) -> None: ...

    def amend(self, order: Order, new_price: int | None, new_qty: int | None) -> None: ...

    def subscribe(self, instrument: int, depth: int = 0, trades: bool = False) -> None: ...

    def reference_price(self, instrument: int) -> int | None:
        """Best known price for risk checks (mid, last trade), None if unknown."""

    def end_of_day(self, ts: int) -> None: ...


class MarketDataConsumer(Protocol):
    """Applies canonical market-data events (a simulated venue in replay)."""

    def apply_market_data(self, events: np.ndarray, start: int, stop: int) -> None:
        """Apply ``events[start:stop]`` (all with ts in the current window)."""

    def lookahead_ns(self) -> float:
        """How far past the first event of a batch the consumer may run without
        scheduling anything earlier (its minimum callback latency; ``inf`` when
        nothing it does can schedule an event)."""


class DataSource(Protocol):
    """Yields chunks of canonical market-data events in time order."""

    def chunks(self) -> Iterator[np.ndarray]: ...
