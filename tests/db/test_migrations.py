"""Migrations on SQLite, MariaDB and PostgreSQL: they create the models' schema exactly."""

import importlib
import os
import subprocess
import sys
import tempfile

import pytest
import sqlalchemy as sa
from alembic import autogenerate
from alembic import migration as alembic_migration
from oslo_config import cfg
from oslo_db import exception as db_exc

from cyborg.cmd import dbsync
from cyborg.db import migration, models
from tests import db_backends

MODEL_TABLES = set(models.Base.metadata.tables)


def _dbsync(url: str, *args: str) -> int:
    """Run cyborg-dbsync in-process, with [database] connection from a config file."""
    with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as conf_file:
        conf_file.write(f"[database]\nconnection = {url}\n")
    try:
        return dbsync.main(
            ["cyborg-dbsync", "--config-file", conf_file.name, *args], conf=cfg.ConfigOpts()
        )
    finally:
        os.unlink(conf_file.name)


def test_models_declare_every_upstream_table_and_ours() -> None:
    assert {
        "hosts",
        "conductors",
        "conductor_calls",
        "devices",
        "deployables",
        "attributes",
        "controlpath_ids",
        "attach_handles",
        "device_profiles",
        "extended_accelerator_requests",
        "nova_notifications",
        "graphs",
        "plans",
        "scheduler_factors",
        "pod_device_claims",
        "pod_mig_partitions",
        "jobs",
    } == MODEL_TABLES


