"""Initial run store schema: runs, orders, fills, risk_events, pnl_snapshots.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# 64-bit surrogate key that still autoincrements on SQLite (INTEGER PRIMARY KEY).
SURROGATE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("scenario_name", sa.String(length=200), nullable=False),
        sa.Column("scenario_text", sa.Text(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("engine", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fingerprint", sa.String(length=128), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])

    op.create_table(
        "orders",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("instrument", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("order_type", sa.String(length=16), nullable=False),
        sa.Column("tif", sa.String(length=8), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("filled_qty", sa.BigInteger(), nullable=False),
        sa.Column("avg_fill_price", sa.Double(), nullable=False),
        sa.Column("created_ts", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.Column("reject_reason", sa.Text(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        _fk("orders"),
        sa.PrimaryKeyConstraint("run_id", "order_id", name="pk_orders"),
    )
    op.create_index("ix_orders_run_id", "orders", ["run_id"])

    op.create_table(
        "fills",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("instrument", sa.BigInteger(), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("qty", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.Double(), nullable=False),
        sa.Column("liquidity", sa.String(length=16), nullable=False),
        _fk("fills"),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_fills"),
    )
    op.create_index("ix_fills_run_id", "fills", ["run_id"])
    op.create_index("ix_fills_run_id_order_id", "fills", ["run_id", "order_id"])

    op.create_table(
        "risk_events",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("accepted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("order_id", sa.BigInteger(), nullable=True),
        _fk("risk_events"),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_risk_events"),
    )
    op.create_index("ix_risk_events_run_id", "risk_events", ["run_id"])

    op.create_table(
        "pnl_snapshots",
        sa.Column("id", SURROGATE, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("instrument", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("realized", sa.Double(), nullable=False),
        sa.Column("unrealized", sa.Double(), nullable=False),
        sa.Column("fees", sa.Double(), nullable=False),
        sa.Column("equity", sa.Double(), nullable=False),
        _fk("pnl_snapshots"),
        sa.PrimaryKeyConstraint("id", name="pk_pnl_snapshots"),
    )
    op.create_index("ix_pnl_snapshots_run_id", "pnl_snapshots", ["run_id"])
    op.create_index("ix_pnl_snapshots_run_id_ts", "pnl_snapshots", ["run_id", "ts"])


def downgrade() -> None:
    for table in ("pnl_snapshots", "risk_events", "fills", "orders", "runs"):
        op.drop_table(table)
