"""The conductor over a real RabbitMQ: in-process, and as the installed cyborg-conductor.

RabbitMQ must be running: the tests fail, never skip, without it. RabbitMQ names
queues after the topic, whatever the exchange, so each test uses a topic (and an
exchange) of its own, with auto-deleted queues: parallel runs, and other Cyborg
services on the same broker, never take each other's messages, and nothing is left
behind.
"""

import contextlib
import os
import pathlib
import secrets
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import oslo_messaging
import pytest
import sqlalchemy as sa
from oslo_config import cfg
from oslo_db.sqlalchemy import enginefacade, orm

import cyborg.conf
from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import constants, exception, rpc
from cyborg.common import context as cyborg_context
from cyborg.conductor import manager, rpcapi
from cyborg.db import api as db_api
from cyborg.db import migration
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import device_profile as profile_obj
from tests import db_backends

RABBIT_HOST, RABBIT_PORT = "127.0.0.1", 5672
RABBIT_URL = f"rabbit://guest:guest@{RABBIT_HOST}:{RABBIT_PORT}/"
BIN = os.path.dirname(sys.executable)


def _require_rabbitmq() -> None:
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=5).close()
    except OSError as err:
        pytest.fail(
            f"RabbitMQ is not reachable at {RABBIT_HOST}:{RABBIT_PORT} ({err}). "
            "Start it with `tools/test-services.sh rabbitmq`.",
            pytrace=False,
        )


def _write_conf(directory: pathlib.Path, name: str, database_url: str) -> pathlib.Path:
    """A service config whose exchange, topic and host are all named after ``name``."""
    path = directory / "cyborg.conf"
    path.write_text(
        "[DEFAULT]\n"
        f"transport_url = {RABBIT_URL}\n"
        f"control_exchange = {name}\n"
        f"host = host-{name}\n"
        "[conductor]\n"
        f"topic = cyborg-conductor-{name}\n"
        "[agent]\n"
        f"topic = cyborg-agent-{name}\n"
        "[oslo_messaging_rabbit]\n"
        "amqp_auto_delete = true\n"
        "[database]\n"
        f"connection = {database_url}\n"
    )
    return path


def _load_conf(path: pathlib.Path) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(
        ["test", "--config-file", str(path)], conf=conf, default_config_files=[]
    )
    return conf


@pytest.fixture
def sqlite_url(tmp_path: pathlib.Path) -> Iterator[str]:
    """A migrated SQLite database of this test's own (the broker is what is tested)."""
    url = db_backends.create_database("sqlite", str(tmp_path))
    engine = db_backends.make_engine(url)
    try:
        migration.upgrade(engine)
    finally:
        engine.dispose()
    yield url
    db_backends.drop_database(url)


@contextlib.contextmanager
def _data_access_on(url: str) -> Iterator[None]:
    """Point the data-access layer at ``url``, as tests/conftest.py's ``db`` does."""
    engine = db_backends.make_engine(url)
    maker = orm.get_maker(engine=engine, expire_on_commit=False)
    factory = enginefacade._TestTransactionFactory(engine, maker, apply_global=False)
    reset = db_api.context_manager.patch_factory(factory)
    try:
        yield
    finally:
        reset()
        engine.dispose()


@pytest.fixture
def name() -> str:
    """A name for this test's exchange, topic and host."""
    _require_rabbitmq()
    return f"cyborg_test_{secrets.token_hex(4)}"


