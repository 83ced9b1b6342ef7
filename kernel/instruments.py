"""Instrument specifications and the edge conversions between prices and ticks."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from kernel.errors import OrderRejected


@dataclass(frozen=True, slots=True)
class Instrument:
    """A tradable instrument. Inside parity prices are ticks and sizes lots."""

    id: int
    symbol: str
    tick_size: float = 0.01  # price units per tick
    lot_size: float = 1.0  # shares/contracts per lot
    multiplier: float = 1.0  # contract multiplier (1 for stocks)
    currency: str = "USD"

    @property
    def tick_value(self) -> float:
        """Currency value of a one-tick move on one lot."""
        return self.tick_size * self.lot_size * self.multiplier

    def to_ticks(self, price: float | str | Decimal) -> int:
        """Convert an outside price to ticks; a price off the tick grid is rejected."""
        ticks = Decimal(str(price)) / Decimal(str(self.tick_size))
        if ticks != ticks.to_integral_value():
            raise OrderRejected(f"{self.symbol}: price {price} is not a multiple of tick size {self.tick_size}")
        return int(ticks)

    def to_price(self, ticks: int | float) -> float:
        """Convert ticks to an outside price (for reports)."""
        return float(Decimal(str(ticks)) * Decimal(str(self.tick_size)))

    def to_lots(self, size: float | str | Decimal) -> int:
        """Convert an outside size to lots; a size off the lot grid is rejected."""
        lots = Decimal(str(size)) / Decimal(str(self.lot_size))
        if lots != lots.to_integral_value():
            raise OrderRejected(f"{self.symbol}: size {size} is not a multiple of lot size {self.lot_size}")
        return int(lots)
