"""The pre-trade risk engine, the same object in simulation and live trading.

:class:`RiskEngine` checks every new order and amend against
:class:`RiskLimits` and watches the :class:`~kernel.portfolio.Portfolio` PnL to
move the :class:`TradingState` (ACTIVE / REDUCING / HALTED). Checks run in a
fixed order and the first failure decides; see :meth:`RiskEngine.check_order`.
All time is passed in as int ns; nothing reads a clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction
from typing import NamedTuple

from kernel.errors import IllegalTransition, ParityError
from kernel.orders import Order, OrderType, Side
from kernel.portfolio import Portfolio


class TradingState(IntEnum):
    ACTIVE = 1  # all orders subject to the limit checks
    REDUCING = 2  # only orders that reduce |position| are accepted
    HALTED = 3  # no new orders (kill-switch flatten orders excepted)


TS = TradingState
# HALTED -> ACTIVE is deliberately absent: only RiskEngine.reset() leaves HALTED.
TRANSITIONS: dict[TradingState, frozenset[TradingState]] = {
    TS.ACTIVE: frozenset({TS.REDUCING, TS.HALTED}),
    TS.REDUCING: frozenset({TS.ACTIVE, TS.HALTED}),
    TS.HALTED: frozenset(),
}

_POSITIVE_INT_LIMITS = ("max_order_qty", "max_position", "max_gross_position", "max_open_orders", "burst")
_POSITIVE_FLOAT_LIMITS = (
    "max_order_notional",
    "price_band_bps",
    "max_orders_per_sec",
    "max_daily_loss",
    "max_drawdown",
    "reducing_drawdown",
)


@dataclass
class RiskLimits:
    """Pre-trade and PnL limits; every limit is optional (None = off).

    ``burst`` is the token-bucket capacity of the order-rate throttle
    (None = ``max(1, max_orders_per_sec)``).
    """

    max_order_qty: int | None = None
    max_order_notional: float | None = None
    price_band_bps: float | None = None  # band around the reference price
    max_position: int | None = None  # per instrument, abs lots
    max_gross_position: int | None = None  # sum of abs lots across instruments
    max_open_orders: int | None = None
    max_orders_per_sec: float | None = None
    burst: int | None = None
    max_daily_loss: float | None = None  # daily net PnL <= -x -> HALTED
    max_drawdown: float | None = None  # drawdown >= x -> HALTED
    reducing_drawdown: float | None = None  # drawdown >= x -> REDUCING
    # Operational limits (fed by the OMS): market data older than stale_data_ns, or
    # reject_storm_count venue rejects within reject_storm_window_ns, move the state
    # to the configured action ("reducing" or "halted").
    stale_data_ns: int | None = None
    stale_action: str = "reducing"
    reject_storm_count: int | None = None
    reject_storm_window_ns: int = 1_000_000_000
    reject_storm_action: str = "halted"

    def __post_init__(self) -> None:
        for name in _POSITIVE_INT_LIMITS + _POSITIVE_FLOAT_LIMITS:
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ParityError(f"RiskLimits.{name} must be positive or None, got {value!r}")
        for name in ("stale_data_ns", "reject_storm_count", "reject_storm_window_ns"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ParityError(f"RiskLimits.{name} must be positive or None, got {value!r}")
        for name in ("stale_action", "reject_storm_action"):
            if getattr(self, name) not in _ACTIONS:
                raise ParityError(f"RiskLimits.{name} must be 'reducing' or 'halted', got {getattr(self, name)!r}")


_ACTIONS = {"reducing": TradingState.REDUCING, "halted": TradingState.HALTED}


class RiskDecision(NamedTuple):
    """Outcome of a check: ``check`` is "ok" or the name of the failed check."""

    accepted: bool
    check: str
    reason: str


OK = RiskDecision(True, "ok", "")


def _reject(check: str, reason: str) -> RiskDecision:
    return RiskDecision(False, check, reason)


class _TokenBucket:
    """Order-rate token bucket in exact integer arithmetic.

    The rate ``p/q`` tokens per second is a fraction, one token is ``q * 1e9``
    units and each elapsed ns adds ``p`` units, so refill timing is exact to the ns.
    """

    __slots__ = ("per_ns", "unit", "capacity", "units", "last_ts")

    def __init__(self, rate: float, burst: int | None) -> None:
        frac = Fraction(rate).limit_denominator(1_000_000)
        self.per_ns = frac.numerator
        self.unit = frac.denominator * 1_000_000_000
        cap = Fraction(burst) if burst is not None else max(Fraction(1), frac)
        self.capacity = int(cap * self.unit)
        self.units = self.capacity  # starts full
        self.last_ts: int | None = None

    def refill(self, ts: int) -> None:
        if self.last_ts is not None and ts > self.last_ts:
            self.units = min(self.capacity, self.units + (ts - self.last_ts) * self.per_ns)
        # Time never runs backwards for the bucket: a stale ts refills nothing.
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts

    def available(self) -> bool:
        return self.units >= self.unit

    def consume(self) -> None:
        self.units -= self.unit

    def tokens(self) -> float:
        return self.units / self.unit


def _limit_price(order_type: OrderType, price: int) -> int | None:
    """The limit price the band applies to, or None for market / stop orders."""
    return price if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None


def _exec_price(order_type: OrderType, price: int, stop_price: int, reference: int | None) -> int | None:
    """Price used for notional: limit price, stop price for stops, else the reference."""
    if order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
        return price
    if order_type == OrderType.STOP:
        return stop_price
    return reference


class RiskEngine:
    """Pre-trade checks plus the trading-state machine driven by portfolio PnL.

    Attributes:
        limits: the active :class:`RiskLimits`.
        portfolio: the :class:`Portfolio` positions and PnL are read from.
        state: current :class:`TradingState`.
        killed: True after :meth:`kill` until :meth:`reset`.
        transitions: history of ``(ts, old, new, reason)``.
    """

    def __init__(self, limits: RiskLimits, portfolio: Portfolio) -> None:
        self.limits = limits
        self.portfolio = portfolio
        self.state: TradingState = TradingState.ACTIVE
        self.killed: bool = False
        self.transitions: list[tuple[int, TradingState, TradingState, str]] = []
        self._bucket = (
            _TokenBucket(limits.max_orders_per_sec, limits.burst) if limits.max_orders_per_sec is not None else None
        )
        # Daily-loss baseline (net PnL at day start / last reset).
        self._day_base = 0.0
        # Drawdown baseline after a reset: None = use the portfolio's own peak.
        self._reset_peak: float | None = None
        self._seen_peak = 0.0
        self._venue_rejects: deque[int] = deque()  # times of recent venue rejects (reject storms)

    # -- state machine ----------------------------------------------------------

    def _move(self, new: TradingState, ts: int, reason: str) -> None:
        self.transitions.append((ts, self.state, new, reason))
        self.state = new

    def set_state(self, new: TradingState, ts: int, reason: str) -> None:
        """Move to ``new`` if the transition table allows it, else raise IllegalTransition."""
        if new not in TRANSITIONS[self.state]:
            hint = " (only reset() leaves HALTED)" if self.state == TradingState.HALTED else ""
            raise IllegalTransition(f"risk: illegal trading state transition {self.state.name} -> {new.name}{hint}")
        self._move(new, ts, reason)

    def reset(self, ts: int, reason: str) -> None:
        """Return to ACTIVE from any state, clear ``killed`` and rebase the PnL limits.

        Daily loss and drawdown are measured from the net PnL at the reset, so a
        reset is not immediately undone by the loss that caused the halt.
        """
        if self.state != TradingState.ACTIVE:
            self._move(TradingState.ACTIVE, ts, reason)
        self.killed = False
        net = self.portfolio.net_pnl
        self._day_base = net
        self._reset_peak = self.portfolio.peak_pnl
        self._seen_peak = net

    def start_day(self, ts: int) -> None:
        """Rebase the daily-loss baseline to the current net PnL (state unchanged)."""
        self._day_base = self.portfolio.net_pnl

    def kill(self, ts: int, reason: str) -> None:
        """Kill switch: go HALTED and set ``killed`` (the OMS then cancels / flattens)."""
        self.killed = True
        if self.state != TradingState.HALTED:
            self._move(TradingState.HALTED, ts, reason)

    def daily_pnl(self) -> float:
        """Net PnL since the start of the day (or the last reset)."""
        return self.portfolio.net_pnl - self._day_base

    def drawdown(self) -> float:
        """Current drawdown of net PnL from its peak (since the last reset)."""
        return self._drawdown_at(self.portfolio.net_pnl)

    def _drawdown_at(self, net: float) -> float:
        p = self.portfolio
        if self._reset_peak is None:
            return max(0.0, p.peak_pnl - net)
        # A new all-time portfolio peak after the reset is the true peak since
        # the reset; otherwise use what was seen at reset and at on_pnl calls.
        self._seen_peak = max(self._seen_peak, net)
        peak = p.peak_pnl if p.peak_pnl > self._reset_peak else self._seen_peak
        return max(0.0, peak - net)

    def on_pnl(self, ts: int) -> TradingState | None:
        """Evaluate daily loss and drawdown; move the state and return it if it changed.

        Daily loss and ``max_drawdown`` halt; ``reducing_drawdown`` moves ACTIVE
        to REDUCING. REDUCING is sticky: going back to ACTIVE takes
        ``set_state`` or ``reset``. Nothing changes while HALTED.
        """
        if self.state == TradingState.HALTED:
            return None
        lim = self.limits
        if lim.max_daily_loss is None and lim.max_drawdown is None and lim.reducing_drawdown is None:
            if self._reset_peak is not None:
                self.drawdown()  # keeps the peak seen since the reset up to date
            return None
        net = self.portfolio.net_pnl
        daily = net - self._day_base
        dd = self._drawdown_at(net)
        if lim.max_daily_loss is not None and daily <= -lim.max_daily_loss:
            self._move(
                TradingState.HALTED, ts, f"daily loss {-daily:.2f} reached max_daily_loss {lim.max_daily_loss:.2f}"
            )
            return self.state
        if lim.max_drawdown is not None and dd >= lim.max_drawdown:
            self._move(TradingState.HALTED, ts, f"drawdown {dd:.2f} reached max_drawdown {lim.max_drawdown:.2f}")
            return self.state
        if lim.reducing_drawdown is not None and dd >= lim.reducing_drawdown and self.state == TradingState.ACTIVE:
            self._move(
                TradingState.REDUCING, ts, f"drawdown {dd:.2f} reached reducing_drawdown {lim.reducing_drawdown:.2f}"
            )
            return self.state
        return None

    # -- operational hooks (reject storms, stale data) ------------------------------------

    def _escalate(self, action: str, ts: int, reason: str) -> TradingState | None:
        """Move to the action's state unless already there (or HALTED); return it if changed."""
        target = _ACTIONS[action]
        if self.state == TradingState.HALTED or self.state == target:
            return None
        self._move(target, ts, reason)
        return self.state

    def on_venue_reject(self, ts: int) -> TradingState | None:
        """A venue rejected an order at ``ts``: ``reject_storm_count`` rejects within
        ``reject_storm_window_ns`` move the state to ``reject_storm_action``."""
        lim = self.limits
        if lim.reject_storm_count is None:
            return None
        times = self._venue_rejects
        times.append(ts)
        while times and times[0] <= ts - lim.reject_storm_window_ns:
            times.popleft()
        if len(times) < lim.reject_storm_count:
            return None
        return self._escalate(
            lim.reject_storm_action,
            ts,
            f"reject storm: {len(times)} venue rejects within {lim.reject_storm_window_ns} ns "
            f"(reject_storm_count {lim.reject_storm_count})",
        )

    def on_data_age(self, ts: int, age_ns: int, what: str = "market data") -> TradingState | None:
        """The freshest ``what`` is ``age_ns`` old at ``ts``: older than ``stale_data_ns``
        moves the state to ``stale_action``. Like PnL states, it is sticky."""
        lim = self.limits
        if lim.stale_data_ns is None or age_ns <= lim.stale_data_ns:
            return None
        return self._escalate(
            lim.stale_action, ts, f"stale data: {what} is {age_ns} ns old (stale_data_ns {lim.stale_data_ns})"
        )

    def tokens(self, ts: int) -> float | None:
        """Order-rate tokens available at ``ts`` (None if the throttle is off)."""
        if self._bucket is None:
            return None
        self._bucket.refill(ts)
        return self._bucket.tokens()

    # -- checks -------------------------------------------------------------------

    def is_reducing(self, side: int, qty: int, instrument: int, open_buy_qty: int, open_sell_qty: int) -> bool:
        """True if ``side``/``qty`` reduces |position| even after all same-side working orders fill.

        E.g. position +10 with open sells 4: a sell of up to 6 reduces, any buy does not.
        """
        if qty <= 0:
            return False
        pos = self.portfolio.position(instrument)
        if side > 0:
            return pos < 0 and open_buy_qty + qty <= -pos
        return pos > 0 and open_sell_qty + qty <= pos

    def check_order(
        self,
        order: Order,
        ts: int,
        reference_price: int | None,
        open_orders: int,
        open_buy_qty: int,
        open_sell_qty: int,
        *,
        flatten: bool = False,
        other_open_lots: int = 0,
    ) -> RiskDecision:
        """Check a new order; consumes a rate token only when accepted.

        ``open_orders`` / ``open_buy_qty`` / ``open_sell_qty`` describe the
        working orders (leaves qty) *excluding* this one; the quantities are for
        ``order.instrument``. ``other_open_lots`` is the total leaves qty of
        working orders on other instruments (used only by max_gross_position;
        the default 0 counts their positions only).

        Checks, first failure wins: trading_state, qty (> 0), instrument (known),
        max_order_qty, max_order_notional, price_band_bps (a missing reference
        fails as "reference_price" if either of those two limits is set),
        max_open_orders, max_position, max_gross_position, max_orders_per_sec.

        ``flatten=True`` (kill-switch flatten orders) bypasses the trading state
        and every limit; it is accepted only if it reduces |position|
        (check "flatten") and uses no rate token.
        """
        oid = order.order_id
        side = Side(order.side)
        qty = order.qty - order.filled_qty
        open_same = open_buy_qty if side > 0 else open_sell_qty
        if flatten:
            if self.is_reducing(side, qty, order.instrument, open_buy_qty, open_sell_qty):
                return OK
            pos = self.portfolio.position(order.instrument)
            return _reject(
                "flatten",
                f"order {oid}: flatten {side.name} {qty} does not reduce position {pos} (open {side.name} {open_same})",
            )
        if self.state == TradingState.HALTED:
            return _reject("trading_state", f"order {oid}: trading state HALTED rejects new orders")
        if self.state == TradingState.REDUCING and not self.is_reducing(
            side, qty, order.instrument, open_buy_qty, open_sell_qty
        ):
            return self._not_reducing(oid, side, qty, order.instrument, open_same)
        return self._evaluate(
            oid,
            order.instrument,
            side,
            order.qty,
            qty,
            order.order_type,
            order.price,
            order.stop_price,
            ts,
            reference_price,
            open_orders + 1,
            open_buy_qty,
            open_sell_qty,
            other_open_lots,
            use_token=True,
        )

    def check_amend(
        self,
        order: Order,
        new_price: int,
        new_qty: int,
        ts: int,
        reference_price: int | None,
        open_orders: int,
        open_buy_qty: int,
        open_sell_qty: int,
        *,
        other_open_lots: int = 0,
    ) -> RiskDecision:
        """Check an amend of a working order to ``new_price`` / ``new_qty`` (total order qty).

        Unlike :meth:`check_order`, the open counts and quantities *include*
        this order; its current leaves are replaced by ``new_qty - filled_qty``.
        ``new_price`` is the limit price (the stop price for STOP orders; ignored
        for MARKET). The same checks run on the amended order, with these rules:

        * a qty-down amend (same price, smaller qty) passes the trading-state
          check even when HALTED or REDUCING, and uses no rate token — it can
          only lower exposure;
        * other amends need the usual state (REDUCING: the amended order must
          reduce) and consume a rate token;
        * max_order_qty and notional use the new total qty, the position checks
          the new leaves; max_open_orders fails only if ``open_orders`` already
          exceeds the limit (an amend adds no order).
        """
        oid = order.order_id
        side = Side(order.side)
        is_stop = order.order_type == OrderType.STOP
        old_price = order.stop_price if is_stop else order.price
        if order.order_type == OrderType.MARKET:
            new_price = old_price
        new_leaves = new_qty - order.filled_qty
        if new_leaves <= 0:
            return _reject("qty", f"order {oid}: amended qty {new_qty} is not above filled qty {order.filled_qty}")
        # Take this order's current leaves out of the working quantities.
        old_leaves = order.leaves_qty
        buy_excl = open_buy_qty - old_leaves if side > 0 else open_buy_qty
        sell_excl = open_sell_qty - old_leaves if side < 0 else open_sell_qty
        qty_down = new_price == old_price and new_qty < order.qty
        if not qty_down:
            if self.state == TradingState.HALTED:
                return _reject("trading_state", f"order {oid}: trading state HALTED rejects amends that add risk")
            if self.state == TradingState.REDUCING and not self.is_reducing(
                side, new_leaves, order.instrument, buy_excl, sell_excl
            ):
                return self._not_reducing(oid, side, new_leaves, order.instrument, buy_excl if side > 0 else sell_excl)
        return self._evaluate(
            oid,
            order.instrument,
            side,
            new_qty,
            new_leaves,
            order.order_type,
            order.price if is_stop else new_price,
            new_price if is_stop else order.stop_price,
            ts,
            reference_price,
            open_orders,
            buy_excl,
            sell_excl,
            other_open_lots,
            use_token=not qty_down,
        )

    def _not_reducing(self, oid: int, side: Side, qty: int, instrument: int, open_same: int) -> RiskDecision:
        pos = self.portfolio.position(instrument)
        return _reject(
            "trading_state",
            f"order {oid}: {side.name} {qty} does not reduce position {pos} "
            f"(open {side.name} {open_same}) while REDUCING",
        )

    def _evaluate(
        self,
        oid: int,
        instrument: int,
        side: Side,
        order_qty: int,
        add_qty: int,
        order_type: OrderType,
        price: int,
        stop_price: int,
        ts: int,
        reference: int | None,
        orders_after: int,
        open_buy_qty: int,
        open_sell_qty: int,
        other_open_lots: int,
        use_token: bool,
    ) -> RiskDecision:
        """The limit checks after the state check. ``order_qty`` is the total
        order size (size checks), ``add_qty`` the leaves it adds (exposure checks)."""
        lim = self.limits
        if order_qty <= 0 or add_qty <= 0:
            return _reject("qty", f"order {oid}: qty {order_qty} is not positive")
        if instrument not in self.portfolio.tick_values:
            return _reject("instrument", f"order {oid}: unknown instrument {instrument}")
        if lim.max_order_qty is not None and order_qty > lim.max_order_qty:
            return _reject("max_order_qty", f"order {oid}: qty {order_qty} exceeds max_order_qty {lim.max_order_qty}")
        if lim.max_order_notional is not None:
            px = _exec_price(order_type, price, stop_price, reference)
            if px is None:
                return _reject("reference_price", f"order {oid}: no reference price for max_order_notional")
            notional = abs(px) * order_qty * self.portfolio.tick_values[instrument]
            if notional > lim.max_order_notional:
                return _reject(
                    "max_order_notional",
                    f"order {oid}: notional {notional:.2f} exceeds max_order_notional {lim.max_order_notional:.2f}",
                )
        if lim.price_band_bps is not None:
            if reference is None:
                return _reject("reference_price", f"order {oid}: no reference price for price_band_bps")
            lp = _limit_price(order_type, price)
            # Integer-exact comparison |p - ref| * 1e4 <= bps * |ref| (no float band edges).
            if lp is not None and abs(lp - reference) * 10_000 > lim.price_band_bps * abs(reference):
                half = abs(reference) * lim.price_band_bps / 10_000
                return _reject(
                    "price_band_bps",
                    f"order {oid}: price {lp} outside price_band_bps {lim.price_band_bps:g} around reference "
                    f"{reference} [{reference - half:.2f}, {reference + half:.2f}]",
                )
        if lim.max_open_orders is not None and orders_after > lim.max_open_orders:
            return _reject(
                "max_open_orders",
                f"order {oid}: open orders {orders_after} would exceed max_open_orders {lim.max_open_orders}",
            )
        pos = self.portfolio.position(instrument)
        if lim.max_position is not None:
            # Worst case in the order's direction: every same-side working order fills.
            worst = pos + open_buy_qty + add_qty if side > 0 else pos - open_sell_qty - add_qty
            if abs(worst) > lim.max_position and (worst > 0) == (side > 0):
                return _reject(
                    "max_position",
                    f"order {oid}: worst-case position {worst} exceeds max_position {lim.max_position}",
                )
        if lim.max_gross_position is not None:
            before = max(abs(pos + open_buy_qty), abs(pos - open_sell_qty))
            if side > 0:
                after = max(abs(pos + open_buy_qty + add_qty), abs(pos - open_sell_qty))
            else:
                after = max(abs(pos + open_buy_qty), abs(pos - open_sell_qty - add_qty))
            gross = self.portfolio.gross_position() - abs(pos) + other_open_lots + after
            # An order that does not raise this instrument's worst case passes.
            if gross > lim.max_gross_position and after > before:
                return _reject(
                    "max_gross_position",
                    f"order {oid}: worst-case gross position {gross} exceeds max_gross_position "
                    f"{lim.max_gross_position}",
                )
        if use_token and self._bucket is not None:
            self._bucket.refill(ts)
            if not self._bucket.available():
                burst = lim.burst if lim.burst is not None else max(1.0, lim.max_orders_per_sec or 1.0)
                return _reject(
                    "max_orders_per_sec",
                    f"order {oid}: order rate exceeds max_orders_per_sec {lim.max_orders_per_sec:g} (burst {burst:g})",
                )
            self._bucket.consume()
        return OK
