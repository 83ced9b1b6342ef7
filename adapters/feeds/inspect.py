"""``parity data inspect`` / ``convert``: open any supported market-data file by its
format, summarize it, validate it, or write it as a memory-mappable canonical cache."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kernel.clock import format_ns
from kernel.errors import DataError
from kernel.events import ACTION_NAMES

FORMATS = ("itch", "lobster", "dbn", "binance", "cache")


def detect(path: Path) -> str:
    """The format of ``path`` by name and content."""
    name = path.name.lower()
    if name.endswith(".npy"):
        return "cache"
    if ".dbn" in name:
        return "dbn"
    if "_message_" in name and name.endswith(".csv"):
        return "lobster"
    from adapters.feeds.itch import detect_format

    if detect_format(path):
        return "itch"
    if name.endswith((".gz", ".jsonl", ".txt")):
        return "binance"
    raise DataError(f"{path}: unknown market-data format (expected one of {', '.join(FORMATS)})")


def open_reader(path: Path, fmt: str | None = None, **params: Any):
    """A reader for ``path`` (format detected unless given)."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    fmt = fmt or detect(path)
    if fmt == "itch":
        from adapters.feeds.itch import ItchReader

        return ItchReader(path, **params)
    if fmt == "lobster":
        from adapters.feeds.lobster import LobsterReader

        book = path.with_name(path.name.replace("_message_", "_orderbook_"))
        return LobsterReader(path, book if book.exists() else None, **params)
    if fmt == "dbn":
        from adapters.feeds.dbn import DbnMboReader

        return DbnMboReader(path, **params)
    if fmt == "binance":
        from adapters.feeds.binance import BinanceDepthReader

        return BinanceDepthReader(path, **params)
    if fmt == "cache":
        from adapters.feeds.cache import CacheReader

        return CacheReader(path)
    raise DataError(f"{path}: unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


def _tee_counts(chunks: Iterator[np.ndarray], acc: dict[str, Any]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        if len(chunk):
            acc["events"] += len(chunk)
            acc["first"] = int(chunk["ts"][0]) if acc["first"] is None else acc["first"]
            acc["last"] = int(chunk["ts"][-1])
            acc["actions"].update(dict(zip(*np.unique(chunk["action"], return_counts=True), strict=True)))
            acc["instruments"].update(np.unique(chunk["instrument"]).tolist())
        yield chunk


def inspect_file(path: Path, fmt: str | None = None, **params: Any) -> dict[str, Any]:
    """Format, instruments, time range, counts by message type and validation findings."""
    from adapters.feeds.validate import validate

    reader = open_reader(path, fmt, **params)
    acc: dict[str, Any] = {"events": 0, "first": None, "last": None, "actions": Counter(), "instruments": set()}
    report = validate(_tee_counts(reader.chunks(), acc), strict=False, source=str(path))
    stats = getattr(reader, "stats", None)
    # Readers name their per-record-type counts differently (ITCH: messages by letter).
    by_type = getattr(stats, "by_type", None) or getattr(stats, "messages", None) or {}
    names = dict(getattr(reader, "instruments", {}) or {})
    return {
        "file": str(path),
        "format": fmt or detect(path),
        "events": acc["events"],
        "first_ts": acc["first"],
        "last_ts": acc["last"],
        "instruments": {int(i): names.get(int(i), "") for i in sorted(acc["instruments"])},
        "events_by_action": {ACTION_NAMES.get(int(k), str(k)): int(v) for k, v in sorted(acc["actions"].items())},
        "records_by_type": {str(k): int(v) for k, v in dict(by_type).items()},
        "reader_findings": stats.lines() if hasattr(stats, "lines") else [],
        "validation": report.lines(),
        "valid": report.ok,
    }


def format_inspection(info: dict[str, Any]) -> str:
    """Human-readable lines of :func:`inspect_file`'s result."""
    span = (
        f"{format_ns(info['first_ts'])} .. {format_ns(info['last_ts'])}" if info["first_ts"] is not None else "(empty)"
    )
    lines = [
        f"file        {info['file']}",
        f"format      {info['format']}",
        f"events      {info['events']:,}",
        f"time range  {span}",
        f"instruments {', '.join(f'{k}={v}' if v else str(k) for k, v in info['instruments'].items())}",
        "by action   " + ", ".join(f"{k} {v:,}" for k, v in info["events_by_action"].items()),
    ]
    if info["records_by_type"]:
        lines.append("by record   " + ", ".join(f"{k} {v:,}" for k, v in info["records_by_type"].items()))
    lines += [f"reader      {line}" for line in info["reader_findings"]]
    lines += [f"validation  {line}" for line in info["validation"]]
    return "\n".join(lines)


def convert_file(path: Path, out: Path, fmt: str | None = None, **params: Any) -> dict[str, Any]:
    """Write ``path`` as a canonical ``.npy`` cache at ``out``; returns the cache metadata."""
    from adapters.feeds.cache import write_cache

    reader = open_reader(path, fmt, **params)
    return write_cache(reader, out, {"source": str(path), "format": fmt or detect(path)})
