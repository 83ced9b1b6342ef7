"""Book rebuild from the Databento ESH4 MBO sample: the top of book after every F_LAST event.

The session file (esh4-glbx-mdp3-20231225) opens with the 8,725-order
snapshot, then CME Globex's pre-open from 22:00 UTC (16:00 CT) on Christmas
Day, then the 23:00 UTC (17:00 CT) reopen. In the pre-open the exchange
accepts orders without matching them, so a bid above an ask legitimately
rests there until the opening auction uncrosses the book: the rebuilt top is
crossed after 891 updates, the first at 22:39:55.222483197 and the last at
23:00:00.000068972 (ts_recv). The auction's uncross is the file's first
trade, at 23:00:00.105900877: one packet of 8 TRADEs without aggressor side
(side N: an auction print) and the 28 fills (EXECUTEs) of the orders it
matched.

Window checked: every F_LAST event from the one ending the uncross to the
end of the file - 46,097 updates, 23:00:00.105900877 to 23:59:59.446821072 -
where the top must be two-sided and never crossed or locked. (In the
Databento records that F_LAST sits on the Cancel/Modify records restating the
fills, at 23:00:00.106846211; the reader's default ``fills="execute"`` folds
those into the fills and moves the F_LAST back onto the last fill. With
``fills="trade"`` the same tops come at the records' own F_LAST times.)
The book is examined only after F_LAST (the end of a Databento packet /
atomic update), as the exchange publishes it: inside a packet an aggressive
order can show before the fills that take it out - in the window the top is
crossed or locked after 14 events that are not F_LAST (12 locked, 2
crossed), each time resolved by the end of its packet.

The book here is a plain dict-and-heaps rebuild written for this test,
independent of the matching engine and of adapters.feeds.validate.
"""

from __future__ import annotations

import heapq
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from adapters.feeds.dbn import DbnMboReader
from kernel.events import ADD, BUY, CANCEL, CLEAR, EXECUTE, F_LAST, MODIFY, TRADE

SESSION = "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
PRE_OPEN_FIRST_CROSSED = 1703543995222483197  # 2023-12-25T22:39:55.222483197Z
PRE_OPEN_LAST_CROSSED = 1703545200000068972  # 2023-12-25T23:00:00.000068972Z
UNCROSS = 1703545200105900877  # 2023-12-25T23:00:00.105900877Z: the opening auction's trades
LAST_TS = 1703548799446821072  # 2023-12-25T23:59:59.446821072Z


class TopBook:
    """Order id -> [side, price, qty], level totals, and lazy heaps for the best prices."""

    def __init__(self) -> None:
        self.orders: dict[int, list[int]] = {}
        self.levels: dict[int, Counter[int]] = {BUY: Counter(), -BUY: Counter()}
        self.heaps: dict[int, list[int]] = {BUY: [], -BUY: []}  # bids negated

    def _add(self, side: int, price: int, qty: int) -> None:
        lv = self.levels[side]
        if price not in lv:
            heapq.heappush(self.heaps[side], -price if side == BUY else price)
        lv[price] += qty

    def _sub(self, side: int, price: int, qty: int) -> None:
        lv = self.levels[side]
        lv[price] -= qty
        if lv[price] <= 0:
            del lv[price]

    def apply(self, action: int, oid: int, side: int, price: int, qty: int) -> None:
        """Canonical semantics (kernel.events): CANCEL/EXECUTE reduce (0 or all: remove), MODIFY re-prices."""
        o = self.orders.get(oid)
        if action == ADD:
            self.orders[oid] = [side, price, qty]
            self._add(side, price, qty)
        elif action in (CANCEL, EXECUTE) and o is not None:
            take = o[2] if qty <= 0 or qty >= o[2] else qty
            self._sub(o[0], o[1], take)
            o[2] -= take
            if not o[2]:
                del self.orders[oid]
        elif action == MODIFY and o is not None:
            self._sub(o[0], o[1], o[2])
            if qty <= 0:
                del self.orders[oid]
            else:
                o[1] = price if price > 0 else o[1]
                o[2] = qty
                self._add(o[0], o[1], qty)
        elif action == CLEAR:
            self.__init__()  # type: ignore[misc]

    def best(self, side: int) -> int | None:
        h, lv = self.heaps[side], self.levels[side]
        while h:
            p = -h[0] if side == BUY else h[0]
            if p in lv:
                return p
            heapq.heappop(h)
        return None


