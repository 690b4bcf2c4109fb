"""MySQL/MariaDB: the scheduler's numbers (flops, bytes, factors) in DOUBLE.

``sa.Float`` is FLOAT on MySQL/MariaDB, single precision, which the server also sends
rounded to six significant digits: a graph's 3141592653589 flops read back as
3141590000000. DOUBLE keeps what the code computed, as PostgreSQL's double precision
and SQLite's REAL already do (nothing to change there). Values stored before this
revision keep what FLOAT held.

Revision ID: 9c4e7a2d5b13
Revises: b8d4f2a6c1e9
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "9c4e7a2d5b13"
down_revision = "b8d4f2a6c1e9"
branch_labels = None
depends_on = None

COLUMNS = {
    "graphs": ("flops", "bytes_moved", "param_bytes"),
    "scheduler_factors": ("factor",),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "mysql":
        return
    for table, columns in COLUMNS.items():
        for column in columns:
            op.alter_column(
                table,
                column,
                existing_type=sa.Float(),
                type_=mysql.DOUBLE(asdecimal=False),
                existing_nullable=False,
            )
