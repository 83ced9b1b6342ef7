"""Tests of adapters.feeds.cache: round trips, the sidecar, and corrupt caches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from adapters.feeds.cache import CacheReader, open_cache, sha256_file, sidecar_path, write_cache
from adapters.feeds.lobster import LobsterReader
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, F_LAST, MD_DTYPE, SELL, TRADE


def events(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = np.zeros(n, dtype=MD_DTYPE)
    e["ts"] = np.cumsum(rng.integers(0, 1000, n)) + 1_700_000_000_000_000_000
    e["order_id"] = rng.integers(1, 2**63, n, dtype=np.uint64) * 2 + 1  # ids above 2**63 too
    e["price"] = rng.integers(-5, 10**6, n)
    e["qty"] = rng.integers(0, 1000, n)
    e["instrument"] = rng.integers(0, 3, n)
    e["action"] = rng.choice([ADD, CANCEL, TRADE], n)
    e["side"] = rng.choice([BUY, SELL], n)
    e["flags"] = F_LAST
    return e


def test_round_trip_is_exact(tmp_path: Path) -> None:
    e = events(10_000)
    src = tmp_path / "source.bin"
    src.write_bytes(b"raw source bytes")
    path = tmp_path / "c.npy"
    meta = write_cache(
        (e[i : i + 999] for i in range(0, len(e), 999)),
        path,
        {"source": str(src), "format": "test", "instruments": {0: "A", 2: "C"}},
    )
    arr, side = open_cache(path, verify=True)
    assert isinstance(arr, np.memmap) and arr.dtype == MD_DTYPE and np.array_equal(arr, e)
    assert side == json.loads(sidecar_path(path).read_text()) | {"instruments": {0: "A", 2: "C"}}
    assert side["events"] == 10_000 and side["format"] == "test" and side["cache_version"] == 1
    assert side["source_sha256"] == hashlib.sha256(b"raw source bytes").hexdigest() == sha256_file(src)
    assert side["data_sha256"] == hashlib.sha256(e.tobytes()).hexdigest()
    assert side["counts"] == {
        k: int((e["action"] == a).sum()) for k, a in (("add", ADD), ("cancel", CANCEL), ("trade", TRADE))
    }
    assert (side["first_ts"], side["last_ts"]) == (int(e["ts"][0]), int(e["ts"][-1]))
    assert meta["events"] == 10_000
    assert np.array_equal(np.load(path, mmap_mode="r"), e)  # a plain .npy to numpy
    with pytest.raises(ValueError):
        arr[0] = arr[1]  # read-only
    r = CacheReader(path)
    chunks = list(r.chunks(3000))
    assert [len(c) for c in chunks] == [3000, 3000, 3000, 1000]
    assert np.array_equal(np.concatenate(chunks), e)
    assert r.instruments == {0: "A", 2: "C"} and r.stats.events == 10_000
    assert not (tmp_path / "c.npy.tmp").exists()


def test_empty_cache(tmp_path: Path) -> None:
    path = tmp_path / "empty.npy"
    write_cache([], path, {})
    arr, meta = open_cache(path)
    assert len(arr) == 0 and meta["events"] == 0 and list(CacheReader(path).chunks()) == []


def test_a_reader_can_be_cached_directly(tmp_path: Path) -> None:
    m = tmp_path / "X_2012-06-21_34200000_57600000_message_1.csv"
    m.write_text("34200.1,1,1,10,5853300,1\n34200.2,3,1,10,5853300,1\n")
    r = LobsterReader(m)
    meta = write_cache(r, tmp_path / "x.npy", {"source": str(m), "format": "lobster"})
    assert meta["instruments"] == {"0": "X"} and meta["reader_stats"]["records"] == 2
    arr, side = open_cache(tmp_path / "x.npy")
    assert side["instruments"] == {0: "X"} and np.array_equal(arr, np.concatenate(list(LobsterReader(m).chunks())))


def test_bad_chunks_leave_nothing_behind(tmp_path: Path) -> None:
    path = tmp_path / "bad.npy"
    with pytest.raises(DataError, match=rf"^{path}: chunk 1 is not a 1-d MD_DTYPE array"):
        write_cache([events(3), np.zeros(3, dtype=np.int64)], path, {})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    path = tmp_path / "c.npy"
    write_cache([events(1000)], path, {"format": "test"})
    return path


def test_truncated_cache(cache: Path) -> None:
    data = cache.read_bytes()
    cache.write_bytes(data[:-17])
    with pytest.raises(
        DataError, match=rf"^{cache}: \d+ bytes, expected \d+ for 1000 events \(truncated or corrupt cache\)"
    ):
        open_cache(cache)
    cache.write_bytes(data[:100])
    with pytest.raises(DataError, match=rf"^{cache}: not a readable .npy cache"):
        open_cache(cache)


def test_corrupt_header_and_dtype(cache: Path) -> None:
    data = bytearray(cache.read_bytes())
    data[:6] = b"XXXXXX"
    cache.write_bytes(bytes(data))
    with pytest.raises(DataError, match=rf"^{cache}: not a readable .npy cache"):
        open_cache(cache)
    np.save(cache, np.zeros(1000, dtype=np.int64))
    with pytest.raises(DataError, match=rf"^{cache}: dtype int64 is not the canonical MD_DTYPE"):
        open_cache(cache)


def test_corrupt_data_is_found_by_verify(cache: Path) -> None:
    data = bytearray(cache.read_bytes())
    data[-5] ^= 0xFF
    cache.write_bytes(bytes(data))
    open_cache(cache)  # sizes still agree
    with pytest.raises(DataError, match=rf"^{cache}: data does not match the sha256 in its sidecar"):
        open_cache(cache, verify=True)


def test_sidecar_problems(cache: Path) -> None:
    side = sidecar_path(cache)
    meta = json.loads(side.read_text())
    side.write_text(json.dumps(meta | {"events": 999}))
    with pytest.raises(DataError, match=rf"^{cache}: holds 1000 events, its sidecar says 999"):
        open_cache(cache)
    side.write_text("{not json")
    with pytest.raises(DataError, match=rf"^{side}: corrupt cache sidecar"):
        open_cache(cache)
    side.unlink()
    with pytest.raises(DataError, match=rf"^{side}: cache sidecar not found"):
        open_cache(cache)
    with pytest.raises(DataError, match="cache file not found"):
        open_cache(cache.with_name("missing.npy"))


def test_real_dbn_round_trip(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "databento" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    if not src.is_file():
        pytest.skip(f"{src} not found")
    from adapters.feeds.dbn import DbnMboReader

    r = DbnMboReader(src, tick_size=0.25)
    meta = write_cache(r, tmp_path / "es.npy", {"source": str(src), "format": "dbn-mbo"})
    assert meta["source_sha256"] == "04597c542c1f0a9d0f6c5e8b73c7624db67d978061b42742b86e09ae608c0bc5"
    assert meta["instruments"] == {"17077": "ESH4"} and meta["events"] == r.stats.events
    arr, _ = open_cache(tmp_path / "es.npy", verify=True)
    assert np.array_equal(arr, np.concatenate(list(DbnMboReader(src, tick_size=0.25).chunks())))
