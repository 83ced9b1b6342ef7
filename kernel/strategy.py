"""The Strategy API: the base class user strategies derive from.

A strategy sees only its :class:`~kernel.context.Context` (``self.ctx``): it
never knows whether the venue behind it is simulated or live.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kernel.orders import Order
from kernel.reports import BookTop, ExecReport, Trade

if TYPE_CHECKING:
    from kernel.context import Context


class Strategy:
    """Base class: override the callbacks you need. Parameters come from the scenario."""

    ctx: Context

    def __init__(self, **params: Any) -> None:
        self.params = params

    def on_start(self) -> None:
        """Called once before the first event; subscribe and set timers here."""

    def on_stop(self) -> None:
        """Called once at the end of the run."""

    def on_book(self, book: BookTop) -> None:
        """Top of book (and depth, if subscribed) of an instrument changed."""

    def on_trade(self, trade: Trade) -> None:
        """A trade printed on a subscribed instrument."""

    def on_order_event(self, order: Order, report: ExecReport | None) -> None:
        """Any status change of one of this strategy's orders (``report`` is None for
        decisions taken before the venue, e.g. a risk rejection)."""

    def on_fill(self, order: Order, report: ExecReport) -> None:
        """One of this strategy's orders was (partially) filled."""

    def on_timer(self, name: str, ts: int) -> None:
        """A timer set with ``ctx.set_timer`` fired."""
