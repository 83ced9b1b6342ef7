"""The agent market: populations of agents trading on one or more venues' matching engines.

:class:`AgentMarket` owns the populations, the fundamental processes, the
agent-only venues, the owner/order-id ranges and the market sampler, and
routes execution reports: it wraps each engine's ``on_report`` so reports for
agents (owner >= :data:`AGENT_OWNER_BASE`) go to their population and every
other report goes where it went before (the simulated venue of the user's
strategy, owner 1).

Ids: agents' owner ids start at :data:`AGENT_OWNER_BASE` (1000), one per agent
in population order; agents' order ids start at :data:`AGENT_ORDER_BASE`
(``3 << 60``), above synthetic/replayed order ids and below the strategy's
participant ids (``1 << 62``).

What the agents did is journaled: every population hashes its message log
(time, op, agent, venue, order id, side, price, qty) in batches and records
``agent_flow`` entries, so the run fingerprint covers the agents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain, count
from typing import Any

import numpy as np

from kernel.errors import ScenarioError
from kernel.loop import Kernel
from kernel.orders import STPMode
from venues.agents.config import AgentPopulationConfig, AgentVenueConfig, duration_ns, validate_params
from venues.agents.fundamental import Fundamental, FundamentalParams
from venues.agents.populations import KINDS, InformedTraders, Population, ValueTraders, kernel_horizon
from venues.matching import MatchingEngine

AGENT_OWNER_BASE = 1000
AGENT_ORDER_BASE = 3 << 60
# simpy's event priorities: a process starts URGENT, a timeout fires NORMAL.
_URGENT, _NORMAL = 0, 1

_STP = {
    "none": STPMode.NONE,
    "cancel_newest": STPMode.CANCEL_NEWEST,
    "cancel_oldest": STPMode.CANCEL_OLDEST,
    "decrement_both": STPMode.DECREMENT_BOTH,
}


@dataclass
class VenueRef:
    """One venue's book of an instrument as agents see it."""

    name: str
    engine: MatchingEngine
    after: Callable[[int, int], None] | None  # called after an agent changed the book (strategy book updates)


@dataclass
class BookSamples:
    """Top of book of one venue sampled at a fixed interval."""

    ts: list[int]
    bid: list[int]
    ask: list[int]
    bid_depth: list[int]  # visible qty on the best 5 levels
    ask_depth: list[int]
    last: list[int]  # last trade price

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.int64) for k, v in self.__dict__.items()}


