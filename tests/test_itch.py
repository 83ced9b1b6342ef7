"""ITCH 5.0 reader, encoder and pcap/MoldUDP64 framing, on hand-built bytes.

Message bytes here are packed field by field with explicit struct formats
taken from the ITCH 5.0 specification, independently of the layout table in
``adapters.feeds.itch``, so the tests check that table too.
"""

from __future__ import annotations

import gzip
import struct
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.feeds.itch import (
    F_CROSS,
    F_EXEC_PRICE,
    F_NON_PRINTABLE,
    F_UNKNOWN_ORDER,
    MESSAGE_LENGTHS,
    ItchReader,
    decode_message,
    detect_format,
    infer_date,
    midnight_ns,
    read_itch,
)
from adapters.feeds.itch_encoder import (
    encode_events,
    encode_message,
    random_l3_events,
    split_binaryfile,
    write_moldudp64_pcap,
)
from adapters.feeds.pcap import (
    LINKTYPE_LINUX_SLL,
    ethernet_ipv4_udp,
    linux_sll_ipv4_udp,
    pack_moldudp64,
    write_pcap,
    write_pcapng,
)
from kernel.errors import DataError
from kernel.events import ADD, BUY, CANCEL, CLEAR, EXECUTE, F_LAST, MD_DTYPE, MODIFY, SELL, TRADE

DAY = date(2019, 1, 30)
DAY_NS = 1548824400 * 10**9  # 2019-01-30 00:00 America/New_York (EST, UTC-5) = 05:00 UTC
T0 = 34_200_000_000_000  # 09:30:00 in ns since midnight

# Message lengths from the ITCH 5.0 specification (type byte included).
SPEC_LENGTHS = {
    "S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35, "h": 21, "A": 36, "F": 40,
    "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44, "Q": 40, "B": 19, "I": 50, "N": 20, "O": 48,
}  # fmt: skip


# --- hand-built messages ---------------------------------------------------------------------------


def hdr(t: str, locate: int, ns: int, track: int = 0) -> bytes:
    """Type, stock locate, tracking number and the 6-byte timestamp."""
    return t.encode() + struct.pack(">HH", locate, track) + ns.to_bytes(6, "big")


def sym(s: str) -> bytes:
    return s.encode().ljust(8)


def msg_S(ns: int, code: str) -> bytes:
    return hdr("S", 0, ns) + code.encode()


def msg_R(locate: int, ns: int, stock: str) -> bytes:
    return (
        hdr("R", locate, ns) + sym(stock) + b"QN" + struct.pack(">I", 100) + b"NCZ PNN1N" + struct.pack(">I", 0) + b"N"
    )


def msg_A(loc: int, ns: int, ref: int, side: bytes, shares: int, stock: str, price: int) -> bytes:
    return hdr("A", loc, ns) + struct.pack(">QcI8sI", ref, side, shares, sym(stock), price)


def msg_F(loc: int, ns: int, ref: int, side: bytes, shares: int, stock: str, price: int, mpid: str) -> bytes:
    return hdr("F", loc, ns) + struct.pack(">QcI8sI4s", ref, side, shares, sym(stock), price, mpid.encode())


def msg_E(loc: int, ns: int, ref: int, shares: int, match: int) -> bytes:
    return hdr("E", loc, ns) + struct.pack(">QIQ", ref, shares, match)


def msg_C(loc: int, ns: int, ref: int, shares: int, match: int, printable: bytes, price: int) -> bytes:
    return hdr("C", loc, ns) + struct.pack(">QIQcI", ref, shares, match, printable, price)


def msg_X(loc: int, ns: int, ref: int, shares: int) -> bytes:
    return hdr("X", loc, ns) + struct.pack(">QI", ref, shares)


def msg_D(loc: int, ns: int, ref: int) -> bytes:
    return hdr("D", loc, ns) + struct.pack(">Q", ref)


def msg_U(loc: int, ns: int, old: int, new: int, shares: int, price: int) -> bytes:
    return hdr("U", loc, ns) + struct.pack(">QQII", old, new, shares, price)


def msg_P(loc: int, ns: int, ref: int, side: bytes, shares: int, stock: str, price: int, match: int) -> bytes:
    return hdr("P", loc, ns) + struct.pack(">QcI8sIQ", ref, side, shares, sym(stock), price, match)


def msg_Q(loc: int, ns: int, shares: int, stock: str, price: int, match: int, cross: bytes) -> bytes:
    return hdr("Q", loc, ns) + struct.pack(">Q8sIQc", shares, sym(stock), price, match, cross)


def msg_B(loc: int, ns: int, match: int) -> bytes:
    return hdr("B", loc, ns) + struct.pack(">Q", match)


def binaryfile(*msgs: bytes) -> bytes:
    return b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


