"""The share of an allocation Cyborg claimed itself for an ARQ (standalone binds).

Revision ID: e5a3c8d2b7f4
Revises: d7e2b9c4f1a6
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "e5a3c8d2b7f4"
down_revision = "d7e2b9c4f1a6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("extended_accelerator_requests") as batch:
        batch.add_column(sa.Column("claimed_resources", sa.Text(), nullable=True))