def test_dbsync_upgrade_creates_every_table(empty_db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _dbsync(empty_db_url, "upgrade") == 0
    engine = db_backends.make_engine(empty_db_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
        assert tables == MODEL_TABLES | {"alembic_version"}
        assert migration.current_revision(engine) == migration.head_revision()
    finally:
        engine.dispose()
    assert f"empty -> {migration.head_revision()}" in capsys.readouterr().out


def test_models_and_migrations_agree(empty_db_url: str) -> None:
    engine = db_backends.make_engine(empty_db_url)
    try:
        migration.upgrade(engine)
        with engine.connect() as connection:
            context = alembic_migration.MigrationContext.configure(
                connection, opts={"compare_type": True}
            )
            differences = autogenerate.compare_metadata(context, models.Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], f"models and migrations differ on {engine.dialect.name}"


def test_upgrade_twice_changes_nothing(empty_db_url: str) -> None:
    engine = db_backends.make_engine(empty_db_url)
    try:
        migration.upgrade(engine)
        migration.upgrade(engine)
        assert migration.current_revision(engine) == migration.head_revision()
    finally:
        engine.dispose()


def test_version_and_stamp(empty_db_url: str, capsys) -> None:  # type: ignore[no-untyped-def]
    assert _dbsync(empty_db_url, "version") == 0
    assert capsys.readouterr().out.strip() == "None"
    assert _dbsync(empty_db_url, "stamp", "--revision", "head") == 0
    assert _dbsync(empty_db_url, "version") == 0
    assert migration.head_revision() in capsys.readouterr().out


def test_single_head() -> None:
    from alembic import script

    directory = script.ScriptDirectory.from_config(migration._config())
    assert len(directory.get_heads()) == 1


def _dbsync_script(url: str, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    """The installed ``cyborg-dbsync``, its stderr a pipe (no terminal)."""
    conf_file = tmp_path / "cyborg.conf"
    conf_file.write_text(f"[database]\nconnection = {url}\n")
    script = os.path.join(os.path.dirname(sys.executable), "cyborg-dbsync")
    return subprocess.run(
        [script, "--config-file", str(conf_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _revision_lines(stderr: str) -> list[str]:
    """The revisions ``cyborg-dbsync upgrade`` said it applied, in its order."""
    prefix = "cyborg-dbsync upgrade: revisions: "
    found = []
    for line in stderr.splitlines():
        if line.startswith(prefix) and "/" in line.split()[3]:
            found.append(line.removeprefix(prefix))
    return found


def test_dbsync_console_script_upgrades(empty_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The installed ``cyborg-dbsync`` reads [database] connection from a config file,
    and, not on a terminal, writes a line per revision applied to stderr."""
    engine = db_backends.make_engine(empty_db_url)
    try:
        revisions = migration.pending_revisions(engine)
        result = _dbsync_script(empty_db_url, tmp_path, "upgrade")
        assert result.returncode == 0, result.stderr
        assert set(sa.inspect(engine).get_table_names()) >= MODEL_TABLES
    finally:
        engine.dispose()
    assert revisions[0] == "575af221a9a6" and revisions[-1] == migration.head_revision()
    total = len(revisions)
    steps = [line for line in _revision_lines(result.stderr) if line.split()[2] in revisions]
    assert [line.split()[0] for line in steps] == [f"{k}/{total}" for k in range(1, total + 1)]
    assert [line.split()[2] for line in steps] == revisions
    assert "\r" not in result.stderr
    assert f"empty -> {migration.head_revision()}" in result.stdout

    again = _dbsync_script(empty_db_url, tmp_path, "upgrade")
    assert "cyborg-dbsync upgrade: revisions: nothing to do" in again.stderr


def test_dbsync_upgrade_tells_what_data_migrations_do(empty_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The long steps inside a revision show up between the revision lines: each table
    b8d4f2a6c1e9 converts (MariaDB), the rows e2c7a4f9b1d6 changes."""
    engine = db_backends.make_engine(empty_db_url)
    try:
        migration.upgrade(engine, "f1b6d3a9c2e8")
        if engine.dialect.name == "mysql":
            with engine.begin() as connection:
                for table in ("device_profiles", "graphs"):
                    connection.exec_driver_sql(
                        f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb3"
                    )
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO hosts (hostname, inventory_fingerprint, last_seen_at, state, "
                "created_at) VALUES ('h1', 'abc', '2026-01-01', 'up', '2026-01-01')"
            )
        pending = len(migration.pending_revisions(engine))
    finally:
        engine.dispose()
    result = _dbsync_script(empty_db_url, tmp_path, "upgrade")
    assert result.returncode == 0, result.stderr
    lines = _revision_lines(result.stderr)
    if engine.dialect.name == "mysql":  # the revision's line comes when it is done
        assert lines[:2] == [
            f"0/{pending} (0%) converting table device_profiles to utf8mb4 (1/2)",
            f"0/{pending} (0%) converting table graphs to utf8mb4 (2/2)",
        ]
        lines = lines[2:]
    first = f"1/{pending} ({100 // pending}%) b8d4f2a6c1e9 MySQL/MariaDB"
    assert lines[0].startswith(first), lines
    assert any(
        line.endswith("0 attributes of unknown source, 1 host fingerprints forgotten")
        for line in lines
    ), result.stderr


def test_spdk_controlpath_types_keep_existing_rows(empty_db_url: str) -> None:
    """c3d9e2f4a7b1 widens cpid_type on every backend without losing rows."""
    engine = db_backends.make_engine(empty_db_url)
    insert = (
        "INSERT INTO controlpath_ids (uuid, device_id, hostname, cpid_type, cpid_info, "
        "created_at) VALUES (:uuid, 1, 'h', :kind, :info, '2026-01-01')"
    )
    try:
        migration.upgrade(engine, "a5478d5b873f")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO devices (uuid, type, vendor, model, hostname, status, "
                    "created_at) VALUES ('d1', 'SSD', 'SPDK', 'm', 'h', 'enabled', '2026-01-01')"
                )
            )
            connection.execute(sa.text(insert), {"uuid": "c1", "kind": "PCI", "info": "a"})
        migration.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(sa.text(insert), {"uuid": "c2", "kind": "NVMF", "info": "b"})
            connection.execute(sa.text(insert), {"uuid": "c3", "kind": "VHOST", "info": "c"})
        refused = (sa.exc.DBAPIError, db_exc.DBError)  # oslo.db translates the errors
        with engine.begin() as connection, pytest.raises(refused):
            connection.execute(sa.text(insert), {"uuid": "c4", "kind": "BOGUS", "info": "d"})
        with engine.connect() as connection:
            kinds = (
                connection.execute(sa.text("SELECT cpid_type FROM controlpath_ids ORDER BY uuid"))
                .scalars()
                .all()
            )
        assert kinds == ["PCI", "NVMF", "VHOST"]
    finally:
        engine.dispose()


def test_utf8mb4_migration_converts_tables_in_another_character_set(empty_db_url: str) -> None:
    """b8d4f2a6c1e9 converts tables not in utf8mb4 (MariaDB), and 4-byte characters fit
    afterwards on every backend."""
    engine = db_backends.make_engine(empty_db_url)
    emoji = "\U0001f600 \U00020000"
    insert = sa.text(
        "INSERT INTO device_profiles (uuid, name, profile_json, description, created_at) "
        "VALUES ('u1', 'p', '{}', :description, '2026-01-01')"
    )
    utf8mb4 = importlib.import_module("cyborg.db.migrations.versions.b8d4f2a6c1e9_utf8mb4_tables")
    try:
        migration.upgrade(engine, "f1b6d3a9c2e8")
        if engine.dialect.name == "mysql":
            with engine.begin() as connection:  # as upstream's utf8 (utf8mb3) tables are
                for table in ("device_profiles", "graphs"):
                    connection.exec_driver_sql(
                        f"ALTER TABLE {table} CONVERT TO CHARACTER SET utf8mb3"
                    )
                assert utf8mb4.tables_to_convert(connection) == ["device_profiles", "graphs"]
                with pytest.raises((sa.exc.DBAPIError, db_exc.DBError)):
                    connection.execute(insert, {"description": emoji})
        migration.upgrade(engine)
        with engine.begin() as connection:
            if engine.dialect.name == "mysql":
                assert utf8mb4.tables_to_convert(connection) == []
            connection.execute(insert, {"description": emoji})
            stored = connection.execute(sa.text("SELECT description FROM device_profiles"))
            assert stored.scalar_one() == emoji
    finally:
        engine.dispose()


def test_conductor_liveness_migration_keeps_binds_without_a_conductor(empty_db_url: str) -> None:
    """a9c4e7b2d5f3: an ARQ binding before it names no conductor (the bind timeout's)."""
    engine = db_backends.make_engine(empty_db_url)
    try:
        migration.upgrade(engine, "b8d4f2a6c1e9")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO extended_accelerator_requests (uuid, state, substate, "
                    "device_profile_name, device_profile_group, device_profile_group_id, "
                    "created_at) VALUES ('a1', 'BindStarted', 'Initial', 'p', '{}', 0, "
                    "'2026-01-01')"
                )
            )
        migration.upgrade(engine)
        with engine.connect() as connection:
            owner = connection.execute(
                sa.text("SELECT binding_conductor FROM extended_accelerator_requests")
            )
            assert owner.scalar_one() is None
            runs = connection.execute(sa.text("SELECT COUNT(*) FROM conductors"))
            assert runs.scalar_one() == 0
    finally:
        engine.dispose()
