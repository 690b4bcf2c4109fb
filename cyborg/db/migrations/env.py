"""Alembic environment: runs migrations on the connection cyborg.db.migration hands in."""

from alembic import context

from cyborg.db import migration, models

target_metadata = models.Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("cyborg migrations run through cyborg.db.migration (cyborg-dbsync)")
    progress = context.config.attributes[migration.PROGRESS]
    context.configure(
        connection=connection,
        on_version_apply=lambda step, **_: migration.applied(step, progress),
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
