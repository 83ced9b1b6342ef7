"""Alembic environment of the run store.

Used by ``adapters.store.migrate`` (which passes an open connection in
``config.attributes["connection"]``) and by the ``alembic`` command line::

    alembic -c adapters/store/migrations/alembic.ini -x url=sqlite:///parity_runs.db upgrade head

The URL comes from ``-x url=...``, else ``PARITY_STORE_URL``, else the
``sqlalchemy.url`` option, else the default SQLite file.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from adapters.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    x = context.get_x_argument(as_dictionary=True)
    return (
        x.get("url")
        or os.environ.get("PARITY_STORE_URL")
        or config.get_main_option("sqlalchemy.url")
        or "sqlite:///parity_runs.db"
    )


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite has no ALTER for most changes
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
