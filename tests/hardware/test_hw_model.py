"""The reference model of the RTL pipeline and the hardware stimulus, without a simulator."""

from __future__ import annotations

import pytest

from adapters.feeds.itch_encoder import encode_message, frame
from hardware.model import (
    HwConfig,
    HwParams,
    ReferenceModel,
    SlotConfig,
    _bucket_of,
    cancel_order,
    describe_mismatch,
    enter_order,
    split_frames,
)
from hardware.stimulus import (
    OPEN_NS,
    RandomItch,
    random_config,
    resting_book_events,
    scenario_events,
    scenario_stream,
)
from kernel.errors import ParityError
from kernel.risk import RiskLimits, _TokenBucket
from scenarios.loader import load_scenario
from scenarios.runner import Run


def _msg(t: str, ts: int, **f) -> bytes:
    return frame(encode_message(t, timestamp=OPEN_NS + ts, **f))


def _add(ts: int, ref: int, side: str, shares: int, price: int, locate: int = 1) -> bytes:
    return _msg("A", ts, stock_locate=locate, order_reference_number=ref, buy_sell_indicator=side, shares=shares,
                stock="ABC", price=price)  # fmt: skip


def test_enter_order_is_ouch50_layout():
    cfg = HwConfig([SlotConfig(1, "ABC")], tif="0", capacity="A", clordid_prefix="XYZ123")
    m = enter_order(cfg, 0x1234ABCD, -1, 300, "ABC", 1_234_500)
    assert len(m) == 47
    assert m[0:1] == b"O" and int.from_bytes(m[1:5], "big") == 0x1234ABCD and m[5:6] == b"S"
    assert int.from_bytes(m[6:10], "big") == 300 and m[10:18] == b"ABC     "
    assert int.from_bytes(m[18:26], "big") == 1_234_500
    assert m[26:31] == b"0YANN"  # tif, display, capacity, intermarket sweep, cross type
    assert m[31:45] == b"XYZ1231234ABCD" and m[45:47] == b"\0\0"
    c = cancel_order(7)
    assert c == b"X" + (7).to_bytes(4, "big") + bytes(4)


def test_framing_rules_match_the_rtl_documentation():
    good = encode_message("D", stock_locate=1, timestamp=5, order_reference_number=9)
    bad_side = bytearray(encode_message("A", stock_locate=1, buy_sell_indicator="B"))
    bad_side[19] = ord("X")
    bad_print = bytearray(encode_message("C", stock_locate=1, printable="Y"))
    bad_print[31] = ord("y")
    packets = [
        frame(good) + b"\0\0" + frame(b"Z12345") + frame(good[:-1]) + frame(bytes(bad_side)),
        frame(bytes(bad_print)) + frame(encode_message("R", stock="ABC")) + (300).to_bytes(2, "big") + bytes(300),
        frame(good) + frame(good)[:7],  # the packet ends inside the second frame
        b"\x00",  # a lone byte: a truncated length prefix
    ]
    kinds = [(f.kind, f.mtype, f.truncated) for f in split_frames(packets)]
    assert kinds == [
        ("decoded", "D", False),
        ("malformed", "", False),  # zero length
        ("malformed", "Z", False),  # unknown type
        ("malformed", "D", False),  # wrong length
        ("malformed", "A", False),  # side not B/S
        ("malformed", "C", False),  # printable not Y/N
        ("other", "R", False),
        ("malformed", "\0", False),  # longer than any ITCH 5.0 message
        ("decoded", "D", False),
        ("malformed", "", True),
        ("malformed", "", True),
    ]


def test_register_writes_carry_the_risk_engines_token_bucket():
    lim = RiskLimits(max_order_qty=10, max_position=20, price_band_bps=50.0, max_orders_per_sec=2000.0, burst=3)
    cfg = HwConfig([SlotConfig(7, "ABC", qty=5, buy_limit=100, sell_limit=200, max_spread=3)], lim)
    w = dict(cfg.register_writes(HwParams()))
    b = _TokenBucket(2000.0, 3)
    assert (w[0x303], w[0x304], w[0x305]) == (b.per_ns, b.unit, b.capacity)
    assert w[0x100] == (1 << 16) | 7 and w[0x200] == 5 | (1 << 32) | (1 << 33)
    assert (w[0x300], w[0x301], w[0x302]) == (10, 20, 50)
    assert w[0x400] == int.from_bytes(b"ABC     ", "big")


def test_config_refuses_what_the_rtl_cannot_do():
    with pytest.raises(ValueError, match="max_order_notional"):
        HwConfig([SlotConfig(1, "A")], RiskLimits(max_order_notional=1e6)).check(HwParams())
    with pytest.raises(ValueError, match="whole number"):
        HwConfig([SlotConfig(1, "A")], RiskLimits(price_band_bps=2.5)).check(HwParams())
    with pytest.raises(ValueError, match="slots"):
        HwConfig([SlotConfig(i, "A") for i in range(5)]).check(HwParams(num_instr=4))
    with pytest.raises(ParityError):
        RiskLimits(max_position=0)


def _two_sided(*extra: bytes) -> list[bytes]:
    return [_add(10, 1, "B", 500, 990_000) + _add(20, 2, "S", 400, 1_010_000) + b"".join(extra)]


