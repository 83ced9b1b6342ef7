"""The connection to TWS / IB Gateway: connect, client ids, reconnect, notices.

:class:`IBConnection` owns one unmodified ``ib_insync.IB`` and adds what a
trading process needs around it:

* connect with a timeout; a refused connection is retried until the timeout
  and then raises :class:`~kernel.errors.AdapterError` naming host:port;
* client id conflict (error 326 at startApi) -> the next client id;
* reconnect after a drop (or a nightly restart) with exponential backoff and
  jitter drawn from a seeded RNG stream, then the ``on_ready`` listeners run
  (the venue reconciles and resubscribes);
* connectivity notices: 1100 lost -> DEGRADED, 1101/1102 restored -> the
  ``on_restored`` listeners (market data are resubscribed), farm messages
  2103..2158 tracked in :class:`~adapters.ib.health.Health`;
* pacing: every framed message written to the socket goes through a
  :class:`~adapters.ib.pacing.Pacer` (ib_insync's own throttle is turned off so
  that one gate, ours, counts every message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from ib_insync import IB

from adapters.ib import health as H
from adapters.ib.health import Health
from adapters.ib.pacing import Pacer
from kernel.errors import AdapterError

log = logging.getLogger("parity.adapters.ib")

CLIENT_ID_IN_USE = 326
CONNECTIVITY_LOST = 1100
RESTORED_DATA_LOST = 1101
RESTORED_DATA_KEPT = 1102


class _ClientIdInUse(Exception):
    pass


class IBConnection:
    """One API session to TWS / IB Gateway, kept alive."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 7497,
        client_id: int = 1,
        account: str = "",
        timeout: float = 4.0,
        *,
        rng: np.random.Generator | None = None,
        pacer: Pacer | None = None,
        reconnect: bool = True,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.25,
        max_client_id_tries: int = 8,
        max_reconnect_attempts: int | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.client_id = int(client_id)
        self.account = account
        self.timeout = float(timeout)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.pacer = pacer or Pacer()
        self.reconnect_enabled = reconnect
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.jitter = jitter
        self.max_client_id_tries = max_client_id_tries
        self.max_reconnect_attempts = max_reconnect_attempts
        self._health = Health(host=host, port=self.port, client_id=self.client_id)
        self.ib = IB()
        self.ib.RaiseRequestErrors = False
        self.ib.client.MaxRequests = 0  # the Pacer gates every message instead
        self._ready_listeners: list[Callable[[bool], Awaitable[None] | None]] = []
        self._restored_listeners: list[Callable[[int], None]] = []
        self._lost_listeners: list[Callable[[], None]] = []
        self._closing = False
        self._connecting = False
        self._connect_error: asyncio.Future | None = None
        self._reconnect_task: asyncio.Task | None = None
        self._dropped_at = 0.0
        self._wrap_socket()
        self.ib.errorEvent += self._on_error
        self.ib.disconnectedEvent += self._on_disconnected
        self.ib.updateEvent += self._on_data
        self.ib.client.apiError += self._on_api_error

    # -- listeners ------------------------------------------------------------
    def on_ready(self, fn: Callable[[bool], Awaitable[None] | None]) -> None:
        """``fn(reconnected)`` after every successful (re)connect, before trading resumes."""
        self._ready_listeners.append(fn)

    def on_restored(self, fn: Callable[[int], None]) -> None:
        """``fn(code)`` when TWS reports its link to IB restored (1101 / 1102)."""
        self._restored_listeners.append(fn)

    def on_lost(self, fn: Callable[[], None]) -> None:
        """``fn()`` when the socket to TWS drops."""
        self._lost_listeners.append(fn)

    @property
    def health(self) -> Health:
        """The health object, its pacing figures brought up to date."""
        self._pacing_health()
        return self._health

    # -- pacing ---------------------------------------------------------------
    def _wrap_socket(self) -> None:
        conn = self.ib.client.conn
        raw = conn.sendMsg  # the bound method that writes to the transport
        self._raw_send = raw

        def paced(msg: bytes) -> None:
            self.pacer.send(raw, msg)
            self._pacing_health()

        conn.sendMsg = paced  # instance attribute: ib_insync itself is not modified

    def _pacing_health(self) -> None:
        h, p = self._health, self.pacer
        h.pacing_queue_depth = p.depth
        h.pacing_max_depth = p.max_depth
        h.pacing_sent = p.sent
        h.pacing_delayed = p.delayed

    def send_unpaced(self, *fields: Any) -> None:
        """Write one message around the pacer (only the lockstep barrier does this, on an empty queue)."""
        body = "".join(f"{f}\0" for f in fields).encode()
        self._raw_send(struct.pack(">I", len(body)) + body)

    # -- state ------------------------------------------------------------------
    @property
    def is_ready(self) -> bool:
        return self.ib.isConnected()

    def next_order_id(self) -> int:
        return self.ib.client.getReqId()

    def backoff(self, attempt: int) -> float:
        """Delay before reconnect attempt ``attempt`` (0-based): capped exponential, +/- jitter."""
        base = min(self.backoff_max, self.backoff_base * (2.0**attempt))
        return base * (1.0 + self.jitter * (2.0 * float(self.rng.random()) - 1.0))

    # -- connect ------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect (trying the next client id on 326) or raise AdapterError after the timeout."""
        loop = asyncio.get_running_loop()
        self._health.state = H.CONNECTING
        client_id = self.client_id
        tries = 0
        deadline = loop.time() + self.timeout
        last: BaseException | None = None
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._health.state = H.DISCONNECTED
                why = f"{type(last).__name__}: {last}" if last is not None else "no answer"
                raise AdapterError(
                    f"cannot connect to TWS/IB Gateway at {self.host}:{self.port} "
                    f"(client id {client_id}) within {self.timeout:g}s: {why}"
                )
            try:
                await self._connect_once(client_id, remaining)
            except _ClientIdInUse:
                self._health.client_id_conflicts += 1
                tries += 1
                if tries >= self.max_client_id_tries:
                    self._health.state = H.DISCONNECTED
                    raise AdapterError(
                        f"TWS/IB Gateway at {self.host}:{self.port}: client ids {self.client_id}..{client_id} "
                        f"are all in use (error 326)"
                    ) from None
                log.warning("client id %d in use at %s:%d, trying %d", client_id, self.host, self.port, client_id + 1)
                client_id += 1
                deadline = loop.time() + self.timeout
                continue
            except (TimeoutError, OSError, ConnectionError) as exc:
                last = exc
                await asyncio.sleep(min(0.05, max(0.0, deadline - loop.time())))
                continue
            break
        self.client_id = client_id
        self._health.client_id = client_id
        self._health.state = H.CONNECTED
        self._health.connects += 1

    async def _connect_once(self, client_id: int, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self.pacer.clear()
        self._connect_error = loop.create_future()
        self._connecting = True
        task = asyncio.ensure_future(
            self.ib.connectAsync(self.host, self.port, clientId=client_id, timeout=timeout, account=self.account)
        )
        try:
            done, _ = await asyncio.wait({task, self._connect_error}, timeout=timeout, return_when="FIRST_COMPLETED")
            if task in done:
                task.result()
                return
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self.ib.disconnect()
            if self._connect_error in done:
                code = self._connect_error.result()
                if code == CLIENT_ID_IN_USE:
                    raise _ClientIdInUse()
                raise ConnectionError(str(code))
            raise TimeoutError(f"no API handshake within {timeout:.2g}s")
        finally:
            self._connecting = False
            if not self._connect_error.done():
                self._connect_error.cancel()

    async def start(self) -> None:
        """Connect and run the ready listeners (first connect)."""
        self._closing = False
        await self.connect()
        await self._fire_ready(False)

    async def _fire_ready(self, reconnected: bool) -> None:
        for fn in list(self._ready_listeners):
            result = fn(reconnected)
            if asyncio.iscoroutine(result):
                await result

    def close(self) -> None:
        """Disconnect on purpose (no reconnect)."""
        self._closing = True
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        self.pacer.clear()
        self.ib.disconnect()
        self._health.state = H.CLOSED

    # -- events ---------------------------------------------------------------------
    def _on_data(self) -> None:
        self._health.last_message_mono_ns = time.monotonic_ns()

    def _on_api_error(self, msg: str) -> None:
        if self._connecting and self._connect_error is not None and not self._connect_error.done():
            self._connect_error.set_result(msg)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any = None) -> None:
        h = self._health
        if code == CLIENT_ID_IN_USE:
            h.last_error = (code, message)
            if self._connect_error is not None and not self._connect_error.done():
                self._connect_error.set_result(code)
        elif code == CONNECTIVITY_LOST:
            h.last_error = (code, message)
            h.state = H.DEGRADED
        elif code in (RESTORED_DATA_LOST, RESTORED_DATA_KEPT):
            h.state = H.CONNECTED
            h.resubscriptions += 1
            for fn in list(self._restored_listeners):
                fn(code)
        elif code in H.FARM_BROKEN:
            h.farms[H.FARM_BROKEN[code]] = "broken"
        elif code in H.FARM_OK:
            h.farms[H.FARM_OK[code]] = "ok"
        elif code in H.FARM_INACTIVE:
            h.farms[H.FARM_INACTIVE[code]] = "inactive"
        elif not 2100 <= code < 2200:
            h.last_error = (code, message)

    def _on_disconnected(self) -> None:
        if self._closing or self._connecting:
            return
        h = self._health
        h.disconnects += 1
        h.state = H.RECONNECTING if self.reconnect_enabled else H.DISCONNECTED
        dropped = self.pacer.clear()
        if dropped:
            log.warning("connection to %s:%d lost with %d paced messages unsent", self.host, self.port, dropped)
        self._pacing_health()
        for fn in list(self._lost_listeners):
            fn()
        if self.reconnect_enabled and (self._reconnect_task is None or self._reconnect_task.done()):
            self._dropped_at = time.monotonic()
            self._reconnect_task = asyncio.ensure_future(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        attempt = 0
        while not self._closing:
            delay = self.backoff(attempt)
            self._health.reconnect_delays_s.append(round(delay, 6))
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await self.connect()
            except AdapterError as exc:
                attempt += 1
                self._health.state = H.RECONNECTING
                log.warning("reconnect attempt %d failed: %s", attempt, exc)
                if self.max_reconnect_attempts is not None and attempt >= self.max_reconnect_attempts:
                    self._health.state = H.DISCONNECTED
                    return
                continue
            self._health.reconnects += 1
            self._health.reconnect_durations_s.append(round(time.monotonic() - self._dropped_at, 6))
            await self._fire_ready(True)
            return

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until the session is up again (True) or ``timeout`` seconds pass (False)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            if (
                self.is_ready
                and self._health.state == H.CONNECTED
                and (self._reconnect_task is None or self._reconnect_task.done())
            ):
                return True
            await asyncio.sleep(0.01)
        return False
