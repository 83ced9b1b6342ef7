"""Market-data sources named by a scenario's ``[[data]]`` entries.

Each entry feeds one instrument of one venue. File readers live in
``adapters/feeds``; the synthetic market in ``venues/synthetic``. Whatever the
source, it yields chunks of canonical ``MD_DTYPE`` events whose instrument
column is set to the scenario's instrument id.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kernel.errors import DataError, ScenarioError
from kernel.instruments import Instrument
from kernel.rng import RngStreams
from scenarios.schema import DataConfig

FILE_KINDS = ("itch", "lobster", "dbn", "binance", "cache")


def resolve_data_path(raw: str, base_dir: Path | None, field: str) -> Path:
    """Expand ``$VARS`` and ``~``; relative paths are relative to the scenario file."""
    expanded = os.path.expanduser(os.path.expandvars(raw))
    if "$" in expanded:
        raise ScenarioError(f"{field}: {raw!r} names an environment variable that is not set")
    path = Path(expanded)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.exists():
        raise ScenarioError(f"{field}: data file {path} does not exist")
    return path


def _with_instrument(chunks: Iterator[np.ndarray], instrument_id: int, keep: Callable | None = None):
    for chunk in chunks:
        if keep is not None:
            chunk = chunk[keep(chunk)]
        if not len(chunk):
            continue
        if not (chunk["instrument"] == instrument_id).all():
            chunk = chunk.copy()
            chunk["instrument"] = instrument_id
        yield chunk


def _file_reader(cfg: DataConfig, inst: Instrument, path: Path, params: dict[str, Any]):
    if cfg.kind == "itch":
        from adapters.feeds.itch import ItchReader

        return ItchReader(path, symbols={params.pop("symbol", inst.symbol)}, tick_size=inst.tick_size, **params)
    if cfg.kind == "lobster":
        from adapters.feeds.lobster import LobsterReader

        book = params.pop("orderbook", None)
        if book is not None:
            book = resolve_data_path(book, path.parent, "data.params.orderbook")
        return LobsterReader(path, book, instrument=inst.id, tick_size=inst.tick_size, **params)
    if cfg.kind == "dbn":
        from adapters.feeds.dbn import DbnMboReader

        return DbnMboReader(path, tick_size=inst.tick_size, **params)
    if cfg.kind == "binance":
        from adapters.feeds.binance import BinanceDepthReader

        return BinanceDepthReader(path, instrument=inst.id, tick_size=inst.tick_size, lot_size=inst.lot_size, **params)
    from adapters.feeds.cache import CacheReader

    return CacheReader(path, **params)


def _recorded_chunks(
    pairs: Iterator[tuple[np.ndarray, np.ndarray]], instrument_id: int, keep: Callable | None, recorded: Any
) -> Iterator[np.ndarray]:
    """:func:`_with_instrument` for (events, delays) pairs: each chunk is registered with its delays."""
    for chunk, delays in pairs:
        if keep is not None:
            mask = keep(chunk)
            chunk, delays = chunk[mask], delays[mask]
        if not len(chunk):
            continue
        if not (chunk["instrument"] == instrument_id).all():
            chunk = chunk.copy()
            chunk["instrument"] = instrument_id
        recorded.register(chunk, delays)
        yield chunk


def open_source(
    cfg: DataConfig,
    index: int,
    inst: Instrument,
    rng: RngStreams,
    base_dir: Path | None,
    start_ns: int | None,
    duration_ns: int | None,
    recorded: Any = None,
) -> Iterator[np.ndarray]:
    """The chunk iterator of one ``[[data]]`` entry (errors name ``data[index]``).

    ``recorded``: the venue's :class:`venues.latency.RecordedLatency` when its market-data
    latency is ``{kind = "recorded"}``; the source then registers every chunk's recorded
    delays with it. DBN and Binance captures record them: DBN events then carry ts_event,
    the exchange time (``ts_field = "ts_recv"`` is refused, as it would make every delay
    0); Binance events carry ``E`` and each line its local receive time, on a clock whose
    offset ``params.clock_offset`` gives or estimates (see ``BinanceDepthReader``).
    """
    field = f"data[{index}]"
    params = dict(cfg.params)
    if recorded is not None:
        if cfg.kind not in ("dbn", "binance"):
            raise ScenarioError(
                f"{field}: the venue's market_data latency is 'recorded', which needs receive timestamps "
                f"in the data; kind {cfg.kind!r} has none (only 'dbn' and 'binance' record them)"
            )
        if cfg.kind == "dbn" and params.setdefault("ts_field", "ts_event") != "ts_event":
            raise ScenarioError(
                f"{field}.params.ts_field: a 'recorded' market_data latency replays at the exchange time: "
                f"use 'ts_event' (the default then), not {params['ts_field']!r}"
            )
    if cfg.kind == "synthetic":
        from venues.synthetic import SyntheticMarket, SyntheticParams

        if start_ns is None or duration_ns is None:
            raise ScenarioError(f'{field}: synthetic data needs an explicit start and duration (not "data")')
        full = {"instrument": inst.id, "start_ts": start_ns, "duration_ns": duration_ns, **params}
        try:
            market = SyntheticMarket(SyntheticParams(**full), rng.stream(f"data:{cfg.venue}:{cfg.instrument}"))
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"{field}.params: {_first_line(exc)}") from exc
        return market.chunks()
    if cfg.path is None:
        raise ScenarioError(f"{field}.path: a {cfg.kind} source needs a file path")
    path = resolve_data_path(cfg.path, base_dir, f"{field}.path")
    source_id = params.pop("source_instrument", None)  # keep only this instrument id of a multi-instrument file
    try:
        reader = _file_reader(cfg, inst, path, params)
    except TypeError as exc:
        raise ScenarioError(f"{field}.params: {_first_line(exc)}") from exc
    except DataError as exc:
        raise ScenarioError(f"{field}: {exc}") from exc
    keep = (lambda c: c["instrument"] == source_id) if source_id is not None else None
    if recorded is not None:
        return _recorded_chunks(reader.delayed_chunks(), inst.id, keep, recorded)
    return _with_instrument(reader.chunks(), inst.id, keep)


def peek_start(chunks: Iterator[np.ndarray]) -> tuple[int | None, Iterator[np.ndarray]]:
    """The first event time of a chunk stream, and the stream with that chunk put back."""
    for chunk in chunks:
        if len(chunk):
            return int(chunk["ts"][0]), itertools.chain([chunk], chunks)
    return None, iter(())


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
