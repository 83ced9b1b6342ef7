"""Property tests of the reference matching engine: book invariants and quantity conservation."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.events import ADD, CANCEL, CLEAR, EXECUTE, MARKET, MODIFY, TRADE, empty_events
from kernel.orders import OrderType, STPMode, TimeInForce
from venues.matching import ExecReport, MatchingEngine, ReportKind

K = ReportKind
# PROP_N raises the example count for a longer local hunt (e.g. PROP_N=5000).
SETTINGS = settings(
    max_examples=int(os.environ.get("PROP_N", "150")), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
FIELDS = ("ts", "order_id", "price", "qty", "action", "side")

side_st = st.sampled_from([1, -1])
price_st = st.integers(95, 105)

submit_st = st.tuples(
    st.just("submit"),
    st.sampled_from([1, 2]),  # owner
    side_st,
    st.integers(1, 20),  # qty
    price_st,
    st.sampled_from([OrderType.LIMIT] * 4 + [OrderType.MARKET, OrderType.STOP, OrderType.STOP_LIMIT]),
    st.sampled_from([TimeInForce.GTC] * 3 + [TimeInForce.DAY, TimeInForce.GTD, TimeInForce.IOC, TimeInForce.FOK]),
    price_st,  # stop price
    st.booleans(),  # post_only (invalid combinations are rejected, which is fine)
    st.sampled_from([0, 0, 0, 1, 3, 5]),  # display qty
    st.integers(1, 50),  # GTD lifetime
)
ops_st = st.lists(
    st.one_of(
        submit_st,
        submit_st,
        st.tuples(st.just("cancel"), st.integers(0, 10_000)),
        st.tuples(
            st.just("amend"),
            st.integers(0, 10_000),
            st.one_of(st.none(), price_st),
            st.one_of(st.none(), st.integers(0, 20)),
        ),
        st.tuples(st.just("add"), side_st, price_st, st.integers(1, 10)),
        st.tuples(st.just("add"), side_st, price_st, st.integers(1, 10)),
        st.tuples(st.just("remove"), st.integers(0, 10_000), st.integers(0, 5)),
        st.tuples(st.just("execute"), st.integers(0, 10_000), st.integers(1, 5)),
        st.tuples(st.just("market"), side_st, st.integers(1, 15)),
        st.tuples(st.just("expire"), st.integers(0, 30), st.booleans()),
    ),
    min_size=20,
    max_size=100,
)


@dataclass
class Ledger:
    """What the reports say happened to one participant order."""

    owner: int
    acked: int = 0
    amended: int = 0  # net change of leaves by accepted amends
    filled: int = 0
    cancelled: int = 0
    expired: int = 0
    decremented: int = 0  # removed by STP DECREMENT_BOTH
    leaves: int = 0
    done: bool = False


class Tracker:
    """Checks every report as it arrives and keeps a ledger per participant order."""

    def __init__(self) -> None:
        self.ledgers: dict[int, Ledger] = {}
        self.trade_qty = 0

    def on_trade(self, ts: int, price: int, qty: int, side: int) -> None:
        assert qty > 0 and price > 0 and side in (1, -1)
        self.trade_qty += qty

    def on_report(self, r: ExecReport) -> None:
        assert r.owner != 0, "reports only for participants"
        if r.kind == K.ACK:
            assert r.order_id not in self.ledgers
            self.ledgers[r.order_id] = Ledger(r.owner, acked=r.qty, leaves=r.qty)
            return
        led = self.ledgers.get(r.order_id)
        if r.kind == K.REJECT:
            assert r.reason
            return
        assert led is not None and led.owner == r.owner, r
        assert not led.done, f"report after the order finished: {r}"
        if r.kind == K.FILL:
            assert r.qty > 0 and r.liquidity in ("M", "T")
            led.filled += r.qty
            led.leaves -= r.qty
        elif r.kind in (K.CANCEL, K.EXPIRE):
            assert r.qty > 0 and r.reason
            if "DECREMENT_BOTH" in r.reason:
                led.decremented += r.qty
            elif r.kind == K.CANCEL:
                led.cancelled += r.qty
            else:
                led.expired += r.qty
            led.leaves -= r.qty
        elif r.kind == K.REPLACE:
            assert r.qty == r.leaves > 0
            if r.reason.startswith("self-trade prevention"):
                assert r.leaves < led.leaves
                led.decremented += led.leaves - r.leaves
            else:
                led.amended += r.leaves - led.leaves
            led.leaves = r.leaves
        elif r.kind == K.TRIGGER:
            assert r.leaves == led.leaves
        assert r.leaves == led.leaves >= 0, (r, led)
        led.done = led.leaves == 0


def check_book(e: MatchingEngine) -> None:
    """The book is never crossed and level aggregates equal the visible resting quantity."""
    e.check_integrity()
    bb, ba = e.best_bid(), e.best_ask()
    if bb and ba:
        assert bb[0] < ba[0], f"crossed book {bb} {ba}"
    n = 0
    for side in (1, -1):
        for px, agg in e.depth(side, 1_000):
            ids = e.level_orders(side, px)
            infos = [e.order_info(i) for i in ids]
            assert all(inf is not None and inf[0] == side and inf[1] == px for inf in infos)
            assert agg == sum(inf[2] for inf in infos) > 0
            n += len(ids)
    assert n == len(e)


def check_conservation(e: MatchingEngine, tr: Tracker) -> None:
    """submitted (+ amends) = filled + cancelled + expired + STP-decremented + resting, per order."""
    for oid, led in tr.ledgers.items():
        resting = e.open_qty(oid)
        info = e.order_info(oid)
        if info is not None:
            assert resting == info[2] + info[3]
        assert led.leaves == resting, (oid, led, resting)
        assert led.acked + led.amended == led.filled + led.cancelled + led.expired + led.decremented + resting
    assert tr.trade_qty == e.traded_qty


def pick(e: MatchingEngine, ids: list[int], k: int) -> int:
    """An id from ``ids``: a working one for even ``k`` (if any), else any (possibly done)."""
    if k % 2 == 0:
        working = [i for i in ids if e.open_qty(i)]
        if working:
            return working[k // 2 % len(working)]
    return ids[k % len(ids)]


@SETTINGS
@given(stp=st.sampled_from(list(STPMode)), ops=ops_st)
def test_random_order_flow_keeps_invariants(stp: STPMode, ops: list[tuple]) -> None:
    tr = Tracker()
    e = MatchingEngine(stp_mode=stp, on_report=tr.on_report, on_trade=tr.on_trade)
    ts = 1_000
    next_id = 1
    part_ids: list[int] = []
    bg_ids: list[int] = []
    for op in ops:
        ts += 1
        kind = op[0]
        if kind == "submit":
            _, owner, side, qty, px, otype, tif, stop_px, post, disp, life = op
            e.submit(ts, next_id, owner, side, qty, px, otype, tif, stop_px, post, min(disp, qty), ts + life)
            part_ids.append(next_id)
            next_id += 1
        elif kind == "cancel" and part_ids:
            e.cancel(ts, pick(e, part_ids, op[1]))
        elif kind == "amend" and part_ids:
            e.amend(ts, pick(e, part_ids, op[1]), op[2], op[3])
        elif kind == "add":
            e.add(ts, next_id, op[1], op[2], op[3])
            bg_ids.append(next_id)
            next_id += 1
        elif kind == "remove" and bg_ids:
            e.remove(ts, bg_ids[op[1] % len(bg_ids)], op[2])
        elif kind == "execute" and bg_ids:
            e.execute(ts, bg_ids[op[1] % len(bg_ids)], op[2])
        elif kind == "market":
            e.market(ts, op[1], op[2])
        elif kind == "expire":
            ts += op[1]
            e.expire(ts, op[2])
        check_book(e)
        check_conservation(e, tr)


# ------------------------------------------------------------- apply_batch

event_st = st.one_of(
    st.tuples(st.just(ADD), side_st, price_st, st.integers(1, 10)),
    st.tuples(st.just(ADD), side_st, price_st, st.integers(1, 10)),
    st.tuples(st.just(ADD), side_st, price_st, st.integers(1, 10)),
    st.tuples(st.just(CANCEL), st.integers(0, 60), st.integers(0, 6)),
    st.tuples(st.just(CANCEL), st.integers(0, 60), st.integers(0, 6)),
    st.tuples(st.just(MODIFY), st.integers(0, 60), price_st, st.integers(0, 10)),
    st.tuples(st.just(EXECUTE), st.integers(0, 60), st.integers(1, 6)),
    st.tuples(st.just(TRADE), side_st, price_st, st.integers(1, 6)),
    st.tuples(st.just(MARKET), side_st, st.integers(1, 12)),
    st.tuples(st.just(CLEAR)),
)


def build_events(spec: list[tuple]) -> np.ndarray:
    ev = empty_events(len(spec))
    for k, e in enumerate(spec):
        a = e[0]
        ts = 1_000 + k
        if a == ADD:
            ev[k] = (ts, k + 1, e[2], e[3], 0, a, e[1], 0, 0)
        elif a in (CANCEL, EXECUTE):
            ev[k] = (ts, e[1] + 1, 0, e[2], 0, a, 0, 0, 0)
        elif a == MODIFY:
            ev[k] = (ts, e[1] + 1, e[2], e[3], 0, a, 0, 0, 0)
        elif a == TRADE:
            ev[k] = (ts, 0, e[2], e[3], 0, a, e[1], 0, 0)
        elif a == MARKET:
            ev[k] = (ts, 0, 0, e[2], 0, a, e[1], 0, 0)
        else:
            ev[k] = (ts, 0, 0, 0, 0, a, 0, 0, 0)
    return ev


def state(e: MatchingEngine) -> tuple:
    return (
        e.depth(1, 1_000),
        e.depth(-1, 1_000),
        [e.level_orders(s, p) for s in (1, -1) for p, _ in e.depth(s, 1_000)],
        e.last_trade_price,
        e.trade_count,
        e.traded_qty,
        e.unknown_ids,
    )


@SETTINGS
@given(spec=st.lists(event_st, min_size=10, max_size=100), as_list=st.booleans())
def test_apply_batch_watch_top_and_equivalence(spec: list[tuple], as_list: bool) -> None:
    ev = build_events(spec)
    n = len(ev)
    cols = [ev[f].tolist() if as_list else ev[f] for f in FIELDS]
    one = MatchingEngine()
    assert one.apply_batch(*cols, 0, n, False) == n
    # Reference: one method call per event, noting where the top of book changed.
    ref = MatchingEngine()
    changes = []
    rows = zip(*[ev[f].tolist() for f in FIELDS], strict=True)
    for k, (t, oid, px, q, a, s) in enumerate(rows):
        before = ref.top()
        if a == ADD:
            ref.add(t, oid, s, px, q)
        elif a == CANCEL:
            ref.remove(t, oid, q)
        elif a == MODIFY:
            ref.modify(t, oid, px, q)
        elif a == EXECUTE:
            ref.execute(t, oid, q, px)
        elif a == TRADE:
            ref.trade_print(t, px, q, s)
        elif a == MARKET:
            ref.market(t, s, q)
        else:
            ref.clear(t)
        if ref.top() != before:
            changes.append(k + 1)
        check_book(ref)
    stepped = MatchingEngine()
    returns = []
    i = 0
    while i < n:
        i = stepped.apply_batch(*cols, i, n, True)
        returns.append(i)
    expected = changes if changes and changes[-1] == n else [*changes, n]
    assert returns == (expected if n else [])
    assert state(one) == state(ref) == state(stepped)
    check_book(one)
