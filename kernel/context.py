"""The strategy's context: the only door from strategy code to the world.

Everything a strategy does goes through here, to the OMS and risk engine and
on to whichever venue (simulated or live) trades the instrument.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from kernel.errors import OrderRejected
from kernel.instruments import Instrument
from kernel.loop import PRIO_TIMER, Kernel
from kernel.marketdata import MarketDataBus
from kernel.oms import OMS
from kernel.orders import Order, OrderType, Side, TimeInForce
from kernel.portfolio import Portfolio
from kernel.risk import TradingState

if TYPE_CHECKING:
    from kernel.strategy import Strategy


class Context:
    """What one strategy may see and do."""

    def __init__(
        self,
        kernel: Kernel,
        oms: OMS,
        bus: MarketDataBus,
        strategy: Strategy,
        name: str,
        owner: int,
        instruments: dict[int, Instrument],
    ) -> None:
        self._kernel = kernel
        self._oms = oms
        self._bus = bus
        self._strategy = strategy
        self.name = name
        self.owner = owner
        self.instruments = instruments
        self.rng: np.random.Generator = kernel.rng.stream(f"strategy:{name}")
        self._timers: dict[str, int] = {}
        self.log = logging.getLogger(f"parity.strategy.{name}")

    # -- time and state ---------------------------------------------------
    def now(self) -> int:
        """Current time, int ns since the epoch (simulated or live)."""
        return self._kernel.now()

    @property
    def portfolio(self) -> Portfolio:
        return self._oms.portfolio

    def position(self, instrument: int) -> int:
        return self._oms.portfolio.position(instrument)

    @property
    def trading_state(self) -> TradingState:
        """The risk engine's trading state (ACTIVE, REDUCING or HALTED)."""
        return self._oms.risk.state

    def open_orders(self, instrument: int | None = None) -> list[Order]:
        """This strategy's working orders."""
        return self._oms.working_orders(instrument, self.owner)

    def instrument(self, instrument: int) -> Instrument:
        try:
            return self.instruments[instrument]
        except KeyError:
            raise OrderRejected(f"unknown instrument {instrument}") from None

    def lookup(self, symbol: str) -> Instrument:
        """The instrument with ``symbol``."""
        for inst in self.instruments.values():
            if inst.symbol == symbol:
                return inst
        raise OrderRejected(f"unknown instrument symbol {symbol!r}")

    # -- orders -----------------------------------------------------------
    def submit(
        self,
        instrument: int,
        side: Side | int,
        qty: int,
        price: int = 0,
        order_type: OrderType = OrderType.LIMIT,
        tif: TimeInForce = TimeInForce.GTC,
        *,
        stop_price: int = 0,
        post_only: bool = False,
        display_qty: int = 0,
        expire_ts: int = 0,
        tag: str = "",
    ) -> Order:
        """Send an order (price in ticks, qty in lots). Returns the tracked order; a
        refused order comes back with status REJECTED and its ``reject_reason``."""
        order = Order(
            0, instrument, Side(side), qty, price, OrderType(order_type), TimeInForce(tif),
            stop_price=stop_price, post_only=post_only, display_qty=display_qty, expire_ts=expire_ts,
            owner=self.owner, tag=tag,
        )  # fmt: skip
        return self._oms.submit(order, self._strategy)

    def buy(self, instrument: int, qty: int, price: int = 0, **kw) -> Order:
        """Limit buy at ``price`` (a market buy when price is 0 and no order_type is given)."""
        kw.setdefault("order_type", OrderType.LIMIT if price else OrderType.MARKET)
        return self.submit(instrument, Side.BUY, qty, price, **kw)

    def sell(self, instrument: int, qty: int, price: int = 0, **kw) -> Order:
        """Limit sell at ``price`` (a market sell when price is 0 and no order_type is given)."""
        kw.setdefault("order_type", OrderType.LIMIT if price else OrderType.MARKET)
        return self.submit(instrument, Side.SELL, qty, price, **kw)

    def cancel(self, order: Order | int) -> bool:
        """Request cancellation; False if the order is not working."""
        return self._oms.cancel(order if isinstance(order, int) else order.order_id)

    def modify(self, order: Order | int, price: int | None = None, qty: int | None = None) -> bool:
        """Amend price and/or total qty; False if refused (see the order event for why)."""
        return self._oms.amend(order if isinstance(order, int) else order.order_id, price, qty)

    def cancel_all(self, instrument: int | None = None) -> int:
        """Cancel every working order of this strategy; returns how many were requested."""
        return sum(self.cancel(o) for o in self.open_orders(instrument))

    def kill_switch(self, reason: str, flatten: bool = False) -> None:
        """Halt trading, cancel all working orders and optionally flatten positions."""
        self._oms.kill(f"{self.name}: {reason}", flatten)

    # -- data and timers ----------------------------------------------------
    def subscribe(self, instrument: int, depth: int = 0, trades: bool = False) -> None:
        """Receive ``on_book`` for every top-of-book change (with ``depth`` levels) and
        optionally ``on_trade``."""
        venue = self._oms.venue_for(instrument)
        self._bus.subscribe(instrument, self._strategy, trades)
        venue.subscribe(instrument, depth, trades)

    def set_timer(self, name: str, after_ns: int, repeat_ns: int = 0) -> None:
        """Call ``on_timer(name, ts)`` after ``after_ns`` (then every ``repeat_ns`` if > 0).
        Setting a timer of the same name replaces it."""
        if after_ns < 0 or repeat_ns < 0:
            raise ValueError(f"timer {name!r}: delays must be >= 0")
        generation = self._timers.get(name, 0) + 1
        self._timers[name] = generation
        self._kernel.call_after(after_ns, self._fire, name, generation, repeat_ns, priority=PRIO_TIMER)

    def cancel_timer(self, name: str) -> None:
        if name in self._timers:
            self._timers[name] += 1

    def _fire(self, name: str, generation: int, repeat_ns: int) -> None:
        if self._timers.get(name) != generation:
            return  # replaced or cancelled
        if repeat_ns:
            self._kernel.call_after(repeat_ns, self._fire, name, generation, repeat_ns, priority=PRIO_TIMER)
        self._strategy.on_timer(name, self._kernel.now())