def write(tmp_path: Path, data: bytes, name: str = "feed_20190130.itch") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# One hand-built message per type with the fields we expect back from decode_message.
CASES: dict[str, tuple[bytes, dict]] = {
    "S": (hdr("S", 0, 11, 1) + b"O", {"event_code": "O"}),
    "R": (
        hdr("R", 7, 12, 2) + sym("AAPL") + b"QN" + struct.pack(">I", 100) + b"NC" + b"Z " + b"PNN1N"
        + struct.pack(">I", 3) + b"Y",
        {"stock": "AAPL", "market_category": "Q", "financial_status_indicator": "N", "round_lot_size": 100,
         "round_lots_only": "N", "issue_classification": "C", "issue_sub_type": "Z", "authenticity": "P",
         "short_sale_threshold_indicator": "N", "ipo_flag": "N", "luld_reference_price_tier": "1", "etp_flag": "N",
         "etp_leverage_factor": 3, "inverse_indicator": "Y"},
    ),
    "H": (hdr("H", 7, 13) + sym("AAPL") + b"H" + b" " + b"LUDP",
          {"stock": "AAPL", "trading_state": "H", "reserved": " ", "reason": "LUDP"}),
    "Y": (hdr("Y", 7, 14) + sym("AAPL") + b"1", {"stock": "AAPL", "reg_sho_action": "1"}),
    "L": (hdr("L", 7, 15) + b"MAXM" + sym("AAPL") + b"YNA",
          {"mpid": "MAXM", "stock": "AAPL", "primary_market_maker": "Y", "market_maker_mode": "N",
           "market_participant_state": "A"}),
    "V": (hdr("V", 0, 16) + struct.pack(">QQQ", 1, 2**40, 3), {"level1": 1, "level2": 2**40, "level3": 3}),
    "W": (hdr("W", 0, 17) + b"2", {"breached_level": "2"}),
    "K": (hdr("K", 7, 18) + sym("NEWCO") + struct.pack(">IcI", 36000, b"A", 150000),
          {"stock": "NEWCO", "ipo_quotation_release_time": 36000, "ipo_quotation_release_qualifier": "A",
           "ipo_price": 150000}),
    "J": (hdr("J", 7, 19) + sym("ZXZZT") + struct.pack(">IIII", 133400, 140100, 109200, 1),
          {"stock": "ZXZZT", "auction_collar_reference_price": 133400, "upper_auction_collar_price": 140100,
           "lower_auction_collar_price": 109200, "auction_collar_extension": 1}),
    "h": (hdr("h", 7, 20) + sym("AAPL") + b"QH",
          {"stock": "AAPL", "market_code": "Q", "operational_halt_action": "H"}),
    "A": (msg_A(7, 21, 123456789012, b"B", 300, "AAPL", 1502500),
          {"order_reference_number": 123456789012, "buy_sell_indicator": "B", "shares": 300, "stock": "AAPL",
           "price": 1502500}),
    "F": (msg_F(7, 22, 5, b"S", 100, "AAPL", 1502600, "GSCO"),
          {"order_reference_number": 5, "buy_sell_indicator": "S", "shares": 100, "stock": "AAPL",
           "price": 1502600, "attribution": "GSCO"}),
    "E": (msg_E(7, 23, 5, 40, 999), {"order_reference_number": 5, "executed_shares": 40, "match_number": 999}),
    "C": (msg_C(7, 24, 5, 10, 1000, b"N", 1502700),
          {"order_reference_number": 5, "executed_shares": 10, "match_number": 1000, "printable": "N",
           "execution_price": 1502700}),
    "X": (msg_X(7, 25, 5, 20), {"order_reference_number": 5, "cancelled_shares": 20}),
    "D": (msg_D(7, 26, 5), {"order_reference_number": 5}),
    "U": (msg_U(7, 27, 5, 6, 500, 1502800),
          {"original_order_reference_number": 5, "new_order_reference_number": 6, "shares": 500, "price": 1502800}),
    "P": (msg_P(7, 28, 0, b"B", 77, "AAPL", 1502900, 1001),
          {"order_reference_number": 0, "buy_sell_indicator": "B", "shares": 77, "stock": "AAPL", "price": 1502900,
           "match_number": 1001}),
    "Q": (msg_Q(7, 29, 2**33, "AAPL", 1503000, 1002, b"O"),
          {"shares": 2**33, "stock": "AAPL", "cross_price": 1503000, "match_number": 1002, "cross_type": "O"}),
    "B": (msg_B(7, 30, 1001), {"match_number": 1001}),
    "I": (hdr("I", 7, 31) + struct.pack(">QQc8sIIIcc", 1000, 200, b"B", sym("AAPL"), 1500000, 1501000, 1500500,
                                        b"O", b"L"),
          {"paired_shares": 1000, "imbalance_shares": 200, "imbalance_direction": "B", "stock": "AAPL",
           "far_price": 1500000, "near_price": 1501000, "current_reference_price": 1500500, "cross_type": "O",
           "price_variation_indicator": "L"}),
    "N": (hdr("N", 7, 32) + sym("AAPL") + b"A", {"stock": "AAPL", "interest_flag": "A"}),
    "O": (hdr("O", 7, 33) + sym("DLCR") + struct.pack(">cIIIQII", b"Y", 100000, 200000, 150000, 3, 140000, 160000),
          {"stock": "DLCR", "open_eligibility_status": "Y", "minimum_allowable_price": 100000,
           "maximum_allowable_price": 200000, "near_execution_price": 150000, "near_execution_time": 3,
           "lower_price_range_collar": 140000, "upper_price_range_collar": 160000}),
}  # fmt: skip


