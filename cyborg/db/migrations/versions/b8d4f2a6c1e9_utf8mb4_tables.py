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


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "mysql":
        return
    for table in tables_to_convert(connection):
        op.execute(f"ALTER TABLE `{table}` CONVERT TO CHARACTER SET utf8mb4")
