"""Parameter sweeps on Dask distributed: ``parity sweep SCENARIO --param P=V,V --seeds 0..99``.

The grid is the cartesian product of the ``--param`` values (dotted paths into
the scenario, e.g. ``strategy.params.edge`` or ``venues.0.latency.order_entry``)
times the seeds. Each point runs as one Dask task (a LocalCluster by default, a
remote scheduler with ``--scheduler ADDRESS``); results stream back as they
finish and are written to the run store by this process (one writer). A run's
id is its key - a hash of the scenario text, the parameter values and the seed -
so re-running a sweep skips every run already stored complete.

The summary has one row per parameter set: runs, mean net PnL with a 95 %
confidence interval (Student t), the Sharpe ratio of the per-seed PnL (mean /
standard deviation across seeds - each seed is one independent session), the
mean and worst max drawdown, and the mean number of fills.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kernel.errors import ScenarioError

# Two-sided 97.5 % Student t quantiles (df 1..30); larger df use the normal 1.96.
_T975 = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
    2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
]  # fmt: skip


def parse_value(text: str) -> Any:
    """A TOML scalar (int, float, bool, quoted string) or a bare string."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_param(spec: str) -> tuple[str, list[Any]]:
    """``"strategy.params.edge=0,1,2"`` -> ``("strategy.params.edge", [0, 1, 2])``."""
    path, sep, values = spec.partition("=")
    path = path.strip()
    if not sep or not path or not values.strip():
        raise ScenarioError(f"--param {spec!r}: expected PATH=VALUE[,VALUE...], e.g. strategy.params.edge=0,1,2")
    return path, [parse_value(v) for v in values.split(",")]


def parse_seeds(spec: str) -> list[int]:
    """``"0..99"`` (inclusive) or ``"1,5,9"`` or ``"7"``."""
    try:
        if ".." in spec:
            lo, hi = spec.split("..", 1)
            seeds = list(range(int(lo), int(hi) + 1))
        else:
            seeds = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ScenarioError(f"--seeds {spec!r}: expected A..B or a comma-separated list of integers") from None
    if not seeds or any(s < 0 for s in seeds):
        raise ScenarioError(f"--seeds {spec!r}: no seeds, or a negative seed")
    return seeds


def set_path(raw: dict[str, Any], path: str, value: Any) -> None:
    """Set ``raw[a][b]...`` for ``"a.b..."``; numeric parts index lists. Errors name the path."""
    parts = path.split(".")
    node: Any = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"--param {path}: {where}: no such list element")
            key: Any = int(part)
        elif isinstance(node, dict):
            key = part
            if not last and key not in node:
                node[key] = {}
        else:
            raise ScenarioError(f"--param {path}: {where}: not a table")
        if last:
            node[key] = value
        else:
            node = node[key]


@dataclass(frozen=True)
class Point:
    """One run of the grid."""

    params: tuple[tuple[str, Any], ...]
    seed: int
    key: str

    @property
    def label(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.params) or "(base)"


def scenario_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_key(scen_hash: str, params: Iterable[tuple[str, Any]], seed: int) -> str:
    """The store id of a run: scenario hash + parameter values + seed."""
    blob = json.dumps({"scenario": scen_hash, "params": sorted(params), "seed": seed}, sort_keys=True, default=str)
    return "sw-" + hashlib.sha256(blob.encode()).hexdigest()[:24]


def grid(text: str, params: list[tuple[str, list[Any]]], seeds: list[int]) -> list[Point]:
    h = scenario_hash(text)
    names = [p for p, _ in params]
    out = []
    for combo in itertools.product(*[vals for _, vals in params]):
        items = tuple(zip(names, combo, strict=True))
        for seed in seeds:
            out.append(Point(items, seed, run_key(h, items, seed)))
    return out


def build_scenario(text: str, source: str, params: tuple[tuple[str, Any], ...], seed: int):
    """The scenario of one grid point (validated; errors name the source and field)."""
    from scenarios.loader import parse_scenario

    raw = tomllib.loads(text)
    for path, value in params:
        set_path(raw, path, value)
    overrides = {k: raw[k] for k in {p.split(".")[0] for p, _ in params}}
    overrides["seed"] = seed
    return parse_scenario(text, source, overrides)


def run_point(text: str, source: str, params: tuple[tuple[str, Any], ...], seed: int) -> dict[str, Any]:
    """Run one grid point (in a Dask worker or here); a plain, picklable result."""
    from scenarios.report import order_rows
    from scenarios.runner import Run

    sc = build_scenario(text, source, params, seed)
    result = Run(sc).run()
    summary = {k: v for k, v in result.summary.items() if k != "populations"}
    return {
        "summary": summary,
        "fingerprint": result.fingerprint,
        "orders": order_rows(result),
        "fills": result.fills,
        "risk_events": result.risk_events,
        "scenario_name": sc.name,
        "engine": sc.engine,
        "mode": sc.mode,
    }


