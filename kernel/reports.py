"""Execution reports: what a venue (simulated or live) tells the OMS about an order."""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class ReportKind(IntEnum):
    ACK = 1
    REJECT = 2
    FILL = 3
    CANCEL = 4
    EXPIRE = 5
    REPLACE = 6
    TRIGGER = 7


class ExecReport(NamedTuple):
    """One report about one order.

    ``price``: ACK order price, FILL fill price, REPLACE new price.
    ``qty``: ACK order qty, FILL fill qty, CANCEL/EXPIRE qty removed, REPLACE new open qty.
    ``leaves``: open quantity after this report. ``fee`` is set by the venue on fills.
    """

    kind: ReportKind
    ts: int
    order_id: int
    owner: int
    price: int
    qty: int
    leaves: int
    reason: str = ""
    liquidity: str = ""
    fee: float = 0.0
    exec_id: int = 0  # venue session << 32 | sequence number from 1 (0: none); see OMS.on_report


class BookTop(NamedTuple):
    """Top of book of one instrument at ``ts`` (prices 0 when a side is empty)."""

    ts: int
    instrument: int
    bid_px: int
    bid_qty: int
    ask_px: int
    ask_qty: int
    bids: tuple[tuple[int, int], ...] = ()
    asks: tuple[tuple[int, int], ...] = ()

    @property
    def mid(self) -> float:
        """Mid price in ticks (0.0 unless both sides exist)."""
        if self.bid_px and self.ask_px:
            return (self.bid_px + self.ask_px) / 2
        return 0.0

    @property
    def spread(self) -> int:
        return self.ask_px - self.bid_px if self.bid_px and self.ask_px else 0


class Trade(NamedTuple):
    """A trade print: ``aggressor`` is +1 when a buyer lifted the offer."""

    ts: int
    instrument: int
    price: int
    qty: int
    aggressor: int
