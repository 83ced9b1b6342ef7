"""A memory-mappable cache of canonical market data: a ``.npy`` file plus a JSON sidecar.

:func:`write_cache` streams canonical chunks (any reader's ``chunks()``) into
``<path>`` - a standard NumPy ``.npy`` file (format 1.0) of :data:`~kernel.events.MD_DTYPE`
- and writes the sidecar ``<path>.json`` with the caller's ``meta`` plus what
the cache knows itself: ``events``, ``counts`` by action, ``first_ts`` /
``last_ts``, ``data_sha256`` (of the event bytes), ``dtype``, and - when
``meta["source"]`` names an existing file and no ``source_sha256`` is given -
the source file's ``source_sha256``.  Conventional keys: ``source``,
``format``, ``instruments`` (id -> symbol), ``reader`` (parameters).

The ``.npy`` header is written first with a fixed width and rewritten with
the final length at the end; the file is built under a temporary name and
renamed into place, so a crash never leaves a half-written cache under the
final name.  Memory use is one chunk.

:func:`open_cache` returns ``(read-only np.memmap, meta)`` after checking the
header, the dtype, the file size against the event count, and the sidecar
(``verify=True`` also re-hashes the data).  Any mismatch raises
:class:`~kernel.errors.DataError` naming the file.  :class:`CacheReader` gives
the cache the readers' interface (``chunks()``, ``stats``, ``instruments``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from adapters.feeds.validate import FeedStats
from kernel.errors import DataError
from kernel.events import ACTION_NAMES, MD_DTYPE

CACHE_VERSION = 1
_MAGIC = b"\x93NUMPY\x01\x00"
_HEADER_LEN = 320 - 10  # total header 320 bytes (a multiple of 64): magic (8) + uint16 length (2) + dict text
_DESCR = np.lib.format.dtype_to_descr(MD_DTYPE)


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of a cache file: ``<path>.json``."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def sha256_file(path: str | Path, block: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(block):
            h.update(b)
    return h.hexdigest()


def _header(n: int) -> bytes:
    text = "{'descr': %r, 'fortran_order': False, 'shape': (%d,), }" % (_DESCR, n)  # noqa: UP031
    if len(text) + 1 > _HEADER_LEN:
        raise ValueError("npy header does not fit")  # cannot happen for the fixed dtype
    return _MAGIC + _HEADER_LEN.to_bytes(2, "little") + (text.ljust(_HEADER_LEN - 1) + "\n").encode("latin1")


def write_cache(
    chunks: Iterable[np.ndarray] | Any, path: str | Path, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write canonical chunks to a ``.npy`` cache and its JSON sidecar; return the sidecar's content.

    ``chunks`` is an iterable of MD_DTYPE arrays (a reader's ``chunks()``) or
    a reader itself: then its ``chunks()`` are written and, once they are
    consumed, its ``instruments`` and a summary of its ``stats`` (records,
    malformed, findings) complete ``meta`` where the caller did not set them.
    Anything but MD_DTYPE chunks raises :class:`DataError` and leaves no
    cache behind.
    """
    path = Path(path)
    meta = dict(meta or {})
    reader = chunks if hasattr(chunks, "chunks") and callable(chunks.chunks) else None
    if reader is not None:
        chunks = reader.chunks()
    tmp = path.with_name(path.name + ".tmp")
    h = hashlib.sha256()
    counts = np.zeros(256, dtype=np.int64)
    n = 0
    first_ts: int | None = None
    last_ts: int | None = None
    try:
        with open(tmp, "wb") as f:
            f.write(_header(0))
            for i, chunk in enumerate(chunks):
                if not isinstance(chunk, np.ndarray) or chunk.dtype != MD_DTYPE or chunk.ndim != 1:
                    raise DataError(f"{path}: chunk {i} is not a 1-d MD_DTYPE array")
                if not len(chunk):
                    continue
                data = np.ascontiguousarray(chunk).tobytes()
                f.write(data)
                h.update(data)
                counts += np.bincount(chunk["action"], minlength=256)
                if first_ts is None:
                    first_ts = int(chunk["ts"][0])
                last_ts = int(chunk["ts"][-1])
                n += len(chunk)
            f.seek(0)
            f.write(_header(n))
        side = dict(meta)
        if reader is not None:
            if "instruments" not in side and isinstance(getattr(reader, "instruments", None), dict):
                side["instruments"] = dict(reader.instruments)
            rst = getattr(reader, "stats", None)
            if "reader_stats" not in side and isinstance(rst, FeedStats):
                side["reader_stats"] = {
                    "records": rst.records,
                    "malformed": rst.malformed,
                    "findings": dict(rst.findings),
                }
        src = meta.get("source")
        if src and "source_sha256" not in meta and Path(str(src)).is_file():
            side["source_sha256"] = sha256_file(str(src))
        if "instruments" in side and isinstance(side["instruments"], dict):
            side["instruments"] = {str(k): v for k, v in side["instruments"].items()}
        side.update(
            cache_version=CACHE_VERSION,
            dtype=_DESCR,
            events=n,
            counts={ACTION_NAMES.get(a, str(a)): int(c) for a, c in enumerate(counts.tolist()) if c},
            first_ts=first_ts,
            last_ts=last_ts,
            data_sha256=h.hexdigest(),
        )
        try:
            text = json.dumps(side, indent=2, sort_keys=True, default=str)
        except (TypeError, ValueError) as e:
            raise DataError(f"{path}: meta is not JSON-serialisable: {e}") from None
        side_tmp = sidecar_path(tmp)
        side_tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
        os.replace(side_tmp, sidecar_path(path))
    except BaseException:
        for p in (tmp, sidecar_path(tmp)):
            try:
                p.unlink()
            except FileNotFoundError:
                pass
        raise
    return side


