"""The run store: records simulation runs, their orders, fills, risk decisions
and PnL snapshots in a SQL database through SQLAlchemy.

SQLite is the default (``sqlite:///parity_runs.db``); any SQLAlchemy URL with
an installed driver works, e.g. ``postgresql+psycopg://user:pw@host/db``.

Life of a run::

    store = RunStore("sqlite:///runs/parity.db")
    store.begin_run(run_id, scenario.name, toml_text, seed, "sim")   # status "running"
    store.add_orders(run_id, order_rows)      # each add_* call is one transaction
    store.add_fills(run_id, fills)
    store.finish_run(run_id, summary, fingerprint)                  # status "complete"
    # ... or, when the run crashed:
    store.mark_failed(run_id, "ValueError: ...")                    # status "failed"

A run whose process dies before ``finish_run`` / ``mark_failed`` stays
``"running"``. Every ``add_*`` call writes its whole batch or nothing.

Row normalisation (done before anything is sent to the database, so SQLite
and PostgreSQL accept and reject the same rows):

* keys that are not columns of the table (e.g. the OMS fill's ``realized``)
  are ignored; a missing column takes its default if it has one (see
  :data:`ROW_DEFAULTS`) and is an error otherwise; ``None`` in a non-nullable
  column is an error;
* integers may be Python or numpy integers (or integral floats) and must fit
  in a signed 64-bit integer; enum members are stored by name, and integer
  ``side`` / ``order_type`` / ``tif`` / order ``status`` values are turned
  into the names of the :mod:`kernel.orders` enums (``1`` -> ``"BUY"``);
* strings longer than their column are an error.

Every failure raises :class:`~kernel.errors.AdapterError` with a message that
names the store URL (password masked) and, for bad rows, the table, row
index and column.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    Engine,
    Integer,
    String,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from adapters.store.schema import AlertRow, Base, FillRow, OrderRow, PnlSnapshotRow, RiskEventRow, RunRow
from kernel.errors import AdapterError
from kernel.orders import OrderStatus, OrderType, Side, TimeInForce

DEFAULT_URL = "sqlite:///parity_runs.db"
DEFAULT_CONNECT_TIMEOUT_S = 3
"""Seconds a network database gets to accept a connection before we give up."""

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FINISHED_STATUSES = ("complete", "failed")

ROW_DEFAULTS: dict[str, dict[str, Any]] = {
    "orders": {
        "price": 0,
        "order_type": "LIMIT",
        "tif": "GTC",
        "status": "NEW",
        "filled_qty": 0,
        "avg_fill_price": 0.0,
        "created_ts": 0,
        "updated_ts": 0,
        "reject_reason": "",
        "tag": "",
    },
    "fills": {"fee": 0.0, "liquidity": ""},
    "risk_events": {"reason": "", "order_id": None},
    "pnl_snapshots": {"instrument": None, "position": 0, "fees": 0.0},
    "alerts": {"wall_ts": 0, "severity": "warning", "state": "firing", "value": None, "message": ""},
}
"""Values used for columns a row does not mention (all other columns are required)."""

# Integer values of these columns are read as members of the kernel enums.
_ENUM_COLUMNS: dict[str, dict[str, type[Enum]]] = {
    "orders": {"side": Side, "order_type": OrderType, "tif": TimeInForce, "status": OrderStatus},
    "fills": {"side": Side},
}

_RUN_COLUMNS = [c.key for c in RunRow.__table__.columns]
_LIST_COLUMNS = [c for c in _RUN_COLUMNS if c != "scenario_text"]

_PASSWORD_IN_URL = re.compile(r"(://[^:/@?#]*:)[^@]*@")


# --------------------------------------------------------------------------- URLs and errors


def mask_url(url: str | URL) -> str:
    """``url`` as text with its password replaced by ``***``.

    Works on strings SQLAlchemy cannot parse too (best effort: the part
    between ``user:`` and ``@`` is masked).
    """
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # any parse failure falls back to the regex
        return _PASSWORD_IN_URL.sub(r"\1***@", str(url))


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0] if text else ""


def _reason(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """A one-line description of ``exc``: for database errors SQLAlchemy's
    portable class name (``IntegrityError``, ``OperationalError``...) and the
    driver's message, without the SQL statement."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = _first_line(str(inner)) or type(inner).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return f"{type(exc).__name__}: {text}"


# --------------------------------------------------------------------------- value conversion


class _BadValue(Exception):
    """A row value that does not fit its column (turned into an AdapterError)."""


