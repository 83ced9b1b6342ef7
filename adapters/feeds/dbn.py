"""Databento DBN market-by-order (MBO) files -> canonical market-data events.

Decoding is done by the ``databento-dbn`` package (:class:`databento_dbn.DBNDecoder`,
records kept in the file's DBN version); ``.dbn.zst`` files are decompressed
as a stream with ``zstandard`` across all zstd frames (Databento files hold
the metadata and the records in separate frames).  The reader frames records
itself (DBN records start with their length in 4-byte words), so that a
corrupt record is reported with its index and byte offset.

MBO actions (Databento's semantics, checked against its documentation and
reference order-book code: a cancel's ``size`` is the quantity *removed*;
Trade and Fill records do not change the book - every fill is followed by a
Cancel (full fill) or a Modify (partial fill, new remaining size) of the
resting order, which carries the book effect):

=======  ==================================================================
action   canonical event (``fills="execute"``, the default)
=======  ==================================================================
``A``    ADD (order id, side, price, size)
``C``    CANCEL qty = size (the quantity removed; all of it removes the order)
``M``    MODIFY (new price, new size); a modify of an unknown order id is
         an ADD (as in Databento's reference book), counted
``T``    TRADE (side = the aggressor's side, B -> BUY, A -> SELL, N -> 0)
``F``    EXECUTE of the resting order (side = the resting order's, from
         the book when the record's side is N) for ``size``.  The book
         effect moves to the EXECUTE, so the Cancel / Modify that follows
         the fill and only restates it is *folded*: a later Cancel of that
         order takes the filled quantity off its size first and emits
         nothing for it; a Modify that restates exactly the remaining size
         at the same price emits nothing.  Counted in ``stats.info``.  A
         fill of an unknown order is a TRADE flagged :data:`F_FILL`.
``R``    CLEAR (the instrument's book)
``N``    no event (counted)
=======  ==================================================================

With ``fills="trade"`` the file's own semantics are kept instead: ``F`` -> TRADE
flagged :data:`F_FILL` (side = aggressor, the opposite of the resting order's
side) and every ``C`` / ``M`` is emitted as is.  Both modes rebuild the same book.

Flags: DBN ``F_LAST`` (0x80) -> kernel :data:`~kernel.events.F_LAST`, DBN
``F_SNAPSHOT`` (0x20) -> kernel :data:`~kernel.events.F_SNAPSHOT`; when a
folded or ``N`` record carries F_LAST, the flag moves to the previous event of
the same instrument.  ``F_BAD_TS_RECV`` / ``F_MAYBE_BAD_BOOK`` are counted in
``stats.info``.  ``ts`` = ``ts_recv`` (default; Databento's ordering
timestamp, non-decreasing in a file) or ``ts_event`` (``ts_field``); a
timestamp that goes backwards is clamped to the previous one and counted.

Prices are fixed-point 1e-9; ``tick_size`` (default 1e-9: ticks = the raw DBN
price) converts them; an off-tick or undefined price is malformed.  Sizes are
lots.  ``instrument`` = the record's ``instrument_id``; ``.instruments`` maps it
to the raw symbol from the metadata's symbology (or from symbol-mapping
records).  Malformed records: strict -> :class:`~kernel.errors.DataError`
``"<file>, record <i> (byte <offset>): <what>"``; lenient -> skipped and counted.

Speed (2-CPU development machine, CPU time): ~370k records/s on the ESH4 sample.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import databento_dbn as dbn
import numpy as np

from adapters.feeds.validate import EventBuffer, FeedStats, nano_units
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, CLEAR, EXECUTE, F_LAST, F_SNAPSHOT, MODIFY, SELL, TRADE

F_FILL = 0x40
"""Flag on a TRADE made from a DBN Fill record (``fills="trade"``, or a fill of an unknown order)."""

_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_DBN_F_LAST = 0x80
_DBN_F_SNAPSHOT = 0x20
_DBN_F_BAD_TS_RECV = 0x08
_DBN_F_MAYBE_BAD_BOOK = 0x04
_UNDEF_PRICE = (1 << 63) - 1
_TS_LIMIT = 1 << 63  # canonical timestamps are int64; DBN's undefined timestamp is 2**64 - 1
_HEADER = 16  # bytes of a DBN record header
_RTYPE_MBO = 0xA0
_MBO_SIZE = 56  # an MBO record in every DBN version (1-3)

_ACTIONS: dict[Any, str] = {}  # the decoder's Action members and plain characters -> action character
for _ch, _member in (
    ("A", dbn.Action.ADD),
    ("C", dbn.Action.CANCEL),
    ("M", dbn.Action.MODIFY),
    ("T", dbn.Action.TRADE),
    ("F", dbn.Action.FILL),
    ("R", dbn.Action.CLEAR),
    ("N", dbn.Action.NONE),
):
    _ACTIONS[_member] = _ACTIONS[_ch] = _ch
_SIDES: dict[Any, int] = {dbn.Side.BID: BUY, dbn.Side.ASK: SELL, dbn.Side.NONE: 0, "B": BUY, "A": SELL, "N": 0}


def _decoder_failed(exc: BaseException) -> bool:
    """True for what ``databento_dbn`` raises on bad input: an Exception, or a Rust panic.

    A panic inside the decoder (e.g. a record too short for its rtype) surfaces as
    ``pyo3_runtime.PanicException``, which derives from BaseException, not Exception.
    """
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


class _PanicText:
    """Keeps the Rust panic hook's text out of the terminal while the decoder runs.

    A panic in ``databento_dbn`` (a record shorter than its rtype's struct) is raised as
    ``PanicException`` - caught and reported as a finding / DataError naming the record -
    but the Rust runtime first writes "thread ... panicked at ..." to file descriptor 2.
    While decoding, fd 2 goes to a temporary file; afterwards what was written there is
    passed on to the real stderr unless the decode panicked (then it was the panic's text,
    already carried by the exception). Nothing else is lost: output of the block's decode
    that is not a panic reaches stderr after it.
    """

    def __init__(self) -> None:
        self._spool: Any = None
        self._saved = -1
        self._lock = threading.Lock()  # fd 2 is the process's: one decode at a time redirects it

    def __enter__(self) -> _PanicText:
        self._lock.acquire()
        if self._spool is None:
            self._spool = tempfile.TemporaryFile()
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        self._spool.seek(0)
        self._spool.truncate()
        self._saved = os.dup(2)
        os.dup2(self._spool.fileno(), 2)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        try:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            if kind is not None and type(exc).__name__ == "PanicException":
                return
            self._spool.seek(0)
            text = self._spool.read()
            if text:
                os.write(2, text)
        finally:
            self._lock.release()


_quiet_panics = _PanicText()


def _open_stream(path: Path) -> BinaryIO:
    """The file's decompressed byte stream (zstd detected by its magic number, all frames)."""
    fh = open(path, "rb")
    magic = fh.read(4)
    fh.seek(0)
    if magic == _ZSTD_MAGIC:
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True, closefd=True)  # type: ignore[return-value]
    return fh


