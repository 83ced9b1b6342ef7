"""A loopback fake TWS server that unmodified ib_insync connects to.

It speaks the TWS API socket protocol (``API\\0`` + version range handshake,
4-byte length-prefixed NUL-separated fields, server version 157) well enough
for ``ib_insync.IB.connectAsync`` and for trading: nextValidId,
managedAccounts, the connect-time end markers (positions, open orders,
completed orders, account updates, executions), reqMktData ticks,
reqMktDepth updates, placeOrder (new and modify) / cancelOrder /
reqGlobalCancel with orderStatus / openOrder / execDetails / commissionReport
answers, and the error messages a client must handle. Field orders follow
ib_insync 0.9.86's ``Decoder`` for server version 157.

The market behind it is the project's own simulation: a simulated
:class:`~kernel.loop.Kernel` with :class:`~venues.simulated.SimulatedVenue`
objects (so the :class:`~venues.matching.MatchingEngine`) and their
market-data feeds, assembled by the composition root
(:func:`scenarios.live.fake_server_for`). The server takes the OMS's and the
market-data bus's place behind those venues: every report or book/trade
delivery the venue makes is turned into TWS messages for the client that
owns the order or subscribed to the data.

Time and lockstep. The market runs in simulated time. In **lockstep** mode
(for the sim-vs-live parity proof) the server stops its kernel after every
delivery that produced messages, ends the batch with an unsolicited
``currentTime`` message (the step marker), and resumes only when every
ready client has answered with ``reqCurrentTime`` (the barrier), which the
parity adapter sends once it has processed the step and written out every
order action it caused. Order actions received before the barrier are
applied at the step's simulated time, exactly where a simulated strategy's
reactions would land. So the live strategy sees the same sequence of books
and reports as in simulation. Without lockstep (free mode) order actions are
applied as they arrive and the market moves only when the test drives it
(:meth:`FakeTWS.market_order`, :meth:`FakeTWS.add_order`).

Fault injection: :meth:`FakeTWS.drop_connections`, :meth:`FakeTWS.send_error`
(1100/1101/1102, farm codes...), ``client_ids_in_use`` (error 326 at
startApi), :meth:`FakeTWS.reject_next_orders` (error 201), and
``received`` — the monotonic receive time of every client message, for the
pacing test.

Run one by hand: ``python -m adapters.ib.fake_tws SCENARIO --port 7497``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kernel.clock import NS_PER_S
from kernel.instruments import Instrument
from kernel.loop import Kernel
from kernel.orders import Order, OrderType, Side, TimeInForce
from kernel.reports import BookTop, ExecReport, ReportKind, Trade

log = logging.getLogger("parity.fake_tws")

SERVER_VERSION = 157
DEFAULT_ACCOUNT = "DU123456"
CONID_BASE = 100_000
PERM_ID_BASE = 1_000_000_000
BACKGROUND_ID_BASE = 1 << 60  # ids of orders the tests add as "other market participants"
UNSET = ""

_ORDER_TYPES = {"LMT": OrderType.LIMIT, "MKT": OrderType.MARKET, "STP": OrderType.STOP, "STP LMT": OrderType.STOP_LIMIT}
_TIFS = {"GTC": TimeInForce.GTC, "DAY": TimeInForce.DAY, "GTD": TimeInForce.GTD, "IOC": TimeInForce.IOC,
         "FOK": TimeInForce.FOK}  # fmt: skip
_OK_STATES = ("PreSubmitted", "Submitted", "PendingSubmit")


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, bool):
        return "1" if x else "0"
    if isinstance(x, float):
        return repr(x)
    return str(x)


def frame(fields: Iterable[Any]) -> bytes:
    """One TWS message: 4-byte big-endian length, then NUL-terminated fields."""
    body = "".join(_fmt(f) + "\0" for f in fields).encode()
    return struct.pack(">I", len(body)) + body


def _num(text: str) -> float:
    return float(text) if text not in ("", None) else 0.0


@dataclass
class ServerOrder:
    """An order as the server keeps it (IB units: prices and shares)."""

    perm_id: int
    client_id: int
    order_id: int
    instrument: Instrument
    con_id: int
    action: str
    total_qty: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    account: str
    order_ref: str = ""
    display_size: int = 0
    good_till: str = ""
    status: str = "PendingSubmit"
    filled: float = 0.0
    avg_price: float = 0.0
    last_fill_price: float = 0.0
    working: bool = False
    pending: str = ""  # "cancel" / "amend" while such a request is at the engine
    sim: Order | None = None

    @property
    def remaining(self) -> float:
        return 0.0 if self.status in ("Cancelled", "Filled", "Inactive") else self.total_qty - self.filled


@dataclass
class Execution:
    exec_id: str
    order: ServerOrder
    side: str  # BOT / SLD
    shares: float
    price: float
    time_s: int
    cum_qty: float
    avg_price: float
    liquidity: int
    commission: float


@dataclass
class _Sub:
    req_id: int
    instrument: int
    depth_rows: int = 0
    bids: list[tuple[float, float]] = field(default_factory=list)  # last depth sent
    asks: list[tuple[float, float]] = field(default_factory=list)


class _Session(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: FakeTWS) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.handshaken = False
        self.client_version = 0
        self.client_id: int | None = None
        self.ready = False
        self.mkt: dict[int, _Sub] = {}
        self.depth: dict[int, _Sub] = {}
        self.owed = 0  # step markers not yet answered by a barrier
        self.pending: list[list[str]] = []  # order actions waiting for the barrier (lockstep)
        self.closed = False
        self.positions_sub = False

    # -- transport ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.sessions.append(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.ready = False
        if self in self.server.sessions:
            self.server.sessions.remove(self)
        self.server._session_gone(self)

    def send(self, *fields: Any) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(frame(fields))

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        self.buf += data
        if not self.handshaken:
            if len(self.buf) < 4:
                return
            if self.buf[:4] != b"API\0":
                log.warning("fake TWS: bad handshake %r", self.buf[:8])
                self.abort()
                return
            if len(self.buf) < 8:
                return
            n = struct.unpack(">I", self.buf[4:8])[0]
            if len(self.buf) < 8 + n:
                return
            versions = self.buf[8 : 8 + n].decode().split(" ")[0]
            self.buf = self.buf[8 + n :]
            lo, _, hi = versions.lstrip("v").partition("..")
            self.client_version = int(hi or lo)
            self.handshaken = True
            self.server._received(self, now, "handshake")
            stamp = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"
            self.send(min(SERVER_VERSION, self.client_version), stamp)
        while len(self.buf) >= 4:
            n = struct.unpack(">I", self.buf[:4])[0]
            if len(self.buf) < 4 + n:
                break
            body = self.buf[4 : 4 + n].decode(errors="replace")
            self.buf = self.buf[4 + n :]
            fields = body.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            if not fields:
                continue
            self.server._received(self, now, fields[0])
            try:
                self.server._handle(self, fields)
            except Exception:  # a fake server must not die on one bad message
                log.exception("fake TWS: error handling %s", fields[:3])

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class _OMSShim:
    """What a SimulatedVenue needs from an OMS: ``orders``, ``route`` and ``on_report``."""

    def __init__(self, server: FakeTWS) -> None:
        self.server = server
        self.orders: dict[int, Order] = {}

    def route(self, instrument: int, venue: Any) -> None:
        self.server._venue_of[instrument] = venue

    def on_report(self, report: ExecReport) -> None:
        self.server._on_report(report)


class _BusShim:
    """What a SimulatedVenue needs from a market-data bus."""

    def __init__(self, server: FakeTWS) -> None:
        self.server = server

    def publish_book(self, book: BookTop) -> None:
        self.server._on_book(book)

    def book_publisher(self, instrument: int):
        """One instrument's publish_book (the same function for every instrument here)."""
        return self.publish_book

    def publish_trade(self, trade: Trade) -> None:
        self.server._on_trade(trade)

    def reference_price(self, instrument: int) -> int | None:
        return None