def _to_int(value: Any) -> int:
    if isinstance(value, str | bytes):
        raise _BadValue(f"expected an integer, got {value!r}")
    try:
        result = operator.index(value)
    except TypeError:
        if isinstance(value, numbers.Real) and float(value).is_integer():
            result = int(value)
        else:
            raise _BadValue(f"expected an integer, got {value!r}") from None
    if not _INT64_MIN <= result <= _INT64_MAX:
        raise _BadValue(f"{result} does not fit in a signed 64-bit integer")
    return result


def _to_float(value: Any) -> float:
    if isinstance(value, str | bytes) or not isinstance(value, numbers.Real):
        raise _BadValue(f"expected a number, got {value!r}")
    return float(value)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if hasattr(value, "item") and isinstance(value.item(), bool):  # numpy.bool_
        return bool(value.item())
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    raise _BadValue(f"expected a bool, got {value!r}")


def _string_converter(length: int | None, enum: type[Enum] | None) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        if isinstance(value, Enum):
            value = value.name
        elif enum is not None and not isinstance(value, str):
            try:
                value = enum(_to_int(value)).name
            except (_BadValue, ValueError):
                raise _BadValue(f"{value!r} is not a {enum.__name__}") from None
        if not isinstance(value, str):
            raise _BadValue(f"expected a string, got {value!r}")
        if length is not None and len(value) > length:
            raise _BadValue(f"{len(value)} characters is longer than the column's {length}")
        return value

    return convert


