"""MIG partitions of one GPU held by several pods' claims: one row per partition.

Revision ID: b3e9d5a1c7f2
Revises: f4b8e1c3a7d2
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "b3e9d5a1c7f2"
down_revision = "f4b8e1c3a7d2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pod_mig_partitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_uid", sa.String(length=36), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("gpu_claim_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("start_slice", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["gpu_claim_id"],
            ["pod_device_claims.id"],
            name=op.f("fk_pod_mig_partitions_gpu_claim_id"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pod_mig_partitions")),
        sa.UniqueConstraint(
            "gpu_claim_id",
            "profile",
            "start_slice",
            name=op.f("uq_pod_mig_partitions_gpu_claim_id_profile_start_slice"),
        ),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    op.create_index("ix_pod_mig_partitions_claim_uid", "pod_mig_partitions", ["claim_uid"])
    op.create_index(
        op.f("ix_pod_mig_partitions_gpu_claim_id"), "pod_mig_partitions", ["gpu_claim_id"]
    )


def downgrade() -> None:
    """Back to f4b8e1c3a7d2: the partitions are forgotten, and so are the GPU rows they
    shared (pod_device_claims rows they reference), whose handles are freed. Run it
    with the pods' MIG partitions given back: the GPUs' Placement allocations
    (consumers of type POD) are the operator's to delete."""
    parts = sa.table("pod_mig_partitions", sa.column("gpu_claim_id", sa.Integer))
    claims = sa.table(
        "pod_device_claims", sa.column("id", sa.Integer), sa.column("attach_handle_id")
    )
    handles = sa.table("attach_handles", sa.column("id"), sa.column("in_use"))
    shared = sa.select(parts.c.gpu_claim_id).distinct()
    shared_handles = sa.select(claims.c.attach_handle_id).where(claims.c.id.in_(shared))
    op.execute(handles.update().where(handles.c.id.in_(shared_handles)).values(in_use=False))
    rows = [row[0] for row in op.get_bind().execute(shared)]
    op.drop_index(op.f("ix_pod_mig_partitions_gpu_claim_id"), table_name="pod_mig_partitions")
    op.drop_index("ix_pod_mig_partitions_claim_uid", table_name="pod_mig_partitions")
    op.drop_table("pod_mig_partitions")
    if rows:
        op.execute(claims.delete().where(claims.c.id.in_(rows)))
