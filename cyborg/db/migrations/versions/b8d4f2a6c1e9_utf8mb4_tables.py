"""MySQL/MariaDB: every table and text column in utf8mb4, so 4-byte characters fit.

Cyborg creates its tables in utf8mb4, but a table in another character set (MySQL's
``utf8``, which is the 3-byte utf8mb3, as upstream Cyborg's schema has it; or a
server default such as latin1 where a table was made by hand) refuses a character
beyond the BMP with "Incorrect string value". This converts each table of the schema
that has a text column or a default in another character set; a schema already in
utf8mb4 is left untouched (no table is rebuilt). SQLite and PostgreSQL store all of
UTF-8 already: nothing to do. There is no downgrade: converting back would lose
characters.

Revision ID: b8d4f2a6c1e9
Revises: f1b6d3a9c2e8
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from cyborg.db import migration

revision = "b8d4f2a6c1e9"
down_revision = "f1b6d3a9c2e8"
branch_labels = None
depends_on = None

# The schema's tables at this revision (not the models': they may change later).
TABLES = (
    "alembic_version",
    "attach_handles",
    "attributes",
    "controlpath_ids",
    "deployables",
    "device_profiles",
    "devices",
    "extended_accelerator_requests",
    "graphs",
    "hosts",
    "nova_notifications",
    "plans",
    "scheduler_factors",
)

NOT_UTF8MB4 = sa.text(
    """
    SELECT t.table_name FROM information_schema.tables t
    WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE'
      AND (t.table_collation NOT LIKE 'utf8mb4%' OR EXISTS (
        SELECT 1 FROM information_schema.columns c
        WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name
          AND c.character_set_name IS NOT NULL AND c.character_set_name <> 'utf8mb4'))
    """
)


def tables_to_convert(connection: sa.Connection) -> list[str]:
    """The schema's tables (of the current database) not wholly in utf8mb4."""
    found = connection.execute(NOT_UTF8MB4).scalars()
    return sorted(name for name in found if name in TABLES)


# The schema's TEXT columns: CONVERT TO widens each to MEDIUMTEXT (sized for 4 bytes a
# character), which the models do not declare. Their bytes are unchanged (a character
# of utf8mb3 is the same bytes in utf8mb4), so they fit TEXT again.
TEXT_COLUMNS = {
    "attributes": ("value",),
    "device_profiles": ("profile_json", "description"),
    "devices": ("std_board_info", "vendor_board_info"),
    "extended_accelerator_requests": ("device_profile_group", "claimed_resources"),
    "plans": ("request_json",),
}

WIDENED = sa.text(
    """
    SELECT column_name, is_nullable FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = :table AND data_type = 'mediumtext'
    """
)


def _restore_text_columns(connection: sa.Connection, table: str) -> None:
    for name, nullable in connection.execute(WIDENED, {"table": table}):
        if name in TEXT_COLUMNS.get(table, ()):
            op.alter_column(
                table,
                name,
                type_=sa.Text(),
                existing_type=mysql.MEDIUMTEXT(),
                existing_nullable=nullable == "YES",
            )


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "mysql":
        return
    tables = tables_to_convert(connection)
    for number, table in enumerate(tables, 1):
        # A table is rebuilt as it converts: minutes for a large one.
        migration.note(f"converting table {table} to utf8mb4 ({number}/{len(tables)})")
        op.execute(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4")
        _restore_text_columns(connection, table)
