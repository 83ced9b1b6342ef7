"""Agent populations: one simpy process per population drives all of its agents.

Every agent has its own RNG stream (``agent:<population>:<index>``), its own
wake-up schedule (exponential inter-arrival times with the agent's own mean),
a computation delay and one latency per venue (a row of the latency matrix).
A population keeps its agents' state in plain lists indexed by the agent
number - no Python object per agent or per message - and merges its agents'
wake-ups and in-flight messages in one heap. The agent market runs all
populations in one simpy process (:meth:`~venues.agents.market.AgentMarket._drive`)
that hands the run to the population with the earliest entry and sleeps
(``env.timeout``) only when something else in the run comes first.

An agent decides at its wake-up on the book as it is then (top of book read
directly from the venue's matching engine) and its message reaches the venue
``compute_delay + latency[agent, venue] (+ jitter)`` later, so what it does
lands in a book that may have moved. Messages of one agent to one venue never
overtake each other. Its executions update its inventory and cash at once
(an agent always knows its own position).

Agents trade through the background-flow API of :class:`~venues.matching.MatchingEngine`
(``add`` / ``remove`` / ``market``; ``submit`` with IOC for arbitrage) with their
own owner id, so they get fill reports, self-trade prevention applies, and they
trade with - and against - the user's strategy in the same book.
"""

from __future__ import annotations

import math
from heapq import heappop, heappush, heapreplace
from itertools import count
from math import log
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from kernel.orders import OrderType, TimeInForce
from venues.agents.config import AgentPopulationConfig, delay_model, duration_ns, is_zero, validate_params
from venues.latency import LatencyModel
from venues.matching import ReportKind

if TYPE_CHECKING:
    from venues.agents.market import AgentMarket, VenueRef

# Heap entry ops (entries: (ts, seq, op, agent, venue, oid, side, price, qty)).
WAKE = 0  # a scheduled wake-up (reschedules the next one)
ADD = 1  # a limit order reaches the venue
CANCEL = 2  # a cancel reaches the venue
MARKET = 3  # a market order reaches the venue
IOC = 4  # an immediate-or-cancel limit order reaches the venue
EXTRA_WAKE = 5  # an unscheduled wake-up (news): does not reschedule
NEWS = 6  # a news item becomes public (informed traders react)

_FILL = ReportKind.FILL
_CANCEL = ReportKind.CANCEL
_EXPIRE = ReportKind.EXPIRE
_REJECT = ReportKind.REJECT
_UBLOCK = 256  # uniforms drawn per agent per refill
_LOG_FLUSH = 4096  # journal the message log every 4096 messages
_TWO_PI = 2.0 * math.pi


def kernel_horizon(queue: list, feeds: list) -> float:
    """Time of the kernel's next event: its event queue's first entry or any feed's next
    market-data event (:meth:`Population.steps` inlines this in its hot loop)."""
    h = queue[0][0] if queue else math.inf
    for f in feeds:
        if f.next_ts < h:
            h = f.next_ts
    return h


