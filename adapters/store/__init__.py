"""The run store: runs, orders, fills, risk events and PnL snapshots in SQL (SQLAlchemy).

``RunStore`` is the API; :mod:`adapters.store.schema` holds the table models.
"""

from adapters.store.run_store import DEFAULT_URL, ROW_DEFAULTS, RunStore, mask_url
from adapters.store.schema import RUN_STATUSES

__all__ = ["DEFAULT_URL", "ROW_DEFAULTS", "RUN_STATUSES", "RunStore", "mask_url"]