@pytest.fixture(scope="module")
def session(shared_data: Path) -> tuple[np.ndarray, DbnMboReader]:
    p = shared_data / "databento" / SESSION
    if not p.is_file():
        pytest.skip(f"{p} not found")
    r = DbnMboReader(p, tick_size=0.25)
    return np.concatenate(list(r.chunks())), r


def tops_after_f_last(
    e: np.ndarray, inside: Counter[str] | None = None, start: int = 0
) -> list[tuple[int, int, int | None, int | None]]:
    """(event index, ts, best bid, best ask) after every F_LAST event; ``inside`` counts the
    crossed / locked tops after non-F_LAST events from index ``start`` on."""
    book = TopBook()
    out = []
    cols = (e["action"].tolist(), e["order_id"].tolist(), e["side"].tolist(), e["price"].tolist(), e["qty"].tolist())
    last = (e["flags"] & F_LAST != 0).tolist()
    ts = e["ts"].tolist()
    for i, (a, oid, side, px, q) in enumerate(zip(*cols, strict=True)):
        book.apply(a, oid, side, px, q)
        if last[i]:
            out.append((i, ts[i], book.best(BUY), book.best(-BUY)))
        elif inside is not None and i >= start:
            b, s = book.best(BUY), book.best(-BUY)
            if b is not None and s is not None and b >= s:
                inside["locked" if b == s else "crossed"] += 1
    return out


def test_top_of_book_is_never_crossed_after_the_reopen(session: tuple[np.ndarray, DbnMboReader]) -> None:
    e, reader = session
    tops = tops_after_f_last(e)
    assert len(tops) == 47_022

    # The opening auction: the first trade of the file, one packet of side-N prints and their fills.
    first_trade = int(np.flatnonzero(np.isin(e["action"], (TRADE, EXECUTE)))[0])
    assert int(e["ts"][first_trade]) == UNCROSS
    end = first_trade + int(np.flatnonzero(e["flags"][first_trade:] & F_LAST)[0])
    packet = e[first_trade : end + 1]
    assert Counter(packet["action"].tolist()) == {TRADE: 8, EXECUTE: 28}
    assert set(packet["side"][packet["action"] == TRADE].tolist()) == {0}  # no aggressor: an auction print
    assert bool(np.all(packet["ts"] == UNCROSS))

    before = [t for t in tops if t[0] < end]
    window = [t for t in tops if t[0] >= end]
    assert (len(before), len(window)) == (925, 46_097)  # the snapshot + 924 pre-open updates; the session

    # The window: two-sided, never crossed, never locked.
    assert window[0][1] == UNCROSS and window[-1][1] == LAST_TS
    assert all(b is not None and a is not None for _, _, b, a in window)
    spreads = Counter(a - b for _, _, b, a in window)
    assert min(spreads) == 1  # ticks of 0.25: no crossed (< 0) or locked (0) top
    assert spreads == {1: 41_460, 2: 4_329, 3: 275, 4: 33}
    assert (window[0][2], window[0][3]) == (19_200, 19_201)  # 4800.00 / 4800.25 right after the uncross
    assert (window[-1][2], window[-1][3]) == (19_240, 19_241)  # 4810.00 / 4810.25 at the end

    # Before it: crossed (never locked) only inside the pre-open, until the auction.
    crossed = [(i, t) for i, t, b, a in before if b is not None and a is not None and b >= a]
    assert len(crossed) == 891
    assert all(b > a for _, _, b, a in before if b is not None and a is not None and b >= a)
    assert (crossed[0][1], crossed[-1][1]) == (PRE_OPEN_FIRST_CROSSED, PRE_OPEN_LAST_CROSSED)
    assert reader.stats.info["ts_clamped"] == 0 and reader.stats.malformed == 0

    # Inside packets the top may cross or lock for an event; only the packet's end counts.
    inside: Counter[str] = Counter()
    tops_after_f_last(e, inside, start=end)
    assert inside == {"locked": 12, "crossed": 2}


