"""IBVenue: the live twin of :class:`venues.simulated.SimulatedVenue`.

Same methods (``attach / submit / cancel / amend / subscribe /
reference_price / end_of_day``), same way back: every order event becomes an
:class:`~kernel.reports.ExecReport` handed to ``oms.on_report`` through the
kernel's scheduler, and market data become :class:`~kernel.reports.BookTop` /
:class:`~kernel.reports.Trade` published on the bus. The OMS, risk engine,
portfolio and strategy are the simulation's, unchanged.

IB -> ExecReport:

* openOrder / orderStatus Submitted (PreSubmitted) of a pending order -> ACK;
  of an order with an amend in flight whose price/qty now match -> REPLACE;
* execDetails + its commissionReport -> FILL (commission as the fee), keyed
  by execId so a fill is applied exactly once, live or found again at
  reconciliation;
* orderStatus Cancelled -> CANCEL (the reason from the 202 notice before it);
* error 201 (and other order errors) -> REJECT of a new order, or of the
  amend / cancel request in flight; Inactive before an ack -> REJECT.

Modify is a re-place with the same IB order id. Market data: reqMktData
(top of book, last trades) and reqMktDepth (L2) per subscribed instrument;
resubscribed after 1101/1102 and after every reconnect.

Reconciliation at every (re)connect: executions the venue has not seen (by
execId) are applied, orders pending at the drop are settled against IB's
open orders (acked, amended, or gone: rejected / remainder cancelled), lost
cancel requests are sent again, and the portfolio's positions are compared
with IB's (a mismatch is journaled and counted in the health object).

Lockstep (only against :mod:`adapters.ib.fake_tws`): the server ends each
market step with an unsolicited ``currentTime``; the venue publishes the
step's market data, lets the kernel run until idle and the pacer drains, then
answers with ``reqCurrentTime`` so the server may go on.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from adapters.ib.connection import IBConnection
from adapters.ib.mapping import (
    LIQUIDITY_FROM_IB,
    contract_for,
    price_from_ib,
    price_to_ib,
    qty_from_ib,
    qty_to_ib,
    to_ib_order,
)
from kernel.errors import OrderRejected
from kernel.instruments import Instrument
from kernel.loop import PRIO_DELIVERY
from kernel.orders import Order, OrderStatus, OrderType, TimeInForce
from kernel.reports import BookTop, ExecReport, ReportKind, Trade

if TYPE_CHECKING:
    from kernel.loop import Kernel
    from kernel.marketdata import MarketDataBus
    from kernel.oms import OMS

log = logging.getLogger("parity.adapters.ib.venue")

_ACK_STATES = ("Submitted", "PreSubmitted")
_CANCEL_STATES = ("Cancelled", "ApiCancelled")
# Error codes that refuse an order or a request about one (others are notices).
_ORDER_ERRORS = {103, 104, 105, 106, 107, 109, 110, 111, 113, 135, 161, 200, 201, 203, 321, 322, 10147, 10148}
_CANCEL_REFUSED = {161, 10147, 10148}
_TICK_LAST = (4, 68)
_REF_PREFIX = "parity:"


def _valid(x: float) -> bool:
    return x == x and 0 < x < 1e300  # not NaN, not unset, not -1


class IBVenue:
    """A venue backed by Interactive Brokers through ib_insync."""

    def __init__(
        self,
        name: str,
        instruments: dict[int, Instrument],
        conn: IBConnection,
        *,
        exchange: str = "SMART",
        sec_type: str = "STK",
        account: str = "",
        dry_run: bool = False,
        lockstep: bool = False,
        commission_wait_s: float = 2.0,
    ) -> None:
        self.name = name
        self.instruments = instruments
        self.conn = conn
        self.ib = conn.ib
        self.account = account or conn.account
        self.dry_run = dry_run
        self.lockstep = lockstep
        self.commission_wait_s = commission_wait_s
        self.contracts = {iid: contract_for(inst, exchange, sec_type) for iid, inst in instruments.items()}
        self._by_symbol = {inst.symbol: iid for iid, inst in instruments.items()}
        self.kernel: Kernel | None = None
        self.oms: OMS | None = None
        self.bus: MarketDataBus | None = None
        # subscriptions
        self._subs: dict[int, tuple[int, bool]] = {}  # instrument -> (depth, trades)
        self._tickers: dict[int, Any] = {}  # instrument -> ib_insync Ticker
        self._last_top: dict[int, tuple[int, int, int, int]] = {}
        self._md_books: dict[int, BookTop] = {}
        self._md_trades: list[Trade] = []
        # orders
        self._ib_key: dict[int, tuple[int, int]] = {}  # oms id -> (client id, IB order id)
        self._oms_of: dict[tuple[int, int], int] = {}
        self._perm: dict[int, int] = {}  # IB perm id -> oms id
        self._ib_orders: dict[int, Any] = {}  # oms id -> ib_insync Order sent
        self._total: dict[int, int] = {}  # oms id -> current total qty (lots) as IB knows it
        self._filled: dict[int, int] = {}  # oms id -> lots filled (fills reported)
        self._acked: set[int] = set()
        self._done: set[int] = set()
        self._amend: dict[int, tuple[int, int, float, float]] = {}  # oms id -> (price, total, old lmt, old qty)
        self._cancel_reason: dict[int, str] = {}
        self._seen_exec: set[str] = set()
        self._exec_waiting: dict[str, Any] = {}
        self._markers = 0
        self.reports = 0
        self.duplicate_fills = 0
        self.foreign_fills = 0
        self.dry_run_orders: list[dict[str, Any]] = []
        ib = self.ib
        ib.openOrderEvent += self._on_open_order
        ib.orderStatusEvent += self._on_order_status
        ib.execDetailsEvent += self._on_exec_details
        ib.commissionReportEvent += self._on_commission
        ib.errorEvent += self._on_error
        ib.pendingTickersEvent += self._on_tickers
        conn.on_ready(self._on_ready)
        conn.on_restored(self._on_restored)
        if lockstep:
            self._install_lockstep()

    @property
    def health(self):
        return self.conn.health

    # -- wiring -----------------------------------------------------------------
    def attach(self, kernel: Kernel, oms: OMS, bus: MarketDataBus) -> None:
        self.kernel, self.oms, self.bus = kernel, oms, bus
        for iid in self.instruments:
            oms.route(iid, self)

    def subscribe(self, instrument: int, depth: int = 0, trades: bool = False) -> None:
        old_depth, old_trades = self._subs.get(instrument, (0, False))
        self._subs[instrument] = (max(depth, old_depth), trades or old_trades)
        if self.conn.is_ready:
            self._request(instrument, resubscribe=instrument in self._tickers)

    def reference_price(self, instrument: int) -> int | None:
        ref = self.bus.reference_price(instrument) if self.bus else None
        if ref is not None:
            return ref
        ticker = self._tickers.get(instrument)
        if ticker is not None and _valid(ticker.last):
            return price_from_ib(ticker.last, self.instruments[instrument])
        return None

    def end_of_day(self, ts: int) -> None:
        """IB expires DAY orders at the close itself and reports them Cancelled; nothing to send."""
        self.kernel.journal.record(ts, "venue_end_of_day", self.name, len(self.working_ids()))

    def working_ids(self) -> list[int]:
        return [oid for oid in self._ib_key if oid not in self._done]

    # -- order entry ----------------------------------------------------------------
    def submit(self, order: Order) -> None:
        inst = self.instruments[order.instrument]
        oid = order.order_id
        try:
            ib_order = to_ib_order(order, inst, self.account, f"{_REF_PREFIX}{oid}")
        except OrderRejected as exc:
            self._report(ReportKind.REJECT, oid, order.owner, order.price, order.qty, 0, str(exc))
            return
        self._total[oid] = order.qty
        self._filled[oid] = 0
        if self.dry_run:
            self._dry_run("submit", order, ib_order)
            self._acked.add(oid)
            self._ib_key[oid] = (-1, oid)
            self._report(ReportKind.ACK, oid, order.owner, order.price, order.qty, order.qty, "dry run")
            if order.tif in (TimeInForce.IOC, TimeInForce.FOK) or order.order_type == OrderType.MARKET:
                self._done.add(oid)  # it would not rest: over at once, unfilled
                self._report(ReportKind.CANCEL, oid, order.owner, order.price, order.qty, 0, "dry run: not sent")
            return
        if not self.conn.is_ready:
            self._report(
                ReportKind.REJECT, oid, order.owner, order.price, order.qty, 0,
                f"IB not connected ({self.health.state}): order {oid} not sent",
            )  # fmt: skip
            return
        ib_id = self.conn.next_order_id()
        ib_order.orderId = ib_id
        key = (self.conn.client_id, ib_id)
        self._ib_key[oid] = key
        self._oms_of[key] = oid
        self._ib_orders[oid] = ib_order
        self.ib.placeOrder(self.contracts[order.instrument], ib_order)

    def cancel(self, order: Order) -> None:
        oid = order.order_id
        if self.dry_run:
            self._dry_run("cancel", order, None)
            self._done.add(oid)
            self._report(ReportKind.CANCEL, oid, order.owner, order.price, self._leaves(oid), 0, "dry run")
            return
        ib_order = self._ib_orders.get(oid)
        if ib_order is None or oid in self._done:
            self._report(ReportKind.REJECT, oid, order.owner, 0, 0, 0, f"cancel rejected: order {oid} is not at IB")
            return
        if not self.conn.is_ready:
            # Sent again by reconciliation when the session is back.
            log.warning("cancel of order %d queued: IB not connected", oid)
            return
        self.ib.client.cancelOrder(ib_order.orderId)

    def amend(self, order: Order, new_price: int | None, new_qty: int | None) -> None:
        """``new_qty`` is the new open quantity (leaves), as the OMS passes it."""
        oid = order.order_id
        inst = self.instruments[order.instrument]
        price = order.price if new_price is None else new_price
        total = self._total.get(oid, order.qty) if new_qty is None else self._filled.get(oid, 0) + new_qty
        if self.dry_run:
            self._dry_run("amend", order, None, price=price, total=total)
            self._total[oid] = total
            self._report(ReportKind.REPLACE, oid, order.owner, price, new_qty or self._leaves(oid), self._leaves(oid))
            return
        ib_order = self._ib_orders.get(oid)
        if ib_order is None or oid in self._done or not self.conn.is_ready:
            why = "IB not connected" if ib_order is not None and not self.conn.is_ready else "not at IB"
            self._report(ReportKind.REJECT, oid, order.owner, order.price, 0, 0, f"amend rejected: order {oid} {why}")
            return
        self._amend[oid] = (price, total, ib_order.lmtPrice, ib_order.totalQuantity)
        if order.order_type in (1, 4):  # LIMIT, STOP_LIMIT carry a limit price
            ib_order.lmtPrice = price_to_ib(price, inst)
        ib_order.totalQuantity = qty_to_ib(total, inst)
        self.ib.client.placeOrder(ib_order.orderId, self.contracts[order.instrument], ib_order)

    def global_cancel(self) -> None:
        """Cancel every working order of the account at IB (reqGlobalCancel), e.g. on kill."""
        now = self.kernel.now() if self.kernel else 0
        if self.kernel is not None:
            self.kernel.journal.record(now, "global_cancel", self.name, int(self.dry_run))
        if not self.dry_run and self.conn.is_ready:
            self.ib.reqGlobalCancel()

    def _dry_run(self, action: str, order: Order, ib_order: Any, **extra: Any) -> None:
        row = {"action": action, "order_id": order.order_id, "instrument": order.instrument, **extra}
        if ib_order is not None:
            row.update(
                side=ib_order.action, qty=ib_order.totalQuantity, type=ib_order.orderType, tif=ib_order.tif,
                lmt=ib_order.lmtPrice if _valid(ib_order.lmtPrice) else None,
            )  # fmt: skip
        self.dry_run_orders.append(row)
        self.kernel.journal.record(self.kernel.now(), "dry_run", action, order.order_id, repr(sorted(row.items())))

    # -- reports to the OMS ------------------------------------------------------------
    def _leaves(self, oid: int) -> int:
        return max(0, self._total.get(oid, 0) - self._filled.get(oid, 0))

    def _report(
        self, kind: ReportKind, oid: int, owner: int, price: int, qty: int, leaves: int, reason: str = "",
        liquidity: str = "", fee: float = 0.0,
    ) -> None:  # fmt: skip
        self.reports += 1
        report = ExecReport(kind, 0, oid, owner, price, qty, leaves, reason, liquidity, fee)
        self.kernel.call_at(self.kernel.now(), self.oms.on_report, report, priority=PRIO_DELIVERY)

    def _order(self, oid: int) -> Order:
        return self.oms.orders[oid]

    def _oms_id(self, order: Any) -> int | None:
        """The OMS id of an ib_insync Order or Execution (by client/order id, perm id, then orderRef)."""
        oid = self._oms_of.get((order.clientId, order.orderId))
        if oid is None and getattr(order, "permId", 0):
            oid = self._perm.get(order.permId)
        if oid is None:
            ref = getattr(order, "orderRef", "") or ""
            if ref.startswith(_REF_PREFIX) and ref[len(_REF_PREFIX) :].isdigit():
                cand = int(ref[len(_REF_PREFIX) :])
                if cand in self._ib_key:
                    oid = cand
        if oid is not None and getattr(order, "permId", 0):
            self._perm[order.permId] = oid
        return oid

    def _ack(self, oid: int, trade: Any) -> None:
        if oid in self._acked or oid in self._done:
            return
        self._acked.add(oid)
        order = self._order(oid)
        self._report(ReportKind.ACK, oid, order.owner, order.price, self._total[oid], self._leaves(oid))

    def _maybe_replace(self, oid: int, trade: Any) -> bool:
        target = self._amend.get(oid)
        if target is None:
            return False
        price, total, _, _ = target
        inst = self.instruments[self._order(oid).instrument]
        ib = trade.order
        try:
            qty_ok = qty_from_ib(ib.totalQuantity, inst) == total
            px_ok = not _valid(ib.lmtPrice) or price_from_ib(ib.lmtPrice, inst) == price
        except OrderRejected:
            return False
        if not (qty_ok and px_ok):
            return False
        del self._amend[oid]
        self._total[oid] = total
        order = self._order(oid)
        leaves = self._leaves(oid)
        self._report(ReportKind.REPLACE, oid, order.owner, price, leaves, leaves)
        return True

    # -- ib_insync events ----------------------------------------------------------------
    def _on_open_order(self, trade: Any) -> None:
        oid = self._oms_id(trade.order)
        if oid is None or oid in self._done:
            return
        if not self._maybe_replace(oid, trade) and trade.orderStatus.status in _ACK_STATES + ("PendingSubmit",):
            if trade.orderStatus.status != "PendingSubmit":
                self._ack(oid, trade)

    def _on_order_status(self, trade: Any) -> None:
        if trade.log and trade.log[-1].errorCode:
            return  # ib_insync's own reaction to an error message: the error handler decides
        oid = self._oms_id(trade.order)
        if oid is None or oid in self._done:
            return
        status = trade.orderStatus.status
        if status in _ACK_STATES:
            self._ack(oid, trade)
            self._maybe_replace(oid, trade)
        elif status in _CANCEL_STATES:
            self._cancelled(oid, self._cancel_reason.pop(oid, "cancelled at IB"))
        elif status == "Inactive" and oid not in self._acked:
            self._reject_new(oid, self._cancel_reason.pop(oid, "order inactive at IB"))

    def _cancelled(self, oid: int, reason: str) -> None:
        if oid in self._done:
            return
        self._done.add(oid)
        self._amend.pop(oid, None)
        order = self._order(oid)
        self._report(ReportKind.CANCEL, oid, order.owner, order.price, self._leaves(oid), 0, reason)

    def _reject_new(self, oid: int, reason: str) -> None:
        if oid in self._done:
            return
        self._done.add(oid)
        order = self._order(oid)
        self._report(ReportKind.REJECT, oid, order.owner, order.price, order.qty, 0, reason)

    def _on_exec_details(self, trade: Any, fill: Any) -> None:
        exec_id = fill.execution.execId
        if exec_id in self._seen_exec or exec_id in self._exec_waiting:
            return
        self._exec_waiting[exec_id] = fill
        if self.commission_wait_s > 0:
            asyncio.get_event_loop().call_later(self.commission_wait_s, self._commission_overdue, exec_id)

    def _commission_overdue(self, exec_id: str) -> None:
        fill = self._exec_waiting.pop(exec_id, None)
        if fill is not None and exec_id not in self._seen_exec:
            log.warning("no commission report for execution %s after %.1fs; fee 0", exec_id, self.commission_wait_s)
            self._apply_fill(fill, 0.0, "no commission report")

    def _on_commission(self, trade: Any, fill: Any, report: Any) -> None:
        self._exec_waiting.pop(fill.execution.execId, None)
        self._apply_fill(fill, float(report.commission))

    def _apply_fill(self, fill: Any, fee: float, note: str = "") -> None:
        ex = fill.execution
        if ex.execId in self._seen_exec:
            self.duplicate_fills += 1
            return
        oid = self._oms_id(ex)
        if oid is None:
            self._seen_exec.add(ex.execId)
            self.foreign_fills += 1
            if self.kernel is not None:
                self.kernel.journal.record(self.kernel.now(), "foreign_execution", ex.execId, ex.orderId, ex.shares)
            return
        self._seen_exec.add(ex.execId)
        order = self._order(oid)
        inst = self.instruments[order.instrument]
        qty = qty_from_ib(ex.shares, inst)
        self._filled[oid] = self._filled.get(oid, 0) + qty
        leaves = self._leaves(oid)
        if leaves == 0:
            self._done.add(oid)
            self._amend.pop(oid, None)
        liquidity = LIQUIDITY_FROM_IB.get(int(ex.lastLiquidity or 0), "")
        self._report(
            ReportKind.FILL, oid, order.owner, price_from_ib(ex.price, inst), qty, leaves, note, liquidity, fee
        )

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        oid = self._oms_of.get((self.conn.client_id, req_id))
        if oid is None or oid in self._done:
            return
        text = f"IB {code}: {message}"
        if code == 202:
            self._cancel_reason[oid] = text
            return
        if code not in _ORDER_ERRORS:
            return
        order = self._order(oid)
        if oid in self._amend:
            _, _, old_lmt, old_qty = self._amend.pop(oid)
            ib_order = self._ib_orders[oid]
            ib_order.lmtPrice, ib_order.totalQuantity = old_lmt, old_qty
            self._report(ReportKind.REJECT, oid, order.owner, order.price, 0, self._leaves(oid), text)
        elif order.status == OrderStatus.PENDING_CANCEL and code in _CANCEL_REFUSED:
            self._report(ReportKind.REJECT, oid, order.owner, order.price, 0, self._leaves(oid), text)
        elif oid not in self._acked:
            self._reject_new(oid, text)
        else:
            self._cancel_reason[oid] = text

    # -- market data ----------------------------------------------------------------------
    def _request(self, instrument: int, resubscribe: bool = False) -> None:
        depth, _ = self._subs[instrument]
        contract = self.contracts[instrument]
        if resubscribe and instrument in self._tickers:
            self.ib.cancelMktData(contract)
            if depth:
                self.ib.cancelMktDepth(contract)
        ticker = self.ib.reqMktData(contract, "", False, False)
        if depth:
            ticker = self.ib.reqMktDepth(contract, numRows=depth)
        self._tickers[instrument] = ticker
        self._last_top.pop(instrument, None)

    def _request_all(self, resubscribe: bool) -> None:
        for iid in sorted(self._subs):
            self._request(iid, resubscribe)

    def _on_restored(self, code: int) -> None:
        """1101 / 1102: TWS is linked to IB again; resubscribe every market data stream."""
        log.info("TWS connectivity restored (%d): resubscribing market data", code)
        self._request_all(resubscribe=True)

    def _instrument_of_ticker(self, ticker: Any) -> int | None:
        for iid, t in self._tickers.items():
            if t is ticker:
                return iid
        return self._by_symbol.get(ticker.contract.symbol) if ticker.contract else None

    def _on_tickers(self, tickers: Any) -> None:
        for ticker in tickers:
            iid = self._instrument_of_ticker(ticker)
            if iid is None or iid not in self._subs:
                continue
            inst = self.instruments[iid]
            depth, trades = self._subs[iid]
            if trades:
                for tick in ticker.ticks:
                    if tick.tickType in _TICK_LAST and _valid(tick.price) and tick.size > 0:
                        self._md_trades.append(
                            Trade(0, iid, price_from_ib(tick.price, inst), qty_from_ib(tick.size, inst), 0)
                        )
            book = self._book(iid, ticker, inst, depth)
            if book is not None:
                self._md_books[iid] = book
        if not self.lockstep:
            self._flush_md()

    def _book(self, iid: int, t: Any, inst: Instrument, depth: int) -> BookTop | None:
        try:
            bid = price_from_ib(t.bid, inst) if _valid(t.bid) else 0
            ask = price_from_ib(t.ask, inst) if _valid(t.ask) else 0
            bq = qty_from_ib(t.bidSize, inst) if bid and _valid(t.bidSize) else 0
            aq = qty_from_ib(t.askSize, inst) if ask and _valid(t.askSize) else 0
        except OrderRejected as exc:
            log.warning("%s: quote off the tick/lot grid ignored: %s", inst.symbol, exc)
            return None
        top = (bid, bq, ask, aq)
        if top == self._last_top.get(iid):
            return None
        self._last_top[iid] = top
        bids = asks = ()
        if depth:
            bids = tuple((price_from_ib(lv.price, inst), qty_from_ib(lv.size, inst)) for lv in t.domBids[:depth])
            asks = tuple((price_from_ib(lv.price, inst), qty_from_ib(lv.size, inst)) for lv in t.domAsks[:depth])
        return BookTop(0, iid, bid, bq, ask, aq, bids, asks)

    def _flush_md(self) -> None:
        if self.kernel is None:
            return
        now = self.kernel.now()
        for trade in self._md_trades:
            self.kernel.call_at(now, self.bus.publish_trade, trade._replace(ts=now), priority=PRIO_DELIVERY)
        self._md_trades = []
        for iid in sorted(self._md_books):
            book = self._md_books[iid]._replace(ts=now)
            self.kernel.call_at(now, self.bus.publish_book, book, priority=PRIO_DELIVERY)
        self._md_books = {}

    # -- lockstep with the fake server --------------------------------------------------------
    def _install_lockstep(self) -> None:
        wrapper = self.ib.wrapper
        original = type(wrapper).currentTime

        def current_time(t: int) -> None:  # instance attribute: ib_insync itself is not modified
            original(wrapper, t)
            self._markers += 1
            asyncio.get_event_loop().call_soon(self._step_end)

        wrapper.currentTime = current_time

    def _step_end(self) -> None:
        self._flush_md()
        self.kernel.when_idle(lambda: self.conn.pacer.when_empty(self._send_barrier))

    def _send_barrier(self) -> None:
        if self._markers > 0 and self.conn.is_ready:
            self._markers -= 1
            self.conn.send_unpaced(49, 1)

    # -- (re)connect --------------------------------------------------------------------------
    async def _on_ready(self, reconnected: bool) -> None:
        self._markers = 0
        self._tickers.clear()
        self.reconcile(reconnected)
        self._request_all(resubscribe=False)

    def reconcile(self, reconnected: bool = True) -> None:
        """Settle fills, pending orders and positions against IB after a (re)connect."""
        if self.kernel is None or self.oms is None:
            return
        self.health.reconciliations += 1
        now = self.kernel.now()
        fills = sorted(self.ib.fills(), key=lambda f: (f.time, f.execution.execId))
        found = 0
        for fill in fills:
            if fill.execution.execId not in self._seen_exec:
                cr = fill.commissionReport
                self._exec_waiting.pop(fill.execution.execId, None)
                self._apply_fill(fill, float(cr.commission) if cr.execId else 0.0, "" if cr.execId else "no commission")
                found += 1
        open_by_key = {}
        for trade in self.ib.openTrades():
            oid = self._oms_id(trade.order)
            if oid is not None:
                open_by_key[oid] = trade
        settled = 0
        for oid in self.working_ids():
            order = self.oms.orders.get(oid)
            if order is None or order.is_terminal:
                continue
            trade = open_by_key.get(oid)
            if trade is not None:
                if trade.orderStatus.status in _ACK_STATES:
                    self._ack(oid, trade)
                if oid in self._amend and not self._maybe_replace(oid, trade):
                    _, _, old_lmt, old_qty = self._amend.pop(oid)
                    ib_order = self._ib_orders[oid]
                    ib_order.lmtPrice, ib_order.totalQuantity = old_lmt, old_qty
                    self._report(
                        ReportKind.REJECT, oid, order.owner, order.price, 0, self._leaves(oid),
                        "amend lost in a disconnect; order unchanged at IB",
                    )  # fmt: skip
                if order.status == OrderStatus.PENDING_CANCEL:
                    self.ib.client.cancelOrder(trade.order.orderId)
                continue
            settled += 1
            if oid not in self._acked and self._filled.get(oid, 0) == 0:
                self._reject_new(oid, "order not found at IB after reconnect: it never reached TWS")
            elif self._leaves(oid) > 0:
                self._cancelled(oid, "not open at IB after reconnect: cancelled or expired during the outage")
        self.kernel.journal.record(now, "reconcile", self.name, int(reconnected), found, settled)
        # After every report just scheduled (they are due no later than now).
        self.kernel.call_at(self.kernel.now(), self._check_positions, priority=PRIO_DELIVERY)

    def ib_positions(self) -> dict[int, int]:
        """IB's positions (lots) per instrument of this venue."""
        out: dict[int, int] = {}
        for p in self.ib.positions():
            if self.account and p.account != self.account:
                continue
            iid = self._by_symbol.get(p.contract.symbol)
            if iid is not None:
                out[iid] = out.get(iid, 0) + qty_from_ib(p.position, self.instruments[iid])
        return out

    def _check_positions(self) -> None:
        theirs = self.ib_positions()
        now = self.kernel.now()
        for iid in sorted(self.instruments):
            ours = self.oms.portfolio.position(iid)
            ib_pos = theirs.get(iid, 0)
            self.kernel.journal.record(now, "reconcile_position", iid, ours, ib_pos)
            if ours != ib_pos:
                self.health.position_mismatches += 1
                log.warning("%s: position %d in parity, %d at IB", self.instruments[iid].symbol, ours, ib_pos)
