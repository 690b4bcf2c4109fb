"""Upgrades keep the data: a filled database at the first revision reaches head intact.

On SQLite, MariaDB and PostgreSQL, an empty database is brought to the first revision
and filled through plain SQL with the rows a deployment holds there (tests/db/
migration_data.py); it is then upgraded to head in one go, or one revision at a time
with the rows each revision newly allows added on the way. After each step every row
must read back exactly as written, with the columns the migrations added holding what
they say; at head the application's models must read every row.
"""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import autogenerate
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from oslo_db import exception as db_exc
from sqlalchemy import orm

from cyborg.db import migration, models
from tests import db_backends
from tests.db import migration_data as data
from tests.db.migration_data import Row


def _revisions() -> list[str]:
    """Every revision, oldest first."""
    directory = alembic_script.ScriptDirectory.from_config(migration._config())
    return [script.revision for script in reversed(list(directory.walk_revisions()))]


@pytest.fixture
def engine(empty_db_url: str) -> Iterator[sa.Engine]:
    engine = db_backends.make_engine(empty_db_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _insert(connection: sa.Connection, table: str, rows: list[Row]) -> None:
    quote = connection.dialect.identifier_preparer.quote
    columns = list(rows[0])
    statement = sa.text(
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(f':{c}' for c in columns)})"
    )
    connection.execute(statement, rows)