class AgentMarket:
    """Agent populations, fundamentals and agent-only venues of one run."""

    def __init__(
        self,
        kernel: Kernel,
        start_ns: int,
        end_ns: int,
        instruments: dict[str, int],
        venue_books: dict[str, dict[int, tuple[MatchingEngine, Callable[[int, int], None] | None]]],
        populations: list[AgentPopulationConfig],
        agent_venues: list[AgentVenueConfig] = (),
        sample_interval_ns: int = 1_000_000_000,
        initial_prices: dict[int, float] | None = None,
        horizon: tuple[list, list] | None = None,
    ) -> None:
        """``horizon``, if given, is ``(event queue, feeds)`` of the kernel: the simpy queue
        (entries ``(time, ...)``) and the market-data feeds (``next_ts``). Populations then
        skip the simpy round trip for entries strictly before the earliest of them."""
        self.kernel = kernel
        self.horizon = horizon
        self.start_ns = start_ns
        self.end_ns = end_ns
        self.instruments = instruments
        self.new_oid = count(AGENT_ORDER_BASE).__next__
        self._initial = dict(initial_prices or {})
        books = {name: dict(per) for name, per in venue_books.items()}
        for cfg in agent_venues:
            if cfg.name in books:
                raise ScenarioError(f"agent_venues: venue name {cfg.name!r} is already used by [[venues]]")
            per = {}
            for sym in cfg.instruments:
                if sym not in instruments:
                    raise ScenarioError(f"agent_venues.{cfg.name}: unknown instrument {sym!r}")
                per[instruments[sym]] = (MatchingEngine(instruments[sym], _STP[cfg.stp]), None)
            books[cfg.name] = per
        self.books = books
        self.fundamentals: dict[int, Fundamental] = {}
        self.populations: list[Population] = []
        self._by_owner: list[Callable[[Any], None]] = []  # owner - AGENT_OWNER_BASE -> report handler
        self._wrapped: set[int] = set()
        self.samples: dict[tuple[str, int], BookSamples] = {}
        self.flow_batches = 0
        self._hash: dict[str, Any] = {}

        # News / fundamental processes first: value and informed traders read them.
        for k, cfg in enumerate(populations):
            if cfg.kind == "news":
                iid = self._instrument(cfg, f"agents[{k}]")
                if iid in self.fundamentals:
                    raise ScenarioError(f"agents[{k}]: a second news process for instrument {cfg.instrument!r}")
                params = validate_params(FundamentalParams, cfg.params, f"agents[{k}].params")
                self.fundamentals[iid] = Fundamental(
                    params, start_ns, end_ns - start_ns, kernel.rng.stream(f"agent:{cfg.label}")
                )
        owner = AGENT_OWNER_BASE
        names: set[str] = set()
        for k, cfg in enumerate(populations):
            if cfg.kind == "news":
                continue
            where = f"agents[{k}]"
            if cfg.label in names:
                raise ScenarioError(f"{where}.name: population name {cfg.label!r} is used twice")
            names.add(cfg.label)
            iid = self._instrument(cfg, where)
            refs = self._venue_refs(cfg, iid, where)
            cls = KINDS[cfg.kind]
            kw: dict[str, Any] = {}
            if cls in (ValueTraders, InformedTraders):
                kw["fundamental"] = self.fundamental(iid)
            pop = cls(self, cfg, where, owner, refs, iid, **kw)
            self.populations.append(pop)
            self._by_owner.extend([pop.on_report] * cfg.count)
            owner += cfg.count
            for ref in refs:
                self._wrap(ref.engine)
        env = kernel.env
        self._heads: list[list] = []
        if self.populations:
            # As a simpy process would start: now, before everything else at this time.
            kernel.call_at(env.now, self._start, priority=_URGENT)
        # Sample every book agents trade on (tests and reports read the samples).
        for name, per in books.items():
            for iid, (engine, _) in per.items():
                if any(engine is r for p in self.populations for r in p.engines):
                    self.samples[(name, iid)] = BookSamples([], [], [], [], [], [])
        self.sample_interval_ns = sample_interval_ns
        if self.samples and sample_interval_ns > 0:
            env.process(self._sampler())

    # -- construction helpers ------------------------------------------------------------
    def _instrument(self, cfg: AgentPopulationConfig, where: str) -> int:
        if not cfg.instrument:
            if len(self.instruments) != 1:
                raise ScenarioError(f"{where}.instrument: required when the scenario has several instruments")
            return next(iter(self.instruments.values()))
        if cfg.instrument not in self.instruments:
            raise ScenarioError(f"{where}.instrument: unknown instrument {cfg.instrument!r}")
        return self.instruments[cfg.instrument]

    def _venue_refs(self, cfg: AgentPopulationConfig, iid: int, where: str) -> list[VenueRef]:
        names = cfg.venues or [n for n, per in self.books.items() if iid in per]
        refs = []
        for n in names:
            per = self.books.get(n)
            if per is None:
                raise ScenarioError(f"{where}.venues: unknown venue {n!r} (known: {sorted(self.books)})")
            if iid not in per:
                raise ScenarioError(f"{where}.venues: venue {n!r} does not trade the population's instrument")
            engine, after = per[iid]
            refs.append(VenueRef(n, engine, after))
        if not refs:
            raise ScenarioError(f"{where}.venues: no venue trades the population's instrument")
        if cfg.kind == "arbitrage" and len(refs) < 2:
            raise ScenarioError(f"{where}.venues: arbitrage needs at least two venues")
        return refs

    def _wrap(self, engine: MatchingEngine) -> None:
        """Route agents' reports of ``engine`` to their populations."""
        if id(engine) in self._wrapped:
            return
        self._wrapped.add(id(engine))
        prev = engine.on_report
        by_owner = self._by_owner
        base = AGENT_OWNER_BASE

        def dispatch(r) -> None:
            owner = r[3]
            if owner >= base:
                by_owner[owner - base](r)
            elif prev is not None:
                prev(r)

        engine.on_report = dispatch
        # The engine remembers participant order ids (owner -> late cancel rejects) in a
        # dict capped at 2**17 whose FIFO eviction (del d[next(iter(d))]) turns O(size)
        # once the cap is reached; millions of agent orders would hit that. Agents only
        # cancel orders they know are working, so their ids need not be remembered.
        remember = getattr(engine, "_remember", None)
        if remember is not None:

            def _remember(oid: int, owner: int, _remember=remember, _base=base) -> None:
                if owner < _base:
                    _remember(oid, owner)

            engine._remember = _remember

    def fundamental(self, iid: int) -> Fundamental:
        """The instrument's fundamental process (a default one if the scenario has none)."""
        f = self.fundamentals.get(iid)
        if f is None:
            params = FundamentalParams(initial=self._initial.get(iid, 10_000.0))
            f = Fundamental(
                params, self.start_ns, self.end_ns - self.start_ns, self.kernel.rng.stream(f"agent:news:{iid}")
            )
            self.fundamentals[iid] = f
        return f

    # -- services for populations ----------------------------------------------------------
    def reference(self, engine: MatchingEngine, iid: int, t: int) -> float:
        """A price when the book has no mid: last trade, else the fundamental, else the initial price."""
        if engine.last_trade_price:
            return float(engine.last_trade_price)
        f = self.fundamentals.get(iid)
        if f is not None:
            return f.value(t)
        return float(self._initial.get(iid, 10_000.0))

    def journal_flow(self, pop: Population, ts: int) -> None:
        """Journal a batch of ``pop``'s message log (one record per batch)."""
        log = pop._log
        if not log:
            return
        # Entries are 9-int tuples: flattening them with fromiter is the same bytes as
        # np.asarray(log) at a fraction of the cost.
        flat = np.fromiter(chain.from_iterable(log), dtype=np.int64, count=9 * len(log))
        digest = hashlib.blake2b(flat.tobytes(), digest_size=16).hexdigest()
        self.kernel.journal.record(ts, "agent_flow", pop.name, len(log), digest)
        self.flow_batches += 1
        log.clear()

    def _start(self) -> None:
        for k, pop in enumerate(self.populations):
            gen = pop.steps()
            try:
                self._heads.append([next(gen), k, gen])
            except StopIteration:
                pass
        self._advance()

    def _advance(self) -> None:
        """Run the agents up to the kernel's next event: resume the population whose
        next entry is earliest (ties: population order) with the time up to which it
        may go on alone; when the kernel has something earlier (or as early), schedule
        this again at the earliest entry and return.

        The continuation is a plain kernel call at simpy's NORMAL priority, so it is
        ordered exactly as a process's ``env.timeout`` would be, without a simpy
        process; populations hand over to each other with a generator resume.
        """
        env = self.kernel.env
        queue, feeds = self.horizon if self.horizon is not None else (None, ())
        inf = math.inf
        heads = self._heads
        while heads:
            best = min(heads)  # (time, index): indexes are unique, generators never compared
            t, k = best[0], best[1]
            if t > env._now and (queue is None or t >= kernel_horizon(queue, feeds)):
                self.kernel.call_at(t, self._advance, priority=_NORMAL)
                return
            limit = inf
            for other in heads:
                if other is not best:
                    # A later population index runs after this one at equal times.
                    o = other[0] + 1 if k < other[1] else other[0]
                    if o < limit:
                        limit = o
            try:
                best[0] = best[2].send(limit)
            except StopIteration:
                heads.remove(best)

    def _sampler(self):
        env = self.kernel.env
        step = self.sample_interval_ns
        t = self.start_ns
        items = [(s, self.books[name][iid][0]) for (name, iid), s in self.samples.items()]
        while t < self.end_ns:
            if t > env.now:
                yield env.timeout(t - env.now)
            for s, eng in items:
                bb, _, ba, _ = eng.top()
                s.ts.append(t)
                s.bid.append(bb)
                s.ask.append(ba)
                s.bid_depth.append(sum(q for _, q in eng.depth(1, 5)))
                s.ask_depth.append(sum(q for _, q in eng.depth(-1, 5)))
                s.last.append(eng.last_trade_price)
            t += step

    # -- results ---------------------------------------------------------------------------------
    @property
    def agents(self) -> int:
        return sum(p.n for p in self.populations)

    @property
    def messages(self) -> int:
        """Agent messages: orders, cancels and market orders sent, plus execution reports received."""
        return sum(p.sent + p.received for p in self.populations)

    def summary(self) -> dict[str, Any]:
        pops = {p.name: p.summary() for p in self.populations}
        return {
            "agents": self.agents,
            "agent_messages": self.messages,
            "agent_messages_sent": sum(p.sent for p in self.populations),
            "agent_reports": sum(p.received for p in self.populations),
            "agent_wakeups": sum(p.wakeups for p in self.populations),
            "agent_fills": sum(p.fills for p in self.populations),
            "news_events": sum(len(f.news) for f in self.fundamentals.values()),
            "populations": pops,
        }


def sample_interval(value: int | str | None) -> int:
    return 1_000_000_000 if value is None else duration_ns(value, "agents sample interval")
