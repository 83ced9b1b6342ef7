"""Packet captures and MoldUDP64 framing for the feed readers.

Reading:

* :class:`PcapFile` streams the records of a classic libpcap file (both byte
  orders, microsecond and nanosecond variants) or a pcapng file (section
  header, interface description, enhanced and simple packet blocks; other
  block types are skipped), reading fixed-size blocks so memory stays bounded.
  A gzip-compressed capture is read transparently.
* :func:`udp_payload` strips the link layer (Ethernet with any number of
  802.1Q / 802.1ad tags, Linux cooked capture SLL and SLL2, raw IP), IPv4 or
  IPv6 and UDP, and returns where the UDP payload lies in the record.
* :func:`parse_mold_header` and :class:`MoldSequencer` read MoldUDP64 packet
  headers and check sequence numbers per session (gaps, duplicates,
  heartbeats, end of session).

Writing (for tests and for the ITCH encoder): :func:`pack_moldudp64`,
:func:`ethernet_ipv4_udp`, :func:`linux_sll_ipv4_udp`, :func:`write_pcap` and
:func:`write_pcapng`.

MoldUDP64 packet (all integers big endian)::

    session (10 bytes ASCII) | sequence number (u64) | message count (u16)
    then `count` message blocks: length (u16) | message (length bytes)

The sequence number is that of the packet's first message; a session's first
message is number 1. Count 0 is a heartbeat and 0xFFFF marks the end of the
session; both carry the next expected sequence number.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

from kernel.errors import DataError

# Classic pcap magics as read little-endian from the first four bytes.
_PCAP_MAGICS = {
    0xA1B2C3D4: ("<", False),  # little-endian file, microseconds
    0xA1B23C4D: ("<", True),  # little-endian file, nanoseconds
    0xD4C3B2A1: (">", False),  # big-endian file, microseconds
    0x4D3CB2A1: (">", True),  # big-endian file, nanoseconds
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"

# Link types (tcpdump.org LINKTYPE_* values).
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SUPPORTED_LINKTYPES = frozenset(
    {LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2}
)

_ETH_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad, old QinQ
_ETH_IPV4 = 0x0800
_ETH_IPV6 = 0x86DD
_IPPROTO_UDP = 17

MOLD_HEADER = struct.Struct(">10sQH")
MOLD_HEADER_LEN = MOLD_HEADER.size  # 20
MOLD_HEARTBEAT = 0
MOLD_END_OF_SESSION = 0xFFFF


_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)  # cut off, bad header or CRC, bad deflate data


class _CheckedGzipFile(gzip.GzipFile):
    """A gzip file whose decompression errors are DataErrors naming the file and the offset reached."""

    def _failed(self, e: Exception) -> DataError:
        try:
            at = f"byte offset {self.tell()} of the decompressed data"
        except Exception:  # the stream is broken; the offset is lost with it
            at = "byte offset unknown"
        return DataError(f"{self.name}, {at}: gzip decompression failed: {e}")

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except _GZIP_ERRORS as e:
            raise self._failed(e) from None

    def read1(self, size: int = -1) -> bytes:
        try:
            return super().read1(size)
        except _GZIP_ERRORS as e:
            raise self._failed(e) from None

    def readinto(self, b: Any) -> int:
        try:
            return super().readinto(b)
        except _GZIP_ERRORS as e:
            raise self._failed(e) from None

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return super().readline(size)
        except _GZIP_ERRORS as e:
            raise self._failed(e) from None


def open_stream(path: str | Path) -> BinaryIO:
    """Open ``path`` for binary reading, decompressing gzip transparently.

    A corrupt or cut-off gzip stream raises :class:`~kernel.errors.DataError`
    (naming the file and the decompressed offset reached) from the reads.
    """
    f = open(path, "rb")  # the caller closes it
    head = f.read(2)
    f.seek(0)
    if head == GZIP_MAGIC:
        f.close()
        return _CheckedGzipFile(path, "rb")  # type: ignore[return-value]
    return f


def is_capture_magic(head: bytes) -> bool:
    """True if ``head`` (the first bytes of a file) starts a pcap or pcapng capture."""
    if head[:4] == PCAPNG_MAGIC:
        return True
    return len(head) >= 4 and struct.unpack_from("<I", head)[0] in _PCAP_MAGICS


class PacketRecord(NamedTuple):
    """One captured packet: its bytes are ``buf[start:end]`` (no copy)."""

    index: int  # record number in the file, from 0
    offset: int  # byte offset of the packet data in the (decompressed) file
    ts_ns: int  # capture timestamp, ns since the epoch
    linktype: int
    buf: bytes
    start: int
    end: int
    orig_len: int  # length on the wire; > end - start when the capture was cut at snaplen


class _Buffer:
    """A sliding window over a stream, refilled in blocks."""

    def __init__(self, f: BinaryIO, block_size: int) -> None:
        self.f = f
        self.block_size = block_size
        self.buf = b""
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.eof = False

    def ensure(self, n: int) -> bool:
        """Make ``n`` bytes available from ``pos``; False if the stream ends first."""
        while len(self.buf) - self.pos < n:
            if self.eof:
                return False
            chunk = self.f.read(max(self.block_size, n))
            self.base += self.pos
            self.buf = self.buf[self.pos :] + chunk
            self.pos = 0
            if not chunk:
                self.eof = True
        return True

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def remaining(self) -> int:
        """Bytes left in the buffer (after a failed ``ensure`` these are the stream's last bytes)."""
        return len(self.buf) - self.pos


@dataclass
class PcapFile:
    """Streaming reader of a pcap or pcapng capture.

    ``packets()`` yields :class:`PacketRecord` tuples in file order. After the
    iteration, ``trailing_bytes`` is the size of an incomplete last record (a
    capture cut off mid-write), 0 normally, and ``trailing_offset`` where it starts.
    """

    path: Path
    block_size: int = 1 << 20
    format: str = ""  # "pcap" or "pcapng", known once packets() has started
    nanosecond: bool = False
    linktype: int = -1  # classic pcap: the file's link type; pcapng: the first interface's
    trailing_bytes: int = 0
    trailing_offset: int = 0
    skipped_blocks: int = 0  # pcapng blocks that carry no packet (statistics, name resolution, ...)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    def packets(self) -> Iterator[PacketRecord]:
        with open_stream(self.path) as f:
            b = _Buffer(f, self.block_size)
            if not b.ensure(4):
                raise DataError(f"{self.path}, byte offset 0: too short for a pcap header ({b.remaining()} bytes)")
            if b.buf[:4] == PCAPNG_MAGIC:
                self.format = "pcapng"
                yield from self._pcapng(b)
            else:
                self.format = "pcap"
                yield from self._pcap(b)

    def _pcap(self, b: _Buffer) -> Iterator[PacketRecord]:
        magic = struct.unpack_from("<I", b.buf)[0]
        if magic not in _PCAP_MAGICS:
            raise DataError(f"{self.path}, byte offset 0: not a pcap file (magic {b.buf[:4].hex()})")
        endian, self.nanosecond = _PCAP_MAGICS[magic]
        if not b.ensure(24):
            raise DataError(f"{self.path}, byte offset 0: truncated pcap global header ({b.remaining()} of 24 bytes)")
        # The upper bits of the link-type field may carry FCS information.
        self.linktype = struct.unpack_from(endian + "I", b.buf, 20)[0] & 0xFFFF
        if self.linktype not in SUPPORTED_LINKTYPES:
            raise DataError(f"{self.path}: unsupported pcap link type {self.linktype} (byte offset 20)")
        b.pos += 24
        rec = struct.Struct(endian + "IIII")
        frac = 1 if self.nanosecond else 1000
        index = 0
        linktype = self.linktype
        while b.ensure(16):
            sec, sub, incl, orig = rec.unpack_from(b.buf, b.pos)
            if incl > 0x4000000:  # 64 MiB: no sane record is this large; the file is corrupt
                raise DataError(f"{self.path}: record {index} at byte offset {b.offset} claims {incl} bytes")
            if not b.ensure(16 + incl):
                break
            start = b.pos + 16
            ts = sec * 1_000_000_000 + sub * frac
            yield PacketRecord(index, b.base + start, ts, linktype, b.buf, start, start + incl, orig)
            b.pos = start + incl
            index += 1
        self.trailing_bytes = b.remaining()
        self.trailing_offset = b.offset

    def _pcapng(self, b: _Buffer) -> Iterator[PacketRecord]:
        endian = "<"
        interfaces: list[tuple[int, int, int]] = []  # (linktype, snaplen, ticks per second)
        index = 0
        while b.ensure(12):
            if b.buf[b.pos : b.pos + 4] == PCAPNG_MAGIC:
                # A section header fixes the byte order of the section (and resets interfaces).
                bom = b.buf[b.pos + 8 : b.pos + 12]
                if bom == b"\x4d\x3c\x2b\x1a":
                    endian = "<"
                elif bom == b"\x1a\x2b\x3c\x4d":
                    endian = ">"
                else:
                    raise DataError(f"{self.path}: bad pcapng byte-order magic at byte offset {b.offset}")
                interfaces = []
            btype, blen = struct.unpack_from(endian + "II", b.buf, b.pos)
            if blen < 12 or blen % 4:
                raise DataError(f"{self.path}: bad pcapng block length {blen} at byte offset {b.offset}")
            if not b.ensure(blen):
                break
            p = b.pos
            if btype == 1:  # interface description
                lt, _, snap = struct.unpack_from(endian + "HHI", b.buf, p + 8)
                if lt not in SUPPORTED_LINKTYPES:
                    raise DataError(f"{self.path}: unsupported pcapng link type {lt} at byte offset {b.offset}")
                interfaces.append((lt, snap, _pcapng_tsresol(b.buf, p + 16, p + blen - 4, endian)))
                if self.linktype < 0:
                    self.linktype = lt
            elif btype == 6:  # enhanced packet
                iface, hi, lo, cap, orig = struct.unpack_from(endian + "IIIII", b.buf, p + 8)
                if iface >= len(interfaces):
                    raise DataError(f"{self.path}: packet block at byte offset {b.offset} names unknown interface")
                lt, _, tps = interfaces[iface]
                start = p + 28
                ts = ((hi << 32) | lo) * 1_000_000_000 // tps
                yield PacketRecord(index, b.base + start, ts, lt, b.buf, start, min(start + cap, p + blen - 4), orig)
                index += 1
            elif btype == 3:  # simple packet: interface 0, no timestamp
                if not interfaces:
                    raise DataError(
                        f"{self.path}: simple packet block at byte offset {b.offset} before any interface description"
                    )
                lt, snap, _ = interfaces[0]
                orig = struct.unpack_from(endian + "I", b.buf, p + 8)[0]
                start = p + 12
                cap = min(orig, snap or orig, blen - 16)
                yield PacketRecord(index, b.base + start, 0, lt, b.buf, start, start + cap, orig)
                index += 1
            elif btype != 0x0A0D0D0A:
                self.skipped_blocks += 1
            b.pos = p + blen
        self.trailing_bytes = b.remaining()
        self.trailing_offset = b.offset


def _pcapng_tsresol(buf: bytes, p: int, end: int, endian: str) -> int:
    """Ticks per second from an interface's ``if_tsresol`` option (default microseconds)."""
    while p + 4 <= end:
        code, length = struct.unpack_from(endian + "HH", buf, p)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = buf[p + 4]
            return 2 ** (v & 0x7F) if v & 0x80 else 10 ** (v & 0x7F)
        p += 4 + (length + 3) // 4 * 4
    return 1_000_000


class FrameError(Exception):
    """A captured frame's headers are inconsistent or cut short."""


def udp_payload(buf: bytes, start: int, end: int, linktype: int) -> tuple[int, int, int] | None:
    """Locate the UDP payload of the frame ``buf[start:end]``.

    Returns ``(payload_start, payload_end, destination_port)``, or None when the
    frame is not an unfragmented IPv4/IPv6 UDP datagram (ARP, TCP, IP
    fragments, ...). Raises :class:`FrameError` when headers run past the
    captured bytes.
    """
    p = start
    if linktype == LINKTYPE_ETHERNET:
        if end - p < 14:
            raise FrameError("frame shorter than an Ethernet header")
        etype = (buf[p + 12] << 8) | buf[p + 13]
        p += 14
        while etype in _ETH_VLAN_TAGS:
            if end - p < 4:
                raise FrameError("frame cut inside a VLAN tag")
            etype = (buf[p + 2] << 8) | buf[p + 3]
            p += 4
    elif linktype == LINKTYPE_LINUX_SLL:
        if end - p < 16:
            raise FrameError("frame shorter than a Linux SLL header")
        etype = (buf[p + 14] << 8) | buf[p + 15]
        p += 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if end - p < 20:
            raise FrameError("frame shorter than a Linux SLL2 header")
        etype = (buf[p] << 8) | buf[p + 1]
        p += 20
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if end - p < 1:
            raise FrameError("empty frame")
        etype = _ETH_IPV4 if buf[p] >> 4 == 4 else _ETH_IPV6
    else:
        raise FrameError(f"unsupported link type {linktype}")

    if etype == _ETH_IPV4:
        if end - p < 20:
            raise FrameError("frame cut inside the IPv4 header")
        ihl = (buf[p] & 0x0F) * 4
        total = (buf[p + 2] << 8) | buf[p + 3]
        if buf[p] >> 4 != 4 or ihl < 20 or total < ihl:
            raise FrameError("bad IPv4 header")
        if buf[p + 9] != _IPPROTO_UDP:
            return None
        if ((buf[p + 6] << 8) | buf[p + 7]) & 0x3FFF:  # more-fragments flag or a fragment offset
            return None
        ip_end = p + total  # Ethernet pads short frames: trust the IP length, not the frame length
        p += ihl
    elif etype == _ETH_IPV6:
        if end - p < 40:
            raise FrameError("frame cut inside the IPv6 header")
        if buf[p + 6] != _IPPROTO_UDP:  # extension headers are not followed
            return None
        ip_end = p + 40 + ((buf[p + 4] << 8) | buf[p + 5])
        p += 40
    else:
        return None
    if ip_end > end:
        raise FrameError(f"IP datagram of {ip_end - start} bytes cut at {end - start} captured bytes")
    if ip_end - p < 8:
        raise FrameError("datagram shorter than a UDP header")
    dport = (buf[p + 2] << 8) | buf[p + 3]
    ulen = (buf[p + 4] << 8) | buf[p + 5]
    if ulen < 8 or p + ulen > ip_end:
        raise FrameError(f"UDP length {ulen} does not fit the IP datagram")
    return p + 8, p + ulen, dport


def parse_mold_header(buf: bytes, start: int, end: int) -> tuple[bytes, int, int]:
    """Return ``(session, sequence number, message count)`` of a MoldUDP64 packet."""
    if end - start < MOLD_HEADER_LEN:
        raise FrameError(f"UDP payload of {end - start} bytes is shorter than a MoldUDP64 header")
    return MOLD_HEADER.unpack_from(buf, start)


class Gap(NamedTuple):
    """Messages missing from a MoldUDP64 session."""

    session: bytes
    expected: int  # sequence number that should have come next
    got: int  # sequence number that came instead
    packet: int  # capture record index where the gap showed

    @property
    def missing(self) -> int:
        return self.got - self.expected


@dataclass
class MoldSequencer:
    """Sequence-number bookkeeping of MoldUDP64 sessions.

    ``accept`` tells the caller how many leading messages of a packet to drop
    as already seen. The first packet of a session sets its starting point (a
    capture may begin mid-session). Sequence number 0 is not a valid MoldUDP64
    message number (numbering starts at 1), so such packets are passed
    through unchecked and counted in ``unsequenced_packets``.
    """

    dedupe: bool = True  # drop messages already delivered (retransmissions, A/B line copies)
    next_seq: dict[bytes, int] = field(default_factory=dict)
    first_seq: dict[bytes, int] = field(default_factory=dict)
    ended: set[bytes] = field(default_factory=set)
    gaps: list[Gap] = field(default_factory=list)
    duplicates: int = 0  # messages seen again
    duplicate_packets: int = 0  # packets made only of messages seen before
    heartbeats: int = 0
    end_of_session: int = 0
    unsequenced_packets: int = 0

    def accept(self, session: bytes, seq: int, count: int, packet: int) -> int:
        """Register a packet; return the number of its leading messages to skip."""
        if seq == 0:
            self.unsequenced_packets += 1
            return 0
        data = count not in (MOLD_HEARTBEAT, MOLD_END_OF_SESSION)
        if count == MOLD_HEARTBEAT:
            self.heartbeats += 1
        elif count == MOLD_END_OF_SESSION:
            self.end_of_session += 1
            self.ended.add(session)
        expected = self.next_seq.get(session)
        if expected is None:
            self.first_seq[session] = seq
            expected = seq
        if seq > expected:
            self.gaps.append(Gap(session, expected, seq, packet))
        if not data:
            self.next_seq[session] = max(expected, seq)
            return 0
        last = seq + count
        if seq < expected:
            seen = min(expected, last) - seq
            self.duplicates += seen
            if seen == count:
                self.duplicate_packets += 1
            self.next_seq[session] = max(expected, last)
            return seen if self.dedupe else 0
        self.next_seq[session] = last
        return 0


# --- writing -----------------------------------------------------------------------------------


def pack_moldudp64(session: bytes, seq: int, messages: Iterable[bytes] = (), count: int | None = None) -> bytes:
    """Build a MoldUDP64 packet; ``count`` overrides the message count (0 heartbeat, 0xFFFF end)."""
    if len(session) != 10:
        raise ValueError(f"MoldUDP64 session must be 10 bytes, got {session!r}")
    msgs = list(messages)
    n = len(msgs) if count is None else count
    parts = [MOLD_HEADER.pack(session, seq, n)]
    for m in msgs:
        parts.append(len(m).to_bytes(2, "big"))
        parts.append(m)
    return b"".join(parts)


def _ipv4_udp(payload: bytes, src_ip: bytes, dst_ip: bytes, src_port: int, dst_port: int) -> bytes:
    udp = struct.pack(">HHHH", src_port, dst_port, 8 + len(payload), 0) + payload  # UDP checksum optional on IPv4
    fields = (0x45, 0, 20 + len(udp), 0, 0x4000, 64, _IPPROTO_UDP, 0, src_ip, dst_ip)
    hdr = bytearray(struct.pack(">BBHHHBBH4s4s", *fields))
    s = sum(struct.unpack(">10H", hdr))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    hdr[10:12] = struct.pack(">H", ~s & 0xFFFF)
    return bytes(hdr) + udp


def ethernet_ipv4_udp(
    payload: bytes,
    *,
    src_ip: bytes = bytes([10, 0, 0, 1]),
    dst_ip: bytes = bytes([233, 54, 12, 111]),
    src_port: int = 49653,
    dst_port: int = 26477,
    vlan: int | None = None,
) -> bytes:
    """An Ethernet II frame (optionally 802.1Q tagged) carrying ``payload`` in IPv4/UDP."""
    dst_mac = bytes([0x01, 0x00, 0x5E, dst_ip[1] & 0x7F, dst_ip[2], dst_ip[3]])  # IPv4 multicast MAC
    src_mac = bytes([0x02, 0, 0, 0, 0, 1])
    tag = b"" if vlan is None else struct.pack(">HH", 0x8100, vlan & 0x0FFF)
    ip = _ipv4_udp(payload, src_ip, dst_ip, src_port, dst_port)
    frame = dst_mac + src_mac + tag + struct.pack(">H", _ETH_IPV4) + ip
    return frame + b"\x00" * max(0, 60 - len(frame))  # minimum Ethernet frame (readers must ignore the padding)


def linux_sll_ipv4_udp(payload: bytes, *, src_port: int = 49653, dst_port: int = 26477) -> bytes:
    """A Linux cooked-capture (SLL) frame carrying ``payload`` in IPv4/UDP."""
    sll = struct.pack(">HHH8sH", 0, 1, 6, bytes([2, 0, 0, 0, 0, 1, 0, 0]), _ETH_IPV4)
    return sll + _ipv4_udp(payload, bytes([10, 0, 0, 1]), bytes([233, 54, 12, 111]), src_port, dst_port)


def write_pcap(
    path: str | Path,
    records: Iterable[tuple[int, bytes]],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    nanosecond: bool = True,
    big_endian: bool = False,
    snaplen: int = 65535,
) -> int:
    """Write ``(ts_ns, frame)`` records to a classic pcap file; return the record count."""
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    n = 0
    with open(path, "wb") as f:
        f.write(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        for ts, frame in records:
            sec, sub = divmod(ts, 1_000_000_000)
            if not nanosecond:
                sub //= 1000
            cap = frame[:snaplen]
            f.write(struct.pack(e + "IIII", sec, sub, len(cap), len(frame)))
            f.write(cap)
            n += 1
    return n


def write_pcapng(
    path: str | Path,
    records: Iterable[tuple[int, bytes]],
    *,
    linktype: int = LINKTYPE_ETHERNET,
    big_endian: bool = False,
) -> int:
    """Write ``(ts_ns, frame)`` records to a pcapng file (one interface, ns resolution)."""
    e = ">" if big_endian else "<"

    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        n = 12 + len(body)
        return struct.pack(e + "II", btype, n) + body + struct.pack(e + "I", n)

    n = 0
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1)))
        tsresol = struct.pack(e + "HH", 9, 1) + b"\x09\x00\x00\x00" + struct.pack(e + "HH", 0, 0)
        f.write(block(1, struct.pack(e + "HHI", linktype, 0, 0) + tsresol))
        for ts, frame in records:
            f.write(block(6, struct.pack(e + "IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(frame), len(frame)) + frame))
            n += 1
    return n
