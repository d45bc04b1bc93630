"""Tables, queries and migrations. Query functions take a Connection; callers own transactions."""

from autoticket.store.db import make_engine, migrate, read_only
from autoticket.store.tables import metadata

__all__ = ["make_engine", "metadata", "migrate", "read_only"]