# --- layouts -------------------------------------------------------------------------------------


def test_message_lengths_match_the_specification() -> None:
    assert MESSAGE_LENGTHS == SPEC_LENGTHS
    assert {t: len(b) for t, (b, _) in CASES.items()} == SPEC_LENGTHS


@pytest.mark.parametrize("mtype", sorted(CASES))
def test_decode_each_message_type_field_by_field(mtype: str) -> None:
    raw, fields = CASES[mtype]
    got = decode_message(raw)
    assert got.pop("type") == mtype
    header = {k: got.pop(k) for k in ("stock_locate", "tracking_number", "timestamp")}
    assert header["timestamp"] == struct.unpack(">Q", b"\0\0" + raw[5:11])[0]
    assert header["stock_locate"] == struct.unpack(">H", raw[1:3])[0]
    assert header["tracking_number"] == struct.unpack(">H", raw[3:5])[0]
    assert got == fields
    # the encoder is the inverse
    assert encode_message(mtype, **header, **fields) == raw


def test_decode_rejects_wrong_length_and_unknown_type() -> None:
    with pytest.raises(DataError, match=r"'A' \(add order\) has length 35, expected 36"):
        decode_message(CASES["A"][0][:-1])
    with pytest.raises(DataError, match="unknown ITCH 5.0 message type 'Z'"):
        decode_message(b"Z" + bytes(10))


def test_large_timestamp_uses_all_six_bytes() -> None:
    ns = 86_399_999_999_999  # 23:59:59.999999999
    assert decode_message(msg_S(ns, "C"))["timestamp"] == ns


# --- mapping to canonical events -----------------------------------------------------------------


def ev_tuple(e: np.void) -> tuple:
    return tuple(int(e[k]) for k in ("ts", "order_id", "price", "qty", "instrument", "action", "side", "flags"))


def test_book_messages_map_to_canonical_events(tmp_path: Path) -> None:
    data = binaryfile(
        msg_S(T0 - 10, "O"),
        msg_R(7, T0 - 5, "AAPL"),
        msg_A(7, T0 + 1, 10, b"B", 300, "AAPL", 1502500),
        msg_F(7, T0 + 2, 11, b"S", 200, "AAPL", 1503000, "GSCO"),
        msg_E(7, T0 + 3, 10, 100, 1),  # partial execution at the resting price
        msg_C(7, T0 + 4, 11, 50, 2, b"Y", 1502900),  # execution at another price, printable
        msg_X(7, T0 + 5, 10, 50),  # partial cancel
        msg_D(7, T0 + 6, 11),  # delete the rest of 11
        msg_U(7, T0 + 7, 10, 12, 400, 1502400),  # replace 10 (150 left) by 12
        msg_E(7, T0 + 8, 12, 400, 3),  # fills the new order completely
        msg_P(7, T0 + 9, 0, b"S", 77, "AAPL", 1502600, 4),
        msg_Q(7, T0 + 10, 5000, "AAPL", 1502700, 5, b"C"),
        msg_B(7, T0 + 11, 4),
    )
    r = ItchReader(write(tmp_path, data))
    ev = r.read()
    assert ev.dtype == MD_DTYPE
    L = F_LAST
    assert [ev_tuple(e) for e in ev] == [
        (DAY_NS + T0 + 1, 10, 1502500, 300, 7, ADD, BUY, L),
        (DAY_NS + T0 + 2, 11, 1503000, 200, 7, ADD, SELL, L),
        (DAY_NS + T0 + 3, 10, 1502500, 100, 7, EXECUTE, BUY, L),
        (DAY_NS + T0 + 4, 11, 1502900, 50, 7, EXECUTE, SELL, L | F_EXEC_PRICE),
        (DAY_NS + T0 + 5, 10, 1502500, 50, 7, CANCEL, BUY, L),
        (DAY_NS + T0 + 6, 11, 1503000, 0, 7, CANCEL, SELL, L),
        (DAY_NS + T0 + 7, 10, 1502500, 0, 7, CANCEL, BUY, 0),  # replace: cancel without F_LAST ...
        (DAY_NS + T0 + 7, 12, 1502400, 400, 7, ADD, BUY, L),  # ... then the add under the new reference
        (DAY_NS + T0 + 8, 12, 1502400, 400, 7, EXECUTE, BUY, L),
        (DAY_NS + T0 + 9, 0, 1502600, 77, 7, TRADE, SELL, L),
        (DAY_NS + T0 + 10, 0, 1502700, 5000, 7, TRADE, 0, L | F_CROSS),
    ]
    assert int(ev["_pad"].max()) == 0
    assert r.live_orders == 0
    assert r.broken_trades == [4]
    assert r.stats.messages == {t: 1 for t in "SRAFECXDUPQB"} | {"E": 2}
    assert r.stats.unknown_refs == 0 and r.stats.findings == []


def test_execute_with_price_non_printable_flag(tmp_path: Path) -> None:
    data = binaryfile(msg_A(3, T0, 1, b"S", 100, "X", 100000), msg_C(3, T0 + 1, 1, 100, 9, b"N", 99900))
    ev = read_itch(write(tmp_path, data))
    assert ev_tuple(ev[1]) == (
        DAY_NS + T0 + 1,
        1,
        99900,
        100,
        3,
        EXECUTE,
        SELL,
        F_LAST | F_EXEC_PRICE | F_NON_PRINTABLE,
    )