class FakeTWS:
    """The fake TWS: an asyncio server on 127.0.0.1 in front of simulated venues."""

    def __init__(
        self,
        kernel: Kernel,
        venues: Iterable[Any],
        instruments: dict[int, Instrument],
        *,
        end_ns: int | None = None,
        lockstep: bool = False,
        depth_levels: int = 10,
        trades: bool = True,
        settle_ns: int = NS_PER_S,
        accounts: tuple[str, ...] = (DEFAULT_ACCOUNT,),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.kernel = kernel
        self.instruments = instruments
        self.end_ns = end_ns
        self.settle_ns = settle_ns
        self.lockstep = lockstep
        self.accounts = accounts
        self.host = host
        self.port = port
        self.sessions: list[_Session] = []
        self._oms = _OMSShim(self)
        self._bus = _BusShim(self)
        self._venue_of: dict[int, Any] = {}
        self.venues = list(venues)
        for venue in self.venues:
            venue.attach(kernel, self._oms, self._bus)
            for iid in venue.instruments:
                venue.subscribe(iid, depth_levels, trades)
        self.con_ids = {iid: CONID_BASE + iid for iid in instruments}
        self._by_symbol = {inst.symbol: inst for inst in instruments.values()}
        self._by_con = {c: instruments[iid] for iid, c in self.con_ids.items()}
        self.orders: dict[int, ServerOrder] = {}  # perm id -> order
        self._by_client: dict[tuple[int, int], ServerOrder] = {}
        self.executions: list[Execution] = []
        self.positions: dict[tuple[str, int], float] = {}  # (account, con id) -> shares
        self._avg_cost: dict[tuple[str, int], float] = {}
        self._next_perm = PERM_ID_BASE
        self._next_valid_id = 1
        self._next_background = BACKGROUND_ID_BASE
        self.last_book: dict[int, BookTop] = {}
        # fault injection and observation
        self.client_ids_in_use: set[int] = set()
        self._reject_next: list[str] = []
        self.received: list[tuple[int, int, str]] = []  # (monotonic ns, client id or -1, message id)
        self.mkt_data_requests: list[tuple[int, int, int]] = []  # (client id, req id, instrument)
        self.depth_requests: list[tuple[int, int, int]] = []
        self.global_cancels = 0
        self.steps = 0
        self.barriers = 0
        # market driver state
        self._server: asyncio.base_events.Server | None = None
        self._market_task: asyncio.Task | None = None
        self._produced = False
        self._in_run = False
        self._wake = asyncio.Event()
        self._subscribed = asyncio.Event()
        self.market_done = asyncio.Event()
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> FakeTWS:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.lockstep:
            self._market_task = asyncio.ensure_future(self._guard(self._drive_lockstep()))
        elif self._has_feeds():
            self._market_task = asyncio.ensure_future(self._guard(self._drive_realtime()))
        else:
            self.market_done.set()
        return self

    async def stop(self) -> None:
        if self._market_task is not None:
            self._market_task.cancel()
            try:
                await self._market_task
            except (asyncio.CancelledError, Exception):
                pass
        for s in list(self.sessions):
            s.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> FakeTWS:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    def _has_feeds(self) -> bool:
        return bool(getattr(self.kernel, "_feeds", None))

    # ------------------------------------------------------------------ fault injection
    def drop_connections(self) -> int:
        """Abort every client connection (TWS restart / network drop). Orders keep working."""
        n = len(self.sessions)
        for s in list(self.sessions):
            s.abort()
        return n

    async def restart(self, down_s: float) -> None:
        """A TWS restart: drop every client, refuse connections for ``down_s`` seconds, listen again
        on the same port. Orders and executions survive (IB keeps them)."""
        self.drop_connections()
        self._server.close()
        await self._server.wait_closed()
        await asyncio.sleep(down_s)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Session(self), self.host, self.port)

    def send_error(self, code: int, message: str = "", req_id: int = -1) -> None:
        """Send an error/notice message to every ready client."""
        text = message or _ERROR_TEXT.get(code, f"error {code}")
        for s in self.sessions:
            if s.ready:
                s.send(4, 2, req_id, code, text)

    def reject_next_orders(self, reason: str, n: int = 1) -> None:
        """The next ``n`` new orders are rejected with error 201 and ``reason``."""
        self._reject_next.extend([reason] * n)

    def received_times(self, client_id: int | None = None) -> list[int]:
        """Monotonic ns receive times of the messages of one client (all clients if None)."""
        return [t for t, cid, _ in self.received if client_id is None or cid == client_id]

    # ------------------------------------------------------------------ test-driven market
    def add_order(self, instrument: int, side: int, price: int, qty: int) -> int:
        """Add a resting order of another participant (ticks, lots); returns its id."""
        self._next_background += 1
        oid = self._next_background
        venue = self._venue_of[instrument]
        venue.engines[instrument].add(self.kernel.now(), oid, side, price, qty)
        venue._after_engine(instrument, self.kernel.now())
        self._pump()
        return oid

    def market_order(self, instrument: int, side: int, qty: int) -> None:
        """Another participant sends a market order (it trades against resting orders, ours included)."""
        venue = self._venue_of[instrument]
        venue.engines[instrument].market(self.kernel.now(), side, qty)
        venue._after_engine(instrument, self.kernel.now())
        self._pump()

    def position(self, instrument: int, account: str = DEFAULT_ACCOUNT) -> int:
        """The server's position in lots."""
        inst = self.instruments[instrument]
        shares = self.positions.get((account, self.con_ids[instrument]), 0.0)
        return int(round(shares / inst.lot_size))

    # ------------------------------------------------------------------ the market driver
    def _pump(self) -> None:
        """Free mode: process what is scheduled. With the market data all played (or none),
        everything pending runs (latencies elapse in simulated time); while a real-time
        market is playing, only what is due now."""
        if self._in_run:
            return
        feeds = getattr(self.kernel, "_feeds", [])
        playing = any(f.next_ts != math.inf for f in feeds)
        self._in_run = True
        try:
            self.kernel.stopped = False
            self.kernel.run(self.kernel.now() if playing else None)
        finally:
            self._in_run = False

    def _pump_to(self, ts: int) -> None:
        if self._in_run:
            return
        self._in_run = True
        try:
            self.kernel.stopped = False
            self.kernel.run(ts)
        finally:
            self._in_run = False

    async def _guard(self, coro: Any) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.error = exc
            log.exception("fake TWS: market driver failed")
        finally:
            self.market_done.set()

    async def _drive_lockstep(self) -> None:
        """Replay the market one delivery at a time, waiting for the clients' barriers.

        The phases mirror a simulated run (``scenarios.runner.Run.run``): the market
        data up to the end; then the venues' end of day; then the clients' own stop
        (``market_done`` is set, the server waits for a barrier, which a client sends
        once its strategy's ``on_stop`` actions are out) and the settle time, in
        which their consequences still play in lockstep. After that, client actions
        still play in lockstep as they come."""
        await self._subscribed.wait()
        await self._barrier()  # every subscription of the clients' start is in
        end = self.end_ns if self.end_ns is not None else 2**62
        await self._play(end)
        ts = self.kernel.now()
        for venue in self.venues:
            venue.end_of_day(ts)
        self.market_done.set()
        await self._barrier()  # the clients have stopped (their on_stop actions are in)
        self._apply_pending()
        await self._play(ts + self.settle_ns)
        while True:
            if not any(s.pending for s in self.sessions):
                self._wake.clear()
                await self._wake.wait()
                continue
            self._apply_pending()
            await self._play(self.kernel.now())

    async def _play(self, end: int) -> None:
        """Run the kernel to ``end`` one delivery (step) at a time."""
        while True:
            self._produced = False
            self._pump_to(end)
            if self._produced:
                self.steps += 1
                await self._barrier()
                self._apply_pending()
            elif not self._apply_pending():
                return

    async def _drive_realtime(self, speed: float = 1.0) -> None:
        """Play the market in (scaled) wall time; client actions land at the current market time."""
        await self._subscribed.wait()
        loop = asyncio.get_running_loop()
        t0, s0 = loop.time(), self.kernel.now()
        end = self.end_ns
        while True:
            target = s0 + int((loop.time() - t0) * NS_PER_S * speed)
            if end is not None and target >= end:
                self._pump_to(end)
                break
            self._pump_to(target)
            await asyncio.sleep(0.005)
        for venue in self.venues:
            venue.end_of_day(self.kernel.now())
        self._pump()

    def _after_delivery(self) -> None:
        if self.lockstep and self._market_task is not None:
            self._produced = True
            self.kernel.stop()

    async def _barrier(self) -> None:
        """Send the step marker to every ready client and wait for their barriers."""
        stamp = int(self.kernel.now() // NS_PER_S)
        waiting = [s for s in self.sessions if s.ready and (s.mkt or s.depth)]
        for s in waiting:
            s.owed += 1
            s.send(49, 1, stamp)
        while any(s.owed > 0 and not s.closed for s in waiting):
            self._wake.clear()
            await self._wake.wait()

    def _apply_pending(self) -> bool:
        did = False
        for s in list(self.sessions):
            if s.pending:
                batch, s.pending = s.pending, []
                for fields in batch:
                    self._order_action(s, fields)
                did = True
        return did

    def _session_gone(self, session: _Session) -> None:
        self._wake.set()

    # ------------------------------------------------------------------ venue callbacks
    def _on_book(self, book: BookTop) -> None:
        self.last_book[book.instrument] = book
        inst = self.instruments[book.instrument]
        sent = False
        for s in self.sessions:
            if not s.ready:
                continue
            for sub in s.mkt.values():
                if sub.instrument == book.instrument:
                    self._send_top(s, sub, book, inst)
                    sent = True
            for sub in s.depth.values():
                if sub.instrument == book.instrument:
                    self._send_depth(s, sub, book, inst)
                    sent = True
        if sent:
            self._after_delivery()

    def _send_top(self, s: _Session, sub: _Sub, book: BookTop, inst: Instrument) -> None:
        bid = inst.to_price(book.bid_px) if book.bid_px else -1.0
        ask = inst.to_price(book.ask_px) if book.ask_px else -1.0
        bsz = float(book.bid_qty * inst.lot_size) if book.bid_px else 0.0
        asz = float(book.ask_qty * inst.lot_size) if book.ask_px else 0.0
        s.send(1, 6, sub.req_id, 1, bid, bsz, 0)
        s.send(1, 6, sub.req_id, 2, ask, asz, 0)

    def _send_depth(self, s: _Session, sub: _Sub, book: BookTop, inst: Instrument) -> None:
        rows = sub.depth_rows
        for side, levels, old in ((1, book.bids, sub.bids), (0, book.asks, sub.asks)):
            new = [(inst.to_price(p), float(q * inst.lot_size)) for p, q in levels[:rows]]
            if not new and (book.bid_px if side else book.ask_px):
                px = book.bid_px if side else book.ask_px
                qty = book.bid_qty if side else book.ask_qty
                new = [(inst.to_price(px), float(qty * inst.lot_size))]
            for i in range(min(len(old), len(new))):
                if old[i] != new[i]:
                    s.send(12, 1, sub.req_id, i, 1, side, new[i][0], new[i][1])
            for i in range(len(old), len(new)):
                s.send(12, 1, sub.req_id, i, 0, side, new[i][0], new[i][1])
            for i in range(len(old) - 1, len(new) - 1, -1):
                s.send(12, 1, sub.req_id, i, 2, side, old[i][0], 0.0)
            old[:] = new

    def _on_trade(self, trade: Trade) -> None:
        inst = self.instruments[trade.instrument]
        sent = False
        for s in self.sessions:
            if not s.ready:
                continue
            for sub in s.mkt.values():
                if sub.instrument == trade.instrument:
                    s.send(1, 6, sub.req_id, 4, inst.to_price(trade.price), float(trade.qty * inst.lot_size), 0)
                    sent = True
        if sent:
            self._after_delivery()

    def _session_of(self, client_id: int) -> _Session | None:
        for s in self.sessions:
            if s.ready and s.client_id == client_id:
                return s
        return None

    def _on_report(self, r: ExecReport) -> None:
        so = self.orders.get(r.order_id)
        if so is None:
            return
        inst = so.instrument
        s = self._session_of(so.client_id)
        kind = r.kind
        if kind == ReportKind.ACK:
            so.status = "Submitted"
            so.working = True
            if s:
                self._send_open_order(s, so)
                self._send_status(s, so)
        elif kind == ReportKind.FILL:
            shares = float(r.qty * inst.lot_size)
            price = inst.to_price(r.price)
            so.avg_price = (so.avg_price * so.filled + price * shares) / (so.filled + shares)
            so.filled += shares
            so.last_fill_price = price
            if r.leaves == 0:
                so.status = "Filled"
                so.working = False
            buy = so.action == "BUY"
            self._book_position(so, shares if buy else -shares, price)
            ex = Execution(
                f"{so.perm_id:010d}.{len(self.executions) + 1:06d}.01", so, "BOT" if buy else "SLD", shares, price,
                int(r.ts // NS_PER_S), so.filled, so.avg_price, {"M": 1, "T": 2}.get(r.liquidity, 0), float(r.fee),
            )  # fmt: skip
            self.executions.append(ex)
            if s:
                self._send_execution(s, ex, -1)
                self._send_status(s, so)
            for other in self.sessions:
                if other.ready and other.positions_sub:
                    self._send_position(other, so.account, so.con_id)
        elif kind in (ReportKind.CANCEL, ReportKind.EXPIRE):
            so.status = "Cancelled"
            so.working = False
            so.pending = ""
            if s:
                reason = r.reason.replace(str(so.perm_id), str(so.order_id))
                s.send(4, 2, so.order_id, 202, f"Order Canceled - reason:{reason}")
                self._send_status(s, so)
        elif kind == ReportKind.REJECT:
            reason = r.reason.replace(str(so.perm_id), str(so.order_id))
            if so.status == "PendingSubmit":
                so.status = "Cancelled"
                if s:
                    s.send(4, 2, so.order_id, 201, f"Order rejected - reason:{reason}")
            else:
                code = 10147 if so.pending == "cancel" else 201
                so.pending = ""
                if s:
                    s.send(4, 2, so.order_id, code, f"Request rejected - reason:{reason}")
        elif kind == ReportKind.REPLACE:
            so.total_qty = so.filled + float(r.leaves * inst.lot_size)
            if so.order_type in ("LMT", "STP LMT") and r.price:
                so.lmt_price = inst.to_price(r.price)
            so.pending = ""
            if s:
                self._send_open_order(s, so)
                self._send_status(s, so)
        else:
            return  # TRIGGER has no TWS message
        self._after_delivery()

    def _book_position(self, so: ServerOrder, signed_shares: float, price: float) -> None:
        key = (so.account, so.con_id)
        pos = self.positions.get(key, 0.0)
        new = pos + signed_shares
        if pos == 0 or (pos > 0) == (signed_shares > 0):
            total = abs(pos) + abs(signed_shares)
            self._avg_cost[key] = (self._avg_cost.get(key, 0.0) * abs(pos) + price * abs(signed_shares)) / total
        elif new == 0 or (new > 0) != (pos > 0):
            self._avg_cost[key] = price if new else 0.0
        self.positions[key] = new

    def _send_position(self, s: _Session, acct: str, con: int) -> None:
        key = (acct, con)
        s.send(61, 3, acct, *self._contract_fields(self._by_con[con], con), self.positions.get(key, 0.0),
               self._avg_cost.get(key, 0.0))  # fmt: skip

    # ------------------------------------------------------------------ outgoing messages
    def _contract_fields(self, inst: Instrument, con_id: int) -> list[Any]:
        mult = "" if inst.multiplier == 1 else _fmt(inst.multiplier)
        # conId symbol secType lastTradeDate strike right multiplier exchange currency localSymbol tradingClass
        return [con_id, inst.symbol, "STK", "", 0.0, "", mult, "SMART", inst.currency, inst.symbol, inst.symbol]

    def _send_status(self, s: _Session, so: ServerOrder) -> None:
        s.send(
            3, so.order_id, so.status, so.filled, so.remaining, so.avg_price, so.perm_id, 0, so.last_fill_price,
            so.client_id, "", 0.0,
        )  # fmt: skip

    def _send_open_order(self, s: _Session, so: ServerOrder) -> None:
        lmt = so.lmt_price if so.lmt_price is not None else UNSET
        aux = so.aux_price if so.aux_price is not None else UNSET
        f: list[Any] = [5, so.order_id, *self._contract_fields(so.instrument, so.con_id)]
        f += [so.action, so.total_qty, so.order_type, lmt, aux, so.tif, "", so.account, "O", 0, so.order_ref]
        f += [so.client_id, so.perm_id, 0, 0, 0.0, "", ""]  # clientId permId outsideRth hidden discretionary gat _
        f += ["", "", "", "", ""]  # faGroup faMethod faPercentage faProfile modelCode
        f += [so.good_till, "", "", "", 0, "", -1, "", "", "", "", "", ""]  # goodTillDate .. stockRangeUpper
        f += [so.display_size or "", 0, 0, 0, "", 0, 0, 0, "", 0, 0, "", "", "", ""]  # displaySize .. dnAuxPrice
        f += [0, "", "", "", "", "", ""]  # continuousUpdate .. comboLegsDescrip
        f += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
        f += ["", "", ""]  # scaleInitLevelSize scaleSubsLevelSize scalePriceIncrement
        f += [""]  # hedgeType
        f += [0, "", "", 0, 0]  # optOutSmartRouting clearingAccount clearingIntent notHeld dncPresent
        f += [""]  # algoStrategy
        f += [0, 0, so.status] + [""] * 9 + ["", "", "", "", ""]  # solicited whatIf status margins.. warningText
        f += [0, 0]  # randomizeSize randomizePrice
        f += [0]  # conditions
        f += ["", "", "", "", "", "", "", 0, "", "", "", "", 0, 0, "", 0]  # adjusted.. usePriceMgmtAlgo
        s.send(*f)

    def _send_execution(self, s: _Session, ex: Execution, req_id: int) -> None:
        so = ex.order
        stamp = datetime.fromtimestamp(ex.time_s, tz=UTC).strftime("%Y%m%d %H:%M:%S") + " UTC"
        s.send(
            11, req_id, so.order_id, *self._contract_fields(so.instrument, so.con_id), ex.exec_id, stamp, so.account,
            "SMART", ex.side, ex.shares, ex.price, so.perm_id, so.client_id, 0, ex.cum_qty, ex.avg_price, so.order_ref,
            "", "", "", ex.liquidity,
        )  # fmt: skip
        s.send(59, 1, ex.exec_id, ex.commission, so.instrument.currency, "", "", "")

    # ------------------------------------------------------------------ incoming messages
    def _received(self, s: _Session, now: int, msg_id: str) -> None:
        self.received.append((now, -1 if s.client_id is None else s.client_id, msg_id))

    def _handle(self, s: _Session, f: list[str]) -> None:
        mid = int(f[0])
        if mid == 71:  # startApi
            self._start_api(s, int(f[2]))
        elif mid == 49:  # reqCurrentTime: the lockstep barrier
            if s.owed > 0:
                s.owed -= 1
                self.barriers += 1
                self._wake.set()
            else:
                s.send(49, 1, int(time.time()))
        elif mid in (3, 4, 58):  # placeOrder, cancelOrder, reqGlobalCancel
            if self.lockstep and self._market_task is not None:
                s.pending.append(f)
                self._wake.set()
            else:
                self._order_action(s, f)
                self._pump()
        elif mid == 61:  # reqPositions (a subscription: changes follow)
            s.positions_sub = True
            for acct, con in sorted(self.positions):
                self._send_position(s, acct, con)
            s.send(62, 1)
        elif mid == 64:  # cancelPositions
            s.positions_sub = False
        elif mid in (5, 16):  # reqOpenOrders / reqAllOpenOrders
            for so in self.orders.values():
                if so.working and (mid == 16 or so.client_id == s.client_id):
                    self._send_open_order(s, so)
                    self._send_status(s, so)
            s.send(53, 1)
        elif mid == 99:  # reqCompletedOrders
            s.send(102)
        elif mid == 6:  # reqAccountUpdates
            acct = f[3] if len(f) > 3 else self.accounts[0]
            s.send(6, 2, "NetLiquidation", "1000000", "USD", acct)
            s.send(8, 1, datetime.now(UTC).strftime("%H:%M"))
            s.send(54, 1, acct)
        elif mid == 76:  # reqAccountUpdatesMulti
            s.send(74, 1, int(f[2]))
        elif mid == 7:  # reqExecutions
            req_id = int(f[2])
            for ex in self.executions:
                if ex.order.account in self.accounts:
                    self._send_execution(s, ex, req_id)
            s.send(55, 1, req_id)
        elif mid == 1:  # reqMktData
            self._req_mkt_data(s, f)
        elif mid == 2:  # cancelMktData
            s.mkt.pop(int(f[2]), None)
        elif mid == 10:  # reqMktDepth
            self._req_mkt_depth(s, f)
        elif mid == 11:  # cancelMktDepth
            s.depth.pop(int(f[2]), None)
        elif mid == 8:  # reqIds
            s.send(9, 1, self._next_valid_id)
        elif mid == 17:  # reqManagedAccts
            s.send(15, 1, ",".join(self.accounts))
        # everything else is accepted silently

    def _start_api(self, s: _Session, client_id: int) -> None:
        s.client_id = client_id
        taken = {x.client_id for x in self.sessions if x is not s and x.ready}
        if client_id in self.client_ids_in_use or client_id in taken:
            s.send(
                4, 2, -1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id."
            )
            asyncio.get_running_loop().call_soon(s.abort)
            return
        s.ready = True
        ids = [so.order_id for so in self.orders.values() if so.client_id == client_id]
        s.send(9, 1, max([self._next_valid_id, *[i + 1 for i in ids]]))
        s.send(15, 1, ",".join(self.accounts))
        s.send(4, 2, -1, 2104, "Market data farm connection is OK:usfarm")
        s.send(4, 2, -1, 2106, "HMDS data farm connection is OK:ushmds")
        s.send(4, 2, -1, 2158, "Sec-def data farm connection is OK:secdefnj")

    def _instrument_from(self, f: list[str], at: int) -> Instrument | None:
        con = int(f[at] or 0)
        if con in self._by_con:
            return self._by_con[con]
        return self._by_symbol.get(f[at + 1])

    def _req_mkt_data(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        inst = self._instrument_from(f, 3)
        if inst is None:
            s.send(4, 2, req_id, 200, "No security definition has been found for the request")
            return
        sub = _Sub(req_id, inst.id)
        s.mkt[req_id] = sub
        self.mkt_data_requests.append((s.client_id or 0, req_id, inst.id))
        book = self.last_book.get(inst.id)
        if book is not None:
            self._send_top(s, sub, book, inst)
        self._subscribed.set()

    def _req_mkt_depth(self, s: _Session, f: list[str]) -> None:
        req_id = int(f[2])
        inst = self._instrument_from(f, 3)
        if inst is None:
            s.send(4, 2, req_id, 200, "No security definition has been found for the request")
            return
        sub = _Sub(req_id, inst.id, max(1, int(f[15] or 1)))
        s.depth[req_id] = sub
        self.depth_requests.append((s.client_id or 0, req_id, inst.id))
        book = self.last_book.get(inst.id)
        if book is not None:
            self._send_depth(s, sub, book, inst)
        self._subscribed.set()

    def _order_action(self, s: _Session, f: list[str]) -> None:
        mid = int(f[0])
        if mid == 3:
            self._place_order(s, f)
        elif mid == 4:
            self._cancel_order(s, int(f[2]))
        elif mid == 58:
            self.global_cancels += 1
            for so in list(self.orders.values()):
                if so.working and so.pending != "cancel":
                    self._cancel(so)

    def _place_order(self, s: _Session, f: list[str]) -> None:
        order_id = int(f[1])
        client_id = s.client_id or 0
        inst = self._instrument_from(f, 2)
        if inst is None:
            s.send(4, 2, order_id, 200, "No security definition has been found for the request")
            return
        action, qty, otype = f[16], _num(f[17]), f[18]
        lmt = float(f[19]) if f[19] else None
        aux = float(f[20]) if f[20] else None
        tif, account, order_ref = f[21] or "DAY", f[23] or self.accounts[0], f[26]
        display = int(f[31]) if len(f) > 31 and f[31] else 0
        good_till = f[38] if len(f) > 38 else ""
        existing = self._by_client.get((client_id, order_id))
        if existing is not None:
            self._modify(s, existing, qty, lmt, aux)
            return
        if otype not in _ORDER_TYPES or tif not in _TIFS:
            s.send(4, 2, order_id, 201, f"Order rejected - reason:unsupported order type/tif {otype}/{tif}")
            return
        self._next_perm += 1
        so = ServerOrder(
            self._next_perm, client_id, order_id, inst, self.con_ids[inst.id], action, qty, otype, lmt, aux, tif,
            account, order_ref, display, good_till,
        )  # fmt: skip
        self.orders[so.perm_id] = so
        self._by_client[(client_id, order_id)] = so
        self._next_valid_id = max(self._next_valid_id, order_id + 1)
        if self._reject_next:
            reason = self._reject_next.pop(0)
            so.status = "Cancelled"
            s.send(4, 2, order_id, 201, f"Order rejected - reason:{reason}")
            return
        try:
            sim = Order(
                so.perm_id, inst.id, Side.BUY if action == "BUY" else Side.SELL, inst.to_lots(repr(qty)),
                inst.to_ticks(repr(lmt)) if lmt is not None else 0, _ORDER_TYPES[otype], _TIFS[tif],
                stop_price=inst.to_ticks(repr(aux)) if aux is not None else 0,
                display_qty=inst.to_lots(display) if display else 0,
                expire_ts=_gtd_ns(good_till) if tif == "GTD" else 0, owner=1,
            )  # fmt: skip
        except Exception as exc:  # off-grid price or size
            so.status = "Cancelled"
            s.send(4, 2, order_id, 201, f"Order rejected - reason:{exc}")
            return
        so.sim = sim
        self._oms.orders[so.perm_id] = sim
        self._venue_of[inst.id].submit(sim)

    def _modify(self, s: _Session, so: ServerOrder, qty: float, lmt: float | None, aux: float | None) -> None:
        if not so.working or so.sim is None:
            s.send(4, 2, so.order_id, 10148, f"OrderId {so.order_id} that needs to be modified is not working")
            return
        inst = so.instrument
        new_price = None
        if so.order_type in ("LMT", "STP LMT") and lmt is not None and lmt != so.lmt_price:
            new_price = inst.to_ticks(repr(lmt))
        new_leaves = None
        if qty != so.total_qty:
            new_leaves = inst.to_lots(repr(qty - so.filled))
        if new_price is None and new_leaves is None:
            self._send_open_order(s, so)
            self._send_status(s, so)
            return
        so.pending = "amend"
        self._venue_of[inst.id].amend(so.sim, new_price, new_leaves)

    def _cancel_order(self, s: _Session, order_id: int) -> None:
        so = self._by_client.get((s.client_id or 0, order_id))
        if so is None or not so.working:
            s.send(4, 2, order_id, 10147, f"OrderId {order_id} that needs to be cancelled is not found.")
            return
        self._cancel(so)

    def _cancel(self, so: ServerOrder) -> None:
        so.pending = "cancel"
        self._venue_of[so.instrument.id].cancel(so.sim)


def _gtd_ns(text: str) -> int:
    body = text.strip()
    if body.upper().endswith(" UTC"):
        body = body[:-4]
    return int(datetime.strptime(body, "%Y%m%d %H:%M:%S").replace(tzinfo=UTC).timestamp()) * NS_PER_S


_ERROR_TEXT = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2103: "Market data farm connection is broken:usfarm",
    2104: "Market data farm connection is OK:usfarm",
    2105: "HMDS data farm connection is broken:ushmds",
    2106: "HMDS data farm connection is OK:ushmds",
    2107: "HMDS data farm connection is inactive but should be available upon demand.ushmds",
    2108: "Market data farm connection is inactive but should be available upon demand.usfarm",
    2157: "Sec-def data farm connection is broken:secdefnj",
    2158: "Sec-def data farm connection is OK:secdefnj",
}


def main(argv: list[str] | None = None) -> int:
    """Serve a scenario's market on a port until interrupted."""
    import argparse

    from scenarios.live import fake_server_for  # the composition root builds the market
    from scenarios.loader import load_scenario

    p = argparse.ArgumentParser(prog="python -m adapters.ib.fake_tws", description=__doc__.splitlines()[0])
    p.add_argument("scenario")
    p.add_argument("--port", type=int, default=7497)
    p.add_argument("--lockstep", action="store_true")
    args = p.parse_args(argv)
    scenario, _ = load_scenario(args.scenario)

    async def serve() -> None:
        server = fake_server_for(scenario, port=args.port, lockstep=args.lockstep)
        await server.start()
        print(f"fake TWS for {scenario.name!r} on 127.0.0.1:{server.port}", flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
