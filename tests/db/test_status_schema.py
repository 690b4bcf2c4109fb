"""cyborg-status's database check on each backend (SQLite, MariaDB, PostgreSQL)."""

import socket

import sqlalchemy as sa
from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

import cyborg.conf
from cyborg.cmd import status
from cyborg.db import migration
from tests import db_backends

Code = upgradecheck.Code


def _conf(tmp_path, url: str) -> cfg.ConfigOpts:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(f"[database]\nconnection = {url}\n")
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(["cyborg-status", "--config-file", str(path)], conf=conf)
    return conf


def test_empty_then_at_head(empty_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = _conf(tmp_path, empty_db_url)
    before = status.check_schema(conf)
    assert before.code == Code.FAILURE
    assert "cyborg-dbsync upgrade" in before.details
    engine = db_backends.make_engine(empty_db_url)
    try:
        migration.upgrade(engine)
    finally:
        engine.dispose()
    after = status.check_schema(conf)
    assert after.code == Code.SUCCESS, after.details
    assert migration.head_revision() in after.details


def test_network_databases_get_a_connect_timeout(empty_db_url: str) -> None:
    # The check connects with this parameter in test_empty_then_at_head, so the
    # drivers accept it; here: which URLs get it.
    backend = sa.engine.make_url(empty_db_url).get_backend_name()
    added = status._connect_timeout(empty_db_url, 5)
    assert added == (None if backend == "sqlite" else "connect_timeout=5")
    with_own = empty_db_url + ("&" if "?" in empty_db_url else "?") + "connect_timeout=30"
    assert status._connect_timeout(with_own, 5) is None


def test_a_closed_port_fails_without_the_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for url in (
        f"mysql+pymysql://cyborg:s3cret@127.0.0.1:{port}/cyborg",
        f"postgresql+psycopg2://cyborg:s3cret@127.0.0.1:{port}/cyborg",
    ):
        result = status.check_schema(_conf(tmp_path, url), timeout=2)
        assert result.code == Code.FAILURE
        assert "[database] connection" in result.details
        assert "s3cret" not in result.details
