"""Schema migrations (alembic) for cyborg-dbsync, the services' checks and the tests."""

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script

SCRIPT_LOCATION = "cyborg.db:migrations"


def _config(connection: sa.engine.Connection | None = None) -> alembic_config.Config:
    cfg = alembic_config.Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@contextlib.contextmanager
def _connected(engine: sa.engine.Engine) -> Iterator[alembic_config.Config]:
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                yield _config(connection)
            return
        with _sqlite_foreign_keys_deferred(connection):
            yield _config(connection)


def _sqlite_pragma(connection: sa.engine.Connection, statement: str) -> Any:
    """Run a PRAGMA on the driver's connection: outside any transaction (SQLAlchemy's
    would begin one, in which ``PRAGMA foreign_keys`` does nothing)."""
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None  # a live connection, just checked out
    return driver_connection.execute(statement).fetchall()


@contextlib.contextmanager
def _sqlite_foreign_keys_deferred(connection: sa.engine.Connection) -> Iterator[None]:
    """Migrate with SQLite's foreign keys off, checked before commit.

    SQLite alters a table by copying it and dropping the original; with foreign keys
    enforced, that DROP deletes the rows that reference the table (ON DELETE CASCADE:
    every attach handle of a control path) or fails (ON DELETE RESTRICT). The copy has
    the same rows and ids, so the references hold again once it is renamed: checked
    with ``PRAGMA foreign_key_check`` before the transaction commits.
    """
    enforced = _sqlite_pragma(connection, "PRAGMA foreign_keys")[0][0]
    _sqlite_pragma(connection, "PRAGMA foreign_keys = OFF")
    try:
        with connection.begin():
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left foreign keys broken: {broken}")
    finally:
        _sqlite_pragma(connection, f"PRAGMA foreign_keys = {'ON' if enforced else 'OFF'}")


def upgrade(engine: sa.engine.Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (a no-op when it is there already)."""
    with _connected(engine) as cfg:
        command.upgrade(cfg, revision)


def downgrade(engine: sa.engine.Engine, revision: str) -> None:
    """Take the schema back to ``revision`` (for tests and for an operator's rollback)."""
    with _connected(engine) as cfg:
        command.downgrade(cfg, revision)


def stamp(engine: sa.engine.Engine, revision: str = "head") -> None:
    """Record ``revision`` as current without running migrations."""
    with _connected(engine) as cfg:
        command.stamp(cfg, revision)


def revision(engine: sa.engine.Engine, message: str, autogenerate: bool = False) -> str:
    """Write a new migration script; with ``autogenerate``, diff models against the DB."""
    with _connected(engine) as cfg:
        script = command.revision(cfg, message=message, autogenerate=autogenerate)
    if isinstance(script, list):  # only with multiple heads, which we never have
        script = script[0]
    return script.path if script is not None else ""


def current_revision(engine: sa.engine.Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with engine.connect() as connection:
        return alembic_migration.MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision this code ships."""
    head = alembic_script.ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head