def test_model_trades_through_book_trigger_and_risk():
    cfg = HwConfig([SlotConfig(1, "ABC", qty=300, buy_limit=1_005_000, sell_limit=995_000)])
    # a better ask within the limit: BUY 200 (the size there) at 1_004_900
    res = ReferenceModel(cfg).run(_two_sided(_add(30, 3, "S", 200, 1_004_900)))
    assert [o.data for o in res.orders] == [enter_order(cfg, 1, 1, 200, "ABC", 1_004_900)]
    assert res.orders[0].frame == 2 and res.positions == {0: 200}
    # a better bid: SELL at the bid; the sell-side level stays as it was
    res = ReferenceModel(cfg).run(_two_sided(_add(30, 3, "B", 100, 996_000)))
    assert [o.data for o in res.orders] == [enter_order(cfg, 1, -1, 100, "ABC", 996_000)]


def test_model_uses_risk_engine_checks_in_order():
    band = HwConfig([SlotConfig(1, "ABC", qty=300, buy_limit=1_005_000)], RiskLimits(price_band_bps=10.0))
    res = ReferenceModel(band).run(_two_sided(_add(30, 3, "S", 200, 1_004_900)))
    assert res.orders == [] and res.counters["reject_price_band_bps"] == 1  # ref 997_450, |diff| > 10 bps
    one_side = HwConfig([SlotConfig(1, "ABC", buy_limit=2_000_000)], RiskLimits(price_band_bps=10.0))
    res = ReferenceModel(one_side).run([_add(20, 2, "S", 400, 1_010_000)])
    assert res.counters["reject_reference_price"] == 1
    qty = HwConfig([SlotConfig(1, "ABC", qty=300, buy_limit=2_000_000)], RiskLimits(max_order_qty=250))
    res = ReferenceModel(qty).run(_two_sided(_add(30, 3, "S", 260, 1_004_900)))
    assert res.counters["reject_max_order_qty"] == 2  # the opening ask: 300 > 250; then min(300, 260) = 260 > 250


def test_model_kill_cancels_remembered_day_orders():
    cfg = HwConfig([SlotConfig(1, "ABC", qty=10, buy_limit=2_000_000)], tif="0")
    stream = _two_sided(*(_add(30 + k, 3 + k, "S", 5, 1_009_000 - 100 * k) for k in range(12)))
    model = ReferenceModel(cfg)
    full = model.run(stream)
    assert len(full.enter_orders) == 13  # the opening ask and every better ask
    killed = model.run(stream, kill_before_frame=5)
    enters = killed.enter_orders
    assert len(enters) == 4 and killed.counters["reject_trading_state"] == 9
    assert [o.data for o in killed.orders if o.kind == "cancel"] == [cancel_order(o.user_ref) for o in enters]


def test_model_predicts_order_table_overflow():
    params = HwParams(ot_addr_bits=2, ot_ways=1)
    refs = [r for r in range(1, 50) if _bucket_of(r, 2) == 1][:2]
    cfg = HwConfig([SlotConfig(1, "ABC")])
    delete = _msg("D", 40, stock_locate=1, order_reference_number=refs[1])
    res = ReferenceModel(cfg, params).run(
        [_add(10, refs[0], "B", 5, 900_000) + _add(20, refs[1], "B", 5, 910_000) + delete]
    )
    assert res.counters["stored"] == 1 and res.counters["overflow"] == 1 and res.counters["unknown"] == 1


def test_describe_mismatch_names_the_first_differing_message():
    a = [b"O" + bytes(46), b"X" + bytes(8)]
    assert describe_mismatch(a, a) is None
    b = [a[0], b"X" + bytes(7) + b"\x01"]
    assert "OUCH message 1 differs at byte 8" in describe_mismatch(a, b)
    assert "first missing: message 1" in describe_mismatch(a, a[:1])


def test_scenario_events_are_what_the_run_feeds():
    sc, _ = load_scenario("default", {"duration": "200ms"})
    ev = scenario_events(sc)[0]
    run = Run(sc, with_strategy=False, materialize_data=True)
    assert len(ev) == run.materialized_events > 1000


@pytest.mark.parametrize("name", ["default", "taker"])
def test_rendered_scenario_is_a_valid_uncrossed_book(name):
    sc, _ = load_scenario(name)
    st = scenario_stream(sc, 3000)
    res = ReferenceModel(st.config).run(st.packets)
    assert res.crossed_adds == 0 and res.max_levels <= HwParams().levels
    assert res.counters["malformed"] == 0 and res.counters["unknown"] == 0 and res.enter_orders
    book, eng = resting_book_events(scenario_events(sc, 3000)[0])
    eng.check_integrity()
    assert len(book) > 2500


def test_random_streams_stay_in_the_rtl_domain_and_cover_every_check():
    seen = set()
    for seed in range(1, 5):
        packets = RandomItch(seed, malformed=0.03).packets(10_000)
        res = ReferenceModel(random_config(seed)).run(packets)
        assert res.crossed_adds == 0 and res.max_levels <= HwParams().levels
        seen |= {k for k, v in res.counters.items() if v}
    for name in ("malformed", "msg_other", "duplicate", "unknown", "filtered", "overflow", "msg_S", "msg_H"):
        assert name in seen
    for check in ("qty", "max_order_qty", "reference_price", "price_band_bps", "max_position", "max_orders_per_sec"):
        assert f"reject_{check}" in seen, check
