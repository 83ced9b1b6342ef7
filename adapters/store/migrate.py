"""Schema migrations of the run store (Alembic).

The revisions live in ``adapters/store/migrations/versions``; the newest one
must produce exactly the tables of :mod:`adapters.store.schema` (a test
checks this on SQLite and PostgreSQL).

:func:`ensure_schema` is what :class:`~adapters.store.RunStore` calls on
open: a database without the store's tables gets them (``create_all``, the
same DDL as ``upgrade head``, checked by that test) and is stamped at head; a
database stamped at an older revision is upgraded; a database created before
migrations existed (tables but no ``alembic_version``) gets its missing
tables and is stamped. The command line: ``parity db upgrade|current``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, inspect

from adapters.store.schema import Base

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the run store (no ini file needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision id."""
    head = _script().get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The revision the database is stamped at (None: not under Alembic)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def upgrade(target: str | Engine, revision: str = "head") -> None:
    """Run the migrations up to ``revision`` on a URL or engine."""
    from alembic import command

    engine = create_engine(target) if isinstance(target, str) else target
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), revision)
    finally:
        if isinstance(target, str):
            engine.dispose()


def ensure_schema(engine: Engine) -> None:
    """Bring ``engine``'s database to the head revision (see the module doc)."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as conn:
        ctx = MigrationContext.configure(conn)
        current = ctx.get_current_revision()
        head = head_revision()
        if current == head:
            Base.metadata.create_all(conn)  # cheap when complete; repairs dropped tables
            return
        if current is None:
            # New database (or one made before migrations): create what is missing, stamp head.
            Base.metadata.create_all(conn)
            ctx.stamp(_script(), head)
        else:
            command.upgrade(alembic_config(connection=conn), "head")


def schema_differences(conn: Connection) -> list:
    """Alembic's autogenerate diff between the database and the ORM models ([] = identical)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return [d for d in compare_metadata(ctx, Base.metadata) if not _is_alembic_table(d)]


def _is_alembic_table(diff: object) -> bool:
    return isinstance(diff, tuple) and len(diff) > 1 and getattr(diff[1], "name", None) == "alembic_version"


def table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "schema_differences",
    "table_names",
    "upgrade",
]