class _P(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Population:
    """Shared machinery: schedule, per-agent RNG, latency matrix, state, reports."""

    kind = ""
    Params: type[BaseModel] = _P

    def __init__(
        self,
        market: AgentMarket,
        cfg: AgentPopulationConfig,
        where: str,
        owner_base: int,
        venues: list[VenueRef],
        instrument: int,
    ) -> None:
        self.market = market
        self.cfg = cfg
        self.name = cfg.label
        self.where = where
        self.n = n = cfg.count
        self.owner_base = owner_base
        self.venues = venues
        self.engines = [v.engine for v in venues]
        self.after = [v.after for v in venues]
        self.iid = instrument
        self.params = validate_params(self.Params, cfg.params, f"{where}.params")
        rngs = market.kernel.rng
        # Latency matrix (agent x venue) + computation delay, sampled once per agent.
        lat_rng = rngs.stream(f"agent:{self.name}:latency")
        compute = delay_model(cfg.compute_delay, lat_rng, f"{where}.compute_delay")
        unknown = sorted(set(cfg.latency) - {v.name for v in venues})
        if unknown:
            raise_scenario(f"{where}.latency: venue {unknown[0]!r} is not one of this population's venues")
        models = [delay_model(cfg.latency.get(v.name, 0), lat_rng, f"{where}.latency.{v.name}") for v in venues]
        self.delay: list[list[int]] = []
        for _ in range(n):
            c = compute.sample()
            self.delay.append([c + m.sample() for m in models])
        jitter = delay_model(cfg.jitter, lat_rng, f"{where}.jitter")
        self.jitter: LatencyModel | None = None if is_zero(jitter) else jitter
        self._last_arrival: list[list[int]] = [[0] * len(venues) for _ in range(n)] if self.jitter else []
        # Per-agent RNG streams with buffered uniforms.
        self._gens = [rngs.stream(f"agent:{self.name}:{i}") for i in range(n)]
        self._ubuf: list[list[float]] = [g.random(_UBLOCK).tolist() for g in self._gens]
        self._upos = [0] * n
        mean = duration_ns(cfg.wake_interval, f"{where}.wake_interval")
        disp = cfg.wake_dispersion
        self.mean_wake = [
            mean * math.exp(disp * self.normal(i) - disp * disp / 2) if disp else float(mean) for i in range(n)
        ]
        # State.
        self.inv = [0] * n
        self.cash = [0] * n  # ticks x lots
        self.live: dict[int, tuple[int, int, int]] = {}  # oid -> (agent, side, venue)
        self._taker = (0, 0)  # (agent, side) of the market order being matched
        self.heap: list[tuple] = []
        self._seq = count()
        self.wakeups = 0
        self.sent = 0
        self.received = 0
        self.fills = 0
        self.traded_qty = 0
        self._log: list[int] = []
        self.new_oid = market.new_oid
        self.start_ns = market.start_ns
        self.end_ns = market.end_ns
        for i in range(n):
            heappush(self.heap, (self.start_ns + self._exp(i), next(self._seq), WAKE, i))

    # -- randomness (the agent's own stream) -------------------------------------------
    def draw(self, i: int, k: int) -> tuple[list[float], int]:
        """``k`` uniforms of agent ``i``: returns (buffer, start); use ``buf[start:start + k]``."""
        pos = self._upos[i]
        buf = self._ubuf[i]
        if pos + k > _UBLOCK:
            buf = self._ubuf[i] = self._gens[i].random(_UBLOCK).tolist()
            pos = 0
        self._upos[i] = pos + k
        return buf, pos

    def u(self, i: int) -> float:
        pos = self._upos[i]
        buf = self._ubuf[i]
        if pos >= _UBLOCK:
            buf = self._ubuf[i] = self._gens[i].random(_UBLOCK).tolist()
            pos = 0
        self._upos[i] = pos + 1
        return buf[pos]

    def normal(self, i: int) -> float:
        """A standard normal (Box-Muller on two of the agent's uniforms)."""
        return math.sqrt(-2.0 * math.log(1.0 - self.u(i))) * math.cos(_TWO_PI * self.u(i))

    def _exp(self, i: int) -> int:
        return int(-math.log(1.0 - self.u(i)) * self.mean_wake[i]) + 1

    def geometric(self, i: int, mean: float) -> int:
        """1, 2, ... with the given mean."""
        if mean <= 1.0:
            return 1
        return 1 + int(math.log(1.0 - self.u(i)) / math.log(1.0 - 1.0 / mean))

    # -- messages --------------------------------------------------------------------
    def _push(self, ts: int, op: int, i: int, v: int = 0, oid: int = 0, side: int = 0, px: int = 0, q: int = 0):
        heappush(self.heap, (ts, next(self._seq), op, i, v, oid, side, px, q))

    def send(self, t: int, op: int, i: int, v: int, oid: int = 0, side: int = 0, px: int = 0, q: int = 0) -> None:
        """Agent ``i`` sends a message at ``t``; it reaches venue ``v`` after the agent's delay."""
        at = t + self.delay[i][v]
        if self.jitter is not None:
            at += self.jitter.sample()
            last = self._last_arrival[i]
            if at < last[v]:
                at = last[v]  # FIFO per agent and venue
            last[v] = at
        heappush(self.heap, (at, next(self._seq), op, i, v, oid, side, px, q))

    def order(self, t: int, i: int, v: int, side: int, px: int, q: int, lifetime: int = 0) -> int:
        """Send a limit order (and its cancel after ``lifetime`` ns if > 0); returns its id."""
        oid = self.new_oid()
        self.live[oid] = (i, side, v)
        self.send(t, ADD, i, v, oid, side, px, q)
        if lifetime > 0:
            self.send(t + lifetime, CANCEL, i, v, oid)
        return oid

    def _execute(self, e: tuple, t: int) -> None:
        """Deliver one message to its venue (the hot loop in :meth:`process` inlines this)."""
        op = e[2]
        i = e[3]
        v = e[4]
        eng = self.engines[v]
        if op == ADD:
            if e[5] not in self.live:
                return
            eng.add(t, e[5], e[6], e[7], e[8], self.owner_base + i)
        elif op == CANCEL:
            if e[5] not in self.live:
                return  # already filled or cancelled: the agent knows, nothing is sent
            eng.remove(t, e[5], 0)
        elif op == MARKET:
            self._taker = (i, e[6])
            eng.market(t, e[6], e[8], self.owner_base + i)
        else:  # IOC
            eng.submit(t, e[5], self.owner_base + i, e[6], e[8], e[7], OrderType.LIMIT, TimeInForce.IOC)
        self.sent += 1
        self._log.append(e)
        if len(self._log) >= _LOG_FLUSH:
            self.market.journal_flow(self, t)
        hook = self.after[v]
        if hook is not None:
            hook(self.iid, t)

    def on_report(self, r) -> None:
        """An execution report about one of this population's orders."""
        self.received += 1
        kind = r[0]
        if kind == _FILL:
            oid = r[2]
            if oid:
                info = self.live.get(oid)
                if info is None:
                    return
                i, side = info[0], info[1]
                if not r[6]:
                    del self.live[oid]
            else:
                i, side = self._taker
            q = r[5]
            self.inv[i] += side * q
            self.cash[i] -= side * q * r[4]
            self.fills += 1
            self.traded_qty += q
        elif kind == _CANCEL or kind == _EXPIRE or kind == _REJECT:
            if not r[6]:
                self.live.pop(r[2], None)

    # -- the process ------------------------------------------------------------------
    def steps(self):
        """The population's part of the agent market's one simpy process (see
        :meth:`AgentMarket._drive`): a generator that processes this population's
        entries in time order and, when its next entry is not first in the run,
        yields that entry's time and waits to be resumed with a new ``limit``.

        Resumed with ``limit`` (a time), it goes on with every entry strictly before
        ``limit`` (the other populations' next entries, made strict or not by the
        driver's tie rule) and strictly before the kernel's own horizon - its event
        queue's first event and any market-data feed's next event, read live because
        this population's own actions schedule kernel events. Nothing else in the
        run can happen in between, so the order of events is the one a simpy round
        trip per entry time would give, only cheaper. Without a horizon every new
        entry time goes back to the driver.
        """
        env = self.market.kernel.env
        clock = self.market.kernel.clock
        horizon = self.market.horizon
        heap = self.heap
        end = self.end_ns
        wake = self.wake
        live = self.live
        engines = self.engines
        after = self.after
        iid = self.iid
        base = self.owner_base
        log = self._log
        ubuf = self._ubuf
        upos = self._upos
        gens = self._gens
        mean_wake = self.mean_wake
        gamma = self.cfg.activity_coupling
        fund = self.market.fundamental(self.iid) if gamma else None
        act = fund.activity_path(gamma) if fund is not None else None
        act_last = len(act) - 1 if act else 0
        f_start = fund.start_ns if fund is not None else 0
        f_step = fund.step_ns if fund is not None else 1
        seq = self._seq
        market = self.market
        log_ = math.log
        # The horizon's parts, read inline (a function call per entry costs more):
        # the kernel's event queue and its market-data feeds (``next_ts``).
        queue, feeds = horizon if horizon is not None else (None, ())
        inf = math.inf
        wakeups = self.wakeups  # counters kept in locals, written back before every yield
        sent = self.sent
        limit = -1  # the first time found is handed to the driver
        while heap:
            t = heap[0][0]
            if t >= end:
                break
            if t >= limit:
                self.wakeups, self.sent = wakeups, sent
                limit = yield t
                continue
            if t > env._now:
                if queue is None:
                    self.wakeups, self.sent = wakeups, sent
                    limit = yield t
                    continue
                h = queue[0][0] if queue else inf
                for f in feeds:
                    if f.next_ts < h:
                        h = f.next_ts
                if t >= h:
                    self.wakeups, self.sent = wakeups, sent
                    limit = yield t
                    continue
            if t > clock._now:
                clock._now = t  # as the kernel's own loop advances it
            while heap and heap[0][0] <= t:
                e = heap[0]
                op = e[2]
                if op == WAKE:
                    i = e[3]
                    wakeups += 1
                    pos = upos[i]
                    buf = ubuf[i]
                    if pos >= _UBLOCK:
                        buf = ubuf[i] = gens[i].random(_UBLOCK).tolist()
                        pos = 0
                    upos[i] = pos + 1
                    gap = -log_(1.0 - buf[pos]) * mean_wake[i]
                    if act is not None:
                        k = (t - f_start) // f_step
                        gap /= act[k if k < act_last else act_last]
                    # Pop this wake-up and push the agent's next one in one heap operation.
                    heapreplace(heap, (t + int(gap) + 1, next(seq), WAKE, i))
                    wake(i, t)
                    continue
                heappop(heap)
                if op == EXTRA_WAKE:
                    wakeups += 1
                    wake(e[3], t)
                    continue
                if op == NEWS:
                    self.on_news(t)
                    continue
                v = e[4]
                if op == ADD:
                    if e[5] not in live:
                        continue
                    engines[v].add(t, e[5], e[6], e[7], e[8], base + e[3])
                elif op == CANCEL:
                    if e[5] not in live:
                        continue  # already filled or cancelled: the agent knows, nothing is sent
                    engines[v].remove(t, e[5], 0)
                elif op == MARKET:
                    self._taker = (e[3], e[6])
                    engines[v].market(t, e[6], e[8], base + e[3])
                else:
                    engines[v].submit(t, e[5], base + e[3], e[6], e[8], e[7], OrderType.LIMIT, TimeInForce.IOC)
                sent += 1
                log.append(e)
                if len(log) >= _LOG_FLUSH:
                    market.journal_flow(self, t)
                hook = after[v]
                if hook is not None:
                    hook(iid, t)
        self.wakeups, self.sent = wakeups, sent
        market.journal_flow(self, min(max(env._now, clock._now), end))

    # -- behaviour --------------------------------------------------------------------
    def wake(self, i: int, t: int) -> None:
        raise NotImplementedError

    def on_news(self, t: int) -> None:
        """A news item became public at ``t``."""

    def top(self, v: int, t: int) -> tuple[int, int, int, int, float]:
        """(bid, bid qty, ask, ask qty, reference price) of venue ``v`` now."""
        bb, bq, ba, aq = self.engines[v].top()
        if bb and ba:
            return bb, bq, ba, aq, (bb + ba) * 0.5
        return bb, bq, ba, aq, self.market.reference(self.engines[v], self.iid, t)

    def summary(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "agents": self.n,
            "wakeups": self.wakeups,
            "messages_sent": self.sent,
            "reports_received": self.received,
            "fills": self.fills,
            "traded_qty": self.traded_qty,
            "net_inventory": sum(self.inv),
            "gross_inventory": sum(abs(x) for x in self.inv),
        }


def raise_scenario(msg: str):
    from kernel.errors import ScenarioError

    raise ScenarioError(msg)


# ---------------------------------------------------------------------------------- kinds


class NoiseParams(_P):
    p_market: float = Field(default=0.1, ge=0, le=1)
    qty_mean: float = Field(default=3.0, ge=1)
    offset_decay: float = Field(default=0.35, gt=0, le=1, description="geometric offset from the touch")
    max_offset: int = Field(default=20, ge=0)
    lifetime: int | str = Field(default="30s", description="mean resting time before the agent cancels (0: never)")


class NoiseTraders(Population):
    """Zero-intelligence traders: random side, a market order now and then, otherwise a
    limit order near the touch (geometric distance) cancelled after a random lifetime."""

    kind = "noise"
    Params = NoiseParams

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        p = self.params
        self.lifetime = duration_ns(p.lifetime, f"{self.where}.params.lifetime")
        self._log_q = math.log(1.0 - p.offset_decay) if p.offset_decay < 1 else 0.0
        self._qscale = 1.0 / math.log(1.0 - 1.0 / p.qty_mean) if p.qty_mean > 1 else 0.0

    def wake(self, i: int, t: int) -> None:
        p = self.params
        buf, k = self.draw(i, 6)
        nv = len(self.engines)
        v = int(buf[k] * nv) if nv > 1 else 0
        side = 1 if buf[k + 1] < 0.5 else -1
        qty = 1 + int(log(1.0 - buf[k + 2]) * self._qscale) if self._qscale else 1
        if buf[k + 3] < p.p_market:
            self.send(t, MARKET, i, v, 0, side, 0, qty)
            return
        bb, _, ba, _ = self.engines[v].top()
        off = min(int(log(1.0 - buf[k + 4]) / self._log_q), p.max_offset) if self._log_q else 0
        if side > 0:
            px = (bb if bb else int(self.market.reference(self.engines[v], self.iid, t)) - 1) + 1 - off
            if ba and px >= ba:
                px = ba - 1
        else:
            px = (ba if ba else int(self.market.reference(self.engines[v], self.iid, t)) + 2) - 1 + off
            if bb and px <= bb:
                px = bb + 1
        if px < 1:
            return
        # self.order(...) inlined: the noise traders send most of the market's messages.
        oid = self.new_oid()
        self.live[oid] = (i, side, v)
        at = t + self.delay[i][v]
        if self.jitter is None:
            heappush(self.heap, (at, next(self._seq), ADD, i, v, oid, side, px, qty))
            if self.lifetime:
                at += int(-log(1.0 - buf[k + 5]) * self.lifetime) + 1
                heappush(self.heap, (at, next(self._seq), CANCEL, i, v, oid, 0, 0, 0))
        else:
            self.send(t, ADD, i, v, oid, side, px, qty)
            if self.lifetime:
                self.send(t + int(-log(1.0 - buf[k + 5]) * self.lifetime) + 1, CANCEL, i, v, oid)


class MarketMakerParams(_P):
    levels: int = Field(default=2, ge=1, le=20)
    size: int = Field(default=5, ge=1)
    spacing: int = Field(default=1, ge=1)
    half_spread: float = Field(default=1.0, ge=0.5, description="minimum half spread, ticks")
    vol_alpha: float = Field(default=0.2, gt=0, le=1, description="EWMA weight of |mid change| per wake")
    vol_mult: float = Field(default=1.5, ge=0, description="extra half spread per tick of EWMA volatility")
    skew: float = Field(default=0.05, ge=0, description="quote shift in ticks per lot of inventory")
    max_inventory: int = Field(default=200, ge=1)


class MarketMakers(Population):
    """Inventory-aware market makers: a ladder of quotes around the mid, skewed against
    inventory, widened with the volatility they observe; requotes only what moved."""

    kind = "market_maker"
    Params = MarketMakerParams

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        nv = len(self.engines)
        self.quotes: list[list[dict[int, int]]] = [[{} for _ in range(nv)] for _ in range(self.n)]
        self.last_mid = [[0.0] * nv for _ in range(self.n)]
        self.vol = [[0.0] * nv for _ in range(self.n)]
        self.last_quote: list[list[tuple | None]] = [[None] * nv for _ in range(self.n)]

    def wake(self, i: int, t: int) -> None:
        p = self.params
        inv = self.inv[i]
        live = self.live
        for v in range(len(self.engines)):
            bb, _, ba, _, ref = self.top(v, t)
            last = self.last_mid[i][v]
            vol = self.vol[i][v]
            if last:
                vol += p.vol_alpha * (abs(ref - last) - vol)
                self.vol[i][v] = vol
            self.last_mid[i][v] = ref
            half = p.half_spread + p.vol_mult * vol
            fair = ref - p.skew * inv
            bid = math.floor(fair - half + 0.5)
            ask = math.ceil(fair + half - 0.5)
            if ask <= bid:
                ask = bid + 1
            if ba and bid >= ba:
                bid = ba - 1
            if bb and ask <= bb:
                ask = bb + 1
            quotes = self.quotes[i][v]
            sig = (bid, ask, inv < p.max_inventory, inv > -p.max_inventory)
            if sig == self.last_quote[i][v] and all(oid in live for oid in quotes.values()):
                continue  # same targets and every quote still working: nothing to send
            self.last_quote[i][v] = sig
            targets = set()
            for k in range(p.levels):
                if inv < p.max_inventory and bid - k * p.spacing >= 1:
                    targets.add(bid - k * p.spacing)  # key > 0: bid price
                if inv > -p.max_inventory:
                    targets.add(-(ask + k * p.spacing))  # key < 0: minus the ask price
            for key, oid in list(quotes.items()):
                if oid not in live:
                    del quotes[key]
                elif key not in targets:
                    self.send(t, CANCEL, i, v, oid)
                    del quotes[key]
            for key in targets:
                if key not in quotes:
                    side = 1 if key > 0 else -1
                    quotes[key] = self.order(t, i, v, side, key * side, p.size)


class MomentumParams(_P):
    fast_alpha: float = Field(default=0.5, gt=0, le=1, description="EWMA weight of the fast average per wake")
    slow_alpha: float = Field(default=0.1, gt=0, le=1)
    threshold: float = Field(default=1.0, ge=0, description="ticks between the averages to act")
    qty_mean: float = Field(default=2.0, ge=1)
    max_inventory: int = Field(default=30, ge=1)


class MomentumTraders(Population):
    """Trend followers: fast and slow moving averages of the mid they see at their
    wake-ups; a market order in the direction of the trend when they diverge."""

    kind = "momentum"
    Params = MomentumParams

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.fast = [0.0] * self.n
        self.slow = [0.0] * self.n

    def wake(self, i: int, t: int) -> None:
        p = self.params
        nv = len(self.engines)
        v = int(self.u(i) * nv) if nv > 1 else 0
        _, _, _, _, m = self.top(v, t)
        f = self.fast[i]
        if not f:
            self.fast[i] = self.slow[i] = m
            return
        f += p.fast_alpha * (m - f)
        s = self.slow[i] + p.slow_alpha * (m - self.slow[i])
        self.fast[i] = f
        self.slow[i] = s
        inv = self.inv[i]
        if f - s > p.threshold and inv < p.max_inventory:
            self.send(t, MARKET, i, v, 0, 1, 0, self.geometric(i, p.qty_mean))
        elif s - f > p.threshold and inv > -p.max_inventory:
            self.send(t, MARKET, i, v, 0, -1, 0, self.geometric(i, p.qty_mean))


class ValueParams(_P):
    obs_noise: float = Field(default=4.0, ge=0, description="sd of the agent's estimate of the fundamental, ticks")
    threshold: float = Field(default=2.0, ge=0, description="mispricing (ticks) that makes the agent cross")
    qty_mean: float = Field(default=3.0, ge=1)
    max_inventory: int = Field(default=60, ge=1)
    p_passive: float = Field(default=0.5, ge=0, le=1, description="else: rest an order towards its estimate")
    lifetime: int | str = "60s"


class ValueTraders(Population):
    """Fundamental (value) traders: a noisy estimate of the fundamental value; cross the
    spread when the price is far from it, otherwise rest an order on the side it favours."""

    kind = "value"
    Params = ValueParams

    def __init__(self, *a, fundamental=None, **kw) -> None:
        super().__init__(*a, **kw)
        self.fundamental = fundamental
        self.lifetime = duration_ns(self.params.lifetime, f"{self.where}.params.lifetime")

    def estimate(self, i: int, t: int) -> float:
        return self.fundamental.value(t) + self.params.obs_noise * self.normal(i)

    def wake(self, i: int, t: int) -> None:
        p = self.params
        nv = len(self.engines)
        v = int(self.u(i) * nv) if nv > 1 else 0
        bb, _, ba, _, ref = self.top(v, t)
        est = self.estimate(i, t)
        inv = self.inv[i]
        q = self.geometric(i, p.qty_mean)
        if ba and est > ba + p.threshold and inv < p.max_inventory:
            self.order(t, i, v, 1, ba, q, self.lifetime)
        elif bb and est < bb - p.threshold and inv > -p.max_inventory:
            self.order(t, i, v, -1, bb, q, self.lifetime)
        elif self.u(i) < p.p_passive:
            if est > ref and inv < p.max_inventory:
                px = int(est - p.threshold)
                if ba and px >= ba:
                    px = ba - 1
                if px >= 1:
                    self.order(t, i, v, 1, px, q, self.lifetime)
            elif est < ref and inv > -p.max_inventory:
                px = math.ceil(est + p.threshold)
                if bb and px <= bb:
                    px = bb + 1
                self.order(t, i, v, -1, px, q, self.lifetime)


class InformedParams(_P):
    threshold: float = Field(default=2.0, ge=0)
    qty_mean: float = Field(default=5.0, ge=1)
    max_inventory: int = Field(default=100, ge=1)
    p_react: float = Field(default=0.8, ge=0, le=1, description="chance to act on a news item")
    reaction: int | str = Field(default="50ms", description="mean time to react to news")
    lifetime: int | str = "20s"


class InformedTraders(Population):
    """Informed traders: know the fundamental exactly, react to news quickly, and trade
    with marketable limit orders (the rest rests at their limit) while mispricing lasts."""

    kind = "informed"
    Params = InformedParams

    def __init__(self, *a, fundamental=None, **kw) -> None:
        super().__init__(*a, **kw)
        self.fundamental = fundamental
        p = self.params
        self.lifetime = duration_ns(p.lifetime, f"{self.where}.params.lifetime")
        self.reaction = duration_ns(p.reaction, f"{self.where}.params.reaction")
        for ts, _jump in fundamental.news:
            if ts < self.end_ns:
                self._push(ts, NEWS, 0)

    def on_news(self, t: int) -> None:
        p = self.params
        for i in range(self.n):
            if self.u(i) < p.p_react:
                self._push(t + int(-math.log(1.0 - self.u(i)) * self.reaction) + 1, EXTRA_WAKE, i)

    def wake(self, i: int, t: int) -> None:
        p = self.params
        nv = len(self.engines)
        v = int(self.u(i) * nv) if nv > 1 else 0
        bb, _, ba, _, _ = self.top(v, t)
        f = self.fundamental.value(t)
        inv = self.inv[i]
        if ba and f > ba + p.threshold and inv < p.max_inventory:
            self.order(t, i, v, 1, int(f - p.threshold), self.geometric(i, p.qty_mean), self.lifetime)
        elif bb and f < bb - p.threshold and inv > -p.max_inventory:
            self.order(t, i, v, -1, math.ceil(f + p.threshold), self.geometric(i, p.qty_mean), self.lifetime)


class ArbitrageParams(_P):
    qty: int = Field(default=5, ge=1)
    min_edge: int = Field(default=1, ge=1, description="ticks a bid must exceed another venue's ask")
    max_inventory: int = Field(default=50, ge=1)


class Arbitrageurs(Population):
    """Cross-venue arbitrage: when one venue's bid is above another's ask, buy there and
    sell here with IOC orders (legs can miss: latency is real)."""

    kind = "arbitrage"
    Params = ArbitrageParams

    def wake(self, i: int, t: int) -> None:
        p = self.params
        engines = self.engines
        tops = [e.top() for e in engines]
        inv = self.inv[i]
        for a, (abb, abq, _, _) in enumerate(tops):
            if not abb:
                continue
            for b, (_, _, bba, baq) in enumerate(tops):
                if a == b or not bba or abb - bba < p.min_edge:
                    continue
                q = min(p.qty, abq, baq)
                if inv + q <= p.max_inventory:
                    oid = self.new_oid()
                    self.live[oid] = (i, 1, b)
                    self.send(t, IOC, i, b, oid, 1, bba, q)
                if inv - q >= -p.max_inventory:
                    oid = self.new_oid()
                    self.live[oid] = (i, -1, a)
                    self.send(t, IOC, i, a, oid, -1, abb, q)
                return


KINDS: dict[str, type[Population]] = {
    cls.kind: cls for cls in (NoiseTraders, MarketMakers, MomentumTraders, ValueTraders, InformedTraders, Arbitrageurs)
}
