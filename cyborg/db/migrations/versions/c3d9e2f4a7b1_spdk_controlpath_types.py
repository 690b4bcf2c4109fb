"""Control paths of SPDK targets: cpid_type NVMF and VHOST besides PCI.

Revision ID: c3d9e2f4a7b1
Revises: a5478d5b873f
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "c3d9e2f4a7b1"
down_revision = "a5478d5b873f"
branch_labels = None
depends_on = None

CONSTRAINT = "ck_controlpath_ids_cpid_type"
NEW_CHECK = "cpid_type IN ('PCI', 'NVMF', 'VHOST')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table.
        with op.batch_alter_table("controlpath_ids", recreate="always") as batch:
            batch.alter_column(
                "cpid_type",
                existing_type=sa.Enum(
                    "PCI", name="cpid_type", native_enum=False, create_constraint=True, length=32
                ),
                type_=sa.Enum(
                    "PCI",
                    "NVMF",
                    "VHOST",
                    name="cpid_type",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                existing_nullable=False,
            )
        return
    op.drop_constraint(op.f(CONSTRAINT), "controlpath_ids", type_="check")
    op.create_check_constraint(op.f(CONSTRAINT), "controlpath_ids", NEW_CHECK)
