"""The run store: runs, orders, fills, risk events and PnL snapshots in SQL (SQLAlchemy).

``RunStore`` is the API; :mod:`adapters.store.schema` holds the table models,
:mod:`adapters.store.migrate` the Alembic migrations and :class:`StoreWriter`
the batched background writer a run feeds.
"""

from adapters.store.run_store import DEFAULT_URL, ROW_DEFAULTS, RunStore, mask_url
from adapters.store.schema import RUN_STATUSES
from adapters.store.writer import StoreWriter

__all__ = ["DEFAULT_URL", "ROW_DEFAULTS", "RUN_STATUSES", "RunStore", "StoreWriter", "mask_url"]