def _fill(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as connection:
        for table, rows in data.ROWS_AT.get(revision, []):
            _insert(connection, table, rows)


def _expected(filled: list[str], reached: list[str]) -> dict[str, list[Row]]:
    """Each table's rows, filled at the revisions ``filled``, once ``reached`` (in
    order) ran: a revision's new columns take its value in the rows already there."""
    tables: dict[str, list[Row]] = {}
    for revision in reached:
        for table, added in data.ADDED_COLUMNS.get(revision, {}).items():
            tables[table] = [
                {**row, **added(row)} if callable(added) else {**added, **row}
                for row in tables.get(table, [])
            ]
        if revision in filled:
            for table, rows in data.ROWS_AT.get(revision, []):
                tables.setdefault(table, []).extend(rows)
    return {table: sorted(rows, key=lambda r: r["id"]) for table, rows in tables.items()}


def _read(engine: sa.Engine, table_names: list[str]) -> dict[str, list[Row]]:
    """The tables as stored, through the schema reflected from the database."""
    found: dict[str, list[Row]] = {}
    with engine.connect() as connection:
        for name in table_names:
            table = sa.Table(name, sa.MetaData(), autoload_with=connection)
            for column in table.c:
                if isinstance(column.type, sa.Float):  # MySQL's reflect as Decimal(10)
                    column.type.asdecimal = False
            rows = connection.execute(sa.select(table).order_by(table.c.id)).mappings()
            found[name] = [dict(row) for row in rows]
    return found


def _plain(tables: dict[str, list[Row]]) -> dict[str, list[Row]]:
    return {
        name: [{key: data.as_read(value) for key, value in row.items()} for row in rows]
        for name, rows in tables.items()
    }


def _assert_intact(engine: sa.Engine, expected: dict[str, list[Row]], where: str) -> None:
    actual = _plain(_read(engine, list(expected)))
    wanted = _plain(expected)
    for table in wanted:
        assert len(actual[table]) == len(wanted[table]), f"{table}: rows lost {where}"
        for got, want in zip(actual[table], wanted[table], strict=True):
            assert got == want, f"{table} row {want['id']} changed {where}"


def _assert_models_read_everything(engine: sa.Engine, expected: dict[str, list[Row]]) -> None:
    """The code at head loads every row (its enums know every stored value)."""
    by_table = {mapper.local_table.name: mapper.class_ for mapper in models.Base.registry.mappers}
    with orm.Session(engine) as session:
        for table, rows in expected.items():
            loaded = session.scalars(sa.select(by_table[table])).all()
            assert sorted(row.id for row in loaded) == [row["id"] for row in rows], table


def _assert_schema_is_the_models(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = alembic_migration.MigrationContext.configure(
            connection, opts={"compare_type": True}
        )
        assert autogenerate.compare_metadata(context, models.Base.metadata) == []


def test_first_revision_filled_upgrades_to_head_in_one_go(engine: sa.Engine) -> None:
    revisions = _revisions()
    migration.upgrade(engine, data.FIRST)
    _fill(engine, data.FIRST)
    migration.upgrade(engine)
    assert migration.current_revision(engine) == revisions[-1]
    expected = _expected([data.FIRST], revisions)
    _assert_intact(engine, expected, "upgrading to head")
    _assert_models_read_everything(engine, expected)
    _assert_schema_is_the_models(engine)


def test_filled_at_every_revision_upgrades_one_revision_at_a_time(engine: sa.Engine) -> None:
    revisions = _revisions()
    assert revisions[0] == data.FIRST
    for position, revision in enumerate(revisions):
        migration.upgrade(engine, revision)
        assert migration.current_revision(engine) == revision
        before = _expected(revisions[:position], revisions[: position + 1])
        _assert_intact(engine, before, f"upgrading to {revision}")
        _fill(engine, revision)
    expected = _expected(revisions, revisions)
    _assert_intact(engine, expected, "at head")
    _assert_models_read_everything(engine, expected)
    _assert_schema_is_the_models(engine)


def _within_bmp(tables: list[tuple[str, list[Row]]]) -> list[tuple[str, list[Row]]]:
    """The rows with each character beyond the BMP replaced (utf8mb3 cannot hold them)."""

    def bmp(value: object) -> object:
        if not isinstance(value, str):
            return value
        return "".join(c if ord(c) <= 0xFFFF else "\ufffd" for c in value)

    return [(t, [{k: bmp(v) for k, v in row.items()} for row in rows]) for t, rows in tables]


def test_utf8mb3_tables_filled_upgrade_to_utf8mb4_intact(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables in MySQL's utf8 (utf8mb3, as upstream Cyborg's) keep their text through
    b8d4f2a6c1e9's conversion, and take 4-byte text afterwards. On the other backends
    the same rows simply upgrade."""
    monkeypatch.setitem(data.ROWS_AT, data.FIRST, _within_bmp(data.ROWS_AT[data.FIRST]))
    migration.upgrade(engine, data.FIRST)
    if engine.dialect.name == "mysql":
        with engine.begin() as connection:
            for table, _ in data.ROWS_AT[data.FIRST]:
                connection.exec_driver_sql(f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb3")
    _fill(engine, data.FIRST)
    migration.upgrade(engine)
    expected = _expected([data.FIRST], _revisions())
    _assert_intact(engine, expected, "upgrading to head")
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE devices SET vendor_board_info = :text WHERE id = 3"),
            {"text": data.EMOJI},
        )
        stored = connection.execute(sa.text("SELECT vendor_board_info FROM devices WHERE id = 3"))
        assert stored.scalar_one() == data.EMOJI
    _assert_schema_is_the_models(engine)


def test_pod_device_claims_downgrade_frees_the_pods_handles(engine: sa.Engine) -> None:
    """c8f3a1d6e2b9 down: the claims go, the handles they held are free, every other
    row is kept; upgrading again gives the models' schema."""
    revisions = _revisions()
    before = revisions.index("c8f3a1d6e2b9") - 1
    for n, revision in enumerate(revisions):
        migration.upgrade(engine, revision)
        if n <= before + 1:  # rows of later revisions are their own tests' business
            _fill(engine, revision)
    with engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE attach_handles SET in_use = :t WHERE id = 3"), {"t": True}
        )
    migration.downgrade(engine, revisions[before])
    assert migration.current_revision(engine) == revisions[before]
    assert "pod_device_claims" not in sa.inspect(engine).get_table_names()
    expected = _expected(revisions, revisions[: before + 1])
    _forgotten_fingerprints(expected)
    _assert_intact(engine, expected, "downgrading c8f3a1d6e2b9")  # handle 3 free, as filled
    migration.upgrade(engine)
    _assert_schema_is_the_models(engine)


def _forgotten_fingerprints(expected: dict[str, list[Row]]) -> None:
    """e2c7a4f9b1d6 made every agent report in full; downgrading does not undo that."""
    expected["hosts"] = [{**row, "inventory_fingerprint": None} for row in expected["hosts"]]


def test_attribute_sources_upgrade_sorts_rows_and_downgrade_keeps_them(
    engine: sa.Engine,
) -> None:
    """e2c7a4f9b1d6: the keys only drivers write become the driver's, the others wait
    for the next report as unknown; down, the column goes and every row stays."""
    revisions = _revisions()
    at = revisions.index("e2c7a4f9b1d6")
    for revision in revisions[:at]:
        migration.upgrade(engine, revision)
        _fill(engine, revision)
    migration.upgrade(engine, "e2c7a4f9b1d6")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, source FROM attributes")).all()
        sources: dict[int, str] = {row[0]: row[1] for row in rows}
        fingerprints = connection.execute(sa.text("SELECT inventory_fingerprint FROM hosts"))
        assert set(fingerprints.scalars()) == {None}
    # Rows 1-8 are rc and trait<N>, 9 the operator's note.
    assert sources == {**dict.fromkeys(range(1, 9), "driver"), 9: "unknown"}
    migration.downgrade(engine, revisions[at - 1])
    expected = _expected(revisions[:at], revisions[:at])
    _forgotten_fingerprints(expected)
    _assert_intact(engine, expected, "downgrading e2c7a4f9b1d6")
    migration.upgrade(engine)
    _assert_schema_is_the_models(engine)


def test_spdk_attach_types_downgrade_fails_the_arqs_bound_to_them(engine: sa.Engine) -> None:
    """f4b8e1c3a7d2 down: NVMF and VHOST_USER handles go, an ARQ bound to one is
    BindFailed with the reason, every other row is kept; up again: the models' schema."""
    revisions = _revisions()
    at = revisions.index("f4b8e1c3a7d2")
    for revision in revisions[: at + 1]:
        migration.upgrade(engine, revision)
        _fill(engine, revision)
    migration.downgrade(engine, revisions[at - 1])
    expected = _expected(revisions[: at + 1], revisions[: at + 1])
    expected["attach_handles"] = [
        row for row in expected["attach_handles"] if row["id"] != data.NVMF_HANDLE_ID
    ]
    arqs = expected["extended_accelerator_requests"]
    (arq,) = [row for row in arqs if row["id"] == data.NVMF_ARQ_ID]
    arq.update(
        attach_handle_id=None,
        state="BindFailed",
        bind_failure_reason="its SPDK attach handle was removed by a database downgrade",
    )
    _assert_intact(engine, expected, "downgrading f4b8e1c3a7d2")
    with engine.begin() as connection, pytest.raises((sa.exc.DBAPIError, db_exc.DBError)):
        connection.execute(sa.text("UPDATE attach_handles SET attach_type = 'NVMF' WHERE id = 1"))
    migration.upgrade(engine)
    _assert_schema_is_the_models(engine)


def test_pod_mig_partitions_downgrade_forgets_the_shared_gpus_and_frees_them(
    engine: sa.Engine,
) -> None:
    """b3e9d5a1c7f2 down: the partitions go, and so does the pod_device_claims row they
    shared, its handle free; every other row is kept; up again: the models' schema."""
    revisions = _revisions()
    at = revisions.index("b3e9d5a1c7f2")
    for revision in revisions[: at + 1]:
        migration.upgrade(engine, revision)
        _fill(engine, revision)
    with engine.begin() as connection:  # the shared GPU's handle, in use as it would be
        connection.execute(
            sa.text("UPDATE attach_handles SET in_use = :t WHERE id = 3"), {"t": True}
        )
    migration.downgrade(engine, revisions[at - 1])
    assert "pod_mig_partitions" not in sa.inspect(engine).get_table_names()
    expected = _expected(revisions[:at], revisions[:at])
    expected["pod_device_claims"] = []  # row 1 was the partitions' GPU row
    _assert_intact(engine, expected, "downgrading b3e9d5a1c7f2")  # handle 3 free, as filled
    migration.upgrade(engine)
    _assert_schema_is_the_models(engine)
