"""Conductors' heartbeats, and which conductor is binding each ARQ.

A bind records the conductor run that does it; a conductor whose heartbeat stops
has its binds taken over by another (cyborg.conductor.binding.takeover). ARQs made
before this revision have no binding conductor: binds they are in are taken over
after ``[conductor] bind_timeout`` as before.

Revision ID: a9c4e7b2d5f3
Revises: 9c4e7a2d5b13
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "a9c4e7b2d5f3"
down_revision = "9c4e7a2d5b13"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conductors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conductors")),
        sa.UniqueConstraint("uuid", name=op.f("uq_conductors_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_conductors_hostname", "conductors", ["hostname"])
    with op.batch_alter_table("extended_accelerator_requests") as batch:
        batch.add_column(sa.Column("binding_conductor", sa.String(length=36), nullable=True))