def test_unknown_references_are_flagged_and_counted(tmp_path: Path) -> None:
    data = binaryfile(msg_E(3, T0, 42, 10, 1), msg_D(3, T0 + 1, 43), msg_U(3, T0 + 2, 44, 45, 100, 5000))
    r = ItchReader(write(tmp_path, data))
    ev = r.read()
    assert r.stats.unknown_refs == 4  # E, D, and both halves of U
    assert np.all(ev["flags"] & F_UNKNOWN_ORDER)
    assert np.all(ev["side"] == 0)
    assert ev_tuple(ev[3]) == (DAY_NS + T0 + 2, 45, 5000, 100, 3, ADD, 0, F_LAST | F_UNKNOWN_ORDER)
    assert r.live_orders == 0  # a replacement of unknown side is not tracked


# --- timestamps and dates ------------------------------------------------------------------------


def test_timestamp_conversion_with_known_dates(tmp_path: Path) -> None:
    data = binaryfile(msg_A(1, T0, 1, b"B", 1, "X", 1))
    # Winter: EST, midnight is 05:00 UTC.
    assert int(read_itch(write(tmp_path, data), date="2019-01-30")["ts"][0]) == DAY_NS + T0
    # Summer: EDT, midnight is 04:00 UTC (2023-08-22 04:00 UTC = 1692676800 s).
    assert int(read_itch(write(tmp_path, data), date=date(2023, 8, 22))["ts"][0]) == 1692676800 * 10**9 + T0
    # UTC on request.
    assert int(read_itch(write(tmp_path, data), date="20190130", tz="UTC")["ts"][0]) == 1548806400 * 10**9 + T0
    assert midnight_ns(DAY) == DAY_NS


def test_date_inference_from_file_and_directory_names(tmp_path: Path) -> None:
    assert infer_date("01302019.NASDAQ_ITCH50") == date(2019, 1, 30)
    assert infer_date("/x/S_20190130_v50.bin.gz") == date(2019, 1, 30)
    assert infer_date("/data/nasdaq_20230822/OrderReplace.pcap") == date(2023, 8, 22)
    assert infer_date("/data/sample.itch") is None
    assert infer_date("/data/123456789.itch") is None  # nine digits are not a date
    data = binaryfile(msg_A(1, T0, 1, b"B", 1, "X", 1))
    assert int(read_itch(write(tmp_path, data, "01302019.NASDAQ_ITCH50"))["ts"][0]) == DAY_NS + T0
    with pytest.raises(DataError, match=r"sample\.itch: cannot tell the session date.*date=YYYY-MM-DD"):
        ItchReader(write(tmp_path, data, "sample.itch"))


# --- validation: strict errors and lenient counts ------------------------------------------------


def bad_length_file(tmp_path: Path) -> tuple[Path, int]:
    short = msg_A(1, T0 + 1, 2, b"B", 100, "X", 10000)[:-1]  # 35 bytes for type A
    data = binaryfile(
        msg_A(1, T0, 1, b"B", 100, "X", 10000), msg_A(1, T0, 3, b"B", 100, "X", 10000), short, msg_D(1, T0 + 2, 1)
    )
    return write(tmp_path, data), 2 * (2 + 36)


def test_strict_length_error_names_file_record_offset_and_type(tmp_path: Path) -> None:
    path, offset = bad_length_file(tmp_path)
    with pytest.raises(DataError) as err:
        read_itch(path)
    msg = str(err.value)
    assert str(path) in msg
    assert f"record 2, byte offset {offset}, message type 'A': length 35, expected 36" in msg


def test_lenient_mode_counts_and_skips_malformed_records(tmp_path: Path) -> None:
    path, _ = bad_length_file(tmp_path)
    extra = binaryfile(b"Z" + bytes(5), b"", msg_D(1, T0 + 3, 3)) + b"\x00\x24A\x00"  # unknown, empty, truncated
    path.write_bytes(path.read_bytes() + extra)
    r = ItchReader(path, strict=False)
    ev = r.read()
    assert [int(x) for x in ev["action"]] == [ADD, ADD, CANCEL, CANCEL]
    s = r.stats
    assert s.malformed == 3 and dict(s.malformed_by_type) == {"A": 1, "Z": 1, "?": 1}
    assert s.truncated == 1
    assert s.messages == {"A": 2, "D": 2}
    assert len(s.findings) == 4 and "record 2" in s.findings[0] and "file ends inside a message" in s.findings[-1]


def test_bad_field_values_are_malformed(tmp_path: Path) -> None:
    data = binaryfile(
        msg_A(1, T0, 1, b"X", 100, "X", 10000),
        msg_A(1, T0, 2, b"B", 100, "X", 10000),
        msg_C(1, T0, 2, 10, 1, b"?", 10000),
    )
    with pytest.raises(DataError, match="record 0, byte offset 0, message type 'A': buy/sell indicator 'X'"):
        read_itch(write(tmp_path, data))
    r = ItchReader(write(tmp_path, data), strict=False)
    assert len(r.read()) == 1 and r.stats.malformed == 2
    assert "printable flag '?'" in r.stats.findings[1]


