"""Wiring of the simulated-market extras into a :class:`~scenarios.runner.Run`:
agent populations (``[[agents]]``, ``[[agent_venues]]``), fault injection
(``[[faults]]``), OMS timeouts (``[oms]``) and the stale-data watchdog
(``[risk] stale_data_ns``).

Called from ``Run`` (the composition root); nothing here changes a run whose
scenario has none of these sections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kernel.clock import parse_duration
from kernel.errors import ScenarioError
from kernel.loop import PRIO_TIMER
from venues.agents.market import AgentMarket
from venues.faults import FaultInjector
from venues.faults import attach_faults as _attach_faults

if TYPE_CHECKING:
    from scenarios.runner import Run


def attach_agents(run: Run) -> AgentMarket | None:
    """Build the scenario's agent market on the run's venues (None without ``[[agents]]``)."""
    sc = run.scenario
    if not sc.agents:
        return None
    books: dict[str, dict[int, tuple[Any, Any]]] = {}
    for name, venue in run.venues.items():
        # _after_engine publishes the strategy's book update if the top changed.
        books[name] = {iid: (engine, venue._after_engine) for iid, engine in venue.engines.items()}
    initial = {}
    for d in sc.data:
        if "initial_price" in d.params:
            initial[run.by_symbol[d.instrument].id] = float(d.params["initial_price"])
    return AgentMarket(
        run.kernel,
        run.start_ns,
        run.end_ns,
        {sym: inst.id for sym, inst in run.by_symbol.items()},
        books,
        sc.agents,
        sc.agent_venues,
        initial_prices=initial,
        horizon=_horizon(run.kernel),
    )


def _horizon(kernel) -> tuple[list, list]:
    """What else is scheduled in ``kernel``: its simpy event queue and its market-data
    feeds (the kernel's internals, as its own loop reads them; this module is the
    composition root). Agents run ahead to entries strictly before both."""
    return kernel.env._queue, kernel._feeds


def attach_faults(run: Run) -> dict[str, FaultInjector]:
    """Fault injectors, OMS timeouts and the stale-data watchdog (all off by default)."""
    sc = run.scenario
    injectors = _attach_faults(run.venues, sc.faults, run.start_ns) if sc.faults else {}
    end = run.end_ns
    if sc.oms.pending_timeout is not None:
        timeout = _ns(sc.oms.pending_timeout, "oms.pending_timeout")
        every = _ns(sc.oms.check_interval, "oms.check_interval") if sc.oms.check_interval else max(1, timeout // 2)
        run.oms.pending_timeout_ns = timeout
        _every(run, every, end, lambda ts: run.oms.check_timeouts(ts))
    stale = run.risk.limits.stale_data_ns
    if stale:
        bus = run.bus
        start = run.start_ns

        def watch(ts: int) -> None:
            # Instruments the strategy subscribed to; no book yet counts from the run start.
            subscribed = set(bus.subscribed_instruments()) | set(bus.last_book)
            for iid in sorted(subscribed):
                book = bus.last_book.get(iid)
                run.oms.check_data(ts, book.ts if book is not None else start, f"instrument {iid} book")

        _every(run, max(1, stale // 2), end, watch)
    return injectors


def _every(run: Run, every: int, end: int | None, fn) -> None:
    """Call ``fn(ts)`` every ``every`` ns until ``end`` (timer priority)."""
    if end is None:
        return  # open-ended runs (until the data ends) get no periodic checks
    kernel = run.kernel

    def tick() -> None:
        ts = kernel.now()
        fn(ts)
        if ts + every <= end:
            kernel.call_at(ts + every, tick, priority=PRIO_TIMER)

    if run.start_ns + every <= end:
        kernel.call_at(run.start_ns + every, tick, priority=PRIO_TIMER)


def _ns(value: int | str, where: str) -> int:
    try:
        ns = parse_duration(value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if ns <= 0:
        raise ScenarioError(f"{where}: must be positive, got {value!r}")
    return ns


def extra_summary(run: Run) -> dict[str, Any]:
    """Summary fields of the extras (empty when the run has none)."""
    out: dict[str, Any] = {}
    market = getattr(run, "agent_market", None)
    if market is not None:
        out.update(market.summary())
    injectors = getattr(run, "fault_injectors", None)
    if injectors:
        out["faults"] = {name: dict(sorted(inj.counts.items())) for name, inj in injectors.items()}
    if getattr(run.oms, "timeouts", 0) or getattr(run.oms, "duplicate_reports", 0):
        out["oms_timeouts"] = run.oms.timeouts
        out["duplicate_reports"] = run.oms.duplicate_reports
        out["late_fills"] = run.oms.late_fills
    return out
