"""The ``parity`` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kernel.errors import ParityError

EXIT_ERROR = 2


def _progress_printer(start_ns: int, end_ns: int) -> Callable[[int], None] | None:
    """A throttled progress line on stderr, only when attached to a terminal."""
    if not sys.stderr.isatty():
        return None
    last = [0.0]
    span = max(1, end_ns - start_ns)

    def show(now_ns: int) -> None:
        t = time.monotonic()
        if t - last[0] >= 0.2:
            last[0] = t
            pct = min(100.0, 100.0 * (now_ns - start_ns) / span)
            bar = "#" * int(pct / 4)
            sys.stderr.write(f"\r[{bar:<25}] {pct:5.1f}%")
            sys.stderr.flush()

    return show


def cmd_replay(args: argparse.Namespace) -> int:
    from scenarios.loader import bundled_scenarios, load_scenario, parse_scenario
    from scenarios.report import format_summary, write_run_dir
    from scenarios.runner import Run

    if args.list:
        for name, path in sorted(bundled_scenarios().items()):
            desc = parse_scenario(path.read_text(encoding="utf-8"), str(path)).description
            print(f"{name:<12} {desc}")
        return 0
    overrides = {"seed": args.seed} if args.seed is not None else None
    scenario, text = load_scenario(args.scenario, overrides)
    from adapters.config import load_settings
    from adapters.logging_setup import configure_logging
    from scenarios.ops import RunOps

    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json, secrets=settings.secrets())
    run = Run(scenario)
    progress = None if args.json else _progress_printer(run.start_ns, run.end_ns)
    use_store = scenario.store.enabled and not args.no_store
    store_url = settings.store_url_for(args.store, scenario.store.url) if use_store else None
    port = args.metrics_port if args.metrics_port is not None else settings.metrics_port
    result_id = run.run_id
    # The store is written while the run goes (batched, in the background); see scenarios/ops.py.
    ops = RunOps(run, text, settings, store_url=store_url, metrics_port=port)
    try:
        result = ops.execute(progress)
    finally:
        if progress is not None:
            sys.stderr.write("\r" + " " * 40 + "\r")
        ops.close(linger_s=args.metrics_linger if ops.server is not None else 0.0)
    store = ops.store
    store_url = ops.safe_store_url
    if args.out:
        write_run_dir(result, Path(args.out), text)
    if args.json:
        print(json.dumps({"run_id": result_id, **result.summary}, indent=2))
    else:
        print(format_summary(result))
        if store is not None:
            print(f"stored          run {result_id} in {store_url}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from scenarios.bench import agent_benchmarks, matching_stress_benchmark, run_benchmarks

    if args.feeds:
        from scenarios.bench import feed_benchmarks
        from scenarios.feed_bench import format_report

        report = feed_benchmarks(big=args.big, generated_mb=args.feeds_mb, repeat=args.repeat)
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return 0
    if args.agents:
        report = agent_benchmarks(args.scenario or "agents_1000", args.duration or "6.5h", args.repeat)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            for row in report["results"]:
                print(
                    f"{row['name']:<44} {row['agent_messages']:>11,} agent msgs "
                    f"{row['messages_per_second']:>9,} msgs/s"
                    f"  ({row['messages_per_cpu_second']:,}/cpu-s; {row['events_with_wakeups_per_second']:,}/s incl."
                    f" {row['agent_wakeups']:,} wake-ups; {row['seconds']} s)"
                )
            floor = report["floor"]
            print(f"floor: {floor['messages_per_second']:,} msgs/s ({floor['anchor']})")
            for name, met in floor["met"].items():
                print(
                    f"  {name}: agent messages {'met' if met['agent_messages'] else 'NOT met'}, "
                    f"counting wake-ups {'met' if met['with_wakeups'] else 'NOT met'}"
                )
            print(f"peak_rss_mb: {report['peak_rss_mb']}")
        return 0
    if args.fast:
        from scenarios.bench_fast import fast_benchmarks, format_report

        report = fast_benchmarks(args.events, args.repeat, real_data=not args.no_real_data, cold=args.cold_jit)
        print(json.dumps(report, indent=2) if args.json else format_report(report))
        return 0
    if args.stress:
        report = matching_stress_benchmark(args.stress)
        print(json.dumps(report, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))
        return 0
    report = run_benchmarks(args.scenario, repeat=args.repeat, duration=args.duration)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for row in report["results"]:
            print(f"{row['name']:<44} {row['events']:>10,} events  {row['events_per_second']:>12,} events/s")
        for key, value in report.items():
            if key != "results":
                print(f"{key}: {value}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from scenarios.loader import resolve
    from scenarios.sweep import format_table, parse_param, parse_seeds, progress_printer, sweep

    path = resolve(args.scenario)
    text = path.read_text(encoding="utf-8")
    params = [parse_param(p) for p in args.param]
    seeds = parse_seeds(args.seeds)
    store = None if args.no_store else args.store
    result = sweep(
        text, str(path), params, seeds, store, scheduler=args.scheduler, workers=args.workers,
        processes=not args.threads, progress=None if args.json else progress_printer,
    )  # fmt: skip
    if args.json:
        print(json.dumps({"ran": result.ran, "skipped": result.skipped, "rows": result.rows}, indent=2, default=str))
    else:
        print(format_table(result.rows))
        print(f"runs: {result.ran} ran, {result.skipped} already stored" + (f" (store {store})" if store else ""))
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from adapters.store import RunStore

    store = RunStore(args.store)
    try:
        if args.runs_cmd == "list":
            for r in store.list_runs(args.limit):
                s = r.get("summary") or {}
                print(
                    f"{r['run_id']}  {r['status']:<9} {r['scenario_name']:<14} seed={r['seed']:<6} "
                    f"fills={s.get('fills', '-'):<6} net_pnl={s.get('net_pnl', '-')}  {str(r['fingerprint'])[:16]}"
                )
        elif args.runs_cmd == "show":
            print(json.dumps(store.get_run(args.run), indent=2, default=str))
        else:
            print(json.dumps(store.compare(args.a, args.b), indent=2, default=str))
    finally:
        store.close()
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from adapters.store import migrate
    from adapters.store.run_store import mask_url

    if args.db_cmd == "upgrade":
        migrate.upgrade(args.store)
    engine = create_engine(args.store)
    try:
        with engine.connect() as conn:
            current = migrate.current_revision(conn)
    finally:
        engine.dispose()
    print(f"{mask_url(args.store)}: revision {current or '(none)'} (head {migrate.head_revision()})")
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from scenarios.live import LiveRun, check_port_safety
    from scenarios.loader import load_scenario
    from scenarios.report import format_summary

    if args.port is not None:
        check_port_safety(args.port, args.i_understand_live)  # before anything else happens
    scenario, _ = load_scenario(args.scenario)
    run = LiveRun(
        scenario, host=args.host, port=args.port, client_id=args.client_id, dry_run=args.dry_run,
        i_understand_live=args.i_understand_live, connect_timeout=args.connect_timeout,
    )  # fmt: skip
    result = run.run()
    if args.json:
        print(json.dumps({"run_id": result.run_id, **result.summary}, indent=2, default=str))
    else:
        print(format_summary(result))
        for name, health in result.summary.get("ib", {}).items():
            print(
                f"ib {name:<12} {health['state']} client id {health['client_id']}, reconnects {health['reconnects']}, "
                f"paced {health['pacing_delayed']}/{health['pacing_sent']} messages"
            )
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from adapters.feeds.inspect import convert_file, format_inspection, inspect_file

    params = {}
    if args.date:
        params["date"] = args.date
    if args.data_cmd == "inspect":
        info = inspect_file(Path(args.file), args.format, **params)
        print(json.dumps(info, indent=2) if args.json else format_inspection(info))
        return 0 if info["valid"] or not args.strict else EXIT_ERROR
    meta = convert_file(Path(args.file), Path(args.out), args.format, **params)
    print(
        json.dumps(meta, indent=2, default=str) if args.json else f"wrote {args.out} ({meta.get('events', '?')} events)"
    )
    return 0


def cmd_hw(args: argparse.Namespace) -> int:
    from hardware.runner import run_cli

    return run_cli(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parity", description="Deterministic market simulation and replay.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    rp = sub.add_parser("replay", help="run a scenario and print its summary")
    rp.add_argument("scenario", nargs="?", help="bundled scenario name or TOML path (default: 'default')")
    rp.add_argument("--seed", type=int, help="override the scenario seed")
    rp.add_argument("--json", action="store_true", help="print the summary as JSON")
    rp.add_argument("--out", help="write scenario, summary, orders and fills into this directory")
    rp.add_argument("--list", action="store_true", help="list the bundled scenarios")
    rp.add_argument("--store", help="SQLAlchemy URL of the run store (default from the scenario)")
    rp.add_argument("--no-store", action="store_true", help="do not record the run in the store")
    rp.add_argument(
        "--metrics-port", type=int, help="serve /metrics, /healthz, /readyz on this port during the run (0: any)"
    )
    rp.add_argument("--metrics-linger", type=float, default=0.0, help="keep serving this many seconds after the run")
    rp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    rp.set_defaults(func=cmd_replay)

    bp = sub.add_parser("bench", help="measure events/s of the reference engine")
    bp.add_argument("scenario", nargs="?", default=None)
    bp.add_argument("--json", action="store_true")
    bp.add_argument("--repeat", type=int, default=1, help="runs per case; the best is reported")
    bp.add_argument("--duration", help="override the scenario duration, e.g. 10s")
    bp.add_argument("--agents", action="store_true", help="agent messages/s of an agent market (agents_1000, 6.5h)")
    bp.add_argument("--stress", type=int, metavar="N", help="N random order actions through the matching engine")
    bp.add_argument("--fast", action="store_true", help="fast (numba) vs reference engine: replay, wake-ups, real data")
    bp.add_argument("--events", type=int, default=1_000_000, help="--fast: events of the synthetic L3 stream")
    bp.add_argument("--cold-jit", action="store_true", help="--fast: also time a compile from an empty numba cache")
    bp.add_argument("--no-real-data", action="store_true", help="--fast: skip the LOBSTER / ITCH samples")
    bp.add_argument("--feeds", action="store_true", help="feed readers: parse / parse + book events/s, peak RSS")
    bp.add_argument("--big", action="store_true", help="--feeds: also a generated 2 GB ITCH file (constant memory)")
    bp.add_argument("--feeds-mb", type=float, default=100.0, help="--feeds: MB of the generated ITCH file")
    bp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    bp.set_defaults(func=cmd_bench)

    dp = sub.add_parser("data", help="inspect or convert market-data files")
    dp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    dsub = dp.add_subparsers(dest="data_cmd", required=True)
    for name, helptext in (("inspect", "summarize and validate a file"), ("convert", "write a canonical .npy cache")):
        d = dsub.add_parser(name, help=helptext)
        d.add_argument("file")
        if name == "convert":
            d.add_argument("out")
        d.add_argument("--format", choices=("itch", "lobster", "dbn", "binance", "cache"))
        d.add_argument("--date", help="trading date when the file name does not carry it (YYYY-MM-DD)")
        d.add_argument("--json", action="store_true")
        d.add_argument("--strict", action="store_true", help="exit 2 when validation finds problems")
    dp.set_defaults(func=cmd_data)

    sw = sub.add_parser("sweep", help="run a parameter grid x seeds on Dask and summarize")
    sw.add_argument("scenario", help="bundled scenario name or TOML path")
    sw.add_argument(
        "--param", action="append", default=[], help="PATH=V1,V2,... (repeatable), e.g. strategy.params.edge=0,1,2"
    )
    sw.add_argument("--seeds", default="0..9", help="A..B (inclusive) or a comma-separated list (default 0..9)")
    sw.add_argument("--scheduler", help="address of a running Dask scheduler (default: a LocalCluster)")
    sw.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (default 2)")
    sw.add_argument("--threads", action="store_true", help="LocalCluster workers as threads, not processes")
    sw.add_argument("--store", default="sqlite:///parity_runs.db", help="SQLAlchemy URL of the run store")
    sw.add_argument("--no-store", action="store_true", help="do not store runs (and do not resume)")
    sw.add_argument("--json", action="store_true")
    sw.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sw.set_defaults(func=cmd_sweep)

    rn = sub.add_parser("runs", help="read the run store")
    rn.add_argument("--store", default="sqlite:///parity_runs.db")
    rn.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    rsub = rn.add_subparsers(dest="runs_cmd", required=True)
    rl = rsub.add_parser("list")
    rl.add_argument("--limit", type=int, default=20)
    rs = rsub.add_parser("show")
    rs.add_argument("run")
    rc = rsub.add_parser("compare")
    rc.add_argument("a")
    rc.add_argument("b")
    rn.set_defaults(func=cmd_runs)

    db = sub.add_parser("db", help="run store schema migrations (Alembic)")
    db.add_argument("--store", default="sqlite:///parity_runs.db")
    db.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    db.add_argument("db_cmd", choices=["upgrade", "current"])
    db.set_defaults(func=cmd_db)

    hw = sub.add_parser("hw", help="simulate the RTL tick-to-trade pipeline (cocotb + Icarus) against the model")
    hw.add_argument("scenario", nargs="?", help="bundled scenario name or TOML path (default: 'default')")
    hw.add_argument("--events", type=int, default=20_000, help="events of each data feed to render (0 = all)")
    hw.add_argument("--random", action="store_true", help="random ITCH streams (valid + malformed) instead")
    hw.add_argument("--seeds", type=int, default=4, help="random streams: seeds 1..N")
    hw.add_argument("--messages", type=int, default=50_000, help="random streams: messages per seed")
    hw.add_argument("--samples", action="store_true", help="the real ITCH samples ($PARITY_SHARED_DATA/itch)")
    hw.add_argument("--waves", nargs="?", const="", metavar="FILE", help="write an FST waveform")
    hw.add_argument("--json", action="store_true", help="print the results as JSON")
    hw.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    hw.set_defaults(func=cmd_hw)

    lv = sub.add_parser("live", help="run a mode = 'live' scenario against TWS / IB Gateway (paper by default)")
    lv.add_argument("scenario", help="scenario TOML (mode = 'live', venues with adapter = 'ibkr')")
    lv.add_argument("--host", help="TWS / Gateway host (default: the scenario's [live].host)")
    lv.add_argument("--port", type=int, help="API port (default: [live].port; paper 7497 TWS / 4002 Gateway)")
    lv.add_argument("--client-id", type=int, help="API client id (the next one is tried if it is in use)")
    lv.add_argument("--dry-run", action="store_true", help="connect and subscribe, journal orders instead of sending")
    lv.add_argument(
        "--i-understand-live", action="store_true", help="allow a live-account port (TWS 7496 / Gateway 4001)"
    )
    lv.add_argument("--connect-timeout", type=float, help="seconds (default: [live].connect_timeout)")
    lv.add_argument("--json", action="store_true", help="print the summary as JSON")
    lv.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    lv.set_defaults(func=cmd_live)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ParityError as exc:
        if args.debug:
            raise
        print(f"parity: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("parity: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