def test_overfill_and_duplicate_reference_findings(tmp_path: Path) -> None:
    data = binaryfile(
        msg_A(1, T0, 1, b"B", 100, "X", 10000),
        msg_A(1, T0 + 1, 1, b"B", 100, "X", 10000),  # reference 1 is live already
        msg_E(1, T0 + 2, 1, 150, 1),  # more than the 100 shares left
    )
    with pytest.raises(DataError, match="record 1, byte offset 38, message type 'A': order reference 1 is already"):
        read_itch(write(tmp_path, data))
    r = ItchReader(write(tmp_path, data), strict=False)
    assert len(r.read()) == 3
    assert (r.stats.duplicate_refs, r.stats.overfills) == (1, 1)
    assert "150 shares taken from order 1, which had 100 left" in r.stats.findings[1]


def test_tick_size_conversion_and_off_tick_prices(tmp_path: Path) -> None:
    data = binaryfile(msg_A(1, T0, 1, b"B", 100, "X", 1502500), msg_P(1, T0 + 1, 0, b"B", 5, "X", 1502550, 1))
    path = write(tmp_path, data)
    with pytest.raises(DataError, match=r"record 1, .*'P': price 150\.2550 is not a multiple of tick 0\.01"):
        read_itch(path, tick_size=0.01)
    r = ItchReader(path, tick_size=0.01, strict=False)
    ev = r.read()
    assert [int(p) for p in ev["price"]] == [15025, 15025]  # off-tick prices round down
    assert r.stats.off_tick == 1
    assert [int(p) for p in read_itch(path)["price"]] == [1502500, 1502550]  # default: raw ITCH units
    with pytest.raises(ValueError, match="multiple of 0.0001"):
        ItchReader(path, tick_size=0.00015)


# --- symbols filter and non-book state -----------------------------------------------------------


def test_symbols_filter_uses_the_stock_directory(tmp_path: Path) -> None:
    data = binaryfile(
        msg_R(1, T0 - 2, "AAPL"),
        msg_R(2, T0 - 1, "MSFT"),
        msg_A(1, T0, 1, b"B", 100, "AAPL", 10000),
        msg_A(2, T0, 2, b"B", 100, "MSFT", 20000),
        msg_E(2, T0 + 1, 2, 10, 1),
        msg_D(1, T0 + 2, 1),
    )
    r = ItchReader(write(tmp_path, data), symbols={"MSFT", "NOPE"})
    ev = r.read()
    assert [(int(e["order_id"]), int(e["instrument"]), int(e["action"])) for e in ev] == [(2, 2, ADD), (2, 2, EXECUTE)]
    assert r.instruments == {2: "MSFT"}
    assert r.stock_directory == {1: "AAPL", 2: "MSFT"}
    assert r.missing_symbols == {"NOPE"}
    assert r.stats.filtered == 2 and r.stats.unknown_refs == 0
    assert r.stats.messages == {"R": 2, "A": 2, "E": 1, "D": 1}
    # without a filter every instrument is kept, ids are locate codes
    assert sorted(set(read_itch(write(tmp_path, data))["instrument"].tolist())) == [1, 2]


def test_symbols_filter_without_stock_directory_says_so(tmp_path: Path) -> None:
    data = binaryfile(msg_A(1, T0, 1, b"B", 100, "AAPL", 10000))
    with pytest.raises(DataError, match=r"no stock directory \(R\) message came before this order message"):
        read_itch(write(tmp_path, data), symbols=["AAPL"])


def test_non_book_messages_are_counted_and_exposed(tmp_path: Path) -> None:
    seen: list[dict] = []
    msgs = [CASES[t][0] for t in "SRHYLVWKJhNOIB"]
    r = ItchReader(write(tmp_path, binaryfile(*msgs)), on_message=seen.append)
    assert len(r.read()) == 0
    assert r.stats.messages == {t: 1 for t in "SRHYLVWKJhNOIB"}
    assert [m["type"] for m in seen] == list("SRHYLVWKJhNOIB")
    assert r.system_events == [(DAY_NS + 11, "O")]
    assert r.stock_directory == {7: "AAPL"} and r.instruments == {7: "AAPL"}
    assert r.trading_status == {"AAPL": ("H", "LUDP")}
    assert r.reg_sho == {"AAPL": "1"}
    assert r.operational_halts == {"AAPL": ("Q", "H")}
    assert r.mwcb_levels == (1, 2**40, 3) and r.mwcb_breaches == [(DAY_NS + 17, "2")]
    assert r.broken_trades == [1001]


# --- streaming -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def random_stream() -> tuple[np.ndarray, bytes]:
    ev = random_l3_events(3000, seed=11, day=DAY, n_instruments=3)
    return ev, encode_events(ev, {1: "AAA", 2: "BBB", 3: "CCC"}, DAY)


