"""The run journal and its fingerprint.

Every externally visible event is journaled. Market data are journaled as the
raw bytes of the canonical event arrays that were applied (one hash update
per batch, never one object per message); order, risk and state events as
records with a canonical text encoding. The run fingerprint is a blake2b
digest over both streams, so the same scenario and seed give the same
fingerprint in any process, under any PYTHONHASHSEED.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np

# Market-data batches of at least this many bytes are hashed on a worker thread: blake2b
# releases the GIL on large buffers, as the compiled matching engine does, so hashing one
# chunk overlaps applying the next. Updates stay in order (one worker, and a batch never
# jumps ahead of a pending one); the fingerprint waits for them.
_ASYNC_BYTES = 1 << 18
_MAX_PENDING = 4  # batches in flight (each holds its chunk alive until hashed)
_pool: ThreadPoolExecutor | None = None
_pool_pid = -1


def _hash_pool() -> ThreadPoolExecutor:
    global _pool, _pool_pid
    if _pool is None or _pool_pid != os.getpid():  # a forked child has no worker thread: start its own
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parity-journal-hash")
        _pool_pid = os.getpid()
    return _pool


class JournalRecord(NamedTuple):
    """One journaled event: time, kind and its fields (ints, strings, floats)."""

    ts: int
    kind: str
    fields: tuple[Any, ...]


_new = tuple.__new__


def _encode_field(value: Any) -> str:
    if isinstance(value, float):
        # repr is the shortest round-trip representation: canonical across runs.
        return repr(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(int(value)) if isinstance(value, int) else str(value)


def encode_record(record: JournalRecord) -> bytes:
    """Canonical bytes of a record: ``ts|kind|field|...\\n`` (pipes in strings escaped)."""
    parts = [str(record[0]), record[1]]
    append = parts.append
    for f in record[2]:
        t = type(f)
        if t is int:  # the common fields: exactly what _encode_field gives, without its checks
            append(str(f))
        elif t is str:
            append(f.replace("|", "\\|") if "|" in f else f)
        else:
            append(_encode_field(f).replace("|", "\\|"))
    return ("|".join(parts) + "\n").encode("utf-8")


class Journal:
    """Collects journal records and computes the run fingerprint incrementally."""

    def __init__(self, keep_records: bool = True) -> None:
        self._events = hashlib.blake2b(digest_size=32)
        self._market = hashlib.blake2b(digest_size=32)
        self.keep_records = keep_records
        self.records: list[JournalRecord] = []
        self.counts: Counter[str] = Counter()
        self.market_events = 0
        self._pending: deque[Future] = deque()

    def record(self, ts: int, kind: str, *fields: Any) -> None:
        """Journal one event."""
        rec = _new(JournalRecord, (int(ts), kind, fields))  # without NamedTuple's Python-level __new__
        self._events.update(encode_record(rec))
        self.counts[kind] += 1
        if self.keep_records:
            self.records.append(rec)

    def market_data(self, events: np.ndarray) -> None:
        """Journal a batch of applied market-data events (canonical dtype array)."""
        if len(events):
            # The array's own buffer (no tobytes() copy): the same bytes, half the cost.
            buf = memoryview(np.ascontiguousarray(events)).cast("B")
            self.market_events += len(events)
            pending = self._pending
            while pending and pending[0].done():
                pending.popleft().result()  # re-raises a failed update
            if buf.nbytes >= _ASYNC_BYTES or pending:
                if len(pending) >= _MAX_PENDING:
                    pending.popleft().result()
                pending.append(_hash_pool().submit(self._market.update, buf))
            else:
                self._market.update(buf)

    def _drain(self) -> None:
        """Wait for the market-data batches still being hashed."""
        pending = self._pending
        while pending:
            pending.popleft().result()

    def fingerprint(self) -> str:
        """Hex blake2b digest over market data, event records and their counts."""
        self._drain()
        final = hashlib.blake2b(digest_size=32)
        final.update(self._market.copy().digest())
        final.update(self._events.copy().digest())
        final.update(f"{self.market_events}:{sum(self.counts.values())}".encode())
        return final.hexdigest()

    def of_kind(self, kind: str) -> list[JournalRecord]:
        """The kept records of one kind, in order."""
        return [r for r in self.records if r.kind == kind]
