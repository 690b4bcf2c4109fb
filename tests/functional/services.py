"""Run Cyborg's services as real processes for the functional tests.

A ``Deployment`` has a throw-away database (SQLite by default, or MariaDB) and
talks over the machine's real RabbitMQ on an exchange and conductor topic of its
own, so parallel test runs never see each other's messages. It starts a conductor
and an API (no-auth) and can start, stop and kill more conductors and agents.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from cyborg.db import migration
from tests import db_backends
from tests.db import seed

RABBIT_URL = os.environ.get("CYBORG_TEST_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672/")
BIN = os.path.dirname(sys.executable)
REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEVICE_RP = "22222222-0000-4000-8000-000000000001"
STOP_GRACE = 10  # [DEFAULT] graceful_shutdown_timeout of the services started here


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


def _read(path: str) -> str:
    try:
        with open(path, errors="replace") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


class Deployment:
    def __init__(self, directory: str, database_url: str, base_conf: str) -> None:
        self.directory = directory
        self.database_url = database_url
        self.conf_path = os.path.join(directory, "cyborg.conf")
        with open(self.conf_path, "w") as conf:
            conf.write(base_conf)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.endpoint = ""  # the API's v2 URL, once started
        self._engine: sa.Engine | None = None

    # -- processes ------------------------------------------------------------------

    def log_path(self, name: str) -> str:
        return os.path.join(self.directory, f"{name}.log")

    def log(self, name: str) -> str:
        return _read(self.log_path(name))

    def start(
        self, name: str, program: str, extra_conf: str = "", prefix: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        """Run ``cyborg-<program>`` as ``name`` with the base config plus ``extra_conf``;
        ``prefix`` goes before the command (``ip netns exec <name>``, say)."""
        return self._spawn(name, [*prefix, os.path.join(BIN, f"cyborg-{program}")], extra_conf)

    def _spawn(self, name: str, command: list[str], extra_conf: str) -> subprocess.Popen[bytes]:
        conf_path = os.path.join(self.directory, f"{name}.conf")
        with open(conf_path, "w") as conf:
            conf.write(_read(self.conf_path) + extra_conf)
        # What a process prints besides its log (gunicorn's messages, warnings,
        # tracebacks) lands in <name>.out, which a test can read like its log.
        with open(os.path.join(self.directory, f"{name}.out"), "ab") as output:
            process = subprocess.Popen(
                [*command, "--config-file", conf_path, "--log-file", self.log_path(name)],
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=REPOSITORY,
            )
        self.processes[name] = process
        return process

    def start_swarm(
        self,
        name: str,
        hosts: list[str],
        devices: int,
        inventory_dir: str = "",
        report_interval: int = 1,
    ) -> None:
        """Agents of ``hosts`` in one process (tests/functional/agent_swarm.py)."""
        self._spawn(
            name,
            [sys.executable, "-m", "tests.functional.agent_swarm"],
            f"[agent]\nreport_interval = {report_interval}\n"
            f"[swarm]\nhosts = {','.join(hosts)}\n"
            f"devices = {devices}\ninventory_dir = {inventory_dir}\n",
        )

    def start_conductor(self, name: str = "conductor", extra_conf: str = "") -> None:
        mark = len(self.log(name))  # a restarted conductor appends to its log
        # Each conductor is its own RPC server on the shared topic.
        host = f"[DEFAULT]\nhost = {name}-{uuid.uuid4().hex[:6]}\n"
        self.start(name, "conductor", host + extra_conf)
        self.wait_for(lambda: "listening on topic" in self.log(name)[mark:], 60, f"cyborg-{name}")

    def start_agent(
        self,
        hostname: str,
        inventory: list[dict[str, Any]] | None = None,
        report_interval: int = 1,
        extra_conf: str = "",
        prefix: Sequence[str] = (),
    ) -> str:
        """An agent for ``hostname`` on the fake driver; ``inventory`` fills its file."""
        name = f"agent-{hostname}"
        lines = [
            "[agent]",
            f"resource_provider_name = {hostname}",
            "enabled_drivers = fake_driver",
            f"report_interval = {report_interval}",
        ]
        if inventory is not None:
            self.write_inventory(hostname, inventory)
            lines += ["[fake_driver]", f"inventory_file = {self.inventory_path(hostname)}"]
        self.start(name, "agent", "\n".join(lines) + "\n" + extra_conf, prefix)
        return name

    def inventory_path(self, hostname: str) -> str:
        return os.path.join(self.directory, f"inventory-{hostname}.json")

    def write_inventory(self, hostname: str, inventory: list[dict[str, Any]]) -> None:
        """Replace the fake driver's inventory file atomically (the agent rereads it)."""
        path = self.inventory_path(hostname)
        with open(path + ".tmp", "w") as handle:
            json.dump(inventory, handle)
        os.replace(path + ".tmp", path)

    def stop(self, name: str, timeout: float = 2 * STOP_GRACE) -> int:
        """SIGTERM and wait: the process must stop cleanly in time."""
        process = self.processes.pop(name)
        process.terminate()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"{name} did not stop within {timeout}s on SIGTERM", pytrace=False)
        if "after the stop signal; exiting without the rest" in self.log(name):
            # Its stop watchdog ended it: bounded, but something hung; say what.
            stacks = _read(os.path.join(self.directory, f"{name}.out"))[-6000:]
            warnings.warn(f"{name} was cut short by its stop watchdog:\n{stacks}", stacklevel=2)
        return code

    def kill(self, name: str) -> None:
        """SIGKILL: a crash, with no chance to finish anything."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def wait_for(self, predicate: Callable[[], Any], seconds: float, what: str) -> Any:
        """Poll ``predicate`` until it is truthy; fail with every log's tail if it never is."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self._fail(f"{name} exited with {process.returncode} while waiting for {what}")
            time.sleep(0.25)
        self._fail(f"{what}: not within {seconds}s")

    def _fail(self, message: str) -> None:
        logs = sorted(p for p in os.listdir(self.directory) if p.endswith(".log"))
        tails = "\n".join(
            f"--- {p}\n{_read(os.path.join(self.directory, p))[-2500:]}" for p in logs
        )
        pytest.fail(f"{message}\n{tails}", pytrace=False)

    # -- the database, read behind the services' back ---------------------------------

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.engine().connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql), params)]

    def execute(self, sql: str, **params: Any) -> None:
        """A write, committed (e.g. a state a crashed service would have left)."""
        with self.engine().begin() as connection:
            connection.execute(sa.text(sql), params)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = db_backends.make_engine(self.database_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@contextlib.contextmanager
def deployment(
    backend: str = "sqlite",
    *,
    seeded: bool = True,
    api: bool = True,
    conductor: bool = True,
    extra_conf: str = "",
    services_database: Callable[[str], str] | None = None,
    conductor_conf: str = "",
    api_conf: str = "",
    rabbit_url: str = "",
    database_url: str = "",
) -> Iterator[Deployment]:
    """A database, a conductor and an API (no-auth) on a free port.

    ``seeded`` fills the database with a few fake devices (the first deployable on
    provider DEVICE_RP); ``extra_conf`` is appended to every process's config;
    ``services_database`` maps the database's URL to the one the services get (a
    proxy's, say), while the test's own queries use the database directly;
    ``conductor_conf`` and ``api_conf`` are appended to that one process's config.
    ``rabbit_url`` and ``database_url`` (an empty database, kept afterwards) name
    servers of the test's own instead of the machine's.
    """
    if not rabbit_url:
        require_rabbitmq()
    with tempfile.TemporaryDirectory() as directory:
        try:
            url = database_url or db_backends.create_database(backend, directory)
        except db_backends.BackendUnavailable as err:
            pytest.fail(str(err), pytrace=False)
        try:
            _prepare_database(url, seeded)
            port = free_port()
            run = uuid.uuid4().hex[:12]  # own exchange and topic: parallel runs never meet
            services_url = services_database(url) if services_database else url
            deployed = Deployment(
                directory,
                url,
                # A grace well inside stop()'s wait, so a service stopping on SIGTERM
                # is judged by its own bound (an extra_conf may set another).
                f"[DEFAULT]\nauth_strategy = noauth\ntransport_url = {rabbit_url or RABBIT_URL}\n"
                f"graceful_shutdown_timeout = {STOP_GRACE}\n"
                f"control_exchange = cyborg-test-{run}\n"
                f"host = functional-{uuid.uuid4().hex[:6]}\n"
                f"[database]\nconnection = {services_url}\n"
                f"[conductor]\ntopic = cyborg-conductor-{run}\n"
                # Agents' queues are named after topic and host, not the exchange: two
                # suites' agents of one fixture host would otherwise share a queue.
                f"[agent]\ntopic = cyborg-agent-{run}\n"
                f"[api]\nhost_ip = 127.0.0.1\nport = {port}\napi_workers = 1\n"
                f"[oslo_policy]\npolicy_file = {directory}/policy.yaml\n" + extra_conf,
            )
            try:
                if conductor:
                    deployed.start_conductor(extra_conf=conductor_conf)
                if api:
                    deployed.start("api", "api", api_conf)
                    deployed.wait_for(lambda: _answers(port), 60, "cyborg-api")
                    deployed.endpoint = f"http://127.0.0.1:{port}/v2"
                yield deployed
            finally:
                deployed.stop_all()
                deployed.close()
        finally:
            if not database_url:
                db_backends.drop_database(url)


def _prepare_database(url: str, seeded: bool) -> None:
    engine = db_backends.make_engine(url)
    try:
        migration.upgrade(engine)
        if seeded:
            seed.devices(engine, 4, hosts=2)
            with engine.begin() as connection:
                connection.execute(
                    sa.text("UPDATE deployables SET rp_uuid = :rp WHERE id = 1"), {"rp": DEVICE_RP}
                )
    finally:
        engine.dispose()
