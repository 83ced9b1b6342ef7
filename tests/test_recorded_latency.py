"""Recorded market-data latency (``market_data = { kind = "recorded" }``) on DBN data.

DBN MBO records carry the matching engine's time (ts_event) and the capture
server's receive time (ts_recv). With a recorded latency the venue applies
each event at ts_event and the strategy gets the resulting book update at that
event's ts_recv: the delays travel beside the canonical chunks (see
:class:`venues.latency.RecordedLatency`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import databento_dbn as dbn
import numpy as np
import pytest

from adapters.feeds.dbn import DbnMboReader
from kernel.errors import DataError, ScenarioError
from kernel.events import MD_DTYPE
from kernel.reports import BookTop, Trade
from kernel.strategy import Strategy
from scenarios.loader import parse_scenario
from scenarios.runner import Run
from venues.latency import RecordedLatency, latency_from_config

INST = 17077
T0 = 1_703_545_201_000_000_000  # 2023-12-25T23:00:01Z
LAST, BAD_TS_RECV, SNAP = 0x80, 0x08, 0x20
US = 1_000


def mbo(ts_event: int, ts_recv: int, action: str, side: str, oid: int, price: float, size: int, flags: int = LAST):
    """One DBN v1 MBO record (price in index points)."""
    return bytes(
        dbn.MBOMsg(
            publisher_id=1,
            instrument_id=INST,
            ts_event=ts_event,
            order_id=oid,
            price=round(price * 1e9),
            size=size,
            action={"A": dbn.Action.ADD, "C": dbn.Action.CANCEL, "T": dbn.Action.TRADE, "F": dbn.Action.FILL}[action],
            side={"B": dbn.Side.BID, "A": dbn.Side.ASK, "N": dbn.Side.NONE}[side],
            ts_recv=ts_recv,
            flags=flags,
        )
    )


def dbn_file(tmp: Path, records: list[bytes]) -> Path:
    iv = SimpleNamespace(start_date=dt.date(2023, 12, 25), end_date=dt.date(2023, 12, 26), symbol=str(INST))
    meta = dbn.Metadata(
        dataset="GLBX.MDP3",
        start=T0,
        stype_in=dbn.SType.RAW_SYMBOL,
        stype_out=dbn.SType.INSTRUMENT_ID,
        schema=dbn.Schema.MBO,
        symbols=["ESH4"],
        mappings=[SimpleNamespace(raw_symbol="ESH4", intervals=[iv])],
        version=1,
    ).encode()
    p = tmp / "es.mbo.dbn"
    p.write_bytes(meta + b"".join(records))
    return p


# (ts_event offset, receive delay, action, side, order id, price, size, flags)
TAPE = [
    (-1_000 * US, 0, "A", "B", 1, 4800.00, 5, LAST | SNAP | BAD_TS_RECV),  # a snapshot order: no receive time
    (1_000 * US, 120 * US, "A", "A", 2, 4800.50, 3, LAST),
    (2_000 * US, 95 * US, "A", "B", 3, 4800.25, 2, LAST),
    (3_000 * US, 300 * US, "A", "A", 4, 4800.50, 1, 0),  # a packet of two: one receive time
    (3_000 * US, 300 * US, "C", "B", 3, 4800.25, 2, LAST),
    (4_000 * US, 2_000 * US, "A", "B", 5, 4800.25, 4, LAST),  # a slow one ...
    (4_500 * US, 80 * US, "C", "A", 4, 4800.50, 1, LAST),  # ... overtaken by the next: delivered FIFO after it
    (7_000 * US, 150 * US, "T", "B", 0, 4800.50, 2, 0),  # a trade print and the fill it made
    (7_000 * US, 150 * US, "F", "A", 2, 4800.50, 2, LAST),
]


@pytest.fixture
def tape_file(tmp_path: Path) -> Path:
    return dbn_file(tmp_path, [mbo(T0 + t, T0 + t + d, a, s, o, p, q, f) for t, d, a, s, o, p, q, f in TAPE])


def test_reader_delays_are_receive_minus_event_time(tape_file: Path) -> None:
    pairs = list(DbnMboReader(tape_file, tick_size=0.25, ts_field="ts_event").delayed_chunks(chunk_size=2))
    ev = np.concatenate([e for e, _ in pairs])
    delays = np.concatenate([d for _, d in pairs])
    assert all(len(e) == len(d) for e, d in pairs) and len(pairs) > 1
    assert np.array_equal(ev, np.concatenate(list(DbnMboReader(tape_file, 0.25, ts_field="ts_event").chunks(2))))
    # One event per record here (the fill is an EXECUTE, the trade print a TRADE); bad ts_recv -> 0.
    assert delays.tolist() == [0] + [d for _, d, *_ in TAPE[1:]]
    assert (ev["ts"] - T0).tolist() == [t for t, *_ in TAPE]
    # With ts = ts_recv the delays are 0: the events already carry the receive time.
    recv = np.concatenate([d for _, d in DbnMboReader(tape_file, 0.25).delayed_chunks()])
    assert not recv.any()


class Recorder(Strategy):
    """Writes down when each book update and trade reaches it."""

    def __init__(self) -> None:
        super().__init__()
        self.books: list[tuple[int, BookTop]] = []
        self.trades: list[tuple[int, Trade]] = []

    def on_start(self) -> None:
        self.ctx.subscribe(self.ctx.lookup("ESH4").id, trades=True)

    def on_book(self, book: BookTop) -> None:
        self.books.append((self.ctx.now(), book))

    def on_trade(self, trade: Trade) -> None:
        self.trades.append((self.ctx.now(), trade))


SCENARIO = """
name = "recorded"
seed = 1
engine = "{engine}"
start = "{start}"
duration = "1s"
[[instruments]]
id = 0
symbol = "ESH4"
tick_size = 0.25
multiplier = 50
[[venues]]
name = "GLBX"
instruments = ["ESH4"]
[venues.latency]
market_data = {market_data}
order_entry = "20us"
[[data]]
venue = "GLBX"
instrument = "ESH4"
kind = "{kind}"
path = "{path}"
{params}
[store]
enabled = false
"""


def scenario(
    path: Path, market_data: str = '{ kind = "recorded" }', kind: str = "dbn", params: str = "", engine: str = "fast"
):
    text = SCENARIO.format(
        start="2023-12-25T23:00:01", market_data=market_data, kind=kind, path=path.name, params=params, engine=engine
    )
    sc = parse_scenario(text, "<test>")
    sc._base_dir = path.parent
    return sc


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_book_updates_reach_the_strategy_at_their_receive_time(tape_file: Path, engine: str) -> None:
    rec = Recorder()
    run = Run(scenario(tape_file, engine=engine), strategy=rec)
    run.run()
    got = [(now - T0, book.ts - T0, book.bid_px, book.bid_qty, book.ask_px, book.ask_qty) for now, book in rec.books]
    # Each update at its exchange time, delivered at the receive time of the event that made it.
    assert got == [
        (1_120 * US, 1_000 * US, 19_200, 5, 19_202, 3),
        (2_095 * US, 2_000 * US, 19_201, 2, 19_202, 3),
        (3_300 * US, 3_000 * US, 19_201, 2, 19_202, 4),  # the venue publishes each top change of the packet
        (3_300 * US, 3_000 * US, 19_200, 5, 19_202, 4),
        (6_000 * US, 4_000 * US, 19_201, 4, 19_202, 4),
        (6_000 * US, 4_500 * US, 19_201, 4, 19_202, 3),  # received at 4.58 ms, but FIFO: not before 6 ms
        (7_150 * US, 7_000 * US, 19_201, 4, 19_202, 1),  # the fill took 2 of the 3 at the ask
    ]
    # The print and the execution, delivered with the delay of their event.
    assert [(now - T0, t.ts - T0, t.qty) for now, t in rec.trades] == [(7_150 * US, 7_000 * US, 2)] * 2
    assert run.kernel.md_events == len(TAPE)
    # The snapshot order (bad ts_recv) is older than the start: it builds the book, nothing is delivered.
    assert run.start_ns == T0


def test_a_constant_latency_on_the_same_data_for_comparison(tape_file: Path) -> None:
    rec = Recorder()
    Run(scenario(tape_file, market_data='"100us"', params='[data.params]\nts_field = "ts_event"'), strategy=rec).run()
    assert [now - book.ts for now, book in rec.books] == [100 * US] * 7


def test_recorded_latency_config_errors(tape_file: Path, tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"data\[0\]\.params\.ts_field: .* use 'ts_event'"):
        Run(scenario(tape_file, params='[data.params]\nts_field = "ts_recv"'))
    with pytest.raises(ScenarioError, match=r"latency.market_data: kind 'recorded' takes no other field"):
        Run(scenario(tape_file, market_data='{ kind = "recorded", ns = 5 }'))
    lob = tmp_path / "ES_2023-12-25_0_0_message_1.csv"
    lob.write_text("34200.1,1,11,100,48000000,1\n")
    with pytest.raises(ScenarioError, match=r"data\[0\]: .* kind 'lobster' has none \(only 'dbn' and 'binance' record"):
        Run(scenario(lob, kind="lobster"))
    with pytest.raises(ScenarioError, match=r"order_entry: kind 'recorded' .* only for a venue's market_data"):
        latency_from_config({"kind": "recorded"}, None, "venues.GLBX.latency.order_entry")


def test_recorded_latency_model() -> None:
    m = RecordedLatency(keep=2)
    a = np.zeros(3, MD_DTYPE)
    a["ts"] = [10, 20, 20]
    m.register(a, np.array([5, 7, 9]))
    m.use(a)
    assert m.delay_at(15) == 5  # the last event at or before 15
    assert m.delay_at(20) == 9  # rightmost at 20 ...
    m.mark(1)
    assert m.delay_at(20) == 7  # ... unless the venue marked the event that moved the book
    assert m.delay_at(30) == 9 and m.sample() == 9
    b, c = np.zeros(1, MD_DTYPE), np.zeros(1, MD_DTYPE)
    m.register(b, np.array([1]))
    m.register(c, np.array([2]))  # keep=2: a is forgotten
    with pytest.raises(DataError, match="without recorded delays"):
        m.use(a)
    with pytest.raises(ValueError, match="negative delay"):
        m.register(b, np.array([-1]))
    with pytest.raises(ValueError, match=r"\(2,\) delays for a chunk of 1 events"):
        m.register(b, np.array([1, 2]))
