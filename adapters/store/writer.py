"""Batched run-store writes off the hot path.

:class:`StoreWriter` is an :class:`~kernel.oms.OMSObserver`: attach it to the
OMS and it collects orders (latest state per order id), fills and risk
decisions on the trading thread — an append or a dict store per event, no
I/O. :meth:`StoreWriter.tick` (called by the runner's progress hook, or by a
live loop) hands the collected rows over as one batch when enough rows are
waiting or ``flush_interval_s`` has passed; a background thread writes each
batch with :meth:`RunStore.write_batch`, i.e. in ONE transaction.

Crash semantics: batches are written in order and each is all-or-nothing,
so after a crash (even ``kill -9``) the store holds a prefix of the run's
batches — fills numbered 0..n-1 without gaps, each with its order — and the
run stays ``"running"``. :meth:`fail` marks it ``"failed"``; only
:meth:`finish` marks it ``"complete"``, and only if every batch was written.

A batch that cannot be written is retried with exponential backoff; when
the retries are exhausted it is dropped, counted and logged, and so is every
later batch (the stored rows stay a gap-free prefix of the run); the run can
no longer be marked complete (``finish`` marks it failed, naming the loss).
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from adapters.logging_setup import get_logger
from adapters.store.run_store import RunStore
from kernel.errors import AdapterError
from kernel.oms import OMSObserver
from kernel.orders import Order

log = get_logger("store")


def order_row(o: Order) -> dict[str, Any]:
    """An order as a row of the ``orders`` table (enum names, not numbers)."""
    return {
        "order_id": o.order_id, "instrument": o.instrument, "side": o.side.name, "order_type": o.order_type.name,
        "tif": o.tif.name, "qty": o.qty, "price": o.price, "status": o.status.name, "filled_qty": o.filled_qty,
        "avg_fill_price": o.avg_fill_price, "created_ts": o.created_ts, "updated_ts": o.updated_ts,
        "reject_reason": o.reject_reason, "tag": o.tag,
    }  # fmt: skip


@dataclass
class Batch:
    orders: list[dict[str, Any]] = field(default_factory=list)
    fills: list[Mapping[str, Any]] = field(default_factory=list)
    risk_events: list[Mapping[str, Any]] = field(default_factory=list)
    pnl_snapshots: list[Mapping[str, Any]] = field(default_factory=list)
    alerts: list[Mapping[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.orders) + len(self.fills) + len(self.risk_events) + len(self.pnl_snapshots) + len(self.alerts)


_STOP = object()


class StoreWriter(OMSObserver):
    """Collects a run's rows on the trading thread and writes them in batches on a background thread.

    Args:
        store: an open :class:`RunStore` (the writer does not close it).
        run_id: the run; :meth:`begin` records it (status ``"running"``).
        batch_rows: hand a batch over once this many rows are waiting.
        flush_interval_s: ... or once this much wall time has passed (checked in :meth:`tick`).
        max_pending_batches: batches waiting for the database before :meth:`tick`
            blocks (back-pressure instead of unbounded memory).
        retries, backoff_s: attempts after the first for a failing batch, first delay (doubling).
        clock: wall clock in seconds (tests inject one).
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        *,
        batch_rows: int = 2_000,
        flush_interval_s: float = 0.5,
        max_pending_batches: int = 64,
        retries: int = 3,
        backoff_s: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.batch_rows = batch_rows
        self.flush_interval_s = flush_interval_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._clock = clock
        self._dirty: dict[int, Order] = {}
        self._batch = Batch()
        self._pending_rows = 0
        self._last_handoff = clock()
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_pending_batches)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Counters (read by telemetry; written by the background thread).
        self.batches_written = 0
        self.rows_written = 0
        self.batches_dropped = 0
        self.write_failures = 0
        self.last_error: str | None = None
        self.finished = False

    # ------------------------------------------------------------------ lifetime

    def begin(self, scenario_name: str, scenario_text: str, seed: int, mode: str, engine: str = "reference") -> None:
        """Record the run (synchronously: a store that cannot be written fails the run before it starts)
        and start the background thread."""
        self.store.begin_run(self.run_id, scenario_name, scenario_text, seed, mode, engine)
        self.start()

    def start(self) -> None:
        if self._thread is None:
            ctx = contextvars.copy_context()  # log records of the thread carry the run id
            self._thread = threading.Thread(
                target=ctx.run, args=(self._work,), name=f"store-writer-{self.run_id}", daemon=True
            )
            self._thread.start()

    def finish(self, summary: dict[str, Any], fingerprint: str, timeout: float | None = 60.0) -> None:
        """Write everything collected, then mark the run complete (or failed if a batch was lost)."""
        self._drain(timeout)
        if self.batches_dropped:
            error = f"store writer lost {self.batches_dropped} batch(es): {self.last_error}"
            self.store.finish_run(self.run_id, summary, fingerprint, status="failed", error=error)
            self.finished = True
            raise AdapterError(f"run '{self.run_id}': {error}")
        self.store.finish_run(self.run_id, summary, fingerprint)
        self.finished = True

    def fail(self, error: str, timeout: float | None = 10.0) -> None:
        """Write what was collected (best effort) and mark the run failed with ``error``."""
        try:
            self._drain(timeout)
        finally:
            try:
                self.store.mark_failed(self.run_id, error)
            except AdapterError as exc:
                log.error("could not mark run %s failed: %s", self.run_id, exc)
            self.finished = True

    def _drain(self, timeout: float | None) -> None:
        self.handoff()
        self.start()
        assert self._thread is not None
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AdapterError(f"run '{self.run_id}': store writer did not finish within {timeout} s")

    # ------------------------------------------------------------------ trading thread

    def on_order(self, order: Order) -> None:
        if order.order_id not in self._dirty:
            self._pending_rows += 1
        self._dirty[order.order_id] = order

    # No handoff from these hooks: they run in the middle of an OMS operation (a risk decision
    # comes before its order is observed, a fill before its order's new state), and a batch cut
    # there could be the last one a crash keeps. tick() hands over between operations.
    def on_fill(self, fill: dict) -> None:
        self._batch.fills.append(fill)
        self._pending_rows += 1

    def on_risk(self, event: dict) -> None:
        self._batch.risk_events.append(event)
        self._pending_rows += 1

    def pnl_snapshots(self, rows: list[Mapping[str, Any]]) -> None:
        self._batch.pnl_snapshots.extend(rows)
        self._pending_rows += len(rows)

    def alert(self, row: Mapping[str, Any]) -> None:
        """Record an alert (may be called from any thread)."""
        with self._lock:
            self._batch.alerts.append(row)
            self._pending_rows += 1

    def tick(self) -> None:
        """Hand over a batch if enough rows wait or the flush interval has passed (cheap otherwise)."""
        if self._pending_rows and (
            self._pending_rows >= self.batch_rows or self._clock() - self._last_handoff >= self.flush_interval_s
        ):
            self.handoff()

    def handoff(self) -> None:
        """Turn the collected rows into one batch for the background thread (trading thread only)."""
        with self._lock:
            batch, self._batch = self._batch, Batch()
            self._pending_rows = 0
        dirty, self._dirty = self._dirty, {}
        # Orders are converted now, on the thread that mutates them, so a row is a consistent snapshot.
        batch.orders = [order_row(o) for o in dirty.values()]
        self._last_handoff = self._clock()
        if len(batch):
            self._queue.put(batch)

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    # ------------------------------------------------------------------ background thread

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            self._write(item)

    def _write(self, batch: Batch) -> None:
        if self.batches_dropped:
            # Writing later batches after a lost one would leave gaps: keep the stored prefix consistent.
            self.batches_dropped += 1
            return
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            try:
                self.store.write_batch(
                    self.run_id, orders=batch.orders, fills=batch.fills, risk_events=batch.risk_events,
                    pnl_snapshots=batch.pnl_snapshots, alerts=batch.alerts,
                )  # fmt: skip
                self.batches_written += 1
                self.rows_written += len(batch)
                return
            except AdapterError as exc:
                self.write_failures += 1
                self.last_error = str(exc)
                if attempt < self.retries:
                    log.warning("store batch of %d rows failed (attempt %d): %s", len(batch), attempt + 1, exc)
                    time.sleep(delay)
                    delay *= 2
        self.batches_dropped += 1
        log.error("store batch of %d rows dropped after %d attempts: %s", len(batch), self.retries + 1, self.last_error)


__all__ = ["Batch", "StoreWriter", "order_row"]
