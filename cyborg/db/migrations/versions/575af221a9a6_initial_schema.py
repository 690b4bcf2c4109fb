"""Initial schema: devices, control paths, deployables, attributes, attach handles,
device profiles and accelerator requests.

Revision ID: 575af221a9a6
Revises:
Create Date: 2026-11-23

CHECK constraints of the enum columns are named by the naming convention of
cyborg.db.models (ck_<table>_<enum name>), which alembic applies to ``op``.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

# Microsecond precision on MySQL/MariaDB, whose DATETIME otherwise drops it.
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")

revision = "575af221a9a6"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("profile_json", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_device_profiles_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_device_profiles_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("device_profiles", schema=None) as batch_op:
        batch_op.create_index("ix_device_profiles_project_id", ["project_id"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "GPU",
                "FPGA",
                "AICHIP",
                "QAT",
                "NIC",
                "SSD",
                name="device_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("vendor", sa.String(length=255), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("std_board_info", sa.Text(), nullable=True),
        sa.Column("vendor_board_info", sa.Text(), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "enabled",
                "maintaining",
                name="device_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("uuid", name=op.f("uq_devices_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index("ix_devices_hostname", ["hostname"], unique=False)
        batch_op.create_index("ix_devices_type", ["type"], unique=False)
        batch_op.create_index("ix_devices_vendor", ["vendor"], unique=False)

    op.create_table(
        "controlpath_ids",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column(
            "cpid_type",
            sa.Enum("PCI", name="cpid_type", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("cpid_info", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_controlpath_ids_device_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_controlpath_ids")),
        sa.UniqueConstraint(
            "hostname",
            "cpid_type",
            "cpid_info",
            name=op.f("uq_controlpath_ids_hostname_cpid_type_cpid_info"),
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_controlpath_ids_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("controlpath_ids", schema=None) as batch_op:
        batch_op.create_index("ix_controlpath_ids_device_id", ["device_id"], unique=False)

    op.create_table(
        "deployables",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("root_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("num_accelerators", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("rp_uuid", sa.String(length=36), nullable=True),
        sa.Column("driver_name", sa.String(length=100), nullable=True),
        sa.Column("bitstream_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_deployables_device_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["deployables.id"],
            name=op.f("fk_deployables_parent_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["root_id"],
            ["deployables.id"],
            name=op.f("fk_deployables_root_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployables")),
        sa.UniqueConstraint("device_id", "name", name=op.f("uq_deployables_device_id_name")),
        sa.UniqueConstraint("rp_uuid", name=op.f("uq_deployables_rp_uuid")),
        sa.UniqueConstraint("uuid", name=op.f("uq_deployables_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("deployables", schema=None) as batch_op:
        batch_op.create_index("ix_deployables_parent_id", ["parent_id"], unique=False)
        batch_op.create_index("ix_deployables_root_id", ["root_id"], unique=False)

    op.create_table(
        "attach_handles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("deployable_id", sa.Integer(), nullable=False),
        sa.Column("cpid_id", sa.Integer(), nullable=False),
        sa.Column("in_use", sa.Boolean(), nullable=False),
        sa.Column(
            "attach_type",
            sa.Enum(
                "PCI",
                "MDEV",
                "TEST_PCI",
                name="attach_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("attach_info", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["cpid_id"],
            ["controlpath_ids.id"],
            name=op.f("fk_attach_handles_cpid_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["deployable_id"],
            ["deployables.id"],
            name=op.f("fk_attach_handles_deployable_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attach_handles")),
        sa.UniqueConstraint(
            "deployable_id",
            "attach_info",
            name=op.f("uq_attach_handles_deployable_id_attach_info"),
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_attach_handles_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("attach_handles", schema=None) as batch_op:
        batch_op.create_index("ix_attach_handles_cpid_id", ["cpid_id"], unique=False)

    op.create_table(
        "attributes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("deployable_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["deployable_id"],
            ["deployables.id"],
            name=op.f("fk_attributes_deployable_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attributes")),
        sa.UniqueConstraint("deployable_id", "key", name=op.f("uq_attributes_deployable_id_key")),
        sa.UniqueConstraint("uuid", name=op.f("uq_attributes_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("attributes", schema=None) as batch_op:
        batch_op.create_index("ix_attributes_key", ["key"], unique=False)

    op.create_table(
        "extended_accelerator_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "Initial",
                "BindStarted",
                "Bound",
                "BindFailed",
                "Unbound",
                "UnbindFailed",
                "Deleting",
                name="arq_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("substate", sa.String(length=32), nullable=False),
        sa.Column("device_profile_id", sa.Integer(), nullable=True),
        sa.Column("device_profile_name", sa.String(length=255), nullable=False),
        sa.Column("device_profile_group", sa.Text(), nullable=False),
        sa.Column("device_profile_group_id", sa.Integer(), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("device_rp_uuid", sa.String(length=36), nullable=True),
        sa.Column("instance_uuid", sa.String(length=36), nullable=True),
        sa.Column("attach_handle_id", sa.Integer(), nullable=True),
        sa.Column("deployable_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["attach_handle_id"],
            ["attach_handles.id"],
            name=op.f("fk_extended_accelerator_requests_attach_handle_id"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["deployable_id"],
            ["deployables.id"],
            name=op.f("fk_extended_accelerator_requests_deployable_id"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["device_profile_id"],
            ["device_profiles.id"],
            name=op.f("fk_extended_accelerator_requests_device_profile_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extended_accelerator_requests")),
        sa.UniqueConstraint(
            "attach_handle_id", name=op.f("uq_extended_accelerator_requests_attach_handle_id")
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_extended_accelerator_requests_uuid")),
        mysql_charset="utf8mb4",
        mysql_engine="InnoDB",
    )
    with op.batch_alter_table("extended_accelerator_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_extended_accelerator_requests_deployable_id", ["deployable_id"], unique=False
        )
        batch_op.create_index(
            "ix_extended_accelerator_requests_device_profile_id",
            ["device_profile_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_extended_accelerator_requests_device_rp_uuid", ["device_rp_uuid"], unique=False
        )
        batch_op.create_index(
            "ix_extended_accelerator_requests_instance_uuid", ["instance_uuid"], unique=False
        )
        batch_op.create_index(
            "ix_extended_accelerator_requests_project_id", ["project_id"], unique=False
        )
        batch_op.create_index("ix_extended_accelerator_requests_state", ["state"], unique=False)
