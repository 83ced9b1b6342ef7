"""Binance depth / trade captures (hftbacktest collector format) -> canonical market-data events.

File format (as written by hftbacktest's collector): optionally gzip-compressed
text, one record per line, ``<local receive time, ns> <raw JSON>``.  The JSON
is either a combined-stream envelope ``{"stream": ..., "data": {...}}`` of a
``depthUpdate``, ``trade``, ``aggTrade`` or ``bookTicker`` event, or a bare REST
depth snapshot ``{"lastUpdateId": ..., "E": ..., "T": ..., "bids": [...],
"asks": [...]}``.  Prices and quantities are decimal strings.

**L2 in the canonical L3 dtype.**  Each price level is one synthetic order whose
id is :func:`~adapters.feeds.validate.level_order_id` ``(side, price)`` =
``2**61 + 2 * price_ticks + (1 if sell)``.  A level update "qty is now q":

* a level not in the book and q > 0 -> ADD (level id, side, price, q);
* a level in the book, q changed -> MODIFY (same id and price, new qty q): a
  decrease keeps the level's queue priority, an increase loses it (the kernel's
  MODIFY rule) - one event per change, no CANCEL+ADD pair;
* q == 0 -> CANCEL qty 0 (remove the level);
* q == 0 for a level not in the book, or q equal to the book's -> no event
  (counted in ``stats.findings`` as ``zero_qty_unknown_level`` /
  ``unchanged_level``; such updates are normal at the edge of the snapshot's
  1000 levels).

Bids are applied before asks; the last event of an update carries F_LAST.

**Snapshot.**  A REST snapshot -> CLEAR, then one ADD per level, all flagged
F_SNAPSHOT (F_LAST on the last).  Depth updates are synchronised the Binance
USD-M futures way: updates that arrive before the first snapshot are buffered
(at most ``max_buffer``); when the snapshot arrives, buffered and later updates
with ``u < lastUpdateId`` are dropped (``stale_depth_update``), the first one
applied should have ``U <= lastUpdateId <= u`` (else ``snapshot_gap``).  Every
update's ``pu`` must equal the previous update's ``u`` (else a ``depth_gap``
finding, listed in ``stats.info["gaps"]``); the reader keeps applying updates
after a gap (the book may be wrong until the next snapshot).  With
``require_snapshot=False`` updates before any snapshot are applied to an
empty book instead of being buffered.  Updates still buffered at the end of
the file (no snapshot) are counted as ``depth_without_snapshot`` (strict:
:class:`~kernel.errors.DataError`).

**Trades** (``trade`` and ``aggTrade``) -> TRADE (price, qty, order id = the
trade id, side = aggressor: SELL if ``m`` (buyer is maker) else BUY).
``bookTicker`` events are not emitted (the depth stream carries the book); they
are counted, and a bookTicker whose update id equals the last applied depth
update's ``u`` is compared with the book's best bid/ask
(``stats.info["book_ticker_checked"]`` / ``["book_ticker_mismatched"]``).

**Time.**  ``ts`` is the exchange event time ``E`` (ms, µs or ns since the
epoch, detected from its magnitude, -> ns).  The output keeps the file's
order (the local receive order); where ``E`` goes backwards across streams,
``ts`` is clamped to the previous event's (``ts_clamped`` in ``stats.info``).
Replayed buffered updates take the snapshot's time or later.

Prices -> ticks with ``tick_size`` (default 0.1, BTCUSDT USD-M futures),
quantities -> lots with ``lot_size`` (default 0.001); values off the grid are
malformed.  Malformed lines: strict -> DataError ``"<file>, line <n>: <what>"``;
lenient -> skipped, counted in ``stats.malformed`` with the message kept.

Speed (2-CPU development machine, CPU time): ~80k lines/s = ~370k events/s on the
BTCUSDT sample (JSON decoding dominates).
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from adapters.feeds.validate import EventBuffer, FeedStats, decimal_to_nanos, level_order_id, nano_units
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, CLEAR, F_SNAPSHOT, MODIFY, SELL, TRADE

_MAX_TS = 1 << 63  # event times (ns) and trade ids must fit the canonical int64 / order id columns
_MAX_UNITS = 1 << 62  # prices in ticks and quantities in lots (and L2 level ids: level_order_id)


_EVENT_TIME = re.compile(rb'"E":\s*(\d+)')  # a stream event's exchange time (the offset pre-pass)


def _to_ns(t: int) -> int:
    """Epoch time in ms, µs or ns (by magnitude) -> ns."""
    if t < 10**14:
        return t * 1_000_000
    if t < 10**17:
        return t * 1_000
    return t


class _Malformed(Exception):
    pass


class BinanceDepthReader:
    """Reads a Binance depth/trade capture as canonical chunks; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        symbol: str | None = None,
        instrument: int = 0,
        tick_size: float | str = "0.1",
        lot_size: float | str = "0.001",
        strict: bool = True,
        require_snapshot: bool = True,
        max_buffer: int = 100_000,
        clock_offset: int | str = "min",
    ) -> None:
        """``clock_offset`` (used by :meth:`delayed_chunks` only): the capture clock minus the
        exchange's, in ns, or ``"min"`` to estimate it as the smallest ``local - E`` in the
        file (the fastest update then counts as arriving with no delay)."""
        self.path = Path(path)
        if clock_offset != "min" and (isinstance(clock_offset, bool) or not isinstance(clock_offset, int)):
            raise DataError(f"{self.path}: clock_offset must be an integer ns or 'min', got {clock_offset!r}")
        self.clock_offset = clock_offset
        self.symbol = symbol.upper() if symbol else None
        self.instrument = instrument
        self.strict = strict
        self.require_snapshot = require_snapshot
        self.max_buffer = max_buffer
        try:
            self._tick = nano_units(tick_size, "tick_size")
            self._lot = nano_units(lot_size, "lot_size")
        except ValueError as e:
            raise DataError(f"{self.path}: {e}") from None
        self.stats = FeedStats(str(self.path))
        self.instruments: dict[int, str] = {instrument: self.symbol or ""}

    # ------------------------------------------------------------------ API

    def chunks(self, chunk_size: int = 65536) -> Iterator[np.ndarray]:
        """Yield MD_DTYPE chunks of about ``chunk_size`` events in file order (streams the file)."""
        for events, _ in self._chunks(chunk_size, None):
            yield events

    def delayed_chunks(self, chunk_size: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Like :meth:`chunks`, with each chunk's recorded feed delays: ``(events, delays)``.

        ``delays[i]`` (int64 ns) is the local receive time of the line that produced event
        ``i`` minus its exchange time ``E``, minus :attr:`clock_offset` (the capture host's
        clock is not the exchange's: in the BTCUSDT sample it is ~1.27 s behind, so raw
        differences are all negative). With ``"min"`` the offset is the smallest
        ``local - E`` of the file, found by a quick first pass over the lines: delays are
        then relative to the fastest update, a lower bound of the true latency. Never
        negative (a later, faster update than the offset assumes is counted in
        ``stats.info["delays_clamped"]``).
        """
        offset = self._estimate_clock_offset() if self.clock_offset == "min" else int(self.clock_offset)
        yield from self._chunks(chunk_size, offset)

    def _estimate_clock_offset(self) -> int:
        """Smallest ``local - E`` over the file's stream events (0 without any)."""
        best: int | None = None
        with self._open() as fh:
            for _, raw in self._numbered_lines(fh):
                head, _, body = raw.partition(b" ")
                m = _EVENT_TIME.search(body)
                if m is None or not head.isdigit():
                    continue
                d = int(head) - _to_ns(int(m.group(1)))
                if best is None or d < best:
                    best = d
        return 0 if best is None else best

    def _chunks(self, chunk_size: int, offset: int | None) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self._reset()
        buf = self._buf
        st = self.stats
        delays: list[int] = []
        clamped = 0
        with self._open() as fh:
            for n, raw in self._numbered_lines(fh):
                st.records += 1
                before = len(buf)
                try:
                    self._line(n, raw)
                except _Malformed as e:
                    msg = f"{self.path}, line {n}: {e}"
                    if self.strict:
                        raise DataError(msg) from None
                    st.bad(msg)
                if offset is not None:
                    for row in buf.rows[before:]:
                        d = self._local - row[0] - offset
                        if d < 0:
                            clamped += 1
                            d = 0
                        delays.append(d)
                if len(buf) >= chunk_size:
                    yield self._take(buf, delays, offset)
        if self._pending:
            k = len(self._pending)
            first = self._pending[0][0]
            msg = f"{self.path}, line {first}: {k} depth updates but no depth snapshot to apply them to (the first one)"
            if self.strict:
                raise DataError(msg)
            st.findings["depth_without_snapshot"] += k
            st.examples.append(msg)
            self._pending.clear()
        self._finish()
        if offset is not None:
            st.info.update(clock_offset_ns=offset, delays_clamped=clamped)
        if len(buf):
            yield self._take(buf, delays, offset)

    @staticmethod
    def _take(buf: EventBuffer, delays: list[int], offset: int | None) -> tuple[np.ndarray, np.ndarray | None]:
        events = buf.take()
        if offset is None:
            return events, None
        d = np.asarray(delays, dtype=np.int64)
        delays.clear()
        return events, d

    # ------------------------------------------------------------------ internals

    def _open(self) -> BinaryIO:
        with open(self.path, "rb") as f:
            magic = f.read(2)
        if magic == b"\x1f\x8b":
            return gzip.open(self.path, "rb")  # type: ignore[return-value]
        return open(self.path, "rb")

    def _numbered_lines(self, fh: BinaryIO) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of the file; a corrupt or cut-off gzip stream ends it with a finding.

        Strict: :class:`~kernel.errors.DataError` naming the line where decompression
        failed. Lenient: counted as ``truncated_stream`` (the lines before it are kept).
        """
        n = 0
        it = iter(fh)
        while True:
            try:
                raw = next(it)
            except StopIteration:
                return
            except (EOFError, OSError, zlib.error) as e:  # gzip: cut off, bad CRC, bad deflate data
                msg = f"{self.path}, line {n + 1}: decompression failed ({e}); nothing after line {n} can be read"
                if self.strict:
                    raise DataError(msg) from None
                self.stats.note("truncated_stream", msg)
                return
            n += 1
            yield n, raw

    def _reset(self) -> None:
        self.stats = st = FeedStats(str(self.path))
        self._buf = EventBuffer(st)
        self._levels: dict[tuple[int, int], int] = {}
        self._pending: list[tuple[int, dict[str, Any]]] = []
        self._synced = not self.require_snapshot
        self._snap_id: int | None = None
        self._first_after_snap = False
        self._prev_u: int | None = None
        self._last_applied_u: int | None = None
        self._last_ts: int | None = None
        self._last_local: int | None = None
        self._first_local: int | None = None
        self._local = 0  # the current line's local receive time
        self._clamped = 0
        self._gaps: list[dict[str, int]] = []
        self._bt_checked = 0
        self._bt_mismatched = 0
        self._sym_seen = self.symbol
        self._px_cache: dict[str, int] = {}
        self._qty_cache: dict[str, int] = {}

    def _finish(self) -> None:
        self.stats.info.update(
            symbol=self._sym_seen,
            first_local_ns=self._first_local,
            last_local_ns=self._last_local,
            last_ts=self._last_ts,
            ts_clamped=self._clamped,
            gaps=self._gaps,
            levels_at_end=len(self._levels),
            book_ticker_checked=self._bt_checked,
            book_ticker_mismatched=self._bt_mismatched,
        )
        self.instruments = {self.instrument: self._sym_seen or ""}

    def _ts(self, e: Any) -> int:
        if type(e) is not int or e <= 0 or _to_ns(e) >= _MAX_TS:
            raise _Malformed(f"bad event time {e!r}")
        ts = _to_ns(e)
        last = self._last_ts
        if last is not None and ts < last:
            self._clamped += 1
            return last
        self._last_ts = ts
        return ts

    def _price(self, s: Any) -> int:
        v = self._px_cache.get(s)
        if v is None:
            try:
                q, r = divmod(decimal_to_nanos(s), self._tick)
            except (ValueError, TypeError):
                raise _Malformed(f"bad price {s!r}") from None
            if r or q < 0:
                raise _Malformed(f"price {s} is not a non-negative multiple of the tick size")
            if q >= _MAX_UNITS:
                raise _Malformed(f"price {s} out of range")
            if len(self._px_cache) > 200_000:
                self._px_cache.clear()
            self._px_cache[s] = v = q
        return v

    def _qty(self, s: Any) -> int:
        v = self._qty_cache.get(s)
        if v is None:
            try:
                q, r = divmod(decimal_to_nanos(s), self._lot)
            except (ValueError, TypeError):
                raise _Malformed(f"bad quantity {s!r}") from None
            if r or q < 0:
                raise _Malformed(f"quantity {s} is not a non-negative multiple of the lot size")
            if q >= _MAX_UNITS:
                raise _Malformed(f"quantity {s} out of range")
            if len(self._qty_cache) > 200_000:
                self._qty_cache.clear()
            self._qty_cache[s] = v = q
        return v

    def _line(self, n: int, raw: bytes) -> None:
        st = self.stats
        head, sep, body = raw.partition(b" ")
        if not sep:
            raise _Malformed("expected '<local time ns> <json>'")
        try:
            local = int(head)
        except ValueError:
            raise _Malformed(f"bad local timestamp {head[:30]!r}") from None
        if self._last_local is not None and local < self._last_local:
            st.note("local_time_backwards", f"{self.path}, line {n}: local time {local} < {self._last_local}")
        else:
            self._last_local = local
        if self._first_local is None:
            self._first_local = local
        self._local = local
        try:
            obj = json.loads(body)
        except ValueError as e:
            raise _Malformed(f"bad JSON ({e})") from None
        if not isinstance(obj, dict):
            raise _Malformed("JSON is not an object")
        data = obj.get("data")
        if isinstance(data, dict):
            kind = data.get("e")
            if self._sym_seen is None and isinstance(data.get("s"), str):
                self._sym_seen = data["s"].upper()
            sym = data.get("s")
            if isinstance(sym, str) and self._sym_seen is not None and sym.upper() != self._sym_seen:
                st.by_type["other_symbol"] += 1
                return
            if kind is None and "u" in data and "b" in data and "a" in data and "B" in data:
                kind = "bookTicker"  # spot bookTicker has no "e"
            st.by_type[str(kind)] += 1
            try:
                if kind == "depthUpdate":
                    self._depth(n, data)
                elif kind == "trade" or kind == "aggTrade":
                    self._trade(data, kind)
                elif kind == "bookTicker":
                    self._book_ticker(data)
                else:
                    st.note("unknown_stream", f"{self.path}, line {n}: stream event {kind!r} not used")
            except (KeyError, TypeError, IndexError) as e:
                raise _Malformed(f"{kind} event missing or bad field ({e!r})") from None
        elif "lastUpdateId" in obj:
            st.by_type["snapshot"] += 1
            try:
                self._snapshot(n, obj)
            except (KeyError, TypeError, IndexError, ValueError) as e:
                raise _Malformed(f"depth snapshot missing or bad field ({e!r})") from None
        else:
            raise _Malformed("neither a stream envelope nor a depth snapshot")

    # ------------------------------------------------------------------ records

    def _trade(self, d: dict[str, Any], kind: str) -> None:
        ts = self._ts(d["E"])
        tid = d["t"] if kind == "trade" else d["a"]
        if type(tid) is not int or not 0 <= tid < _MAX_TS:
            raise _Malformed(f"bad trade id {tid!r}")
        m = d["m"]
        if type(m) is not bool:
            raise _Malformed(f"bad buyer-is-maker flag {m!r}")
        side = SELL if m else BUY
        self._buf.add(ts, tid, self._price(d["p"]), self._qty(d["q"]), self.instrument, TRADE, side, 0)
        self._buf.mark_last()
        if kind == "trade" and d.get("X", "MARKET") != "MARKET":
            self.stats.by_type[f"trade:{d['X']}"] += 1

    def _parse_levels(self, levels: Any) -> list[tuple[int, int]]:
        if not isinstance(levels, list):
            raise _Malformed("price levels are not a list")
        pc = self._px_cache
        qc = self._qty_cache
        out = []
        for lv in levels:
            try:
                ps, qs = lv[0], lv[1]
                p = pc[ps]
                q = qc[qs]
            except (KeyError, TypeError, IndexError):
                if not isinstance(lv, list) or len(lv) < 2:
                    raise _Malformed(f"bad price level {lv!r}") from None
                p = self._price(lv[0])
                q = self._qty(lv[1])
            out.append((p, q))
        return out

    def _depth(self, n: int, d: dict[str, Any]) -> None:
        U, u, pu = d["U"], d["u"], d.get("pu")
        if type(U) is not int or type(u) is not int or u < U:
            raise _Malformed(f"bad update ids U={U!r} u={u!r}")
        e = d["E"]
        if type(e) is not int or e <= 0 or _to_ns(e) >= _MAX_TS:
            raise _Malformed(f"bad event time {e!r}")
        bids = self._parse_levels(d["b"])
        asks = self._parse_levels(d["a"])
        prev = self._prev_u
        if prev is not None:
            expected_ok = pu == prev if pu is not None else U == prev + 1
            if not expected_ok:
                got = pu if pu is not None else U
                self._gaps.append({"line": n, "expected": prev if pu is not None else prev + 1, "got": got})
                self.stats.note(
                    "depth_gap",
                    f"{self.path}, line {n}: depth update chain broken (previous u {prev}, "
                    f"{'pu' if pu is not None else 'U'} {got})",
                )
        self._prev_u = u
        upd = (n, e, U, u, bids, asks)
        if not self._synced:
            if len(self._pending) >= self.max_buffer:
                msg = f"{self.path}, line {n}: more than {self.max_buffer} depth updates before a snapshot"
                if self.strict:
                    raise DataError(msg)
                self.stats.note("buffer_overflow", msg)
                self._pending.pop(0)
            self._pending.append(upd)  # type: ignore[arg-type]
            return
        self._apply_update(upd)

    def _apply_update(self, upd: tuple[int, int, int, int, list[tuple[int, int]], list[tuple[int, int]]]) -> None:
        n, e, U, u, bids, asks = upd
        snap = self._snap_id
        if snap is not None:
            if u < snap:
                self.stats.findings["stale_depth_update"] += 1
                return
            if self._first_after_snap:
                self._first_after_snap = False
                if U > snap:
                    self.stats.note(
                        "snapshot_gap",
                        f"{self.path}, line {n}: first update after the snapshot starts at U={U} > lastUpdateId {snap}",
                    )
        ts = self._ts(e)
        buf = self._buf
        before = len(buf)
        levels = self._levels
        inst = self.instrument
        st = self.stats
        for side, lv in ((BUY, bids), (SELL, asks)):
            for p, q in lv:
                key = (side, p)
                cur = levels.get(key)
                if q == 0:
                    if cur is None:
                        st.findings["zero_qty_unknown_level"] += 1
                    else:
                        del levels[key]
                        buf.add(ts, level_order_id(side, p), p, 0, inst, CANCEL, side, 0)
                elif cur is None:
                    levels[key] = q
                    buf.add(ts, level_order_id(side, p), p, q, inst, ADD, side, 0)
                elif cur != q:
                    levels[key] = q
                    buf.add(ts, level_order_id(side, p), p, q, inst, MODIFY, side, 0)
                else:
                    st.findings["unchanged_level"] += 1
        if len(buf) > before:
            buf.mark_last()
        self._last_applied_u = u

    def _snapshot(self, n: int, obj: dict[str, Any]) -> None:
        last_id = obj["lastUpdateId"]
        if type(last_id) is not int:
            raise _Malformed(f"bad lastUpdateId {last_id!r}")
        e = obj.get("E") or obj.get("T")
        bids = self._parse_levels(obj["bids"])
        asks = self._parse_levels(obj["asks"])
        ts = self._ts(e) if e else self._last_ts
        if ts is None:
            raise _Malformed("snapshot without a time (E/T) before any timed event")
        buf = self._buf
        inst = self.instrument
        self._levels = {}
        buf.add(ts, 0, 0, 0, inst, CLEAR, 0, F_SNAPSHOT)
        for side, lv in ((BUY, bids), (SELL, asks)):
            for p, q in lv:
                if q > 0:
                    self._levels[(side, p)] = q
                    buf.add(ts, level_order_id(side, p), p, q, inst, ADD, side, F_SNAPSHOT)
        buf.mark_last()
        self.stats.info.setdefault("snapshots", []).append(
            {"line": n, "lastUpdateId": last_id, "bids": len(bids), "asks": len(asks)}
        )
        self._snap_id = last_id
        self._first_after_snap = True
        self._synced = True
        pending, self._pending = self._pending, []
        for upd in pending:
            self._apply_update(upd)

    def _book_ticker(self, d: dict[str, Any]) -> None:
        u = d.get("u")
        if u is None or u != self._last_applied_u:
            return
        bid = (self._price(d["b"]), self._qty(d["B"]))
        ask = (self._price(d["a"]), self._qty(d["A"]))
        bids = [p for (s, p) in self._levels if s == BUY]
        asks = [p for (s, p) in self._levels if s == SELL]
        self._bt_checked += 1
        ours_bid = (max(bids), self._levels[(BUY, max(bids))]) if bids else None
        ours_ask = (min(asks), self._levels[(SELL, min(asks))]) if asks else None
        if ours_bid != bid or ours_ask != ask:
            self._bt_mismatched += 1
            if self._bt_mismatched <= 3:
                self.stats.examples.append(f"bookTicker u={u}: ticker {bid}/{ask}, book {ours_bid}/{ours_ask}")
