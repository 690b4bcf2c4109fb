"""Attach handles of SPDK targets: attach_type NVMF and VHOST_USER besides PCI/MDEV.

Downgrading removes the handles of these types first (the narrower CHECK would refuse
them); an ARQ bound to one becomes BindFailed, saying why. A downgraded agent reports
no SPDK handles anyway.

Revision ID: f4b8e1c3a7d2
Revises: e2c7a4f9b1d6
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "f4b8e1c3a7d2"
down_revision = "e2c7a4f9b1d6"
branch_labels = None
depends_on = None

TABLE = "attach_handles"
CONSTRAINT = "ck_attach_handles_attach_type"
OLD = ("PCI", "MDEV", "TEST_PCI")
NEW = (*OLD, "NVMF", "VHOST_USER")


def _enum(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="attach_type", native_enum=False, create_constraint=True, length=32
    )


def _check(values: tuple[str, ...]) -> str:
    return "attach_type IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _change(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table.
        with op.batch_alter_table(TABLE, recreate="always") as batch:
            batch.alter_column(
                "attach_type", existing_type=_enum(old), type_=_enum(new), existing_nullable=False
            )
        return
    op.drop_constraint(op.f(CONSTRAINT), TABLE, type_="check")
    op.create_check_constraint(op.f(CONSTRAINT), TABLE, _check(new))


def upgrade() -> None:
    _change(OLD, NEW)


def downgrade() -> None:
    handles = sa.table(TABLE, sa.column("id"), sa.column("attach_type"))
    spdk = sa.select(handles.c.id).where(handles.c.attach_type.in_(["NVMF", "VHOST_USER"]))
    arqs = sa.table(
        "extended_accelerator_requests",
        sa.column("attach_handle_id"),
        sa.column("state"),
        sa.column("bind_failure_reason"),
    )
    op.execute(
        arqs.update()
        .where(arqs.c.attach_handle_id.in_(spdk))
        .values(
            attach_handle_id=None,
            state="BindFailed",
            bind_failure_reason="its SPDK attach handle was removed by a database downgrade",
        )
    )
    op.execute(handles.delete().where(handles.c.attach_type.in_(["NVMF", "VHOST_USER"])))
    _change(NEW, OLD)
