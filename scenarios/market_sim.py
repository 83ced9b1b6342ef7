"""Wiring of the simulated-market extras into a :class:`~scenarios.runner.Run`:
agent populations (``[[agents]]``, ``[[agent_venues]]``).

Called from ``Run`` (the composition root); nothing here changes a run whose
scenario has none of these sections.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from venues.agents.market import AgentMarket

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


def _horizon(kernel) -> Any:
    """The earliest time anything else may happen in ``kernel``: its next scheduled
    event or the next market-data event of any feed (reads the kernel's internals,
    as the kernel's own loop does; this module is the composition root)."""
    queue = kernel.env._queue
    feeds = kernel._feeds
    inf = float("inf")

    def horizon() -> float:
        t = queue[0][0] if queue else inf
        for f in feeds:
            if f.next_ts < t:
                t = f.next_ts
        return t

    return horizon


def extra_summary(run: Run) -> dict[str, Any]:
    """Summary fields of the extras (empty when the run has none)."""
    out: dict[str, Any] = {}
    market = getattr(run, "agent_market", None)
    if market is not None:
        out.update(market.summary())
    return out
