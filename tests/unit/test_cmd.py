"""The console scripts as a user runs them: installed, in subprocesses."""

import json
import os
import subprocess
import sys

import pytest

BIN = os.path.dirname(sys.executable)

SCRIPTS = {
    "cyborg-api": "REST API",
    "cyborg-conductor": "conductor",
    "cyborg-agent": "discover accelerators",
    "cyborg-dbsync": "upgrade",
    "cyborg-status": "upgrade",
    "cyborg-aio": "all-in-one",
    "cyborg-manage": "placement",
}


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.path.join(BIN, args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_help_says_what_the_script_does(script: str) -> None:
    result = _run(script, "--help")
    assert result.returncode == 0, result.stderr
    assert SCRIPTS[script].lower() in result.stdout.lower()
    assert "--config-file" in result.stdout


def _conf(tmp_path, url: str) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(f"[database]\nconnection = {url}\n")
    return str(path)


def test_status_fails_on_an_empty_database_and_passes_after_dbsync(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = _conf(tmp_path, f"sqlite:///{tmp_path}/cyborg.sqlite")
    before = _run("cyborg-status", "--config-file", conf, "upgrade", "check")
    assert before.returncode == 2
    assert "cyborg-dbsync upgrade" in before.stdout
    assert _run("cyborg-dbsync", "--config-file", conf, "upgrade").returncode == 0
    # The other checks (RabbitMQ, Placement, Keystone) are in test_status.py.
    after = _run("cyborg-status", "--config-file", conf, "upgrade", "check", "--json")
    schema = [c for c in json.loads(after.stdout)["checks"] if c["check"] == "Database schema"]
    assert schema[0]["result"] == 0, after.stdout
    assert "Schema at head" in schema[0]["details"]


def test_status_reports_an_unreachable_database_without_a_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = _conf(tmp_path, "mysql+pymysql://nobody@127.0.0.1:1/cyborg")
    result = _run("cyborg-status", "--config-file", conf, "upgrade", "check")
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "Check that the database server is up" in result.stdout


def test_aio_help_shows_its_defaults() -> None:
    result = _run("cyborg-aio", "--help")
    text = " ".join(result.stdout.split())
    assert "(default: 6666)" in text
    assert "cyborg-aio)." in text  # the state directory's default path


def test_aio_on_a_busy_port_says_so_at_once_and_names_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("cyborg-aio", "--port", str(port), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert not (tmp_path / "s").exists()  # refused before touching any state


def test_no_api_server_takes_the_users_gunicorn_control_socket(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The default socket (~/.gunicorn/gunicorn.ctl) is one per user: a second server
    # would take it over from the first.
    from oslo_config import cfg

    import cyborg.conf
    from cyborg.cmd import aio
    from cyborg.cmd import api as api_cmd

    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[], use_env=False)
    conf.set_override("state_path", str(tmp_path))
    for server in (aio._AIOServer(conf), api_cmd.Gunicorn(conf)):
        assert server.cfg.control_socket_disable is True