def test_both_fill_conventions_give_the_same_tops(session: tuple[np.ndarray, DbnMboReader], shared_data: Path) -> None:
    """fills="trade" keeps Databento's own Cancel/Modify after each fill: the same tops after the F_LASTs,
    2,429 of them later (at the restating record's F_LAST instead of the fill it was folded into)."""
    e, _ = session
    other = np.concatenate(list(DbnMboReader(shared_data / "databento" / SESSION, 0.25, fills="trade").chunks()))
    a = tops_after_f_last(e)
    b = tops_after_f_last(other)
    assert [t[2:] for t in a] == [t[2:] for t in b]
    moved = [(x[1], y[1]) for x, y in zip(a, b, strict=True) if x[1] != y[1]]
    assert len(moved) == 2_429 and all(tx < ty for tx, ty in moved)


def test_the_matching_engine_book_against_the_rebuild(session: tuple[np.ndarray, DbnMboReader]) -> None:
    """The venue's engines on the same events, as a venue fed by recorded data runs them
    (``rest_crossing``: a crossing ADD rests - the pre-open - instead of trading): the same
    top as the rebuild after every one of the updates, crossed pre-open tops included, and
    no trade before the auction's own EXECUTEs."""
    from kernel.orders import STPMode
    from venues.fast import FastMatchingEngine
    from venues.matching import MatchingEngine

    e, _ = session
    tops = tops_after_f_last(e)
    uncross = int(np.flatnonzero(e["ts"] == UNCROSS)[0])
    cols = [e[c].tolist() for c in ("ts", "order_id", "price", "qty", "action", "side")]
    for engine in (MatchingEngine(0, STPMode.NONE), FastMatchingEngine(0, STPMode.NONE)):
        engine.rest_crossing = True
        start = 0
        differ = crossed = 0
        trades_pre_open = 0
        for i, _, bid, ask in tops:
            if isinstance(engine, MatchingEngine):
                engine.apply_batch(*cols, start, i + 1, False)
            else:
                engine.apply_events(e, start, i + 1, False)
            start = i + 1
            b, _, a, _ = engine.top()
            differ += (b or None, a or None) != (bid, ask)
            crossed += bool(b and a and b > a)
            if i < uncross:
                trades_pre_open = engine.trade_count
        assert len(tops) == 47_022
        assert (type(engine).__name__, differ) == (type(engine).__name__, 0)
        assert crossed == 891  # the pre-open's crossed tops, as the exchange's book had them
        assert trades_pre_open == 0


def test_matching_crossing_adds_trades_the_pre_open(session: tuple[np.ndarray, DbnMboReader]) -> None:
    """Without ``rest_crossing`` (synthetic order-flow semantics) the engine trades the crossing
    pre-open ADDs as they arrive - 42 trades the exchange never made - and its book after the
    uncross then differs from the exchange's at 17 of the 46,097 updates: why a venue fed by
    recorded data rests them (``crossing_adds = "auto"``)."""
    from kernel.orders import STPMode
    from venues.matching import MatchingEngine

    e, _ = session
    tops = tops_after_f_last(e)
    engine = MatchingEngine(0, STPMode.NONE)
    cols = [e[c].tolist() for c in ("ts", "order_id", "price", "qty", "action", "side")]
    first_crossed = next(i for i, _, b, a in tops if b is not None and a is not None and b > a)
    uncross = int(np.flatnonzero(e["ts"] == UNCROSS)[0])
    start = 0
    differ_before = differ_after = 0
    trades_pre_open = 0
    for i, _, bid, ask in tops:
        engine.apply_batch(*cols, start, i + 1, False)
        start = i + 1
        b, _, a, _ = engine.top()
        same = (b or None, a or None) == (bid, ask)
        if i < first_crossed:
            differ_before += not same
        elif i >= uncross:
            differ_after += not same
        if i < uncross:
            trades_pre_open = engine.trade_count
    assert differ_before == 0
    assert trades_pre_open == 42
    assert differ_after == 17