def test_chunks_are_bounded_and_independent_of_chunk_and_block_size(tmp_path, random_stream) -> None:
    _, data = random_stream
    path = write(tmp_path, data)
    ref = ItchReader(path).read()
    assert len(ref) > 3000  # MODIFY became two events
    # every chunk size with realistic blocks; tiny blocks (frames split across reads) with a few
    combos = [(c, b) for c in (1, 7, 1000, 65536) for b in (4096, 1 << 20)] + [(7, 1), (1000, 3), (65536, 64)]
    for chunk_size, block_size in combos:
        chunks = list(ItchReader(path, block_size=block_size).chunks(chunk_size))
        sizes = [len(c) for c in chunks]
        assert all(s == chunk_size for s in sizes[:-1]) and 0 < sizes[-1] <= chunk_size
        assert np.array_equal(np.concatenate(chunks), ref), (chunk_size, block_size)


def test_chunks_restart_from_the_beginning(tmp_path, random_stream) -> None:
    r = ItchReader(write(tmp_path, random_stream[1]))
    first = r.read()
    stats = r.stats.as_dict()
    assert np.array_equal(r.read(), first) and r.stats.as_dict() == stats


def test_gzip_input_is_read_transparently(tmp_path, random_stream) -> None:
    plain = write(tmp_path, random_stream[1])
    gz = tmp_path / "feed_20190130.itch.gz"
    gz.write_bytes(gzip.compress(random_stream[1]))
    assert np.array_equal(read_itch(gz, block_size=1000), read_itch(plain))
    assert detect_format(gz) == "itch-binaryfile"


# --- encoder round trip --------------------------------------------------------------------------


def normalized(ev: np.ndarray) -> np.ndarray:
    """What the reader gives back for an encoded stream without MODIFY (see itch_encoder's docstring)."""
    out = ev.copy()
    out["flags"] = F_LAST | (ev["flags"] & (F_EXEC_PRICE | F_NON_PRINTABLE | F_CROSS))
    out["_pad"] = 0
    cross = (ev["action"] == TRADE) & (ev["flags"] & F_CROSS != 0)
    out["order_id"][cross] = 0
    out["side"][cross] = 0
    return out


@st.composite
def l3_streams(draw) -> np.ndarray:
    """Valid canonical L3 streams: CANCEL/EXECUTE name live orders with their price/side and at most their qty."""
    n = draw(st.integers(0, 40))
    ts = DAY_NS + T0
    live: dict[int, list[int]] = {}  # id -> [price, side, qty, instrument]
    rows = []
    next_id = draw(st.integers(1, 2**40))
    for _ in range(n):
        ts += draw(st.integers(0, 10**9))
        kind = draw(st.sampled_from(["add", "add", "cancel", "delete", "exec", "exec_px", "trade", "cross"]))
        if kind in ("cancel", "delete", "exec", "exec_px") and live:
            oid = draw(st.sampled_from(sorted(live)))
            px, side, qty, inst = live[oid]
            if kind == "delete":
                rows.append((ts, oid, px, 0, inst, CANCEL, side, 0, 0))
                del live[oid]
                continue
            take = draw(st.integers(1, qty))
            if kind == "exec_px":
                flags = F_EXEC_PRICE | draw(st.sampled_from([0, F_NON_PRINTABLE]))
                rows.append((ts, oid, draw(st.integers(0, 2**31)), take, inst, EXECUTE, side, flags, 0))
            else:
                rows.append((ts, oid, px, take, inst, EXECUTE if kind == "exec" else CANCEL, side, 0, 0))
            if take == qty:
                del live[oid]
            else:
                live[oid][2] = qty - take
        elif kind == "trade":
            side = draw(st.sampled_from([BUY, SELL]))
            rows.append(
                (
                    ts,
                    draw(st.integers(0, 2**40)),
                    draw(st.integers(0, 2**31)),
                    draw(st.integers(0, 2**32 - 1)),
                    draw(st.integers(1, 3)),
                    TRADE,
                    side,
                    0,
                    0,
                )
            )
        elif kind == "cross":
            rows.append(
                (
                    ts,
                    0,
                    draw(st.integers(0, 2**31)),
                    draw(st.integers(0, 2**40)),
                    draw(st.integers(1, 3)),
                    TRADE,
                    0,
                    F_CROSS,
                    0,
                )
            )
        else:
            oid, next_id = next_id, next_id + draw(st.integers(1, 1000))
            o = [
                draw(st.integers(0, 2**32 - 1)),
                draw(st.sampled_from([BUY, SELL])),
                draw(st.integers(1, 2**32 - 1)),
                draw(st.integers(1, 3)),
            ]
            live[oid] = o
            rows.append((ts, oid, o[0], o[2], o[3], ADD, o[1], draw(st.sampled_from([0, F_LAST])), 0))
    return np.array(rows, dtype=MD_DTYPE) if rows else np.zeros(0, MD_DTYPE)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=l3_streams())
def test_encoder_round_trip_property(tmp_path: Path, events: np.ndarray) -> None:
    data = encode_events(events, {1: "AAA", 2: "BBB", 3: "CCCCCCCC"}, DAY)
    msgs = split_binaryfile(data)
    assert [m[:1] for m in msgs[:4]] == [b"S", b"R", b"R", b"R"] and msgs[-1][:1] == b"S"
    r = ItchReader(write(tmp_path, data))
    back = r.read()
    assert np.array_equal(back, normalized(events))
    assert r.instruments == {1: "AAA", 2: "BBB", 3: "CCCCCCCC"}
    assert [code for _, code in r.system_events] == ["O", "C"]


