"""Attributes record their owner: the host's reports (driver) or the API (operator).

Rows stored before cannot be told apart: ``rc``, ``trait<N>`` and the health keys
only drivers write become the driver's; any other row is ``unknown`` until the host's
next full report sorts it (a key the driver reports becomes the driver's, any other
the operator's). Every host's fingerprint is forgotten so that each agent sends that
full report once.

Revision ID: e2c7a4f9b1d6
Revises: c8f3a1d6e2b9
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from cyborg.db import migration

revision = "e2c7a4f9b1d6"
down_revision = "c8f3a1d6e2b9"
branch_labels = None
depends_on = None

_DRIVER_ONLY = sa.or_(
    sa.column("key").in_(["rc", "health", "health_reason"]),
    sa.column("key").like("trait%"),
)


def upgrade() -> None:
    with op.batch_alter_table("attributes") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="driver")
        )
    connection = op.get_bind()
    attributes = sa.table("attributes", sa.column("key"), sa.column("source"))
    marked = connection.execute(
        attributes.update().where(sa.not_(_DRIVER_ONLY)).values(source="unknown")
    )
    hosts = sa.table("hosts", sa.column("inventory_fingerprint"))
    forgotten = connection.execute(hosts.update().values(inventory_fingerprint=None))
    migration.note(
        f"{marked.rowcount} attributes of unknown source, "
        f"{forgotten.rowcount} host fingerprints forgotten"
    )


def downgrade() -> None:
    with op.batch_alter_table("attributes") as batch:
        batch.drop_column("source")
