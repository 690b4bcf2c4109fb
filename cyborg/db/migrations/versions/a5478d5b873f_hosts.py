"""Hosts: each agent's identity, inventory fingerprint and liveness.

Revision ID: a5478d5b873f
Revises: 575af221a9a6
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "a5478d5b873f"
down_revision = "575af221a9a6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("inventory_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "up",
                "stale",
                name="host_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hosts")),
        sa.UniqueConstraint("hostname", name=op.f("uq_hosts_hostname")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
