"""cyborg-agent (fake driver) and cyborg-conductor as processes over real RabbitMQ."""

import os
import subprocess
import time

import pytest
import sqlalchemy as sa

from tests import db_backends
from tests.functional import services


def _agent(
    deployment: services.Deployment, hostname: str, log_path: str
) -> subprocess.Popen[bytes]:
    conf_path = os.path.join(deployment.directory, f"agent-{hostname}.conf")
    with (
        open(os.path.join(deployment.directory, "cyborg.conf")) as base,
        open(conf_path, "w") as conf,
    ):
        conf.write(
            base.read() + f"[agent]\nresource_provider_name = {hostname}\n"
            "enabled_drivers = fake_driver\nreport_interval = 1\n"
        )
    return subprocess.Popen(
        [
            os.path.join(services.BIN, "cyborg-agent"),
            "--config-file",
            conf_path,
            "--log-file",
            log_path,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def _devices(deployment: services.Deployment, hostname: str) -> list[tuple[str, str]]:
    engine = db_backends.make_engine(deployment.database_url)
    try:
        with engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(
                    sa.text(
                        "SELECT d.uuid, c.cpid_info FROM devices d JOIN controlpath_ids c "
                        "ON c.device_id = d.id WHERE d.hostname = :h ORDER BY c.cpid_info"
                    ),
                    {"h": hostname},
                )
            ]
    finally:
        engine.dispose()


def _wait_for_devices(deployment: services.Deployment, hostname: str) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = _devices(deployment, hostname)
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"no devices of {hostname} reached the database", pytrace=False)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_agents_report_and_restarts_duplicate_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with services.deployment() as deployment:
        agents = [
            _agent(deployment, h, str(tmp_path / f"{h}.log"))
            for h in ("compute-1.example.com", "compute-2.example.com")
        ]
        try:
            first = _wait_for_devices(deployment, "compute-1.example.com")
            assert _wait_for_devices(deployment, "compute-2.example.com")
        finally:
            for agent in agents:
                _stop(agent)
        again = _agent(deployment, "compute-1.example.com", str(tmp_path / "again.log"))
        try:
            time.sleep(3)  # a few report cycles of the restarted agent
            assert _devices(deployment, "compute-1.example.com") == first
        finally:
            _stop(again)