class DbnMboReader:
    """Reads a Databento DBN MBO file (``.dbn`` or ``.dbn.zst``) as canonical chunks; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        tick_size: float | str = "0.000000001",
        strict: bool = True,
        fills: str = "execute",
        ts_field: str = "ts_recv",
    ) -> None:
        self.path = Path(path)
        self.strict = strict
        if fills not in ("execute", "trade"):
            raise ValueError(f"fills must be 'execute' or 'trade', not {fills!r}")
        if ts_field not in ("ts_recv", "ts_event"):
            raise ValueError(f"ts_field must be 'ts_recv' or 'ts_event', not {ts_field!r}")
        self.fills = fills
        self.ts_field = ts_field
        try:
            self._tick = nano_units(tick_size, "tick_size")
        except ValueError as e:
            raise DataError(f"{self.path}: {e}") from None
        self.stats = FeedStats(str(self.path))
        self.instruments: dict[int, str] = {}
        self.metadata: Any = None

    # ------------------------------------------------------------------ API

    def chunks(self, chunk_size: int = 65536) -> Iterator[np.ndarray]:
        """Yield MD_DTYPE chunks of about ``chunk_size`` events in file order (streams the file)."""
        for events, _ in self._chunks(chunk_size, False):
            yield events

    def delayed_chunks(self, chunk_size: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Like :meth:`chunks`, with each chunk's recorded feed delays: ``(events, delays)``.

        ``delays[i]`` (int64 ns) is the record's ``ts_recv`` minus event ``i``'s ``ts``:
        with ``ts_field="ts_event"`` how long the update took from the matching engine to
        Databento's capture server (the recorded market-data latency; ``venues.latency.
        RecordedLatency``); with the default ``ts_recv`` it is 0. It is 0 as well where the
        record's flags say its ts_recv is not a receive time (``F_BAD_TS_RECV``, e.g. the
        snapshot records), and never negative (a clamped timestamp can pass ts_recv).
        """
        yield from self._chunks(chunk_size, True)

    def _chunks(self, chunk_size: int, with_delays: bool) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._reset()
        buf = self._buf
        delays: list[int] = []
        hard_cap = 4 * chunk_size
        with _open_stream(self.path) as fh:
            version = self._read_metadata(fh)
            for recs, first_index, offsets in self._record_batches(fh, version):
                for k, rec in enumerate(recs):
                    self._index = first_index + k
                    before = len(buf)
                    try:
                        self._record(rec)
                    except _BadRecord as e:
                        self._bad(first_index + k, offsets[k], str(e))
                    n = len(buf)
                    if with_delays and n > before:
                        d = 0 if rec.flags & _DBN_F_BAD_TS_RECV else rec.ts_recv - buf.rows[-1][0]
                        delays.extend([d if d > 0 else 0] * (n - before))
                    if n >= chunk_size and (buf.rows[-1][7] & F_LAST or n >= hard_cap):
                        yield buf.take(), self._take_delays(delays, with_delays)
        self._finish()
        if len(buf):
            yield buf.take(), self._take_delays(delays, with_delays)

    @staticmethod
    def _take_delays(delays: list[int], with_delays: bool) -> np.ndarray | None:
        if not with_delays:
            return None
        out = np.array(delays, np.int64)
        delays.clear()
        return out

    # ------------------------------------------------------------------ framing

    def _fail(self, msg: str) -> None:
        if self.strict:
            raise DataError(msg)
        self.stats.bad(msg)

    def _bad(self, index: int, offset: int, what: str) -> None:
        self._fail(f"{self.path}, record {index} (byte {offset}): {what}")

    def _read_exact(self, fh: BinaryIO, n: int) -> bytes:
        out = b""
        while len(out) < n:
            try:
                b = fh.read(min(n - len(out), 1 << 20))  # bounded: a corrupt length must not allocate GBs
            except Exception as e:  # zstandard.ZstdError
                raise DataError(f"{self.path}, metadata (byte {len(out)}): decompression failed: {e}") from None
            if not b:
                break
            out += b
        return out

    def _read_metadata(self, fh: BinaryIO) -> int:
        head = self._read_exact(fh, 8)
        if len(head) < 8 or head[:3] != b"DBN":
            raise DataError(f"{self.path}, byte 0: not a DBN file (no 'DBN' header)")
        version = head[3]
        mlen = int.from_bytes(head[4:8], "little")
        body = self._read_exact(fh, mlen)
        if len(body) < mlen:
            raise DataError(f"{self.path}, metadata (byte 8): truncated DBN metadata ({len(body)} of {mlen} bytes)")
        dec = dbn.DBNDecoder(upgrade_policy=dbn.VersionUpgradePolicy.AS_IS)
        try:
            dec.write(head + body)
            with _quiet_panics:
                out = dec.decode()
        except BaseException as e:
            if not _decoder_failed(e):
                raise
            raise DataError(f"{self.path}, metadata (bytes 0-{8 + mlen}): bad DBN metadata: {e}") from None
        if not out or not isinstance(out[0], dbn.Metadata):
            raise DataError(f"{self.path}, metadata (bytes 0-{8 + mlen}): bad DBN metadata")
        meta = out[0]
        self.metadata = meta
        schema = meta.schema
        if schema is not None and str(getattr(schema, "value", schema)) != "mbo":
            raise DataError(f"{self.path}: schema is {getattr(schema, 'value', schema)}, expected mbo")
        for raw, intervals in (meta.mappings or {}).items():
            for iv in intervals:
                sym = iv.get("symbol") if isinstance(iv, dict) else getattr(iv, "symbol", None)
                if sym and str(sym).isdigit():
                    self.instruments[int(sym)] = raw
        self.stats.info.update(
            dbn_version=version,
            dataset=meta.dataset,
            schema="mbo",
            symbols=list(meta.symbols or []),
            start=meta.start,
            end=meta.end,
        )
        return version

    def _record_batches(self, fh: BinaryIO, version: int) -> Iterator[tuple[list[Any], int, list[int]]]:
        """Yield (decoded records, index of the first, byte offsets) for blocks of complete records."""
        carry = b""
        offset = 0  # byte offset (in the decompressed records section) of carry[0]
        index = 0
        eof = False
        while not eof:
            try:
                block = fh.read(1 << 20)
            except Exception as e:  # zstandard.ZstdError
                raise DataError(f"{self.path}: decompression failed after record {index}: {e}") from None
            if not block:
                eof = True
            data = carry + block if carry else block
            pos = 0
            offs: list[int] = []
            odd = False  # an MBO record of the wrong size: the decoder would panic on it
            n = len(data)
            while pos < n:
                ln = data[pos] * 4
                if ln < _HEADER:
                    self._bad(index + len(offs), offset + pos, f"record length {ln} is shorter than a record header")
                    # Lenient: framing is lost; nothing after this point can be read.
                    self.stats.findings["unreadable_tail_bytes"] += n - pos
                    eof = True
                    n = pos
                    break
                if pos + ln > n:
                    break
                if ln != _MBO_SIZE and data[pos + 1] == _RTYPE_MBO:
                    odd = True
                offs.append(pos)
                pos += ln
            if eof and pos < n:
                self._bad(index + len(offs), offset + pos, f"truncated record ({n - pos} bytes at the end of the file)")
            if offs:
                recs = self._decode(data[offs[0] : pos], offs, index, offset, version, odd)
                yield recs, index, [offset + o for o in offs]
                index += len(offs)
            carry = data[pos:n] if not eof else b""
            offset += pos

    def _decode(self, data: bytes, offs: list[int], index: int, offset: int, version: int, odd: bool) -> list[Any]:
        """Decode the records at ``offs``; bad ones are reported (by index and offset) and decode as None.

        The whole block goes to the decoder at once unless ``odd`` (it holds an MBO
        record of the wrong size) or the decoder fails; then record by record.
        """
        if not odd:
            dec = dbn.DBNDecoder(
                has_metadata=False, input_version=version, upgrade_policy=dbn.VersionUpgradePolicy.AS_IS
            )
            try:
                dec.write(data)
                with _quiet_panics:
                    recs = dec.decode()
                if len(recs) == len(offs):
                    return recs
            except BaseException as e:  # databento_dbn.DBNError or a panic: find the bad record below
                if not _decoder_failed(e):
                    raise
        recs = []
        base = offs[0]
        ends = offs[1:] + [base + len(data)]
        for k, (o, e) in enumerate(zip(offs, ends, strict=True)):
            if e - o != _MBO_SIZE and data[o - base + 1] == _RTYPE_MBO:
                self._bad(index + k, offset + o, f"MBO record of {e - o} bytes, expected {_MBO_SIZE}")
                recs.append(None)
                continue
            d1 = dbn.DBNDecoder(
                has_metadata=False, input_version=version, upgrade_policy=dbn.VersionUpgradePolicy.AS_IS
            )
            try:
                d1.write(data[o - base : e - base])
                with _quiet_panics:
                    got = d1.decode()
                if len(got) != 1:
                    raise ValueError("not one record")
                recs.append(got[0])
            except BaseException as ex:
                if not _decoder_failed(ex):
                    raise
                self._bad(index + k, offset + o, f"undecodable record: {ex}")
                recs.append(None)
        return recs

    # ------------------------------------------------------------------ records

    def _reset(self) -> None:
        self.stats = FeedStats(str(self.path))
        self._buf = EventBuffer(self.stats)
        # instrument -> order id -> [side, price ticks, qty]
        self._books: dict[int, dict[int, list[int]]] = {}
        # instrument -> order id -> filled qty whose Cancel/Modify has not been seen yet
        self._pending: dict[int, dict[int, int]] = {}
        self._last_ts: int | None = None
        self._first_ts: int | None = None
        self._index = 0
        self._info = {
            "ts_clamped": 0,
            "folded_cancels": 0,
            "folded_modifies": 0,
            "bad_ts_recv": 0,
            "maybe_bad_book": 0,
            "none_actions": 0,
            "refill_adds": 0,
            "fill_beyond_displayed_qty": 0,
        }
        self.instruments = {}
        self.metadata = None

    def _finish(self) -> None:
        info = self.stats.info
        info.update(self._info)
        info.update(
            first_ts=self._first_ts,
            last_ts=self._last_ts,
            unresolved_fills=sum(len(p) for p in self._pending.values()),
            resting_orders_at_end=sum(len(b) for b in self._books.values()),
        )

    def _transfer_last(self, inst: int) -> None:
        rows = self._buf.rows
        if rows and rows[-1][4] == inst:
            self._buf.mark_last()

    def _record(self, rec: Any) -> None:
        if rec is None:
            return
        st = self.stats
        st.records += 1
        if not isinstance(rec, dbn.MBOMsg):
            name = type(rec).__name__
            st.by_type[name] += 1
            if name.startswith("SymbolMappingMsg"):
                try:
                    sym = getattr(rec, "stype_in_symbol", "")
                except Exception as e:  # databento_dbn.DBNError: the symbol is not UTF-8
                    raise _BadRecord(f"symbol mapping with a bad symbol: {e}") from None
                if sym:
                    self.instruments[rec.instrument_id] = sym
            return
        ch = _ACTIONS.get(rec.action)
        if ch is None:
            raise _BadRecord(f"unknown MBO action {str(rec.action)!r}")
        side = _SIDES.get(rec.side)
        if side is None:
            raise _BadRecord(f"unknown side {str(rec.side)!r}")
        st.by_type[ch] += 1
        ts = rec.ts_recv if self.ts_field == "ts_recv" else rec.ts_event
        if ts >= _TS_LIMIT:
            raise _BadRecord(f"{self.ts_field} {ts} is undefined or beyond int64 nanoseconds")
        last = self._last_ts
        if last is not None and ts < last:
            self._info["ts_clamped"] += 1
            ts = last
        else:
            self._last_ts = ts
            if last is None:
                self._first_ts = ts
        f = rec.flags
        if f & _DBN_F_BAD_TS_RECV:
            self._info["bad_ts_recv"] += 1
        if f & _DBN_F_MAYBE_BAD_BOOK:
            self._info["maybe_bad_book"] += 1
        kf = (F_LAST if f & _DBN_F_LAST else 0) | (F_SNAPSHOT if f & _DBN_F_SNAPSHOT else 0)
        inst = rec.instrument_id
        if inst not in self.instruments:
            self.instruments[inst] = ""
        add = self._buf.add
        if ch == "N":
            self._info["none_actions"] += 1
            if kf & F_LAST:
                self._transfer_last(inst)
            return
        if ch == "R":
            self._books.pop(inst, None)
            self._pending.pop(inst, None)
            add(ts, 0, 0, 0, inst, CLEAR, 0, kf)
            return
        raw = rec.price
        if raw == _UNDEF_PRICE:
            raise _BadRecord(f"action {ch} with an undefined price")
        if self._tick == 1:
            px = raw
        else:
            px, r = divmod(raw, self._tick)
            if r:
                raise _BadRecord(f"price {raw / 1e9:.9f} is not a multiple of the tick size {self._tick / 1e9:.9f}")
        size = rec.size
        oid = rec.order_id
        book = self._books.get(inst)
        if book is None:
            book = self._books[inst] = {}
            self._pending[inst] = {}
        pending = self._pending[inst]
        where = f"{self.path}, record {self._index}"
        if ch == "A":
            if oid in book:
                st.note("duplicate_add", f"{where}: add of resting order {oid}")
            if size <= 0:
                st.note("add_nonpositive_size", f"{where}: add of order {oid} with size {size}")
            book[oid] = [side, px, size]
            add(ts, oid, px, size, inst, ADD, side, kf)
        elif ch == "C":
            if pending and oid in pending:
                p = pending[oid]
                fold = min(size, p)
                if fold == p:
                    del pending[oid]
                else:
                    pending[oid] = p - fold
                size -= fold
                if size == 0:
                    self._info["folded_cancels"] += 1
                    if kf & F_LAST:
                        self._transfer_last(inst)
                    return
            o = book.get(oid)
            if o is None:
                st.note("cancel_unknown_id", f"{where}: cancel of unknown order {oid}")
            else:
                if size > o[2]:
                    st.note("cancel_exceeds_resting", f"{where}: cancel of {size} from order {oid} resting {o[2]}")
                if size >= o[2]:
                    del book[oid]
                else:
                    o[2] -= size
            add(ts, oid, px, size, inst, CANCEL, side, kf)
        elif ch == "M":
            o = book.get(oid)
            refill = False
            if pending and oid in pending:
                del pending[oid]
                if o is None:
                    refill = True  # an iceberg whose displayed qty was filled shows a new slice
                elif o[1] == px and o[2] == size:
                    self._info["folded_modifies"] += 1
                    if kf & F_LAST:
                        self._transfer_last(inst)
                    return
            if o is None:
                if refill:
                    self._info["refill_adds"] += 1
                else:
                    st.note("modify_unknown_as_add", f"{where}: modify of unknown order {oid} taken as an add")
                book[oid] = [side, px, size]
                add(ts, oid, px, size, inst, ADD, side, kf)
            else:
                if size <= 0:
                    del book[oid]
                else:
                    o[1] = px
                    o[2] = size
                add(ts, oid, px, size, inst, MODIFY, o[0], kf)
        elif ch == "T":
            add(ts, oid, px, size, inst, TRADE, side, kf)
        else:  # "F"
            o = book.get(oid)
            if self.fills == "trade" or o is None:
                if o is None and self.fills == "execute":
                    st.note("fill_unknown_id", f"{where}: fill of unknown order {oid} emitted as a TRADE")
                rside = o[0] if o is not None else side
                add(ts, oid, px, size, inst, TRADE, -rside, kf | F_FILL)
                return
            rest = o[2]
            vis = size if size < rest else rest
            add(ts, oid, px, vis, inst, EXECUTE, o[0], kf if vis == size else kf & ~F_LAST)
            if size > rest:
                # The fill reaches into hidden (iceberg) quantity: that part never was in the book.
                self._info["fill_beyond_displayed_qty"] += size - rest
                add(ts, oid, px, size - rest, inst, TRADE, -o[0], kf | F_FILL)
            pending[oid] = pending.get(oid, 0) + vis
            if vis == rest:
                del book[oid]
            else:
                o[2] = rest - vis


class _BadRecord(Exception):
    pass


__all__ = ["DbnMboReader", "F_FILL"]
