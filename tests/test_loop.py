"""The event kernel: ordering by (ts, priority, seq), market-data windows, timers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernel.events import MD_DTYPE
from kernel.loop import PRIO_DELIVERY, PRIO_TIMER, PRIO_VENUE, Kernel


class RecordingConsumer:
    """Records the slices it is given; optionally schedules a callback per event."""

    def __init__(self, kernel: Kernel, log: list, lookahead: float = math.inf, echo_delay: int | None = None):
        self.kernel = kernel
        self.log = log
        self.lookahead = lookahead
        self.echo_delay = echo_delay
        self.slices: list[tuple[int, int]] = []

    def lookahead_ns(self) -> float:
        return self.lookahead

    def apply_market_data(self, events, start, stop):
        self.slices.append((start, stop))
        for ts in events["ts"][start:stop].tolist():
            self.log.append(("md", ts))
            if self.echo_delay is not None:
                self.kernel.call_at(ts + self.echo_delay, self.log.append, ("echo", ts + self.echo_delay))


def _chunk(ts_values) -> np.ndarray:
    ev = np.zeros(len(ts_values), MD_DTYPE)
    ev["ts"] = ts_values
    return ev


def test_scheduled_events_order_by_time_then_priority_then_sequence():
    k = Kernel(seed=1, start_ns=0)
    log = []
    k.call_at(10, log.append, "t10-timer", priority=PRIO_TIMER)
    k.call_at(10, log.append, "t10-delivery-a", priority=PRIO_DELIVERY)
    k.call_at(10, log.append, "t10-venue", priority=PRIO_VENUE)
    k.call_at(10, log.append, "t10-delivery-b", priority=PRIO_DELIVERY)
    k.call_at(5, log.append, "t5")
    k.run(100)
    assert log == ["t5", "t10-venue", "t10-delivery-a", "t10-delivery-b", "t10-timer"]
    assert k.now() == 100


def test_clock_reads_event_time_inside_callbacks():
    k = Kernel(seed=1, start_ns=1_000)
    seen = []
    k.call_at(1_500, lambda: seen.append(k.now()))
    k.call_after(7, lambda: seen.append(k.now()))
    k.run()
    assert seen == [1_007, 1_500]


def test_scheduling_in_the_past_raises():
    k = Kernel(seed=1, start_ns=1_000)
    with pytest.raises(ValueError, match="cannot schedule at 999"):
        k.call_at(999, print)


def test_market_data_interleaves_with_scheduled_events_and_wins_ties():
    k = Kernel(seed=1, start_ns=0)
    log = []
    consumer = RecordingConsumer(k, log)
    k.add_feed("f", consumer, iter([_chunk([1, 2, 5]), _chunk([7, 9])]))
    k.call_at(5, log.append, ("timer", 5))
    k.call_at(8, log.append, ("timer", 8))
    k.run(100)
    assert log == [("md", 1), ("md", 2), ("md", 5), ("timer", 5), ("md", 7), ("timer", 8), ("md", 9)]
    assert k.md_events == 5
    assert k.journal.market_events == 5


def test_lookahead_bounds_batches_so_callbacks_are_never_late():
    k = Kernel(seed=1, start_ns=0)
    log = []
    consumer = RecordingConsumer(k, log, lookahead=3, echo_delay=3)
    k.add_feed("f", consumer, iter([_chunk([0, 1, 2, 3, 4, 10, 11])]))
    k.run(100)
    # Every echo lands before any market event later than it.
    times = [t for _, t in log]
    assert times == sorted(times)
    assert ("echo", 3) in log and log.index(("echo", 3)) < log.index(("md", 4))


def test_unbounded_lookahead_applies_a_whole_chunk_at_once():
    k = Kernel(seed=1, start_ns=0)
    consumer = RecordingConsumer(k, [])
    k.add_feed("f", consumer, iter([_chunk(list(range(1000)))]))
    k.run()
    assert consumer.slices == [(0, 1000)]


def test_two_feeds_merge_in_time_order():
    k = Kernel(seed=1, start_ns=0)
    log_a, log_b, merged = [], [], []
    a = RecordingConsumer(k, log_a)
    b = RecordingConsumer(k, log_b)
    a.apply_market_data = _tagging(a.apply_market_data, merged, "a")
    b.apply_market_data = _tagging(b.apply_market_data, merged, "b")
    k.add_feed("a", a, iter([_chunk([1, 4, 6])]))
    k.add_feed("b", b, iter([_chunk([2, 3, 7])]))
    k.run()
    assert merged == [("a", 1), ("b", 2), ("b", 3), ("a", 4), ("a", 6), ("b", 7)]


def _tagging(fn, out, tag):
    def wrapped(events, start, stop):
        out.extend((tag, t) for t in events["ts"][start:stop].tolist())
        fn(events, start, stop)

    return wrapped


def test_run_stops_at_end_and_resumes():
    k = Kernel(seed=1, start_ns=0)
    log = []
    k.add_feed("f", RecordingConsumer(k, log), iter([_chunk([1, 5, 9])]))
    k.run(5)
    assert log == [("md", 1), ("md", 5)]
    k.run(20)
    assert log[-1] == ("md", 9)


class WindowConsumer:
    """Applies windows itself (as a fast venue does): the first event of a window schedules a
    delivery ``delay`` later and ends the window at the first event past that time."""

    def __init__(self, kernel: Kernel, log: list, delay: int):
        self.kernel = kernel
        self.log = log
        self.delay = delay
        self.windows: list[tuple[int, int]] = []

    def lookahead_ns(self) -> float:
        return self.delay

    def apply_window(self, events, start, bound):
        ts = events["ts"].tolist()
        first = ts[start]
        at = first + self.delay
        self.kernel.push(at, PRIO_DELIVERY, self.log.append, (("delivery", at),))
        stop = start
        while stop < len(ts) and ts[stop] <= min(bound, at):
            self.log.append(("md", ts[stop]))
            stop += 1
        self.windows.append((start, stop))
        return stop

    def apply_market_data(self, events, start, stop):  # pragma: no cover - the kernel uses apply_window
        raise AssertionError("window consumers get windows")


def test_a_delivery_due_before_the_next_event_runs_right_after_its_window_in_key_order():
    k = Kernel(seed=1, start_ns=0)
    log = []
    consumer = WindowConsumer(k, log, delay=10)
    k.add_feed("f", consumer, iter([_chunk([0, 5, 10, 30, 45, 60])]))
    k.call_at(10, log.append, ("timer", 10), priority=PRIO_TIMER)  # same time as a delivery: after it
    k.call_at(40, log.append, ("earlier call", 40), priority=PRIO_DELIVERY)  # same key, scheduled first
    k.run(1_000)
    assert log == [
        ("md", 0), ("md", 5), ("md", 10),  # market data at 10 come before anything scheduled at 10
        ("delivery", 10), ("timer", 10),
        ("md", 30), ("earlier call", 40), ("delivery", 40),
        ("md", 45), ("delivery", 55),
        ("md", 60), ("delivery", 70),
    ]  # fmt: skip
    assert consumer.windows == [(0, 3), (3, 4), (4, 5), (5, 6)]
    assert k.now() == 1_000 and k.md_events == 6


def test_until_data_end_stops_before_calls_after_the_last_event_even_after_a_window():
    k = Kernel(seed=1, start_ns=0)
    log = []
    k.add_feed("f", WindowConsumer(k, log, delay=10), iter([_chunk([0, 20])]))
    k.run(until_data_end=True)
    # The delivery of the last window (at 30) is later than the last event: the run ends first.
    assert log == [("md", 0), ("delivery", 10), ("md", 20)]
    assert k.now() == 20


def test_adding_a_feed_from_a_callback_during_run_is_refused():
    k = Kernel(seed=1, start_ns=0)
    k.call_at(5, lambda: k.add_feed("late", RecordingConsumer(k, []), iter([_chunk([9])])))
    with pytest.raises(RuntimeError, match="feed late: add feeds before Kernel.run"):
        k.run(100)
    k.add_feed("after", RecordingConsumer(k, []), iter([_chunk([50])]))  # between runs: fine


def test_progress_and_a_stop_see_the_clock_at_the_last_event_applied():
    k = Kernel(seed=1, start_ns=0)
    log, seen = [], []
    consumer = WindowConsumer(k, log, delay=10)
    k.add_feed("f", consumer, iter([_chunk([0, 5, 10]), _chunk([30, 45, 60])]))
    k.run(1_000, progress=seen.append)
    # after each window (the chunk's end included): the ts of its last event, never a later one
    assert consumer.windows == [(0, 3), (0, 1), (1, 2), (2, 3)]
    assert seen == [10, 30, 45, 60]
    k = Kernel(seed=1, start_ns=0)
    counts = []

    def stop_at_first_delivery(at: int) -> None:
        counts.append((at, k.md_events))
        k.stop()

    class Stopping(WindowConsumer):
        def apply_window(self, events, start, bound):  # two events a window, a delivery 3 after the first
            ts = events["ts"].tolist()
            self.kernel.push(ts[start] + 3, PRIO_DELIVERY, stop_at_first_delivery, (ts[start] + 3,))
            return start + 2

    k.add_feed("f", Stopping(k, [], delay=3), iter([_chunk([0, 1]), _chunk([5, 8])]))
    k.run(1_000)
    assert counts == [(3, 2)]  # md_events counts the whole first chunk at the delivery
    assert k.now() == 3  # the stop leaves the clock at the delivery, later than the last event
    k.stopped = False
    k.run(1_000)
    assert counts[1] == (8, 4) and k.now() == 8  # both events of the second chunk, then its delivery
