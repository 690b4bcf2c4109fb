"""Cluster-scheduling jobs (API microversion 2.9): the scheduler's queue.

Revision ID: b3e7d1f9a4c6
Revises: b3e9d5a1c7f2
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
DOUBLE = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql")

revision = "b3e7d1f9a4c6"
down_revision = "b3e9d5a1c7f2"
branch_labels = None
depends_on = None

STATES = ("queued", "allocated", "running", "finished", "cancelled")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("graph_uuid", sa.String(length=36), nullable=True),
        sa.Column("job_type", sa.String(length=255), nullable=True),
        sa.Column("throughputs_json", sa.Text(), nullable=True),
        sa.Column("min_devices", sa.Integer(), nullable=False),
        sa.Column("max_devices", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("weight", DOUBLE, nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                *STATES, name="job_state", native_enum=False, create_constraint=True, length=32
            ),
            nullable=False,
        ),
        sa.Column("allocation_json", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("uuid", name=op.f("uq_jobs_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_jobs_project_id_state", "jobs", ["project_id", "state"])
    op.create_index(
        "ix_jobs_state_priority_created_at", "jobs", ["state", "priority", "created_at"]
    )


def downgrade() -> None:
    """Back to f4b8e1c3a7d2: the queue is forgotten (no job holds a device: the
    scheduler only proposes allocations)."""
    op.drop_index("ix_jobs_state_priority_created_at", table_name="jobs")
    op.drop_index("ix_jobs_project_id_state", table_name="jobs")
    op.drop_table("jobs")
