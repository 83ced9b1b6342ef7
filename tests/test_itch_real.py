"""The ITCH reader on the real NASDAQ samples of the shared data folder (see its MANIFEST.md, section 3).

Every expected number is either quoted from the manifest or computed by the
small reference parser below, which walks the bytes with its own code (fixed
offsets from the ITCH 5.0 specification, its own pcap/Ethernet/IPv4/UDP and
MoldUDP64 walk) and shares nothing with ``adapters.feeds``.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from adapters.feeds.itch import F_CROSS, F_EXEC_PRICE, F_NON_PRINTABLE, F_UNKNOWN_ORDER, ItchReader, detect_format
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, EXECUTE, F_LAST, SELL, TRADE

REPO = Path(__file__).resolve().parents[1]
SESSION_DATE = "2023-08-22"  # named by the nasdaq_20230822 folder; only shifts the epoch of the timestamps


@pytest.fixture(scope="module")
def itch_dir(shared_data: Path) -> Path:
    if not (shared_data / "itch").is_dir():
        pytest.skip(f"shared ITCH samples not found under {shared_data}/itch")
    return shared_data / "itch"


def _pcaps(itch_dir: Path) -> list[Path]:
    return sorted((itch_dir / "pcap").glob("*/*.pcap"))


# --- the independent reference parser --------------------------------------------------------------


def ref_frames(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        (n,) = struct.unpack_from(">H", data, pos)
        out.append(data[pos + 2 : pos + 2 + n])
        pos += 2 + n
    assert pos == len(data)
    return out


def ref_pcap(path: Path) -> list[tuple[bytes, int, int, list[bytes]]]:
    """(MoldUDP64 session, sequence number, count, messages) per packet."""
    data = path.read_bytes()
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    assert struct.unpack_from(endian + "I", data, 20)[0] == 1  # Ethernet
    packets, pos = [], 24
    while pos < len(data):
        incl = struct.unpack_from(endian + "I", data, pos + 8)[0]
        frame = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        off, etype = 14, struct.unpack_from(">H", frame, 12)[0]
        while etype == 0x8100:
            etype = struct.unpack_from(">H", frame, off + 2)[0]
            off += 4
        assert etype == 0x0800 and frame[off + 9] == 17  # IPv4, UDP
        udp = off + (frame[off] & 0x0F) * 4
        ulen = struct.unpack_from(">H", frame, udp + 4)[0]
        payload = frame[udp + 8 : udp + ulen]
        session, seq, count = struct.unpack_from(">10sQH", payload)
        msgs = ref_frames(payload[20:])
        assert len(msgs) == count
        packets.append((session, seq, count, msgs))
    return packets


def ref_events(msgs: list[bytes], day_ns: int) -> list[tuple]:
    """Expected canonical events, computed with fixed byte offsets and a plain dict of live orders."""
    live: dict[int, tuple[int, int]] = {}  # ref -> (price, side)
    out = []

    def u(m: bytes, at: int, width: int) -> int:
        return int.from_bytes(m[at : at + width], "big")

    for m in msgs:
        t, loc, ts = chr(m[0]), u(m, 1, 2), day_ns + u(m, 5, 6)
        if t in "AF":
            side = BUY if m[19:20] == b"B" else SELL
            live[u(m, 11, 8)] = (u(m, 32, 4), side)
            out.append((ts, u(m, 11, 8), u(m, 32, 4), u(m, 20, 4), loc, ADD, side, F_LAST))
        elif t in "EXD":
            px, side = live.get(u(m, 11, 8), (0, 0))
            flags = F_LAST | (0 if u(m, 11, 8) in live else F_UNKNOWN_ORDER)
            qty = 0 if t == "D" else u(m, 19, 4)
            out.append((ts, u(m, 11, 8), px, qty, loc, EXECUTE if t == "E" else CANCEL, side, flags))
        elif t == "C":
            _, side = live.get(u(m, 11, 8), (0, 0))
            flags = F_LAST | F_EXEC_PRICE | (F_NON_PRINTABLE if m[31:32] == b"N" else 0)
            flags |= 0 if u(m, 11, 8) in live else F_UNKNOWN_ORDER
            out.append((ts, u(m, 11, 8), u(m, 32, 4), u(m, 19, 4), loc, EXECUTE, side, flags))
        elif t == "U":
            old, new = u(m, 11, 8), u(m, 19, 8)
            px, side = live.pop(old, (0, 0))
            unk = 0 if side else F_UNKNOWN_ORDER
            out.append((ts, old, px, 0, loc, CANCEL, side, unk))
            out.append((ts, new, u(m, 31, 4), u(m, 27, 4), loc, ADD, side, F_LAST | unk))
            if side:
                live[new] = (u(m, 31, 4), side)
        elif t == "P":
            side = BUY if m[19:20] == b"B" else SELL
            out.append((ts, u(m, 11, 8), u(m, 32, 4), u(m, 20, 4), loc, TRADE, side, F_LAST))
        elif t == "Q":
            out.append((ts, 0, u(m, 27, 4), u(m, 11, 8), loc, TRADE, 0, F_LAST | F_CROSS))
    return out


def as_tuples(ev: np.ndarray) -> list[tuple]:
    cols = ("ts", "order_id", "price", "qty", "instrument", "action", "side", "flags")
    return list(zip(*(ev[c].tolist() for c in cols), strict=True))


# --- BinaryFILE fragment ---------------------------------------------------------------------------


def test_binaryfile_fragment(itch_dir: Path) -> None:
    path = itch_dir / "binaryfile" / "nasdaq_itch50_first1000.itch"
    msgs = ref_frames(path.read_bytes())
    ref_counts = Counter(chr(m[0]) for m in msgs)
    assert ref_counts == {"S": 1, "R": 993, "H": 3, "Y": 3}  # MANIFEST 3a
    assert detect_format(path) == "itch-binaryfile"

    with pytest.raises(DataError, match="cannot tell the session date"):  # the manifest: date not stated
        ItchReader(path)
    seen: list[dict] = []
    r = ItchReader(path, date=SESSION_DATE, on_message=seen.append)
    assert len(r.read()) == 0  # no order messages in the fragment
    assert r.stats.messages == dict(ref_counts) and r.stats.total_messages == len(msgs) == 1000
    assert r.stats.findings == [] and r.stats.malformed == 0 and r.stats.truncated == 0

    ref_directory = {
        int.from_bytes(m[1:3], "big"): m[11:19].decode().rstrip() for m in msgs if m[:1] == b"R"
    }  # fmt: skip
    assert r.stock_directory == ref_directory == r.instruments
    assert sorted(r.stock_directory) == list(range(1, 994))  # MANIFEST: locate 1 to 993, A through BPFH
    assert (r.stock_directory[1], r.stock_directory[993]) == ("A", "BPFH")

    # MANIFEST: one S, event 'O' (start of messages) at 03:04:32.057543747; timestamps never decrease
    assert [(ts - r.day_ns, code) for ts, code in r.system_events] == [(3 * 3600_000_000_000 + 272_057_543_747, "O")]
    times = [m["timestamp"] for m in seen]
    assert times == sorted(times) and len(seen) == 1000
    assert r.trading_status == {
        m[11:19].decode().rstrip(): (chr(m[19]), m[21:25].decode().rstrip()) for m in msgs if m[:1] == b"H"
    }
    assert len(r.reg_sho) == 3

    kept = ItchReader(path, date=SESSION_DATE, symbols={"A", "BPFH", "ZZZZZ"})
    kept.read()
    assert kept.instruments == {1: "A", 993: "BPFH"} and kept.missing_symbols == {"ZZZZZ"}


# --- pcap captures ---------------------------------------------------------------------------------


def test_every_pcap_matches_the_reference_parse(itch_dir: Path) -> None:
    files = _pcaps(itch_dir)
    assert len(files) == 23  # MANIFEST 3b: 8 + 15 captures
    for path in files:
        packets = ref_pcap(path)
        msgs = [m for _, _, _, ms in packets for m in ms]
        assert detect_format(path) == "itch-pcap", path
        r = ItchReader(path, date=SESSION_DATE)
        ev = r.read()
        s = r.stats
        assert s.packets == len(packets), path
        assert s.messages == dict(Counter(chr(m[0]) for m in msgs)), path
        assert as_tuples(ev) == ref_events(msgs, r.day_ns), path
        assert s.findings == [] and s.malformed == 0 and s.bad_packets == 0 and s.skipped_frames == 0, path
        assert s.unknown_refs == int(np.count_nonzero(ev["flags"] & F_UNKNOWN_ORDER)), path

        # Sequence numbers: reference bookkeeping per session; seq 0 = unsequenced.
        nxt: dict[bytes, int] = {}
        gaps = []
        for i, (session, seq, count, _) in enumerate(packets):
            if seq == 0:
                continue
            if session in nxt and seq > nxt[session]:
                gaps.append((session, nxt[session], seq, i))
            nxt[session] = seq + count
        assert [tuple(g) for g in s.gaps] == gaps, path
        assert s.unsequenced_packets == sum(seq == 0 for _, seq, _, _ in packets), path
        assert s.duplicates == 0 and s.heartbeats == 0 and s.end_of_session == 0, path


def test_manifest_totals_and_surprises(itch_dir: Path) -> None:
    totals: dict[str, Counter] = {"nasdaq": Counter(), "nasdaq_20230822": Counter()}
    packets = Counter()
    ts_of_day = []
    readers = {}
    for path in _pcaps(itch_dir):
        seen: list[dict] = []
        r = ItchReader(path, date=SESSION_DATE, on_message=seen.append)
        ev = r.read()
        readers[path.name] = (r, ev)
        totals[path.parent.name].update(r.stats.messages)
        packets[path.parent.name] += r.stats.packets
        ts_of_day += [int(t) - r.day_ns for t in ev["ts"]] + [m["timestamp"] for m in seen]
    # MANIFEST 3b: nasdaq/ 9 packets, 46 messages (A 37, D 2, F 2, E 1, U 1, H 1, I 1, L 1)
    assert packets["nasdaq"] == 9
    assert totals["nasdaq"] == {"A": 37, "D": 2, "F": 2, "E": 1, "U": 1, "H": 1, "I": 1, "L": 1}
    # nasdaq_20230822/: 71 messages, one per packet; A F E C X D U P Q H Y L I J 5 each, S 1
    assert packets["nasdaq_20230822"] == 71
    assert totals["nasdaq_20230822"] == {**{t: 5 for t in "AFECXDUPQHYLIJ"}, "S": 1}
    # ITCH times run from 09:29:59.999837 to 09:39:23.322466 ET (the manifest rounds to microseconds)
    us = lambda h, m, s, frac: ((h * 60 + m) * 60 + s) * 1_000_000 + frac  # noqa: E731
    assert (round(min(ts_of_day), -3) // 1000, round(max(ts_of_day), -3) // 1000) == (
        us(9, 29, 59, 999837),
        us(9, 39, 23, 322466),
    )

    # Multiple.Packets.pcap: 2 packets, 39 messages, mostly META adds -- and the packets are far apart in
    # the session, so the second one shows a gap of millions of messages.
    r, ev = readers["Multiple.Packets.pcap"]
    assert r.stats.packets == 2 and r.stats.total_messages == 39
    (gap,) = r.stats.gaps
    assert gap.session == b"000010059B" and gap.missing > 1_000_000

    # nasdaq_20230822/: the MoldUDP64 session is all zero bytes and the sequence number is 0 (manifest), so
    # the sequence check is off for them and every packet counts as unsequenced.
    for name in ("OrderReplace.pcap", "SystemEvent.pcap"):
        assert readers[name][0].stats.unsequenced_packets == readers[name][0].stats.packets

    # Fragments start mid-day: deletes, executions and replaces refer to orders added before the capture.
    r, ev = readers["OrderReplace.pcap"]
    assert ev["action"].tolist() == [CANCEL, ADD] * 5 and np.all(ev["flags"] & F_UNKNOWN_ORDER)


def test_date_is_inferred_from_the_capture_folder(itch_dir: Path) -> None:
    path = itch_dir / "pcap" / "nasdaq_20230822" / "SystemEvent.pcap"
    r = ItchReader(path)
    r.read()
    assert str(r.date) == "2023-08-22"
    # 2023-08-22 00:00 EDT is 04:00 UTC, i.e. 1692676800 s after the epoch
    ((ts, code),) = r.system_events
    assert ts == 1692676800 * 10**9 + int.from_bytes(ref_pcap(path)[0][3][0][5:11], "big") and code == "Q"
    with pytest.raises(DataError, match="cannot tell the session date"):
        ItchReader(itch_dir / "pcap" / "nasdaq" / "OrderReplaceMessage.pcap")