def test_round_trip_and_errors_over_rabbitmq(
    tmp_path: pathlib.Path, sqlite_url: str, name: str
) -> None:
    conf = _load_conf(_write_conf(tmp_path, name, sqlite_url))
    context = cyborg_context.get_admin_context()
    with _data_access_on(sqlite_url):
        target = oslo_messaging.Target(topic=conf.conductor.topic, server=conf.host)
        server = rpc.get_server(conf, target, [manager.ConductorManager(conf)])
        server.start()
        try:
            conductor = rpcapi.ConductorAPI(conf)
            groups = [
                {"resources:PGPU": "2"},
                {"resources:FPGA": "1", "trait:CUSTOM_FPGA_XILINX": "required"},
            ]
            uuid = conductor.create_device_profile(context, name="mixed", groups=groups)
            assert profile_obj.get_by_uuid(context, uuid).name == "mixed"
            arqs = conductor.create_arqs(context, device_profile_name="mixed", project_id="p1")
            created = arq_obj.get_all(context, uuids=arqs)
            assert sorted(arq.device_profile_group_id for arq in created) == [0, 0, 1, 1]
            assert {arq.state for arq in created} == {constants.ARQState.INITIAL}

            # Rebuilt from the wire: same class (a *_Remote subclass), message and code.
            with pytest.raises(exception.DeviceProfileNameConflict) as conflict:
                conductor.create_device_profile(context, name="mixed", groups=groups)
            assert type(conflict.value).__name__ == "DeviceProfileNameConflict_Remote"
            assert conflict.value.code == 409
            assert conflict.value.message == "A device profile named mixed already exists."
            with pytest.raises(exception.DeviceProfileNotFound) as missing:
                conductor.create_arqs(context, device_profile_name="nope", project_id="p1")
            assert (missing.value.code, missing.value.kwargs) == (404, {"name": "nope"})
        finally:
            server.stop()
            server.wait()
            rpc.cleanup(conf)


def _read_until(process: subprocess.Popen[str], needle: str, seconds: float) -> str:
    """The output of ``process`` up to the line containing ``needle``."""
    assert process.stdout is not None
    seen = ""
    deadline = time.monotonic() + seconds
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 0.5)
        if ready:
            line = process.stdout.readline()
            if not line:  # exited
                break
            seen += line
    return seen


def test_cyborg_conductor_serves_rabbitmq_and_stops_on_sigterm(
    tmp_path: pathlib.Path, sqlite_url: str, name: str
) -> None:
    config_file = _write_conf(tmp_path, name, sqlite_url)
    process = subprocess.Popen(
        [os.path.join(BIN, "cyborg-conductor"), "--config-file", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        listening = f"cyborg-conductor listening on topic cyborg-conductor-{name} as host-{name}"
        output = _read_until(process, listening, 60)
        assert listening in output, output

        # A call from this process reaches it, and it writes to its database.
        conf = _load_conf(config_file)
        try:
            rpcapi.ConductorAPI(conf).create_device_profile(
                cyborg_context.get_admin_context(), name="via-rabbit", groups=[]
            )
        finally:
            rpc.cleanup(conf)
        engine = sa.create_engine(sqlite_url)
        with engine.connect() as connection:
            names = connection.scalars(sa.text("SELECT name FROM device_profiles")).all()
        engine.dispose()
        assert names == ["via-rabbit"]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


class _Agent:
    """An agent's RPC endpoint that says which deployment it belongs to."""

    target = oslo_messaging.Target(version="1.3")

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment

    def get_inventory(self, context: object) -> list[dict[str, str]]:
        return [{"deployment": self.deployment}]


def test_two_deployments_agents_of_one_host_name_take_only_their_own_calls(
    tmp_path: pathlib.Path,
) -> None:
    """Two deployments on one vhost, each with an agent named alike: each conductor's
    calls reach its own agent only (RabbitMQ names the queue after topic and host)."""
    _require_rabbitmq()
    host = f"compute-{secrets.token_hex(4)}"
    confs, servers = {}, []
    for deployment in ("east", "west"):
        name = f"{deployment}-{secrets.token_hex(4)}"
        (tmp_path / deployment).mkdir()
        conf = _load_conf(_write_conf(tmp_path / deployment, name, "sqlite://"))
        confs[deployment] = conf
        target = oslo_messaging.Target(topic=conf.agent.topic, server=host)
        servers.append((conf, rpc.get_server(conf, target, [_Agent(deployment)])))
    try:
        for _, server in servers:
            server.start()
        context = cyborg_context.get_admin_context()
        for deployment, conf in confs.items():
            agents = agent_rpcapi.AgentAPI(conf)
            conf.set_override("rpc_response_timeout", 10)  # one the other took fails soon
            answers = {agents.get_inventory(context, host)[0]["deployment"] for _ in range(10)}
            assert answers == {deployment}
    finally:
        for conf, server in servers:
            rpc.stop_server(server, 10)  # bounded: a call may still be in flight
            rpc.cleanup(conf)