def test_encoder_maps_modify_to_replace_with_a_new_reference(tmp_path: Path) -> None:
    rows = [
        (DAY_NS + T0, 5, 1000, 100, 1, ADD, SELL, 0, 0),
        (DAY_NS + T0 + 1, 9, 2000, 100, 1, ADD, BUY, 0, 0),
        (DAY_NS + T0 + 2, 5, 1100, 300, 1, MODIFY, SELL, 0, 0),
        (DAY_NS + T0 + 3, 5, 1100, 100, 1, EXECUTE, SELL, 0, 0),
        (DAY_NS + T0 + 4, 5, 1200, 50, 1, MODIFY, SELL, 0, 0),
        (DAY_NS + T0 + 5, 5, 1200, 0, 1, CANCEL, SELL, 0, 0),
    ]
    data = encode_events(np.array(rows, MD_DTYPE), {1: "X"}, DAY)
    u = [decode_message(m) for m in split_binaryfile(data) if m[:1] == b"U"]
    assert [(m["original_order_reference_number"], m["new_order_reference_number"]) for m in u] == [(5, 10), (10, 11)]
    back = read_itch(write(tmp_path, data))
    assert [ev_tuple(e)[1:] for e in back] == [
        (5, 1000, 100, 1, ADD, SELL, F_LAST),
        (9, 2000, 100, 1, ADD, BUY, F_LAST),
        (5, 1000, 0, 1, CANCEL, SELL, 0),
        (10, 1100, 300, 1, ADD, SELL, F_LAST),
        (10, 1100, 100, 1, EXECUTE, SELL, F_LAST),
        (10, 1100, 0, 1, CANCEL, SELL, 0),
        (11, 1200, 50, 1, ADD, SELL, F_LAST),
        (11, 1200, 0, 1, CANCEL, SELL, F_LAST),
    ]


def test_encoder_rejects_what_itch_cannot_say() -> None:
    ev = np.array([(DAY_NS + T0, 0, 0, 0, 1, CLEAR, 0, 0, 0)], MD_DTYPE)
    with pytest.raises(DataError, match="event 0: action 'clear' has no ITCH 5.0 equivalent"):
        encode_events(ev, {1: "X"}, DAY)
    with pytest.raises(DataError, match=r"instruments \[1\] have no symbol"):
        encode_events(ev, {2: "X"}, DAY)
    early = np.array([(DAY_NS - 1, 1, 1, 1, 1, ADD, BUY, 0, 0)], MD_DTYPE)
    with pytest.raises(DataError, match="event 0: ts .* is not on or after midnight"):
        encode_events(early, {1: "X"}, DAY)


# --- pcap / MoldUDP64 ----------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["ns-le", "us-le", "ns-be", "us-be", "vlan", "pcapng", "pcapng-be", "sll", "gzip"])
def test_pcap_round_trip(tmp_path: Path, random_stream, variant: str) -> None:
    _, data = random_stream
    ref = read_itch(write(tmp_path, data))
    path = tmp_path / "cap_20190130.pcap"
    if variant in ("ns-le", "us-le", "ns-be", "us-be", "vlan", "gzip"):
        npk = write_moldudp64_pcap(
            data,
            path,
            max_messages=7,
            nanosecond=variant.startswith("ns"),
            big_endian=variant.endswith("be"),
            vlan=141 if variant == "vlan" else None,
            end_of_session=True,
        )
        if variant == "gzip":
            gz = tmp_path / "cap_20190130.pcap.gz"
            gz.write_bytes(gzip.compress(path.read_bytes()))
            path = gz
    else:
        msgs = split_binaryfile(data)
        payloads = [pack_moldudp64(b"SESSION001", 1 + i, msgs[i : i + 5]) for i in range(0, len(msgs), 5)]
        npk = len(payloads)
        if variant == "sll":
            write_pcap(path, ((i, linux_sll_ipv4_udp(p)) for i, p in enumerate(payloads)), linktype=LINKTYPE_LINUX_SLL)
        else:
            write_pcapng(
                path, ((i, ethernet_ipv4_udp(p)) for i, p in enumerate(payloads)), big_endian=variant.endswith("be")
            )
    assert detect_format(path) == "itch-pcap"
    r = ItchReader(path, block_size=999)
    assert np.array_equal(r.read(), ref)
    s = r.stats
    assert s.packets == npk
    assert s.gaps == [] and s.duplicates == 0 and s.findings == []
    assert s.total_messages == len(split_binaryfile(data))


