"""Alembic migrations: `upgrade head` on an empty database gives exactly the ORM's tables
(SQLite and PostgreSQL); RunStore stamps new databases and upgrades old ones, keeping their data."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from adapters.store import RunStore, migrate
from adapters.store.schema import Base

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextlib.contextmanager
def empty_database(request, tmp_path, backend: str) -> Iterator[str]:
    """A URL of a new, empty database on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        return
    server = request.getfixturevalue("postgres_url")
    name = f"parity_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def structure(url: str) -> dict:
    """Tables, columns (type, nullability), primary keys, foreign keys and indexes as plain data."""
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        out = {}
        for table in sorted(set(insp.get_table_names()) - {"alembic_version"}):
            out[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)],
                "pk": insp.get_pk_constraint(table),
                "fks": sorted(
                    (
                        tuple(f["constrained_columns"]),
                        f["referred_table"],
                        tuple(f["referred_columns"]),
                        (f.get("options") or {}).get("ondelete"),
                        f.get("name"),
                    )
                    for f in insp.get_foreign_keys(table)
                ),  # fmt: skip
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)
                ),
            }
        return out
    finally:
        engine.dispose()


def revision_of(url: str) -> str | None:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return migrate.current_revision(conn)
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_upgrade_head_on_an_empty_database_gives_the_orm_tables(request, tmp_path, backend):
    with empty_database(request, tmp_path, backend) as migrated, empty_database(request, tmp_path, backend) as orm:
        migrate.upgrade(migrated)
        engine = create_engine(orm)
        Base.metadata.create_all(engine)
        engine.dispose()
        assert revision_of(migrated) == migrate.head_revision()
        engine = create_engine(migrated)
        with engine.connect() as conn:
            assert migrate.schema_differences(conn) == []
            assert migrate.table_names(conn) == set(Base.metadata.tables)
        engine.dispose()
        assert structure(migrated) == structure(orm)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_store_stamps_a_new_database_at_head(request, tmp_path, backend):
    with empty_database(request, tmp_path, backend) as url:
        RunStore(url).close()
        assert revision_of(url) == migrate.head_revision()
        migrate.upgrade(url)  # nothing left to do
        assert revision_of(url) == migrate.head_revision()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_old_database_is_upgraded_and_keeps_its_data(request, tmp_path, backend):
    with empty_database(request, tmp_path, backend) as url:
        migrate.upgrade(url, "0001")
        assert "alerts" not in structure(url)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO runs (run_id, scenario_name, scenario_text, seed, mode, engine, status, started_at) "
                    "VALUES ('old', 'default', '', 1, 'sim', 'reference', 'complete', CURRENT_TIMESTAMP)"
                )
            )
        engine.dispose()
        with RunStore(url) as store:
            assert store.get_run("old")["status"] == "complete"
            store.add_alerts("old", [{"ts": 5, "rule": "dd", "kind": "drawdown", "message": "x"}])
            assert store.alerts("old")[0]["rule"] == "dd"
        assert revision_of(url) == migrate.head_revision()


def test_a_database_made_before_migrations_is_completed_and_stamped(tmp_path):
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    migrate.upgrade(url, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    with RunStore(url) as store:
        assert store.ping()
    assert revision_of(url) == migrate.head_revision()
    assert "alerts" in structure(url)


def test_downgrade_to_base_and_back(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'down.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(connection=conn), "base")
    engine.dispose()
    assert structure(url) == {}
    migrate.upgrade(url)
    assert set(structure(url)) == set(Base.metadata.tables)


def test_every_revision_file_is_in_one_linear_history():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config())
    revs = list(script.walk_revisions())
    assert [r.revision for r in reversed(revs)] == ["0001", "0002"]
    assert script.get_heads() == [migrate.head_revision()]


def test_db_command_upgrades_and_reports(tmp_path, capsys):
    from scenarios.cli import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["db", "upgrade", "--store", url]) == 0
    assert capsys.readouterr().out.strip() == f"{url}: revision 0002 (head 0002)"
    assert structure(url).keys() == set(Base.metadata.tables)


def test_postgres_tests_skip_without_server_binaries(monkeypatch):
    from tests import conftest

    monkeypatch.setattr(conftest, "PG_BIN_CANDIDATES", [])
    monkeypatch.delenv("PARITY_PG_BIN", raising=False)
    monkeypatch.setenv("PATH", "")
    assert conftest.find_pg_bin() is None
