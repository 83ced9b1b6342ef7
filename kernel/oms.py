"""The order management system: the one path every order takes, sim or live.

strategy → OMS (ids, state machine, pre-trade risk, journal) → venue;
venue reports → OMS (state, portfolio, risk PnL limits, journal) → strategy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from kernel.errors import OrderRejected
from kernel.journal import Journal
from kernel.orders import Order, OrderStatus, OrderType, Side
from kernel.portfolio import Portfolio
from kernel.reports import ExecReport, ReportKind
from kernel.risk import RiskEngine, TradingState

if TYPE_CHECKING:
    from kernel.interfaces import Venue
    from kernel.strategy import Strategy

S = OrderStatus
_PENDING = (S.PENDING_NEW, S.PENDING_CANCEL, S.PENDING_REPLACE)


class VenueOrderStatus(NamedTuple):
    """A venue's own record of one order, for reconciliation (see :meth:`OMS.check_timeouts`).

    ``known``: the venue received the order; ``leaves``: its open quantity there;
    ``reports``: every report the venue generated for it, in order, with exec ids.
    """

    known: bool
    leaves: int
    reports: tuple[ExecReport, ...] = ()


class OMSObserver:
    """Optional listener on the OMS (telemetry, the run store writer, alerting).

    Subclass and override what you need. Calls happen synchronously on the
    trading thread, after the OMS has applied the change, so an observer must
    be cheap and must not raise; it must not mutate what it is given. With no
    observers attached the OMS pays one falsy-list check per event.
    """

    def on_order(self, order: Order) -> None:
        """``order`` was created or changed state (submitted, rejected, acked, filled, ...)."""

    def on_fill(self, fill: dict) -> None:
        """A fill was applied; ``fill`` is the dict appended to ``OMS.fills``."""

    def on_risk(self, event: dict) -> None:
        """A pre-trade risk decision; ``event`` is the dict appended to ``OMS.risk_events``."""

    def on_state(self, state: TradingState) -> None:
        """The trading state changed (PnL limits or the kill switch)."""


class OMS:
    """Tracks every order of a run and routes it through risk to its venue."""

    def __init__(
        self,
        journal: Journal,
        portfolio: Portfolio,
        risk: RiskEngine,
        now: Callable[[], int],
        notify: Callable[[Callable[..., None], tuple], None],
    ) -> None:
        self.journal = journal
        self.portfolio = portfolio
        self.risk = risk
        self._now = now
        self._notify = notify  # schedules a strategy callback (never re-entrant)
        self.orders: dict[int, Order] = {}
        self.working: dict[int, Order] = {}
        self._owners: dict[int, Strategy] = {}
        self._venues: dict[int, Venue] = {}
        self._pending_amend: dict[int, tuple[int | None, int | None]] = {}
        self._next_id = 1
        self.fills: list[dict] = []
        self.risk_events: list[dict] = []
        self.rejections = 0
        self.late_reports = 0
        self.observers: list[OMSObserver] = []  # see OMSObserver; empty = no cost
        # Reports carrying an exec id are applied once and in sequence per venue stream.
        self._exec_next: dict[int, int] = {}
        self._exec_held: dict[int, dict[int, ExecReport]] = {}
        self.duplicate_reports = 0
        self.held_reports = 0
        self.late_fills = 0
        # Pending orders older than this are reconciled by check_timeouts (None: never).
        self.pending_timeout_ns: int | None = None
        self.timeouts = 0

    # -- wiring -------------------------------------------------------------
    def route(self, instrument: int, venue: Venue) -> None:
        """Send orders for ``instrument`` to ``venue``."""
        self._venues[instrument] = venue

    def venue_for(self, instrument: int) -> Venue:
        try:
            return self._venues[instrument]
        except KeyError:
            raise OrderRejected(f"no venue trades instrument {instrument}") from None

    # -- exposure -------------------------------------------------------------
    def open_qty(self, instrument: int) -> tuple[int, int, int]:
        """(open buy qty, open sell qty) of working orders in ``instrument``, and the
        open qty of working orders in every other instrument."""
        buy = sell = other = 0
        for o in self.working.values():
            if o.instrument != instrument:
                other += o.leaves_qty
            elif o.side > 0:
                buy += o.leaves_qty
            else:
                sell += o.leaves_qty
        return buy, sell, other

    def working_orders(self, instrument: int | None = None, owner: int | None = None) -> list[Order]:
        return [
            o
            for o in self.working.values()
            if (instrument is None or o.instrument == instrument) and (owner is None or o.owner == owner)
        ]

    # -- requests from strategies ----------------------------------------------
    def submit(self, order: Order, strategy: Strategy | None, flatten: bool = False) -> Order:
        """Assign an id, run pre-trade risk and send ``order`` to its venue."""
        ts = self._now()
        order.order_id = self._next_id
        self._next_id += 1
        order.created_ts = order.updated_ts = ts
        self.orders[order.order_id] = order
        if strategy is not None:
            self._owners[order.order_id] = strategy
        self.journal.record(
            ts, "submit", order.order_id, order.instrument, int(order.side), int(order.order_type),
            int(order.tif), order.qty, order.price, order.stop_price, order.display_qty, int(order.post_only),
        )  # fmt: skip
        venue = self._venues.get(order.instrument)
        if venue is None:
            return self._reject(
                order, "routing", f"order {order.order_id}: no venue trades instrument {order.instrument}"
            )
        buy, sell, other = self.open_qty(order.instrument)
        ref = venue.reference_price(order.instrument)
        decision = self.risk.check_order(
            order, ts, ref, len(self.working), buy, sell, flatten=flatten, other_open_lots=other
        )
        self._journal_risk(ts, order.order_id, decision.accepted, decision.check, decision.reason)
        if not decision.accepted:
            return self._reject(order, decision.check, decision.reason)
        order.transition(S.PENDING_NEW, ts)
        self.working[order.order_id] = order
        venue.submit(order)
        if self.observers:
            self._observe_order(order)
        return order

    def cancel(self, order_id: int) -> bool:
        """Request cancellation; False (and nothing sent) if the order is not working."""
        order = self.orders.get(order_id)
        if order is None or order.order_id not in self.working or order.status == S.PENDING_CANCEL:
            return False
        ts = self._now()
        order.transition(S.PENDING_CANCEL, ts)
        self.journal.record(ts, "cancel_request", order_id)
        self._venues[order.instrument].cancel(order)
        if self.observers:
            self._observe_order(order)
        return True

    def amend(self, order_id: int, new_price: int | None = None, new_qty: int | None = None) -> bool:
        """Request an amend (``new_qty`` is the new total order quantity). False if refused."""
        order = self.orders.get(order_id)
        if order is None or order_id not in self.working or order.status not in (S.ACCEPTED, S.PARTIALLY_FILLED):
            return False
        ts = self._now()
        venue = self._venues[order.instrument]
        buy, sell, other = self.open_qty(order.instrument)
        ref = venue.reference_price(order.instrument)
        decision = self.risk.check_amend(
            order,
            order.price if new_price is None else new_price,
            order.qty if new_qty is None else new_qty,
            ts,
            ref,
            len(self.working),
            buy,
            sell,
            other_open_lots=other,
        )
        self._journal_risk(ts, order_id, decision.accepted, decision.check, decision.reason)
        if not decision.accepted:
            self._emit(order, None)
            return False
        order.transition(S.PENDING_REPLACE, ts)
        self._pending_amend[order_id] = (new_price, new_qty)
        self.journal.record(ts, "amend_request", order_id, new_price or 0, new_qty or 0)
        leaves = None if new_qty is None else new_qty - order.filled_qty
        venue.amend(order, new_price, leaves)
        if self.observers:
            self._observe_order(order)
        return True

    def kill(self, reason: str, flatten: bool = False) -> None:
        """Kill switch: halt trading, cancel every working order, optionally flatten."""
        ts = self._now()
        was = self.risk.state
        self.risk.kill(ts, reason)
        self.journal.record(ts, "kill", reason, int(flatten))
        if self.observers and self.risk.state != was:
            for obs in self.observers:
                obs.on_state(self.risk.state)
        for order_id in list(self.working):
            self.cancel(order_id)
        if flatten:
            self.flatten()

    def flatten(self) -> None:
        """Send market orders that close every open position (allowed while halted)."""
        for instrument in sorted(self.portfolio.tick_values):
            pos = self.portfolio.position(instrument)
            if pos:
                side = Side.SELL if pos > 0 else Side.BUY
                order = Order(0, instrument, side, abs(pos), order_type=OrderType.MARKET, tag="flatten")
                self.submit(order, None, flatten=True)

    # -- reports from venues ---------------------------------------------------
    def on_report(self, report: ExecReport) -> None:
        """Apply a venue report to its order, the portfolio and the risk state.

        A report with an ``exec_id`` (``stream << 32 | seq``: a venue session and its
        sequence number, from 1) is applied exactly once and in sequence: a duplicate
        is counted and journaled, a report ahead of a gap is held until the gap fills.
        """
        eid = report.exec_id
        if not eid:
            self._apply_report(report)
            return
        stream = eid >> 32
        seq = eid & 0xFFFFFFFF
        expected = self._exec_next.get(stream, 1)
        held = self._exec_held.setdefault(stream, {})
        if seq < expected or seq in held:
            self.duplicate_reports += 1
            self.journal.record(self._now(), "duplicate_report", eid, report.order_id, int(report.kind))
            return
        if seq > expected:
            held[seq] = report  # out of order: wait for the missing ones
            self.held_reports += 1
            return
        self._exec_next[stream] = seq + 1
        self._apply_report(report)
        while self._exec_next[stream] in held:
            nxt = self._exec_next[stream]
            self._exec_next[stream] = nxt + 1
            self._apply_report(held.pop(nxt))

    def _apply_report(self, report: ExecReport) -> None:
        order = self.orders.get(report.order_id)
        ts = report.ts if report.ts > 0 else self._now()
        ts = max(ts, self._now())
        kind = report.kind
        if order is not None and kind == ReportKind.FILL and order.is_terminal and report.exec_id:
            self._on_late_fill(order, report, ts)
            return
        if order is None or (order.is_terminal and kind != ReportKind.REJECT):
            self.late_reports += 1
            self.journal.record(ts, "late_report", int(kind), report.order_id, report.qty, report.reason)
            return
        if kind == ReportKind.FILL:
            self._on_fill(order, report, ts)
            return
        if kind == ReportKind.ACK:
            if order.status == S.PENDING_NEW:
                order.transition(S.ACCEPTED, ts)
            self.journal.record(ts, "accept", order.order_id, report.price, report.qty)
        elif kind == ReportKind.REJECT:
            self._on_venue_reject(order, report, ts)
        elif kind == ReportKind.CANCEL:
            order.transition(S.CANCELLED, ts)
            self.journal.record(ts, "cancel", order.order_id, report.qty, report.reason)
        elif kind == ReportKind.EXPIRE:
            order.transition(S.EXPIRED, ts)
            self.journal.record(ts, "expire", order.order_id, report.qty)
        elif kind == ReportKind.REPLACE:
            self._on_replace(order, report, ts)
        elif kind == ReportKind.TRIGGER:
            self.journal.record(ts, "trigger", order.order_id, order.stop_price)
        if order.is_terminal:
            self.working.pop(order.order_id, None)
            self._pending_amend.pop(order.order_id, None)
        if self.observers:
            self._observe_order(order)
        self._emit(order, report)

    def _book_fill(self, order: Order, report: ExecReport, ts: int) -> dict:
        """Book a fill in the portfolio and the fill list (the order itself is the caller's)."""
        realized = self.portfolio.on_fill(order.instrument, int(order.side), report.qty, report.price, report.fee, ts)
        fill = {
            "seq": len(self.fills), "ts": ts, "order_id": order.order_id, "instrument": order.instrument,
            "side": int(order.side), "price": report.price, "qty": report.qty, "fee": report.fee,
            "liquidity": report.liquidity, "realized": realized,
        }  # fmt: skip
        self.fills.append(fill)
        return fill

    def _on_fill(self, order: Order, report: ExecReport, ts: int) -> None:
        order.apply_fill(report.price, report.qty, ts)
        fill = self._book_fill(order, report, ts)
        self.journal.record(
            ts, "fill", order.order_id, report.price, report.qty, report.liquidity, report.fee, report.leaves
        )
        if order.is_terminal:
            self.working.pop(order.order_id, None)
            self._pending_amend.pop(order.order_id, None)
        if self.observers:
            self._observe_order(order)
            for obs in self.observers:
                obs.on_fill(fill)
        self._after_pnl_change(ts)
        strategy = self._owners.get(order.order_id)
        if strategy is not None:
            self._notify(strategy.on_fill, (order, report))
        self._emit(order, report)

    def _on_late_fill(self, order: Order, report: ExecReport, ts: int) -> None:
        """A fill (with an exec id) that arrives after its order went terminal - e.g. after
        the cancel it raced, delivered out of order: applied, never lost."""
        if report.qty <= 0 or order.filled_qty + report.qty > order.qty:
            self.late_reports += 1
            self.journal.record(ts, "late_report", int(report.kind), report.order_id, report.qty, report.reason)
            return
        self.late_fills += 1
        total = order.filled_qty + report.qty
        order.avg_fill_price = (order.avg_fill_price * order.filled_qty + report.price * report.qty) / total
        order.filled_qty = total
        fill = self._book_fill(order, report, ts)
        self.journal.record(ts, "late_fill", order.order_id, report.price, report.qty, report.liquidity, report.fee)
        if self.observers:
            for obs in self.observers:
                obs.on_fill(fill)
        self._after_pnl_change(ts)
        strategy = self._owners.get(order.order_id)
        if strategy is not None:
            self._notify(strategy.on_fill, (order, report))

    def _on_venue_reject(self, order: Order, report: ExecReport, ts: int) -> None:
        if order.status == S.PENDING_NEW:
            order.reject_reason = report.reason
            order.transition(S.REJECTED, ts)
            self.rejections += 1
            self.journal.record(ts, "reject", order.order_id, "venue", report.reason)
            self.working.pop(order.order_id, None)  # before a HALT cancels what is working
            self._apply_state(self.risk.on_venue_reject(ts), ts)
        elif order.status in (S.PENDING_CANCEL, S.PENDING_REPLACE):
            # A cancel/amend was refused: the order stays as it was.
            self._pending_amend.pop(order.order_id, None)
            order.transition(order.live_status(), ts)
            self.journal.record(ts, "request_rejected", order.order_id, report.reason)
        else:
            self.journal.record(ts, "request_rejected", order.order_id, report.reason)

    def _on_replace(self, order: Order, report: ExecReport, ts: int) -> None:
        if order.status == S.PENDING_REPLACE:
            order.transition(S.REPLACED, ts)
            self._pending_amend.pop(order.order_id, None)
        order.price = report.price if report.price else order.price
        order.qty = order.filled_qty + report.leaves
        if order.status == S.REPLACED:
            order.transition(order.live_status(), ts)
        self.journal.record(ts, "amend", order.order_id, order.price, order.qty, report.reason)

    def _reject(self, order: Order, check: str, reason: str) -> Order:
        ts = self._now()
        order.reject_reason = reason
        order.transition(S.REJECTED, ts)
        self.rejections += 1
        self.journal.record(ts, "reject", order.order_id, check, reason)
        if self.observers:
            self._observe_order(order)
        self._emit(order, None)
        return order

    def _journal_risk(self, ts: int, order_id: int, accepted: bool, check: str, reason: str) -> None:
        self.journal.record(ts, "risk", order_id, int(accepted), check, reason)
        event = {"seq": len(self.risk_events), "ts": ts, "order_id": order_id, "accepted": accepted,
                 "check": check, "reason": reason}  # fmt: skip
        self.risk_events.append(event)
        if self.observers:
            for obs in self.observers:
                obs.on_risk(event)

    def _after_pnl_change(self, ts: int) -> None:
        new_state = self.risk.on_pnl(ts)
        if new_state is not None:
            self.journal.record(ts, "trading_state", new_state.name)
            if self.observers:
                for obs in self.observers:
                    obs.on_state(new_state)
            if new_state == TradingState.HALTED:
                for order_id in list(self.working):
                    self.cancel(order_id)

    def _apply_state(self, new_state: TradingState | None, ts: int) -> None:
        """Journal a trading-state change from an operational hook; HALTED cancels all."""
        if new_state is None:
            return
        self.journal.record(ts, "trading_state", new_state.name)
        if self.observers:
            for obs in self.observers:
                obs.on_state(new_state)
        if new_state == TradingState.HALTED:
            for order_id in list(self.working):
                self.cancel(order_id)

    def check_data(self, ts: int, last_data_ts: int, what: str = "market data") -> None:
        """Feed the risk engine the age of the freshest market data (stale-data limit)."""
        self._apply_state(self.risk.on_data_age(ts, ts - last_data_ts, what), ts)

    # -- timeouts and reconciliation -------------------------------------------------------
    def check_timeouts(self, ts: int) -> int:
        """Reconcile every order pending (new / cancel / replace) for ``pending_timeout_ns``
        or longer with its venue; returns how many timed out.

        The venue's own record (``venue.order_status(order)`` -> :class:`VenueOrderStatus`)
        is replayed through :meth:`on_report` - exec ids make that idempotent, so a report
        that was lost is applied and one already seen is not - then an order still
        pending is settled: unknown at the venue -> REJECTED; done there -> CANCELLED;
        working there -> ACCEPTED (a lost cancel is sent again, a lost amend dropped).
        """
        timeout = self.pending_timeout_ns
        if not timeout:
            return 0
        due = [o for o in self.working.values() if o.status in _PENDING and ts - o.updated_ts >= timeout]
        for order in due:
            self.timeouts += 1
            self.journal.record(ts, "timeout", order.order_id, order.status.name)
            self._reconcile(order, ts)
        return len(due)

    def _reconcile(self, order: Order, ts: int) -> None:
        venue = self._venues.get(order.instrument)
        query = getattr(venue, "order_status", None)
        if query is None:
            self.journal.record(ts, "reconcile", order.order_id, "unavailable")
            return
        status = query(order)
        for report in status.reports:
            self.on_report(report)
        if order.is_terminal:
            self.journal.record(ts, "reconcile", order.order_id, "replayed", order.status.name)
            return
        if not status.known and order.status == S.PENDING_NEW:
            reason = f"order {order.order_id}: no answer within {self.pending_timeout_ns} ns and unknown at the venue"
            order.reject_reason = reason
            order.transition(S.REJECTED, ts)
            self.rejections += 1
            self.journal.record(ts, "reject", order.order_id, "timeout", reason)
            outcome = "rejected"
        elif not status.known or status.leaves == 0:
            order.transition(S.CANCELLED, ts)
            self.journal.record(ts, "cancel", order.order_id, order.leaves_qty, "reconciled: not working at the venue")
            outcome = "cancelled"
        elif order.status == S.PENDING_CANCEL:
            order.updated_ts = ts
            venue.cancel(order)
            outcome = "cancel_resent"
        else:
            if order.status == S.PENDING_REPLACE:
                self._pending_amend.pop(order.order_id, None)
            order.transition(order.live_status(), ts)
            outcome = "working"
        self.journal.record(ts, "reconcile", order.order_id, outcome)
        if order.is_terminal:
            self.working.pop(order.order_id, None)
            self._pending_amend.pop(order.order_id, None)
        if self.observers:
            self._observe_order(order)
        self._emit(order, None)

    def on_mark(self, ts: int) -> None:
        """Call after marking the portfolio: PnL limits may change the trading state."""
        self._after_pnl_change(ts)

    def _observe_order(self, order: Order) -> None:
        for obs in self.observers:
            obs.on_order(order)

    def _emit(self, order: Order, report: ExecReport | None) -> None:
        strategy = self._owners.get(order.order_id)
        if strategy is not None:
            self._notify(strategy.on_order_event, (order, report))