def test_pcap_sequence_gap_duplicates_heartbeat_and_end_of_session(tmp_path: Path) -> None:
    adds = [msg_A(1, T0 + i, 100 + i, b"B", 10, "X", 10000) for i in range(12)]
    s1, s2 = b"SESSION001", b"SESSION002"
    packets = [
        pack_moldudp64(s1, 1, adds[0:3]),  # 1-3
        pack_moldudp64(s2, 50, adds[10:11]),  # another session, interleaved: its own numbering
        pack_moldudp64(s1, 4, adds[3:5]),  # 4-5
        pack_moldudp64(s1, 4, adds[3:5]),  # retransmission: duplicates of 4-5
        pack_moldudp64(s1, 5, adds[4:7]),  # 5-7 overlaps: 5 is a duplicate, 6-7 new
        pack_moldudp64(s1, 8, count=0),  # heartbeat: next is 8, fine
        pack_moldudp64(s1, 10, adds[9:10]),  # 8-9 lost: gap
        pack_moldudp64(s2, 51, adds[11:12]),
        pack_moldudp64(s1, 11, count=0xFFFF),  # end of session
    ]
    path = tmp_path / "gap_20190130.pcap"
    write_pcap(path, ((i, ethernet_ipv4_udp(p)) for i, p in enumerate(packets)))
    r = ItchReader(path)
    ev = r.read()
    assert ev["order_id"].tolist() == [100, 101, 102, 110, 103, 104, 105, 106, 109, 111]
    s = r.stats
    assert [(g.session, g.expected, g.got, g.packet, g.missing) for g in s.gaps] == [(s1, 8, 10, 6, 2)]
    assert s.duplicates == 3 and s.sequencer.duplicate_packets == 1
    assert s.heartbeats == 1 and s.end_of_session == 1 and s.sequencer.ended == {s1}
    assert s.sequencer.next_seq == {s1: 11, s2: 52}
    assert s.findings == []  # gaps are reported, not errors
    # dedupe off: duplicates are reported but delivered
    r2 = ItchReader(path, dedupe=False, strict=False)
    assert len(r2.read()) == 13 and r2.stats.duplicates == 3 and r2.stats.duplicate_refs == 3


def test_pcap_malformed_packet_strict_and_lenient(tmp_path: Path) -> None:
    good = pack_moldudp64(b"SESSION001", 1, [msg_D(1, T0, 7)])
    bad = pack_moldudp64(b"SESSION001", 2, [msg_D(1, T0, 8)], count=2)  # declares 2, holds 1
    short = b"SESSION0"  # not even a MoldUDP64 header
    other = pack_moldudp64(b"SESSION001", 3, [msg_D(1, T0, 9)])
    path = tmp_path / "bad_20190130.pcap"
    frames = [
        ethernet_ipv4_udp(good),
        ethernet_ipv4_udp(bad),
        ethernet_ipv4_udp(short),
        ethernet_ipv4_udp(other, dst_port=9999),
    ]
    write_pcap(path, enumerate(frames))
    with pytest.raises(
        DataError, match=r"bad_20190130\.pcap: packet 1, byte offset \d+: MoldUDP64 packet .* 2 messages"
    ):
        read_itch(path)
    r = ItchReader(path, strict=False, udp_ports={26477})
    assert r.read()["order_id"].tolist() == [7, 8]
    assert r.stats.bad_packets == 2 and r.stats.skipped_frames == 1 and r.stats.packets == 4
    assert "packet 2" in r.stats.findings[1] and "shorter than a MoldUDP64 header" in r.stats.findings[1]


def test_message_errors_inside_a_capture_name_the_packet(tmp_path: Path) -> None:
    msgs = [msg_D(1, T0, 7), msg_D(1, T0, 8)[:-1]]
    path = tmp_path / "m_20190130.pcap"
    write_moldudp64_pcap(msgs, path, max_messages=1)
    with pytest.raises(DataError) as err:
        read_itch(path)
    # pcap header, record header, packet 0 (Ethernet, IPv4, UDP, MoldUDP64 headers, one framed D), record
    # header, then packet 1's headers up to its first message block
    first_len = 14 + 20 + 8 + 20 + 2 + 19
    offset = 24 + 16 + first_len + 16 + 14 + 20 + 8 + 20
    assert f"packet 1, record 1, byte offset {offset}, message type 'D': length 18, expected 19" in str(err.value)


def test_truncated_capture_and_unsupported_link_type(tmp_path: Path) -> None:
    path = tmp_path / "t_20190130.pcap"
    write_moldudp64_pcap([msg_D(1, T0, 7)], path)
    path.write_bytes(path.read_bytes() + b"\x00" * 10)  # a record header cut short
    with pytest.raises(DataError, match="capture ends inside a record"):
        read_itch(path)
    r = ItchReader(path, strict=False)
    assert len(r.read()) == 1 and r.stats.truncated == 1
    odd = tmp_path / "odd_20190130.pcap"
    write_pcap(odd, [(0, b"x")], linktype=147)
    with pytest.raises(DataError, match="odd_20190130.pcap: unsupported pcap link type 147"):
        read_itch(odd)


def test_detect_format(tmp_path: Path, random_stream) -> None:
    assert detect_format(write(tmp_path, random_stream[1])) == "itch-binaryfile"
    assert detect_format(write(tmp_path, b"hello world, this is text\n" * 10, "x.txt")) is None
    assert detect_format(write(tmp_path, b"", "empty")) is None
    assert detect_format(write(tmp_path, bytes(range(256)) * 4, "noise")) is None
    udp_not_itch = tmp_path / "dns.pcap"
    write_pcap(udp_not_itch, [(0, ethernet_ipv4_udp(b"\x12\x34" + bytes(40)))])
    assert detect_format(udp_not_itch) is None
    assert detect_format(tmp_path / "missing") is None
