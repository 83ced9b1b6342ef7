"""Random order flow through a matching engine with its invariants checked after every action.

Used by the stress suite (``tests/stress/test_matching_stress.py``) and by
``parity bench --stress N``. Every order type and time in force, icebergs,
post-only, stops, amends (price and quantity), cancels, expiries and self-trade
prevention (the mode follows the seed), from eight owners so that STP fires.
After every action: the book is not crossed or locked, and maker fills equal
taker fills; every ``FULL_CHECK`` actions the engine's structural
``check_integrity`` runs and the open quantity announced by the reports equals
the open quantity in the engine; at the end, per order, accepted quantity ==
filled + removed + still open.
"""

from __future__ import annotations

import numpy as np

from kernel.orders import OrderType, STPMode, TimeInForce
from venues.matching import MatchingEngine, ReportKind

FULL_CHECK = 5_000

_ACK, _REJ, _FILL, _CAN, _EXP, _REP, _TRIG = (
    ReportKind.ACK,
    ReportKind.REJECT,
    ReportKind.FILL,
    ReportKind.CANCEL,
    ReportKind.EXPIRE,
    ReportKind.REPLACE,
    ReportKind.TRIGGER,
)


class Tracker:
    """Follows the report stream and keeps the conservation sums."""

    def __init__(self) -> None:
        self.leaves: dict[int, int] = {}  # order -> open qty announced by its last report
        self.accepted: dict[int, int] = {}
        self.filled: dict[int, int] = {}
        self.removed: dict[int, int] = {}
        self.open_total = 0
        self.maker = 0
        self.taker = 0
        self.reports = 0

    def __call__(self, r) -> None:
        self.reports += 1
        kind = r.kind
        oid = r.order_id
        if kind == _FILL:
            if r.liquidity == "M":
                self.maker += r.qty
            else:
                self.taker += r.qty
            if oid:
                self.filled[oid] = self.filled.get(oid, 0) + r.qty
                self._set(oid, r.leaves)
        elif kind == _ACK:
            self.accepted[oid] = r.qty
            self._set(oid, r.qty)
        elif kind == _CAN or kind == _EXP:
            self.removed[oid] = self.removed.get(oid, 0) + r.qty
            self._set(oid, r.leaves)
        elif kind == _REP:
            old = self.leaves.get(oid, 0)
            # An amend or STP decrement: the difference is added or removed quantity.
            if r.leaves < old:
                self.removed[oid] = self.removed.get(oid, 0) + old - r.leaves
            else:
                self.accepted[oid] = self.accepted.get(oid, 0) + r.leaves - old
            self._set(oid, r.leaves)

    def _set(self, oid: int, leaves: int) -> None:
        self.open_total += leaves - self.leaves.get(oid, 0)
        if leaves:
            self.leaves[oid] = leaves
        else:
            self.leaves.pop(oid, None)


def engine_open_total(eng: MatchingEngine) -> int:
    return sum(r[1] + r[2] for r in eng._orders.values()) + sum(s.qty for s in eng._stops.values())


TIFS = (TimeInForce.GTC, TimeInForce.GTC, TimeInForce.DAY, TimeInForce.GTD, TimeInForce.IOC, TimeInForce.FOK)


def _rows(seed: int, n: int):
    """Random numbers for ``n`` actions, vectorized in blocks: one row of 16 uniforms each."""
    gen = np.random.default_rng(seed)
    done = 0
    while done < n:
        m = min(65_536, n - done)
        yield from gen.random((m, 16)).tolist()
        done += m


def run_shard(seed: int, n: int) -> dict:
    tr = Tracker()
    eng = MatchingEngine(0, STPMode(seed % 4), on_report=tr)
    live: list[int] = []
    next_id = 1
    mid = 10_000
    t = 1_000_000
    ntif = len(TIFS)
    for k, r in enumerate(_rows(seed, n)):
        t += 1 + int(r[0] * 2_000)
        u = r[1]
        if u < 0.50 or not live:  # new order
            owner = 1 + int(r[2] * 8)
            side = 1 if r[3] < 0.5 else -1
            v = r[4]
            qty = 1 + int(r[5] * 20)
            px = mid - side * (int(r[6] * 19) - 3)
            tif = TIFS[int(r[7] * ntif)]
            kw = {}
            if v < 0.70:
                otype = OrderType.LIMIT
                if r[8] < 0.1:
                    kw["post_only"] = True
                if r[9] < 0.1 and qty > 2:
                    kw["display_qty"] = 1 + int(r[10] * (qty - 1))
            elif v < 0.85:
                otype = OrderType.MARKET
            elif v < 0.93:
                otype = OrderType.STOP
                kw["stop_price"] = mid + side * (1 + int(r[10] * 10))
            else:
                otype = OrderType.STOP_LIMIT
                kw["stop_price"] = mid + side * (1 + int(r[10] * 10))
            if tif == TimeInForce.GTD:
                kw["expire_ts"] = t + 1_000 + int(r[11] * 5_000_000)
            if r[12] < 0.002:
                qty = 0  # invalid: must be rejected
            eng.submit(t, next_id, owner, side, qty, px, otype, tif, **kw)
            live.append(next_id)
            next_id += 1
        elif u < 0.80:  # cancel
            j = int(r[2] * len(live))
            oid = live[j]
            live[j] = live[-1]
            live.pop()
            eng.cancel(t, oid)
        elif u < 0.96:  # amend
            oid = live[int(r[2] * len(live))]
            w = r[3]
            if w < 0.4:
                eng.amend(t, oid, new_qty=1 + int(r[4] * 25))
            elif w < 0.8:
                eng.amend(t, oid, new_price=mid - (int(r[5] * 25) - 12))
            else:
                eng.amend(t, oid, mid - (int(r[5] * 25) - 12), 1 + int(r[4] * 25))
        elif u < 0.995:
            if r[2] < 0.1:
                eng.expire(t)  # GTD expiry sweep (costs O(timed orders): not every time)
        else:
            mid += int(r[2] * 7) - 3
            eng.trade_print(t, mid, 1, 1)
        if len(live) > 4_000:
            del live[: len(live) // 2]
        # Continuous invariants.
        bb, ba = eng._bb, eng._ba
        assert not (bb and ba and bb >= ba), f"seed {seed} action {k}: crossed book {bb} >= {ba}"
        assert tr.maker == tr.taker, f"seed {seed} action {k}: maker fills {tr.maker} != taker fills {tr.taker}"
        if k % FULL_CHECK == 0:
            eng.check_integrity()
            assert engine_open_total(eng) == tr.open_total, f"seed {seed} action {k}: open qty mismatch"
    eng.expire(t + 1, day_end=True)
    eng.check_integrity()
    assert engine_open_total(eng) == tr.open_total
    for oid, acc in tr.accepted.items():
        assert acc == tr.filled.get(oid, 0) + tr.removed.get(oid, 0) + tr.leaves.get(oid, 0), f"order {oid}"
    return {"reports": tr.reports, "trades": eng.trade_count, "resting": len(eng), "stops": eng.stop_count}