class _TableSpec:
    """How to normalise dict rows for one child table."""

    def __init__(self, model: type[Base]) -> None:
        table = model.__table__
        self.model = model
        self.name = table.name
        self.defaults = ROW_DEFAULTS.get(self.name, {})
        enums = _ENUM_COLUMNS.get(self.name, {})
        self.columns: list[tuple[str, bool, Callable[[Any], Any]]] = []
        for col in table.columns:
            if col.key == "run_id" or (col.primary_key and col.autoincrement is True):
                continue
            if isinstance(col.type, BigInteger | Integer):
                conv: Callable[[Any], Any] = _to_int
            elif isinstance(col.type, Double):
                conv = _to_float
            elif isinstance(col.type, Boolean):
                conv = _to_bool
            elif isinstance(col.type, String):
                conv = _string_converter(col.type.length, enums.get(col.key))
            else:  # pragma: no cover - the schema has no other child-table types
                raise TypeError(f"{self.name}.{col.key}: unsupported column type {col.type!r}")
            self.columns.append((col.key, bool(col.nullable), conv))
        self.column_names = [name for name, _, _ in self.columns]

    def normalise(self, run_id: str, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Validate and convert ``rows``; raise AdapterError naming the first bad value."""
        out: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise AdapterError(
                    f"{self.name} row {i} of run '{run_id}': expected a mapping, got {type(row).__name__}"
                )
            clean: dict[str, Any] = {"run_id": run_id}
            for name, nullable, conv in self.columns:
                if name in row:
                    value = row[name]
                elif name in self.defaults:
                    value = self.defaults[name]
                else:
                    raise AdapterError(f"{self.name} row {i} of run '{run_id}': missing column '{name}'")
                if value is None:
                    if not nullable:
                        raise AdapterError(f"{self.name} row {i} of run '{run_id}': '{name}' must not be None")
                    clean[name] = None
                    continue
                try:
                    clean[name] = conv(value)
                except _BadValue as exc:
                    raise AdapterError(f"{self.name} row {i} of run '{run_id}': '{name}': {exc}") from None
            out.append(clean)
        return out

    def to_dict(self, obj: Any) -> dict[str, Any]:
        """A stored row as a plain dict (without ``run_id`` and surrogate keys)."""
        return {name: getattr(obj, name) for name in self.column_names}


_RUN_STRINGS = {
    c.key: _string_converter(c.type.length, None) for c in RunRow.__table__.columns if isinstance(c.type, String)
}
_ORDERS = _TableSpec(OrderRow)
_FILLS = _TableSpec(FillRow)
_RISK_EVENTS = _TableSpec(RiskEventRow)
_PNL_SNAPSHOTS = _TableSpec(PnlSnapshotRow)
_ALERTS = _TableSpec(AlertRow)


def _jsonable(value: Any, path: str) -> Any:
    """``value`` as plain JSON data: numpy scalars unwrapped, enums by name,
    non-finite floats as ``None`` (JSON has no NaN/Infinity)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalar / 0-d array
        return _jsonable(value.item(), path)
    raise AdapterError(f"{path}: a {type(value).__name__} cannot be stored as JSON")


# --------------------------------------------------------------------------- the store


class RunStore:
    """Records runs and their orders, fills, risk events and PnL snapshots.

    Args:
        url: SQLAlchemy database URL. For a SQLite file the parent directory
            is created if needed. Tables are created if missing.
        echo: log every SQL statement (SQLAlchemy ``echo``).
        connect_timeout: seconds a network database (PostgreSQL, MySQL) gets
            to accept the connection, unless the URL sets ``connect_timeout``.
        migrate: bring the schema to the newest Alembic revision (a new
            database gets the tables and is stamped; an older one is
            upgraded). ``False``: only create missing tables (no Alembic).

    Raises:
        AdapterError: the URL is invalid, its driver is not installed or the
            database cannot be reached; the message shows the URL with the
            password masked.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        echo: bool = False,
        *,
        connect_timeout: int = DEFAULT_CONNECT_TIMEOUT_S,
        migrate: bool = True,
    ) -> None:
        self._closed = False
        try:
            parsed = make_url(url)
        except Exception as exc:  # ArgumentError, ValueError, TypeError ...
            raise AdapterError(
                f"invalid run store URL {mask_url(str(url))}: {_reason(exc, self._url_secrets(url))}"
            ) from None
        self.url: str = mask_url(parsed)
        """The database URL with its password masked (safe to print)."""
        secrets = self._url_secrets(url, parsed)
        backend = parsed.get_backend_name()
        connect_args: dict[str, Any] = {}
        if backend == "sqlite":
            self._make_sqlite_dir(parsed)
        elif backend in ("postgresql", "mysql", "mariadb") and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = connect_timeout
        try:
            engine = create_engine(parsed, echo=echo, connect_args=connect_args)
        except Exception as exc:  # unknown dialect, missing driver, bad options
            hint = " (is the database driver installed?)" if isinstance(exc, ImportError) else ""
            raise AdapterError(f"cannot open run store {self.url}: {_reason(exc, secrets)}{hint}") from None
        if backend == "sqlite":
            event.listen(engine, "connect", _sqlite_on_connect)
        try:
            if migrate:
                from adapters.store.migrate import ensure_schema

                ensure_schema(engine)
            else:
                Base.metadata.create_all(engine)
        except Exception as exc:  # connection refused, auth, timeout, permissions
            engine.dispose()
            raise AdapterError(f"cannot open run store {self.url}: {_reason(exc, secrets)}") from None
        self._engine: Engine = engine

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _url_secrets(raw: Any, parsed: URL | None = None) -> list[str]:
        """Password strings that must never appear in an error message."""
        secrets: list[str] = []
        if parsed is not None and parsed.password:
            secrets.append(str(parsed.password))
        match = _PASSWORD_IN_URL.search(str(raw))
        if match:
            secrets.append(str(raw)[match.end(1) : match.end() - 1])
        return sorted({s for s in secrets if s}, key=len, reverse=True)

    def _make_sqlite_dir(self, parsed: URL) -> None:
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return
        try:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AdapterError(f"cannot open run store {self.url}: cannot create its directory: {exc}") from None

    @contextmanager
    def _transaction(self, action: str) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        if self._closed:
            raise AdapterError(f"run store {self.url} is closed")
        try:
            with Session(self._engine) as session, session.begin():
                yield session
        except AdapterError:
            raise
        except SQLAlchemyError as exc:
            raise AdapterError(f"run store {self.url}: {action} failed: {_reason(exc)}") from exc

    def _require_run(self, session: Session, run_id: str) -> RunRow:
        row = session.get(RunRow, run_id)
        if row is None:
            raise AdapterError(f"no run '{run_id}' in {self.url}")
        return row

    def _resolve(self, session: Session, ref: str) -> RunRow:
        """The run whose id is ``ref`` or, failing that, starts with ``ref``."""
        row = session.get(RunRow, ref) if ref else None
        if row is not None:
            return row
        matches: list[str] = []
        if ref:
            candidates = session.scalars(
                select(RunRow.run_id).where(RunRow.run_id.startswith(ref, autoescape=True)).order_by(RunRow.run_id)
            )
            # LIKE is case-insensitive on SQLite: compare exactly here.
            matches = [rid for rid in candidates if rid.startswith(ref)]
        if not matches:
            raise AdapterError(f"no run '{ref}' in {self.url}")
        if len(matches) > 1:
            shown = ", ".join(f"'{m}'" for m in matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise AdapterError(f"run id prefix '{ref}' is ambiguous in {self.url}: matches {shown}")
        return self._require_run(session, matches[0])

    @staticmethod
    def _run_dict(row: RunRow, columns: list[str]) -> dict[str, Any]:
        return {name: getattr(row, name) for name in columns}

    def _count(self, session: Session, model: Any, run_id: str) -> int:
        return int(session.scalar(select(func.count()).select_from(model).where(model.run_id == run_id)) or 0)

    # ------------------------------------------------------------------ runs

    def begin_run(
        self, run_id: str, scenario_name: str, scenario_text: str, seed: int, mode: str, engine: str = "reference"
    ) -> None:
        """Record a new run with status ``"running"``.

        ``started_at`` is the current UTC time, nudged forward (by at most a
        few microseconds) past the newest run already in the store so that
        :meth:`list_runs` has a strict newest-first order.

        Raises:
            AdapterError: ``run_id`` is empty, too long or already in the store.
        """
        if not isinstance(run_id, str) or not run_id or len(run_id) > 64:
            raise AdapterError(f"run id {run_id!r}: expected a non-empty string of at most 64 characters")
        fields = {"scenario_name": scenario_name, "scenario_text": scenario_text, "mode": mode, "engine": engine}
        for name, value in fields.items():
            try:
                _RUN_STRINGS[name](value)
            except _BadValue as exc:
                raise AdapterError(f"run '{run_id}': {name}: {exc}") from None
        try:
            seed_value = _to_int(seed)
        except _BadValue as exc:
            raise AdapterError(f"run '{run_id}': seed: {exc}") from None
        duplicate = f"run '{run_id}' already exists in {self.url}"
        try:
            with self._transaction(f"begin_run('{run_id}')") as session:
                if session.get(RunRow, run_id) is not None:
                    raise AdapterError(duplicate)
                now = datetime.now(UTC)
                newest = session.scalar(select(func.max(RunRow.started_at)))
                if newest is not None and now <= newest:
                    now = newest + timedelta(microseconds=1)
                session.add(
                    RunRow(
                        run_id=run_id,
                        scenario_name=scenario_name,
                        scenario_text=scenario_text,
                        seed=seed_value,
                        mode=mode,
                        engine=engine,
                        status="running",
                        started_at=now,
                    )
                )
        except AdapterError as exc:
            if isinstance(exc.__cause__, IntegrityError):  # lost a race with another writer
                raise AdapterError(duplicate) from None
            raise

    def finish_run(
        self, run_id: str, summary: dict[str, Any], fingerprint: str, status: str = "complete", error: str | None = None
    ) -> None:
        """Store the run's summary and fingerprint and set its final status.

        ``summary`` is stored as JSON (numpy scalars unwrapped, enums by name,
        NaN/Infinity as ``null``).

        Raises:
            AdapterError: unknown run, ``status`` not ``"complete"``/``"failed"``
                or a summary value that cannot be stored as JSON.
        """
        if status not in _FINISHED_STATUSES:
            raise AdapterError(f"run '{run_id}': final status must be one of {_FINISHED_STATUSES}, got {status!r}")
        if not isinstance(summary, Mapping):
            raise AdapterError(f"run '{run_id}': summary must be a mapping, got {type(summary).__name__}")
        clean = _jsonable(summary, "summary")
        with self._transaction(f"finish_run('{run_id}')") as session:
            row = self._require_run(session, run_id)
            row.status = status
            row.finished_at = datetime.now(UTC)
            row.summary = clean
            row.fingerprint = fingerprint
            row.error = error

    def mark_failed(self, run_id: str, error: str) -> None:
        """Set the run's status to ``"failed"`` with ``error`` (its summary is left as is)."""
        with self._transaction(f"mark_failed('{run_id}')") as session:
            row = self._require_run(session, run_id)
            row.status = "failed"
            row.finished_at = datetime.now(UTC)
            row.error = error

    # ------------------------------------------------------------------ batches

    def _add(self, spec: _TableSpec, run_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        clean = spec.normalise(run_id, rows)
        with self._transaction(f"writing {len(clean)} {spec.name} rows for run '{run_id}'") as session:
            self._require_run(session, run_id)
            if clean:
                session.execute(insert(spec.model), clean)

    def add_orders(self, run_id: str, orders: Iterable[Mapping[str, Any]]) -> None:
        """Write orders (dicts with the ``orders`` columns) in one transaction.

        Orders already stored for the run are updated (matched by
        ``order_id``), so a caller that writes periodically can write an
        order again as its state changes; within one batch the last row of an
        ``order_id`` wins.
        """
        clean = _ORDERS.normalise(run_id, orders)
        latest = {row["order_id"]: row for row in clean}
        with self._transaction(f"writing {len(latest)} orders rows for run '{run_id}'") as session:
            self._require_run(session, run_id)
            if not latest:
                return
            existing = set(session.scalars(select(OrderRow.order_id).where(OrderRow.run_id == run_id)))
            new = [row for oid, row in latest.items() if oid not in existing]
            changed = [row for oid, row in latest.items() if oid in existing]
            if new:
                session.execute(insert(OrderRow), new)
            if changed:
                session.execute(update(OrderRow), changed)

    def add_fills(self, run_id: str, fills: Iterable[Mapping[str, Any]]) -> None:
        """Append fills (dicts with the ``fills`` columns) in one transaction.

        ``seq`` identifies a fill within its run: writing the same ``seq``
        twice is an error and rolls back the whole batch.
        """
        self._add(_FILLS, run_id, fills)

    def add_risk_events(self, run_id: str, events: Iterable[Mapping[str, Any]]) -> None:
        """Append risk decisions (dicts with the ``risk_events`` columns) in one transaction."""
        self._add(_RISK_EVENTS, run_id, events)

    def add_pnl_snapshots(self, run_id: str, snapshots: Iterable[Mapping[str, Any]]) -> None:
        """Append PnL snapshots in one transaction (``instrument`` None = portfolio total)."""
        self._add(_PNL_SNAPSHOTS, run_id, snapshots)

    def add_alerts(self, run_id: str, alerts: Iterable[Mapping[str, Any]]) -> None:
        """Append alerts (dicts with the ``alerts`` columns) in one transaction."""
        self._add(_ALERTS, run_id, alerts)

    def write_batch(
        self,
        run_id: str,
        *,
        orders: Iterable[Mapping[str, Any]] = (),
        fills: Iterable[Mapping[str, Any]] = (),
        risk_events: Iterable[Mapping[str, Any]] = (),
        pnl_snapshots: Iterable[Mapping[str, Any]] = (),
        alerts: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        """Write rows of several tables in ONE transaction: all of them or none.

        Orders are upserted as in :meth:`add_orders`; the other rows are
        appended. This is what :class:`~adapters.store.writer.StoreWriter`
        calls, so a crash can never leave a fill without its order or half
        of a batch.
        """
        clean_orders = {row["order_id"]: row for row in _ORDERS.normalise(run_id, orders)}
        rest = [
            (_FILLS, _FILLS.normalise(run_id, fills)),
            (_RISK_EVENTS, _RISK_EVENTS.normalise(run_id, risk_events)),
            (_PNL_SNAPSHOTS, _PNL_SNAPSHOTS.normalise(run_id, pnl_snapshots)),
            (_ALERTS, _ALERTS.normalise(run_id, alerts)),
        ]
        total = len(clean_orders) + sum(len(rows) for _, rows in rest)
        with self._transaction(f"writing a batch of {total} rows for run '{run_id}'") as session:
            self._require_run(session, run_id)
            if clean_orders:
                existing = set(
                    session.scalars(
                        select(OrderRow.order_id).where(
                            OrderRow.run_id == run_id, OrderRow.order_id.in_(list(clean_orders))
                        )
                    )
                )
                new = [row for oid, row in clean_orders.items() if oid not in existing]
                changed = [row for oid, row in clean_orders.items() if oid in existing]
                if new:
                    session.execute(insert(OrderRow), new)
                if changed:
                    session.execute(update(OrderRow), changed)
            for spec, rows in rest:
                if rows:
                    session.execute(insert(spec.model), rows)

    def ping(self) -> bool:
        """True if the database answers a trivial query (for readiness checks); never raises."""
        if self._closed:
            return False
        try:
            with self._engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # any failure means "not reachable"
            return False

    # ------------------------------------------------------------------ reading

    def list_runs(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest ``limit`` runs, newest first (all run columns but ``scenario_text``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise AdapterError(f"list_runs: limit must be a positive integer, got {limit!r}")
        with self._transaction("list_runs") as session:
            rows = session.scalars(
                select(RunRow).order_by(RunRow.started_at.desc(), RunRow.run_id.desc()).limit(limit)
            ).all()
            return [self._run_dict(r, _LIST_COLUMNS) for r in rows]

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run (by id or unique id prefix): every run column plus ``counts``
        of its ``orders``, ``fills``, ``risk_events``, ``pnl_snapshots`` and ``alerts``.

        Raises:
            AdapterError: no such run (``"no run 'x' in <url>"``) or an
                ambiguous prefix.
        """
        with self._transaction(f"get_run('{run_id}')") as session:
            row = self._resolve(session, run_id)
            out = self._run_dict(row, _RUN_COLUMNS)
            out["counts"] = {
                "orders": self._count(session, OrderRow, row.run_id),
                "fills": self._count(session, FillRow, row.run_id),
                "risk_events": self._count(session, RiskEventRow, row.run_id),
                "pnl_snapshots": self._count(session, PnlSnapshotRow, row.run_id),
                "alerts": self._count(session, AlertRow, row.run_id),
            }
            return out

    def _children(self, spec: _TableSpec, run_id: str, order_by: Any) -> list[dict[str, Any]]:
        with self._transaction(f"reading {spec.name} of run '{run_id}'") as session:
            row = self._resolve(session, run_id)
            model: Any = spec.model
            objs = session.scalars(select(model).where(model.run_id == row.run_id).order_by(*order_by))
            return [spec.to_dict(o) for o in objs]

    def orders(self, run_id: str) -> list[dict[str, Any]]:
        """The run's orders by ``order_id`` (accepts a unique run id prefix)."""
        return self._children(_ORDERS, run_id, (OrderRow.order_id,))

    def fills(self, run_id: str) -> list[dict[str, Any]]:
        """The run's fills by ``seq`` (accepts a unique run id prefix)."""
        return self._children(_FILLS, run_id, (FillRow.seq,))

    def risk_events(self, run_id: str) -> list[dict[str, Any]]:
        """The run's risk decisions by ``seq`` (accepts a unique run id prefix)."""
        return self._children(_RISK_EVENTS, run_id, (RiskEventRow.seq,))

    def pnl_snapshots(self, run_id: str) -> list[dict[str, Any]]:
        """The run's PnL snapshots by ``ts``, totals (``instrument`` None) first
        at equal ``ts``, in write order otherwise (accepts a unique run id prefix)."""
        order = (
            PnlSnapshotRow.ts,
            PnlSnapshotRow.instrument.is_not(None),
            PnlSnapshotRow.instrument,
            PnlSnapshotRow.id,
        )
        return self._children(_PNL_SNAPSHOTS, run_id, order)

    def alerts(self, run_id: str) -> list[dict[str, Any]]:
        """The run's alerts in the order they were raised (accepts a unique run id prefix)."""
        return self._children(_ALERTS, run_id, (AlertRow.ts, AlertRow.id))

    def compare(self, a: str, b: str) -> dict[str, Any]:
        """Compare two runs (ids or unique prefixes).

        Returns a dict with:

        * ``a`` / ``b``: ``run_id``, ``scenario_name``, ``seed``, ``mode``,
          ``engine``, ``status`` and ``fingerprint`` of each run;
        * ``summary``: ``{key: [value_a, value_b]}`` for every key in either
          summary (``None`` where a run lacks the key), keys sorted;
        * ``differing_keys``: the sorted keys whose values differ or that only
          one summary has (timing keys such as ``wall_seconds`` usually differ
          even between identical runs);
        * ``fingerprints_equal``: both runs have a fingerprint and they are equal.
        """
        head = ["run_id", "scenario_name", "seed", "mode", "engine", "status", "fingerprint"]
        with self._transaction(f"compare('{a}', '{b}')") as session:
            ra = self._resolve(session, a)
            rb = self._resolve(session, b)
            sa, sb = ra.summary or {}, rb.summary or {}
            keys = sorted(set(sa) | set(sb))
            return {
                "a": self._run_dict(ra, head),
                "b": self._run_dict(rb, head),
                "summary": {k: [sa.get(k), sb.get(k)] for k in keys},
                "differing_keys": [k for k in keys if k not in sa or k not in sb or sa[k] != sb[k]],
                "fingerprints_equal": ra.fingerprint is not None and ra.fingerprint == rb.fingerprint,
            }

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Release the database connections; the store cannot be used afterwards."""
        if not self._closed:
            self._closed = True
            self._engine.dispose()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({self.url!r}{', closed' if self._closed else ''})"


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    """Make SQLite enforce the foreign keys (it does not by default)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


__all__ = ["DEFAULT_URL", "ROW_DEFAULTS", "RunStore", "mask_url"]
