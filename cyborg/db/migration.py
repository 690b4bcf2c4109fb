"""Schema migrations (alembic) for cyborg-dbsync, the services' checks and the tests."""

import contextlib
from collections.abc import Iterator

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
    with engine.begin() as connection:
        yield _config(connection)


def upgrade(engine: sa.engine.Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` (a no-op when it is there already)."""
    with _connected(engine) as cfg:
        command.upgrade(cfg, revision)


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