def _read_header(path: Path, f: Any) -> tuple[int, int]:
    """(number of events, data offset) from a cache file's npy header."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"npy format {version} not supported")
    except (ValueError, OSError, SyntaxError) as e:
        raise DataError(f"{path}: not a readable .npy cache ({e})") from None
    if dtype != MD_DTYPE:
        raise DataError(f"{path}: dtype {dtype} is not the canonical MD_DTYPE")
    if fortran or len(shape) != 1:
        raise DataError(f"{path}: array shape {shape} is not 1-d")
    return int(shape[0]), f.tell()


def open_cache(path: str | Path, verify: bool = False) -> tuple[np.memmap, dict[str, Any]]:
    """Open a cache read-only: ``(memmap of MD_DTYPE events, sidecar meta)``.

    Raises :class:`DataError` naming the file if it is missing, not a
    canonical ``.npy``, shorter or longer than its header says, or disagrees
    with its sidecar (event count; with ``verify`` also the data hash).
    """
    path = Path(path)
    side_p = sidecar_path(path)
    if not path.is_file():
        raise DataError(f"{path}: cache file not found")
    try:
        meta = json.loads(side_p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{side_p}: cache sidecar not found") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise DataError(f"{side_p}: corrupt cache sidecar ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{side_p}: corrupt cache sidecar (not a JSON object)")
    with open(path, "rb") as f:
        n, offset = _read_header(path, f)
    size = path.stat().st_size
    want = offset + n * MD_DTYPE.itemsize
    if size != want:
        raise DataError(f"{path}: {size} bytes, expected {want} for {n} events (truncated or corrupt cache)")
    if meta.get("events") != n:
        raise DataError(f"{path}: holds {n} events, its sidecar says {meta.get('events')}")
    if n == 0:  # numpy cannot map zero bytes
        arr: np.ndarray = np.zeros(0, MD_DTYPE)
    else:
        arr = np.memmap(path, dtype=MD_DTYPE, mode="r", offset=offset, shape=(n,))
    if verify:
        h = hashlib.sha256()
        step = 1 << 16
        for i in range(0, n, step):
            h.update(np.ascontiguousarray(arr[i : i + step]).tobytes())
        if h.hexdigest() != meta.get("data_sha256"):
            raise DataError(f"{path}: data does not match the sha256 in its sidecar (corrupt cache)")
    if "instruments" in meta and isinstance(meta["instruments"], dict):
        meta["instruments"] = {int(k) if str(k).isdigit() else k: v for k, v in meta["instruments"].items()}
    return arr, meta  # type: ignore[return-value]


class CacheReader:
    """A cache with the feed readers' interface: ``chunks()``, ``stats``, ``instruments``, ``meta``."""

    def __init__(self, path: str | Path, verify: bool = False) -> None:
        self.path = Path(path)
        self.events, self.meta = open_cache(self.path, verify=verify)
        self.instruments: dict[int, str] = dict(self.meta.get("instruments") or {})
        self.stats = FeedStats(str(self.path))

    def chunks(self, chunk_size: int = 65536) -> Iterator[np.ndarray]:
        """Yield read-only views of ``chunk_size`` events of the memory-mapped cache."""
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.stats = st = FeedStats(str(self.path))
        st.info.update({k: v for k, v in self.meta.items() if k not in ("instruments",)})
        arr = self.events
        for i in range(0, len(arr), chunk_size):
            chunk = np.asarray(arr[i : i + chunk_size])
            st.records += len(chunk)
            st.count_events(chunk)
            yield chunk