@dataclass
class Row:
    """Aggregates of one parameter set."""

    params: tuple[tuple[str, Any], ...]
    pnl: list[float] = field(default_factory=list)
    drawdown: list[float] = field(default_factory=list)
    fills: list[int] = field(default_factory=list)
    fingerprints: dict[int, str] = field(default_factory=dict)

    def stats(self) -> dict[str, Any]:
        n = len(self.pnl)
        mean = sum(self.pnl) / n if n else float("nan")
        sd = math.sqrt(sum((x - mean) ** 2 for x in self.pnl) / (n - 1)) if n > 1 else float("nan")
        t = _T975[n - 2] if 2 <= n <= 31 else 1.96
        half = t * sd / math.sqrt(n) if n > 1 else float("nan")
        return {
            "params": dict(self.params),
            "runs": n,
            "mean_pnl": mean,
            "ci95_low": mean - half,
            "ci95_high": mean + half,
            "sharpe": mean / sd if n > 1 and sd > 0 else float("nan"),
            "mean_max_drawdown": sum(self.drawdown) / n if n else float("nan"),
            "worst_max_drawdown": max(self.drawdown) if n else float("nan"),
            "mean_fills": sum(self.fills) / n if n else float("nan"),
        }


@dataclass
class SweepResult:
    rows: list[dict[str, Any]]
    ran: int
    skipped: int
    fingerprints: dict[str, str]  # run key -> fingerprint


def _stored(store, key: str) -> tuple[dict[str, Any] | None, str]:
    """(the complete stored run of ``key`` or None, a free run id for a new attempt)."""
    from kernel.errors import AdapterError

    free = None
    for attempt in range(20):
        rid = key if attempt == 0 else f"{key}~{attempt}"
        try:
            run = store.get_run(rid)
        except AdapterError:
            if free is None:
                free = rid
            break
        if run.get("status") == "complete" and run.get("run_id") == rid:
            return run, rid
    if free is None:
        raise ScenarioError(f"run {key}: too many failed attempts in the store")
    return None, free


def sweep(
    text: str,
    source: str,
    params: list[tuple[str, list[Any]]],
    seeds: list[int],
    store_url: str | None,
    scheduler: str | None = None,
    workers: int = 2,
    processes: bool = True,
    progress: Callable[[str], None] | None = None,
) -> SweepResult:
    """Run the grid on Dask; store every run; return the per-parameter-set summary."""
    points = grid(text, params, seeds)
    # Validate every parameter set up front (schema and strategy parameters): a typo
    # fails here, not in a worker.
    from scenarios.runner import load_strategy

    for combo in {p.params for p in points}:
        sc = build_scenario(text, source, combo, seeds[0])
        if sc.strategy is not None:
            load_strategy(sc.strategy.path, sc.strategy.params)
    store = None
    if store_url:
        from adapters.store import RunStore

        store = RunStore(store_url)
    rows: dict[tuple, Row] = {}
    fingerprints: dict[str, str] = {}
    todo: list[tuple[Point, str]] = []
    skipped = 0
    say = progress or (lambda _msg: None)
    for p in points:
        row = rows.setdefault(p.params, Row(p.params))
        if store is not None:
            done, rid = _stored(store, p.key)
            if done is not None:
                s = done.get("summary") or {}
                row.pnl.append(float(s.get("net_pnl", 0.0)))
                row.drawdown.append(float(s.get("max_drawdown", 0.0)))
                row.fills.append(int(s.get("fills", 0)))
                fingerprints[p.key] = done.get("fingerprint") or ""
                skipped += 1
                continue
        else:
            rid = p.key
        todo.append((p, rid))
    total = len(points)
    if skipped:
        say(f"resuming: {skipped} of {total} runs already stored, {len(todo)} to run")
    ran = 0
    if todo:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None)
            client = Client(cluster)
        try:
            futures = {}
            for p, rid in todo:
                fut = client.submit(run_point, text, source, p.params, p.seed, key=f"parity-{rid}", pure=False)
                futures[fut] = (p, rid)
            for fut in as_completed(futures):
                p, rid = futures[fut]
                out = fut.result()
                s = out["summary"]
                if store is not None:
                    store.begin_run(rid, out["scenario_name"], text, p.seed, out["mode"], out["engine"])
                    store.add_orders(rid, out["orders"])
                    store.add_fills(rid, out["fills"])
                    store.add_risk_events(rid, out["risk_events"])
                    store.finish_run(rid, {**s, "sweep_params": dict(p.params)}, out["fingerprint"])
                row = rows[p.params]
                row.pnl.append(float(s["net_pnl"]))
                row.drawdown.append(float(s["max_drawdown"]))
                row.fills.append(int(s["fills"]))
                fingerprints[p.key] = out["fingerprint"]
                ran += 1
                say(
                    f"[{skipped + ran}/{total}] {p.label} seed={p.seed} net_pnl={s['net_pnl']:.2f} "
                    f"fills={s['fills']} {out['fingerprint'][:12]}"
                )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    if store is not None:
        store.close()
    return SweepResult([r.stats() for r in rows.values()], ran, skipped, fingerprints)


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'parameters':<36} {'runs':>5} {'mean PnL':>11} {'95% CI':>25} {'Sharpe':>7} "
        f"{'max DD':>9} {'worst DD':>9} {'fills':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        label = " ".join(f"{k.split('.')[-1]}={v}" for k, v in r["params"].items()) or "(base)"
        ci = f"[{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]"
        lines.append(
            f"{label:<36} {r['runs']:>5} {r['mean_pnl']:>11.2f} {ci:>25} {r['sharpe']:>7.2f} "
            f"{r['mean_max_drawdown']:>9.2f} {r['worst_max_drawdown']:>9.2f} {r['mean_fills']:>8.1f}"
        )
    return "\n".join(lines)


def progress_printer(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()
