"""Run cyborg-api and cyborg-conductor as real processes for the functional tests.

They share a SQLite database and talk over the machine's real RabbitMQ, on an
exchange of their own (so parallel test runs never see each other's messages).
"""

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from cyborg.db import migration
from tests import db_backends
from tests.db import seed

RABBIT_URL = os.environ.get("CYBORG_TEST_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672/")
BIN = os.path.dirname(sys.executable)
DEVICE_RP = "22222222-0000-4000-8000-000000000001"


@dataclass
class Deployment:
    endpoint: str  # the API's v2 URL
    directory: str
    database_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_rabbitmq() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
    except OSError:
        pytest.fail(
            "RabbitMQ is not reachable on 127.0.0.1:5672: start it with "
            "`tools/test-services.sh rabbitmq`",
            pytrace=False,
        )


def _wait_for(predicate, seconds: float, what: str, logs: list[str]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    tails = "\n".join(
        f"--- {path}\n{_read(path)[-3000:]}" for path in logs if os.path.exists(path)
    )
    pytest.fail(f"{what} did not come up within {seconds}s\n{tails}", pytrace=False)


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def deployment() -> Iterator[Deployment]:
    """A seeded database, a conductor and an API (no-auth) on a free port."""
    require_rabbitmq()
    with tempfile.TemporaryDirectory() as directory:
        url = db_backends.create_database("sqlite", directory)
        engine = db_backends.make_engine(url)
        migration.upgrade(engine)
        seed.devices(engine, 4, hosts=2)
        with engine.begin() as connection:
            connection.exec_driver_sql(
                f"UPDATE deployables SET rp_uuid = '{DEVICE_RP}' WHERE id = 1"
            )
        engine.dispose()
        port = free_port()
        run = uuid.uuid4().hex[:12]  # own exchange and queue: parallel runs never meet
        conf_path = os.path.join(directory, "cyborg.conf")
        with open(conf_path, "w") as conf:
            conf.write(
                f"[DEFAULT]\nauth_strategy = noauth\ntransport_url = {RABBIT_URL}\n"
                f"control_exchange = cyborg-test-{run}\n"
                f"host = functional-{uuid.uuid4().hex[:6]}\n"
                f"[database]\nconnection = {url}\n"
                f"[conductor]\ntopic = cyborg-conductor-{run}\n"
                f"[api]\nhost_ip = 127.0.0.1\nport = {port}\napi_workers = 1\n"
                f"[oslo_policy]\npolicy_file = {directory}/policy.yaml\n"
            )
        logs = {name: os.path.join(directory, f"{name}.log") for name in ("conductor", "api")}
        processes = [
            subprocess.Popen(
                [
                    os.path.join(BIN, f"cyborg-{name}"),
                    "--config-file",
                    conf_path,
                    "--log-file",
                    logs[name],
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
            for name in ("conductor", "api")
        ]
        try:
            _wait_for(
                lambda: (
                    os.path.exists(logs["conductor"])
                    and "listening on topic" in _read(logs["conductor"])
                ),
                60,
                "cyborg-conductor",
                list(logs.values()),
            )
            _wait_for(lambda: _answers(port), 60, "cyborg-api", list(logs.values()))
            yield Deployment(f"http://127.0.0.1:{port}/v2", directory, url)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
