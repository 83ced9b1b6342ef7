"""The run store's tables, as SQLAlchemy 2.0 declarative models.

Changing a model needs a migration in :mod:`adapters.store.migrations`
(``tests/test_migrations.py`` fails until ``alembic upgrade head`` produces
exactly these tables).

The schema is portable: it uses only generic SQLAlchemy types, so the same
models work on SQLite (the default) and on PostgreSQL. Conventions:

* nanosecond timestamps, order ids, prices (ticks) and quantities (lots) are
  :class:`~sqlalchemy.BigInteger` (signed 64-bit, so order ids up to
  ``2**63 - 1`` fit);
* money amounts (fees, PnL, equity, average prices) are double precision;
* enum-like fields (side, order type, time in force, status) are stored as
  their names (``"BUY"``, ``"LIMIT"``, ...);
* wall-clock times are timezone-aware and always read back in UTC, even on
  SQLite, which stores them without a zone;
* every child table has a foreign key to ``runs.run_id`` (``ON DELETE
  CASCADE``) and an index on ``run_id``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUN_STATUSES = ("running", "complete", "failed")
"""The values of ``runs.status``."""

# Deterministic constraint names keep migrations (and PostgreSQL error
# messages) readable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# A 64-bit integer surrogate key that still autoincrements on SQLite (where
# only a column declared exactly ``INTEGER PRIMARY KEY`` is a rowid alias).
_SurrogateKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that is always returned in UTC.

    Naive datetimes are rejected on write; values read back without a zone
    (SQLite) are taken to be UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the run store needs timezone-aware times")
        value = value.astimezone(UTC)
        # SQLite has no zone support; store plain UTC so values sort correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the run store models."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class RunRow(Base):
    """One simulation run: its scenario, status and final summary."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scenario_name: Mapped[str] = mapped_column(String(200))
    scenario_text: Mapped[str] = mapped_column(Text)
    seed: Mapped[int] = mapped_column(BigInteger)
    mode: Mapped[str] = mapped_column(String(32))
    engine: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fingerprint: Mapped[str | None] = mapped_column(String(128))
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class OrderRow(Base):
    """The final (or latest written) state of one order of a run."""

    __tablename__ = "orders"

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    order_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    instrument: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String(8))
    order_type: Mapped[str] = mapped_column(String(16))
    tif: Mapped[str] = mapped_column(String(8))
    qty: Mapped[int] = mapped_column(BigInteger)
    price: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(24))
    filled_qty: Mapped[int] = mapped_column(BigInteger)
    avg_fill_price: Mapped[float] = mapped_column(Double)
    created_ts: Mapped[int] = mapped_column(BigInteger)
    updated_ts: Mapped[int] = mapped_column(BigInteger)
    reject_reason: Mapped[str] = mapped_column(Text)
    tag: Mapped[str] = mapped_column(Text)


class FillRow(Base):
    """One fill of a run; ``seq`` is the fill's position in the run (0, 1, ...)."""

    __tablename__ = "fills"

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger)
    order_id: Mapped[int] = mapped_column(BigInteger)
    instrument: Mapped[int] = mapped_column(BigInteger)
    side: Mapped[str] = mapped_column(String(8))
    price: Mapped[int] = mapped_column(BigInteger)
    qty: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[float] = mapped_column(Double)
    liquidity: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_fills_run_id_order_id", "run_id", "order_id"),)


class RiskEventRow(Base):
    """One pre-trade risk decision of a run; ``seq`` orders them within the run."""

    __tablename__ = "risk_events"

    run_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True, index=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ts: Mapped[int] = mapped_column(BigInteger)
    check: Mapped[str] = mapped_column(String(64))
    accepted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    order_id: Mapped[int | None] = mapped_column(BigInteger)


class PnlSnapshotRow(Base):
    """A PnL snapshot at ``ts``: per instrument, or the total when ``instrument`` is NULL."""

    __tablename__ = "pnl_snapshots"

    id: Mapped[int] = mapped_column(_SurrogateKey, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), index=True)
    ts: Mapped[int] = mapped_column(BigInteger)
    instrument: Mapped[int | None] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(BigInteger)
    realized: Mapped[float] = mapped_column(Double)
    unrealized: Mapped[float] = mapped_column(Double)
    fees: Mapped[float] = mapped_column(Double)
    equity: Mapped[float] = mapped_column(Double)

    __table_args__ = (Index("ix_pnl_snapshots_run_id_ts", "run_id", "ts"),)


class AlertRow(Base):
    """An alert raised during a run (see :mod:`adapters.telemetry.alerts`).

    ``ts`` is the run's (simulated or live) time in ns, ``wall_ts`` the wall
    clock in ns since the epoch when the alert engine raised it.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(_SurrogateKey, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), index=True)
    ts: Mapped[int] = mapped_column(BigInteger)
    wall_ts: Mapped[int] = mapped_column(BigInteger)
    rule: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Double)
    message: Mapped[str] = mapped_column(Text)


__all__ = [
    "RUN_STATUSES",
    "AlertRow",
    "Base",
    "FillRow",
    "OrderRow",
    "PnlSnapshotRow",
    "RiskEventRow",
    "RunRow",
    "UTCDateTime",
]
