"""Schema migrations (alembic) for cyborg-dbsync, the services' checks and the tests."""

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic import config as alembic_config
from alembic import context as alembic_context
from alembic import migration as alembic_migration
from alembic import script as alembic_script

from cyborg.common import progress as progress_mod

SCRIPT_LOCATION = "cyborg.db:migrations"


# Where env.py and the migrations find the reporter of the running upgrade.
PROGRESS = "progress"


def _config(
    connection: sa.engine.Connection | None = None,
    progress: progress_mod.Reporter = progress_mod.SILENT,
) -> alembic_config.Config:
    cfg = alembic_config.Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    if connection is not None:
        cfg.attributes["connection"] = connection
    cfg.attributes[PROGRESS] = progress
    return cfg


@contextlib.contextmanager
def _connected(
    engine: sa.engine.Engine, progress: progress_mod.Reporter = progress_mod.SILENT
) -> Iterator[alembic_config.Config]:
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            with connection.begin():
                yield _config(connection, progress)
            return
        with _sqlite_foreign_keys_deferred(connection):
            yield _config(connection, progress)


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


def upgrade(
    engine: sa.engine.Engine,
    revision: str = "head",
    progress: progress_mod.Reporter = progress_mod.SILENT,
) -> None:
    """Bring the schema up to ``revision`` (a no-op when it is there already);
    ``progress`` gets a stage of the revisions to run and a step as each is applied."""
    pending = pending_revisions(engine, revision)
    progress.phase("revisions", total=len(pending))
    with _connected(engine, progress) as cfg:
        command.upgrade(cfg, revision)


def pending_revisions(engine: sa.engine.Engine, revision: str = "head") -> list[str]:
    """The revisions an upgrade to ``revision`` runs, oldest first."""
    scripts = alembic_script.ScriptDirectory.from_config(_config())
    current = current_revision(engine)
    found = scripts.iterate_revisions(revision, current or "base")
    return [script.revision for script in reversed(list(found))]


def applied(step: alembic_migration.MigrationInfo, progress: progress_mod.Reporter) -> None:
    """One revision done (alembic's ``on_version_apply``, wired in env.py)."""
    if step.is_upgrade:
        script = step.up_revision
        text = script.doc if isinstance(script, alembic_script.Script) else ""
        doc = (text or "").strip().splitlines()
        progress.advance(detail=f"{step.up_revision_id} {doc[0] if doc else ''}".strip())


def note(detail: str) -> None:
    """From inside a migration: what its long step is doing (a table being converted,
    rows updated), shown by ``cyborg-dbsync upgrade``."""
    reporter: progress_mod.Reporter = alembic_context.config.attributes.get(
        PROGRESS, progress_mod.SILENT
    )
    reporter.note(detail)


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
