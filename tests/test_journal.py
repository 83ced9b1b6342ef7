"""Journal encoding and fingerprint behaviour."""

from __future__ import annotations

import numpy as np

from kernel.events import ADD, MD_DTYPE
from kernel.journal import Journal, JournalRecord, encode_record


def _events(n: int, price: int = 100) -> np.ndarray:
    ev = np.zeros(n, MD_DTYPE)
    ev["ts"] = np.arange(n)
    ev["action"] = ADD
    ev["price"] = price
    ev["qty"] = 1
    ev["order_id"] = np.arange(1, n + 1)
    return ev


def test_encoding_is_canonical_text():
    rec = JournalRecord(5, "fill", (1, 100, 3, "M", 0.25, True, "a|b"))
    assert encode_record(rec) == b"5|fill|1|100|3|M|0.25|1|a\\|b\n"


def test_int_and_str_subclasses_encode_as_their_canonical_text():
    from enum import IntEnum, StrEnum

    class Kind(IntEnum):
        FILL = 3

    class Tag(StrEnum):
        MAKER = "M|x"

    rec = JournalRecord(7, "k", (Kind.FILL, Tag.MAKER, False, np.int64(-4), 1.5e-07, "", "|"))
    # IntEnum and numpy ints as their int value, a str enum as its str(), pipes escaped
    assert encode_record(rec) == b"7|k|3|M\\|x|0|-4|1.5e-07||\\|\n"


def test_same_events_same_fingerprint_regardless_of_batching():
    a, b = Journal(), Journal()
    ev = _events(10)
    a.market_data(ev)
    b.market_data(ev[:3])
    b.market_data(ev[3:])
    for j in (a, b):
        j.record(11, "submit", 1, 0, 1)
    assert a.fingerprint() == b.fingerprint()
    assert a.market_events == b.market_events == 10


def test_any_difference_changes_fingerprint():
    base = Journal()
    base.market_data(_events(4))
    base.record(1, "fill", 1, 100, 2)
    other_md = Journal()
    other_md.market_data(_events(4, price=101))
    other_md.record(1, "fill", 1, 100, 2)
    other_rec = Journal()
    other_rec.market_data(_events(4))
    other_rec.record(1, "fill", 1, 100, 3)
    fps = {base.fingerprint(), other_md.fingerprint(), other_rec.fingerprint()}
    assert len(fps) == 3


def test_fingerprint_can_be_read_midway_without_disturbing_it():
    j = Journal()
    j.record(1, "x", 1)
    first = j.fingerprint()
    assert j.fingerprint() == first
    j.record(2, "y", 2)
    assert j.fingerprint() != first
    assert j.counts == {"x": 1, "y": 1}
    assert [r.kind for r in j.of_kind("y")] == ["y"]


def test_large_batches_hashed_on_the_worker_give_the_inline_digest(monkeypatch):
    """Mixed large (worker thread) and small (inline or queued behind) batches hash in order."""
    import hashlib

    import kernel.journal as journal_mod

    rng = np.random.default_rng(3)
    ev = np.zeros(200_000, MD_DTYPE)
    ev["ts"] = np.cumsum(rng.integers(1, 1000, len(ev)))
    ev["order_id"] = rng.integers(1, 1 << 40, len(ev))
    cuts = [0, 7, 30_000, 30_003, 90_000, 90_001, 150_000, 200_000]  # big, tiny, big, tiny, ...
    batches = [ev[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]

    def digest() -> tuple[str, int]:
        j = Journal()
        for b in batches:
            j.market_data(b)
        j.record(5, "x", 1)
        return j.fingerprint(), j.market_events

    threaded = digest()
    assert any(len(b) * MD_DTYPE.itemsize >= journal_mod._ASYNC_BYTES for b in batches)
    monkeypatch.setattr(journal_mod, "_ASYNC_BYTES", 1 << 62)  # everything inline
    inline = digest()
    assert threaded == inline and inline[1] == len(ev)
    # And the market stream is exactly the bytes of the events, in order.
    j = Journal()
    for b in batches:
        j.market_data(b)
    j._drain()
    assert j._market.hexdigest() == hashlib.blake2b(ev.tobytes(), digest_size=32).hexdigest()
