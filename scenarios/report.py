"""Rendering run results: the console summary and the files of ``--out DIR``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from kernel.clock import format_ns
from scenarios.runner import RunResult

ORDER_FIELDS = (
    "order_id", "instrument", "side", "order_type", "tif", "qty", "price", "status", "filled_qty",
    "avg_fill_price", "created_ts", "updated_ts", "reject_reason", "tag",
)  # fmt: skip
FILL_FIELDS = ("seq", "ts", "order_id", "instrument", "side", "price", "qty", "fee", "liquidity", "realized")


def order_rows(result: RunResult) -> list[dict[str, Any]]:
    """Orders as plain dicts (enum names, not numbers)."""
    rows = []
    for o in result.orders:
        rows.append(
            {
                "order_id": o.order_id, "instrument": o.instrument, "side": o.side.name,
                "order_type": o.order_type.name, "tif": o.tif.name, "qty": o.qty, "price": o.price,
                "status": o.status.name, "filled_qty": o.filled_qty, "avg_fill_price": o.avg_fill_price,
                "created_ts": o.created_ts, "updated_ts": o.updated_ts, "reject_reason": o.reject_reason,
                "tag": o.tag,
            }
        )  # fmt: skip
    return rows


def format_summary(result: RunResult) -> str:
    """A human-readable multi-line summary."""
    s = result.summary
    lines = [
        f"scenario        {s['scenario']}  (seed {s['seed']}, run {result.run_id})",
        f"period          {format_ns(s['start_ns'])} .. {format_ns(s['end_ns'])}",
        f"market events   {s['market_events']:,}  in {s['wall_seconds']:.2f} s  ({s['events_per_second']:,} events/s)",
        f"book updates    {s['book_updates_delivered']:,} delivered to the strategy",
        f"orders          {s['orders']:,}  (rejected {s['orders_rejected']:,}, by risk {s['risk_rejections']:,})",
        f"fills           {s['fills']:,}  ({s['traded_qty']:,} lots)",
        f"fees            {s['fees']:,.2f}",
        f"realized PnL    {s['realized_pnl']:,.2f}",
        f"unrealized PnL  {s['unrealized_pnl']:,.2f}",
        f"net PnL         {s['net_pnl']:,.2f}",
        f"max drawdown    {s['max_drawdown']:,.2f}",
        f"positions       {', '.join(f'{k}={v}' for k, v in s['positions'].items())}",
        f"trading state   {s['trading_state']}",
        f"fingerprint     {s['fingerprint']}",
    ]
    return "\n".join(lines)


def write_run_dir(result: RunResult, out: Path, scenario_text: str) -> None:
    """Write scenario.toml, summary.json, orders.csv and fills.csv into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.toml").write_text(scenario_text, encoding="utf-8")
    (out / "summary.json").write_text(json.dumps(result.summary, indent=2) + "\n", encoding="utf-8")
    _write_csv(out / "orders.csv", ORDER_FIELDS, order_rows(result))
    _write_csv(out / "fills.csv", FILL_FIELDS, result.fills)


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
