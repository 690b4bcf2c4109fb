"""The transaction context manager that every data-access function uses.

Readers and writers are declared with ``@context_manager.reader`` and
``@context_manager.writer`` on functions whose first argument is a RequestContext.
"""

from typing import Any

import sqlalchemy as sa
from oslo_config import cfg
from oslo_db.sqlalchemy import enginefacade

from cyborg.db import commit_guard  # noqa: F401 - registers the deadline checks of commits

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


def connection_url(url: str) -> str:
    """``url`` with the connection character set every backend needs for all of UTF-8.

    On MySQL/MariaDB oslo.db connects with ``charset=utf8`` unless the URL names one,
    and MySQL's utf8 is utf8mb3: a character beyond the BMP (an emoji in a
    description) is then refused by the server ("Incorrect string value"), although
    the tables are utf8mb4. A URL without a charset gets ``utf8mb4``; one that names
    a charset is the operator's choice and is kept. Other backends are unchanged.
    """
    if not url:
        return url
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() != "mysql" or "charset" in parsed.query:
        return url
    return parsed.update_query_dict({"charset": "utf8mb4"}).render_as_string(hide_password=False)


def engine_options(conf: cfg.ConfigOpts) -> dict[str, Any]:
    """What enginefacade.configure() takes from ``[database]``."""
    options = {name: conf.database[name] for name in _ENGINE_OPTIONS if name in conf.database}
    for name in ("connection", "slave_connection"):
        if options.get(name):
            options[name] = connection_url(options[name])
    return options


def configure(conf: cfg.ConfigOpts) -> None:
    """Point the context manager at ``[database]``; call once per process, before use."""
    # SQLite leaves foreign keys unenforced unless asked; the schema relies on them.
    context_manager.configure(sqlite_fk=True, **engine_options(conf))
    tune_engine(get_engine())


def tune_engine(engine: sa.Engine) -> None:
    """Transaction behaviour the data-access code relies on, per database.

    MySQL/MariaDB run READ COMMITTED: the code serializes with row locks and
    compare-and-swap, never with REPEATABLE READ's snapshots, and REPEATABLE READ's gap
    locks on empty ranges (a first report locking a host that has no devices yet)
    made concurrent inserts of different hosts deadlock. PostgreSQL's default is
    already READ COMMITTED. SQLite: see _serialize_sqlite_writers.
    """
    if engine.dialect.name == "mysql":

        @sa.event.listens_for(engine, "connect")
        def _read_committed(dbapi_connection: Any, record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")

        engine.dispose()  # oslo.db connected once already, before this listener

    _serialize_sqlite_writers(engine)


def _serialize_sqlite_writers(engine: sa.Engine) -> None:
    """Begin every SQLite transaction with BEGIN IMMEDIATE (the write lock, up front).

    A deferred transaction that reads and then writes cannot wait for a concurrent
    writer: SQLite fails it at once with "database is locked". Taking the lock at BEGIN
    makes it wait (up to the driver's busy timeout) instead. SQLite is the all-in-one's
    database, so serializing its transactions costs little.
    """
    if engine.dialect.name != "sqlite":
        return
    # oslo.db emits a plain BEGIN in its own listener (and marks the connection
    # "in_transaction" until commit or rollback): ours replaces it.
    for listener in list(engine.dispatch.begin):
        if getattr(listener, "__name__", "") == "_sqlite_emit_begin":
            sa.event.remove(engine, "begin", listener)

    @sa.event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        if "in_transaction" not in connection.info:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            connection.info["in_transaction"] = True


def get_engine() -> Any:
    """The writer engine (migrations and tools need it directly)."""
    return context_manager.writer.get_engine()
