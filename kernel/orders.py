"""The order model: enums, the order record and its status state machine.

Prices are integer ticks and quantities integer lots. The allowed status
transitions are a table (:data:`TRANSITIONS`); anything else raises
:class:`~kernel.errors.IllegalTransition`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from kernel.errors import IllegalTransition


class Side(IntEnum):
    """Order side; the value is the sign of the position change."""

    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        return Side(-self.value)


class OrderType(IntEnum):
    LIMIT = 1
    MARKET = 2
    STOP = 3  # becomes a market order when triggered
    STOP_LIMIT = 4  # becomes a limit order when triggered


class TimeInForce(IntEnum):
    GTC = 1  # good till cancelled
    DAY = 2  # expires at the end of the session
    GTD = 3  # good till ``expire_ts``
    IOC = 4  # immediate or cancel: the unfilled rest is cancelled
    FOK = 5  # fill or kill: fully filled at once or rejected without trading


class STPMode(IntEnum):
    """Self-trade prevention when an order would trade against the same owner."""

    NONE = 0
    CANCEL_NEWEST = 1  # the incoming (aggressing) order is cancelled
    CANCEL_OLDEST = 2  # the resting order is cancelled, matching continues
    DECREMENT_BOTH = 3  # both reduced by the overlapping quantity, no trade


class OrderStatus(IntEnum):
    NEW = 1
    PENDING_NEW = 2
    ACCEPTED = 3
    PARTIALLY_FILLED = 4
    FILLED = 5
    PENDING_CANCEL = 6
    CANCELLED = 7
    PENDING_REPLACE = 8
    REPLACED = 9
    REJECTED = 10
    EXPIRED = 11


S = OrderStatus
_LIVE = (S.ACCEPTED, S.PARTIALLY_FILLED)
_PENDING = (S.PENDING_CANCEL, S.PENDING_REPLACE)

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.PENDING_NEW, S.REJECTED}),
    # A fill may arrive before the ack is processed (e.g. an IOC), and a
    # pending-new order may be cancelled (IOC remainder) or expire.
    S.PENDING_NEW: frozenset(
        {S.ACCEPTED, S.REJECTED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED, S.PENDING_CANCEL}
    ),
    S.ACCEPTED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.PENDING_REPLACE, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset(
        {S.PARTIALLY_FILLED, S.FILLED, S.PENDING_CANCEL, S.CANCELLED, S.PENDING_REPLACE, S.EXPIRED}
    ),
    # While a cancel is in flight the order can still fill, or the cancel can
    # be refused (back to its live state).
    S.PENDING_CANCEL: frozenset({S.CANCELLED, S.PARTIALLY_FILLED, S.FILLED, S.ACCEPTED, S.EXPIRED}),
    # REPLACED is the ack of an amend; the order stays live (it moves on to
    # ACCEPTED / PARTIALLY_FILLED right after, see Order.replaced()).
    S.PENDING_REPLACE: frozenset(
        {S.REPLACED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.ACCEPTED, S.EXPIRED, S.PENDING_CANCEL}
    ),
    S.REPLACED: frozenset({S.ACCEPTED, S.PARTIALLY_FILLED}),
    S.FILLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}

TERMINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


def check_transition(current: OrderStatus, new: OrderStatus, order_id: int = 0) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> new`` is in the table."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(f"order {order_id}: illegal status transition {current.name} -> {new.name}")


@dataclass(slots=True)
class Order:
    """An order as the OMS tracks it. ``qty`` is the current total order quantity."""

    order_id: int
    instrument: int
    side: Side
    qty: int
    price: int = 0  # limit price in ticks (0 for market / stop)
    order_type: OrderType = OrderType.LIMIT
    tif: TimeInForce = TimeInForce.GTC
    stop_price: int = 0
    post_only: bool = False
    display_qty: int = 0  # iceberg: visible slice (0 = fully visible)
    expire_ts: int = 0  # for GTD
    owner: int = 1  # participant id; 0 is reserved for background market flow
    venue: str = ""
    tag: str = ""
    status: OrderStatus = OrderStatus.NEW
    filled_qty: int = 0
    avg_fill_price: float = 0.0
    created_ts: int = 0
    updated_ts: int = 0
    reject_reason: str = ""
    history: list[OrderStatus] = field(default_factory=list)

    @property
    def leaves_qty(self) -> int:
        """Quantity still open (zero once terminal)."""
        if self.status in TERMINAL:
            return 0
        return self.qty - self.filled_qty

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def is_working(self) -> bool:
        """True while the order may still trade."""
        return self.status not in TERMINAL and self.status != OrderStatus.NEW

    def transition(self, new: OrderStatus, ts: int) -> None:
        """Move to ``new`` if the table allows it, else raise."""
        check_transition(self.status, new, self.order_id)
        self.history.append(self.status)
        self.status = new
        self.updated_ts = ts

    def apply_fill(self, price: int, qty: int, ts: int) -> None:
        """Record a fill of ``qty`` at ``price`` and move to (partially) filled."""
        if qty <= 0 or qty > self.qty - self.filled_qty:
            raise IllegalTransition(
                f"order {self.order_id}: fill of {qty} exceeds open quantity {self.qty - self.filled_qty}"
            )
        total = self.filled_qty + qty
        self.avg_fill_price = (self.avg_fill_price * self.filled_qty + price * qty) / total
        self.filled_qty = total
        if total == self.qty:
            self.transition(OrderStatus.FILLED, ts)
        elif self.status in (OrderStatus.PENDING_CANCEL, OrderStatus.PENDING_REPLACE):
            # Stay pending: the cancel/replace is still in flight.
            self.updated_ts = ts
        else:
            self.transition(OrderStatus.PARTIALLY_FILLED, ts)

    def live_status(self) -> OrderStatus:
        """ACCEPTED or PARTIALLY_FILLED, by fill state."""
        return OrderStatus.PARTIALLY_FILLED if self.filled_qty else OrderStatus.ACCEPTED
