"""What each conductor call committed, for callers that lost the reply.

Revision ID: a9c4e7d2b6f3
Revises: a9c4e7b2d5f3
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "a9c4e7d2b6f3"
down_revision = "a9c4e7b2d5f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conductor_calls",
        sa.Column("call_id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("finished", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_conductor_calls")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_conductor_calls_created_at", "conductor_calls", ["created_at"])
