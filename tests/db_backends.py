"""Throw-away databases on SQLite, MariaDB/MySQL and PostgreSQL for the DB tests.

Each test run (and each xdist worker) gets databases of its own, named
``cyborg_test_<worker>_<random>``, dropped at the end. A backend that is asked for
but not reachable fails the tests with the command that starts it: never a skip.

Environment:
  CYBORG_TEST_BACKENDS        comma list of backends to run (default: all three)
  CYBORG_TEST_MYSQL_URL       admin URL (default mysql+pymysql://root@127.0.0.1:3306/)
  CYBORG_TEST_POSTGRESQL_URL  admin URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres)
"""

import os
import secrets
from collections.abc import Iterator

import sqlalchemy as sa

ALL_BACKENDS = ("sqlite", "mysql", "postgresql")

ADMIN_URLS = {
    "mysql": os.environ.get("CYBORG_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/"),
    "postgresql": os.environ.get(
        "CYBORG_TEST_POSTGRESQL_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    ),
}

HOW_TO_START = {
    "mysql": "MariaDB",
    "postgresql": "PostgreSQL",
}


class BackendUnavailable(Exception):
    pass


def selected_backends() -> list[str]:
    names = os.environ.get("CYBORG_TEST_BACKENDS", ",".join(ALL_BACKENDS))
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = set(chosen) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"CYBORG_TEST_BACKENDS: unknown backend(s) {sorted(unknown)}")
    return chosen


def _unique_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"cyborg_test_{worker}_{secrets.token_hex(4)}"


def _admin_engine(backend: str) -> sa.Engine:
    url = ADMIN_URLS[backend]
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as err:
        raise BackendUnavailable(
            f"{HOW_TO_START[backend]} is not reachable at {engine.url.render_as_string()}: "
            f"{err.orig}. Start it with `tools/test-services.sh {backend}` (or set "
            f"CYBORG_TEST_{backend.upper()}_URL to a server where the user may create "
            "databases)."
        ) from err
    return engine


def create_database(backend: str, directory: str) -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    name = _unique_name()
    if backend == "sqlite":
        return f"sqlite:///{os.path.join(directory, name)}.sqlite"
    admin = _admin_engine(backend)
    with admin.connect() as connection:
        if backend == "mysql":
            connection.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET utf8mb4"))
        else:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    # No charset in the URL: the engines add it as the services' do (cyborg.db.api).
    url = sa.engine.make_url(ADMIN_URLS[backend]).set(database=name)
    return url.render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and os.path.exists(parsed.database):
            os.unlink(parsed.database)
        return
    backend = "mysql" if parsed.get_backend_name() == "mysql" else "postgresql"
    admin = _admin_engine(backend)
    with admin.connect() as connection:
        if backend == "mysql":
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {parsed.database}"))
        else:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {parsed.database} WITH (FORCE)"))
    admin.dispose()


def make_engine(url: str) -> sa.Engine:
    """An engine configured as the service configures its own (oslo.db's engine factory)."""
    from oslo_db.sqlalchemy import engines

    from cyborg.db import api as db_api

    engine = engines.create_engine(
        db_api.connection_url(url), sqlite_fk=True, mysql_sql_mode="TRADITIONAL"
    )
    db_api.tune_engine(engine)
    return engine


def iter_tables_for_cleanup(metadata: sa.MetaData) -> Iterator[sa.Table]:
    """Tables children-first, so deleting rows in this order never violates a foreign key."""
    return reversed(metadata.sorted_tables)
