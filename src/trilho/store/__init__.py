"""The state store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL (many replicas).

Each capability owns its tables in ``trilho.store.tables.<area>`` and its migration in
``trilho/store/migrations/versions``; every area's migration descends from ``0000_base`` with its own branch
label, and ``Store.migrate()`` upgrades to all heads.
"""

from trilho.store.engine import Store, open_store
from trilho.store.tables import metadata

__all__ = ["Store", "metadata", "open_store"]
