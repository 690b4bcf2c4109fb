"""Devices handed to Kubernetes pods: one row per (ResourceClaim, attach handle).

Revision ID: c8f3a1d6e2b9
Revises: a9c4e7d2b6f3
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "c8f3a1d6e2b9"
down_revision = "a9c4e7d2b6f3"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pod_device_claims",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_uid", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("attach_handle_id", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["attach_handle_id"],
            ["attach_handles.id"],
            name=op.f("fk_pod_device_claims_attach_handle_id"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pod_device_claims")),
        sa.UniqueConstraint(
            "attach_handle_id", name=op.f("uq_pod_device_claims_attach_handle_id")
        ),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_pod_device_claims_claim_uid", "pod_device_claims", ["claim_uid"])
    op.create_index("ix_pod_device_claims_hostname", "pod_device_claims", ["hostname"])


def downgrade() -> None:
    """Back to a9c4e7d2b6f3: the pods' claims are forgotten and their handles freed
    (run it only with the pods' devices given back: their Placement allocations,
    consumers of type POD, are the operator's to delete)."""
    claims = sa.table("pod_device_claims", sa.column("attach_handle_id", sa.Integer))
    claimed = sa.select(claims.c.attach_handle_id)
    handles = sa.table("attach_handles", sa.column("id"), sa.column("in_use"))
    op.execute(handles.update().where(handles.c.id.in_(claimed)).values(in_use=False))
    op.drop_index("ix_pod_device_claims_hostname", table_name="pod_device_claims")
    op.drop_index("ix_pod_device_claims_claim_uid", table_name="pod_device_claims")
    op.drop_table("pod_device_claims")
