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
