"""The graph-aware scheduler's graphs, plans and learned factors.

Revision ID: f1b6d3a9c2e8
Revises: e5a3c8d2b7f4
Create Date: 2026-11-24
"""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql")
TABLE_ARGS: dict[str, Any] = {"mysql_charset": "utf8mb4", "mysql_engine": "InnoDB"}

revision = "f1b6d3a9c2e8"
down_revision = "e5a3c8d2b7f4"
branch_labels = None
depends_on = None


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "graphs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("graph_json", LONG_TEXT, nullable=False),
        sa.Column("nodes", sa.Integer(), nullable=False),
        sa.Column("flops", sa.Float(), nullable=False),
        sa.Column("bytes_moved", sa.Float(), nullable=False),
        sa.Column("param_bytes", sa.Float(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_graphs")),
        sa.UniqueConstraint("uuid", name=op.f("uq_graphs_uuid")),
        **TABLE_ARGS,
    )
    op.create_index("ix_graphs_project_id", "graphs", ["project_id"])
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("graph_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("objective", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("request_json", sa.Text(), nullable=False),
        sa.Column("result_json", LONG_TEXT, nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "proposed",
                "claimed",
                name="plan_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("consumer_uuid", sa.String(length=36), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["graph_id"], ["graphs.id"], name=op.f("fk_plans_graph_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("uuid", name=op.f("uq_plans_uuid")),
        **TABLE_ARGS,
    )
    op.create_index("ix_plans_graph_id", "plans", ["graph_id"])
    op.create_index("ix_plans_project_id", "plans", ["project_id"])
    op.create_table(
        "scheduler_factors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("op_type", sa.String(length=255), nullable=False),
        sa.Column("device_model", sa.String(length=255), nullable=False),
        sa.Column("factor", sa.Float(), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_factors")),
        sa.UniqueConstraint(
            "op_type", "device_model", name=op.f("uq_scheduler_factors_op_type_device_model")
        ),
        **TABLE_ARGS,
    )
