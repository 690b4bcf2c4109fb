"""Outbox of Nova accelerator-request-bound events; why a bind failed.

Revision ID: d7e2b9c4f1a6
Revises: c3d9e2f4a7b1
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "d7e2b9c4f1a6"
down_revision = "c3d9e2f4a7b1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("extended_accelerator_requests") as batch:
        batch.add_column(sa.Column("bind_failure_reason", sa.String(length=255), nullable=True))
    op.create_table(
        "nova_notifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("arq_id", sa.Integer(), nullable=False),
        sa.Column("arq_uuid", sa.String(length=36), nullable=False),
        sa.Column("instance_uuid", sa.String(length=36), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "completed",
                "failed",
                name="event_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["arq_id"],
            ["extended_accelerator_requests.id"],
            name=op.f("fk_nova_notifications_arq_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nova_notifications")),
        sa.UniqueConstraint("arq_id", name=op.f("uq_nova_notifications_arq_id")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_nova_notifications_instance_uuid", "nova_notifications", ["instance_uuid"])
    op.create_index(
        "ix_nova_notifications_next_attempt_at", "nova_notifications", ["next_attempt_at"]
    )
