"""The transaction context manager that every data-access function uses.

Readers and writers are declared with ``@context_manager.reader`` and
``@context_manager.writer`` on functions whose first argument is a RequestContext.
"""

from typing import Any

from oslo_config import cfg
from oslo_db.sqlalchemy import enginefacade

context_manager = enginefacade.transaction_context()

# oslo.db [database] options that enginefacade.configure() understands.
_ENGINE_OPTIONS = (
    "connection",
    "slave_connection",
    "sqlite_synchronous",
    "mysql_sql_mode",
    "mysql_wsrep_sync_wait",
    "mysql_enable_ndb",
    "connection_recycle_time",
    "connection_debug",
    "max_pool_size",
    "max_overflow",
    "pool_timeout",
    "connection_trace",
    "max_retries",
    "retry_interval",
    "connection_parameters",
)


def configure(conf: cfg.ConfigOpts) -> None:
    """Point the context manager at ``[database]``; call once per process, before use."""
    options = {name: conf.database[name] for name in _ENGINE_OPTIONS if name in conf.database}
    # SQLite leaves foreign keys unenforced unless asked; the schema relies on them.
    context_manager.configure(sqlite_fk=True, **options)


def get_engine() -> Any:
    """The writer engine (migrations and tools need it directly)."""
    return context_manager.writer.get_engine()
