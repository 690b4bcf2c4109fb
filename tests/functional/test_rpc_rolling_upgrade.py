"""Rolling upgrades over a real RabbitMQ: services of two releases, in every direction.

A service of the previous release is today's with the RPC target that release had
(conductor 1.4, before plan narrowing; agent 1.1, before vGPU mdevs), and its
clients ask for no more than it knew; oslo.messaging refuses what a target does not
cover, as on the real older service. Every message crosses the broker, through the
request-context serializer, and errors are rebuilt from the wire. Each test has an
exchange, topic and agent hostname of its own (tests/functional/
test_conductor_rabbitmq.py says why); the services are in-process on one SQLite
database, since the broker is what is tested.
"""

import contextlib
import pathlib
import secrets
from collections.abc import Iterator
from typing import Any

import amqp
import oslo_messaging
import pytest
from oslo_config import cfg

from cyborg.agent import manager as agent_manager
from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import constants, exception, rpc
from cyborg.common import context as cyborg_context
from cyborg.conductor import manager, rpcapi
from cyborg.db import migration
from cyborg.drivers.base import Driver
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import device as device_obj
from tests import db_backends
from tests.db import seed
from tests.db.test_inventory_reports import gpu
from tests.functional import test_conductor_rabbitmq as rabbitmq

INSTANCE = "0d4d6c3e-6a2b-4e59-9c41-2f1f0a6e7b55"
PCI = {"cpid_type": "PCI", "cpid_info": "0000:5e:00.0"}


class OlderConductor(manager.ConductorManager):
    """cyborg-conductor of the release before RPC API 1.5."""

    target = oslo_messaging.Target(version="1.4")


class OlderConductorAPI(rpcapi.ConductorAPI):
    """The conductor client of the release before 1.5 (in the API and the agents)."""

    RPC_API_VERSION = "1.4"


class OlderAgentAPI(agent_rpcapi.AgentAPI):
    """The agent client of the release before 1.2 (in the conductors)."""

    RPC_API_VERSION = "1.1"


class Hardware:
    """What the agent's FPGA programmer and mdev helper would do to the device."""

    def __init__(self) -> None:
        self.programmed: list[str] = []
        self.mdevs: list[str] = []

    def program(self, context: Any, controlpath: Any, bitstream: str, driver: Any) -> bool:
        self.programmed.append(bitstream)
        return True

    def create(self, pci_addr: str, asked_type: str, ah_uuid: str) -> None:
        self.mdevs.append(ah_uuid)


class OlderAgent:
    """cyborg-agent of the release before RPC API 1.2 (no vGPU mdevs)."""

    target = oslo_messaging.Target(version="1.1")

    def __init__(self, hardware: Hardware) -> None:
        self.hardware = hardware

    def fpga_program(
        self, context: Any, *, controlpath_id: Any, bitstream_uuid: str, driver_name: Any
    ) -> bool:
        return self.hardware.program(context, controlpath_id, bitstream_uuid, driver_name)


class Devices(Driver):
    """The devices the agent's drivers find (the hardware is not what is tested)."""

    name = "listed"

    def __init__(self, devices: list[Any]) -> None:
        super().__init__(None)
        self.devices = devices

    def discover(self) -> list[Any]:
        return list(self.devices)


@pytest.fixture
def name() -> str:
    """A name for this test's exchange, topic, hosts and database."""
    rabbitmq._require_rabbitmq()
    return f"cyborg_upgrade_{secrets.token_hex(4)}"


@pytest.fixture
def confs(tmp_path: pathlib.Path, name: str) -> Iterator[list[cfg.ConfigOpts]]:
    """The configurations of the test's services, on a migrated SQLite database of the
    test's own; their transports closed, and their exchange and queues deleted, at the
    end. Nothing is auto-deleted: the topic queue ``cyborg-agent`` is shared by every
    agent on the broker, whatever its exchange, and must be declared as theirs is."""
    url = db_backends.create_database("sqlite", str(tmp_path))
    engine = db_backends.make_engine(url)
    migration.upgrade(engine)
    engine.dispose()
    path = rabbitmq._write_conf(tmp_path, name, url)
    path.write_text(path.read_text().replace("amqp_auto_delete = true\n", ""))
    made: list[cfg.ConfigOpts] = [rabbitmq._load_conf(path)]
    try:
        with rabbitmq._data_access_on(url):
            yield made
    finally:
        conf = made[0]
        for each in made:
            rpc.cleanup(each)
        _delete_from_broker(
            name,
            [
                conf.conductor.topic,
                f"{conf.conductor.topic}.{conf.host}",
                f"{conf.agent.topic}.{_agent_host(conf)}",
            ],
        )
        db_backends.drop_database(url)


def _delete_from_broker(exchange: str, queues: list[str]) -> None:
    with contextlib.closing(amqp.Connection("127.0.0.1:5672", "guest", "guest")) as broker:
        broker.connect()
        channel = broker.channel()
        for queue in queues:
            channel.queue_delete(queue)
        channel.exchange_delete(exchange)


@pytest.fixture
def conf(confs: list[cfg.ConfigOpts]) -> cfg.ConfigOpts:
    """The configuration every service of the test starts from (no caps)."""
    return confs[0]


@pytest.fixture
def capped(conf: cfg.ConfigOpts, confs):  # type: ignore[no-untyped-def]
    """A newer service's configuration: ``conf``'s, with ``[upgrade_levels]`` caps."""

    def make(**caps: str) -> cfg.ConfigOpts:
        newer = rabbitmq._load_conf(pathlib.Path(conf.config_file[0]))
        for service, version in caps.items():
            newer.set_override(service, version, "upgrade_levels")
        confs.append(newer)
        return newer

    return make


@contextlib.contextmanager
def _serving(conf: cfg.ConfigOpts, topic: str, server: str, endpoint: Any) -> Iterator[None]:
    rpc_server = rpc.get_server(
        conf, oslo_messaging.Target(topic=topic, server=server), [endpoint]
    )
    rpc_server.start()
    try:
        yield
    finally:
        rpc_server.stop()
        rpc_server.wait()


def _conductor(conf: cfg.ConfigOpts, endpoint: Any) -> contextlib.AbstractContextManager[None]:
    return _serving(conf, conf.conductor.topic, conf.host, endpoint)


def _agent_host(conf: cfg.ConfigOpts) -> str:
    """The agent's host: named after the test, so its queue is the test's alone."""
    return f"agent-{conf.host}"


def _newer_agent(conf: cfg.ConfigOpts, hardware: Hardware) -> agent_manager.AgentManager:
    host = _agent_host(conf)
    tracker = ResourceTracker(host, [Devices([gpu(1, host=host)])], rpcapi.ConductorAPI(conf))
    return agent_manager.AgentManager(
        tracker,
        conf,
        programmer=hardware,  # type: ignore[arg-type]
        mdevs=hardware,  # type: ignore[arg-type]
    )


def _plan(api: rpcapi.ConductorAPI, **newer: Any) -> None:
    """Plans for a graph no conductor knows (a 1.4 call; 1.5 with ``newer`` arguments)."""
    api.create_plans(
        cyborg_context.get_admin_context(),
        graph_uuid="7b2f7d76-3c0e-4bb0-a4a4-4b6f3a5b9c11",
        objective="latency",
        max_devices=None,
        count=1,
        project_id="p",
        **newer,
    )


def _plan_with_a_profile(api: rpcapi.ConductorAPI) -> None:
    """A plan narrowed by a device profile: a 1.5 call."""
    _plan(api, device_profile_name="gpu")


def _bind_and_unbind(api: rpcapi.ConductorAPI, host: str) -> None:
    """Nova's calls (all RPC 1.0): a profile, an ARQ, bound to a device and unbound."""
    context = cyborg_context.get_admin_context()
    deployable = seed.bindable_deployable(context, handles=1, host=host)
    api.create_device_profile(context, name=f"gpu-{host}", groups=[{"resources:PGPU": "1"}])
    (arq,) = api.create_arqs(context, device_profile_name=f"gpu-{host}", project_id="p")
    binding = {"hostname": host, "device_rp_uuid": deployable.rp_uuid, "instance_uuid": INSTANCE}
    api.bind_arqs(context, bindings={arq: binding})
    assert arq_obj.get_by_uuid(context, arq).state == constants.ARQState.BOUND
    api.unbind_arqs(context, uuids=[arq])
    assert arq_obj.get_by_uuid(context, arq).state == constants.ARQState.UNBOUND


# --- older conductor, newer agents ----------------------------------------------------


def test_newer_agents_work_with_an_older_conductor(conf: cfg.ConfigOpts) -> None:
    hardware = Hardware()
    agent = _newer_agent(conf, hardware)
    context = cyborg_context.get_admin_context()
    with (
        _conductor(conf, OlderConductor(conf)),
        _serving(conf, conf.agent.topic, _agent_host(conf), agent),
    ):
        # The newer agent reports (1.1, which every conductor since 1.1 takes).
        assert agent.tracker.report(context)["changed"] is True
        assert agent.tracker.report(context) == {"changed": False}
        assert [d.hostname for d in device_obj.get_all(context)] == [_agent_host(conf)]
        # The older conductor reaches the newer agent at its own versions.
        older = OlderAgentAPI(conf)
        assert older.get_inventory(context, _agent_host(conf))[0]["vendor"] == "10de"
        assert older.fpga_program(
            context, _agent_host(conf), controlpath_id=PCI, bitstream_uuid="b1", driver_name=None
        )
    assert hardware.programmed == ["b1"]


# --- newer conductor, older agents ----------------------------------------------------


def test_a_capped_newer_conductor_works_with_older_agents(conf, capped) -> None:  # type: ignore[no-untyped-def]
    hardware = Hardware()
    context = cyborg_context.get_admin_context()
    host = _agent_host(conf)
    with (
        _conductor(conf, manager.ConductorManager(conf)),
        _serving(conf, conf.agent.topic, host, OlderAgent(hardware)),
    ):
        # The older agent's reports (its conductor client knows no more than 1.4).
        older_tracker = ResourceTracker(
            host, [Devices([gpu(2, host=host)])], OlderConductorAPI(conf)
        )
        assert older_tracker.report(context)["changed"] is True
        assert [d.hostname for d in device_obj.get_all(context)] == [host]
        # The newer conductor, capped at the agents' 1.1, programs the older agent...
        newer = agent_rpcapi.AgentAPI(capped(agent="1.1"))
        assert newer.fpga_program(
            context, host, controlpath_id=PCI, bitstream_uuid="b2", driver_name=None
        )
        assert hardware.programmed == ["b2"]
        # ...and refuses a vGPU mdev (1.2) before sending anything, naming the fix.
        with pytest.raises(exception.Conflict) as refused:
            newer.create_vgpu_mdev(
                context, host, pci_addr="0000:3b:00.0", asked_type="t", ah_uuid="u"
            )
        assert refused.value.code == 409
        assert "upgrade the agents first" in refused.value.message
        # Uncapped, the older agent itself refuses it, back over the broker: a 409 too.
        uncapped = agent_rpcapi.AgentAPI(conf)
        with pytest.raises(exception.Conflict) as refused:
            uncapped.create_vgpu_mdev(
                context, host, pci_addr="0000:3b:00.0", asked_type="t", ah_uuid="u"
            )
        assert "which the cyborg-agent that took it does not support" in refused.value.message
    assert hardware.mdevs == []


# --- API and conductor ----------------------------------------------------------------


def test_an_older_api_works_with_a_newer_conductor(conf: cfg.ConfigOpts) -> None:
    with _conductor(conf, manager.ConductorManager(conf)):
        older_api = OlderConductorAPI(conf)
        _bind_and_unbind(older_api, "host-older-api")
        # The 1.4 plan call (no profile): the newer conductor takes the older arguments;
        # the unknown graph is an answer rebuilt from the wire, not a version error.
        with pytest.raises(exception.NotFound) as missing:
            _plan(older_api)
        assert missing.value.code == 404


def test_a_capped_newer_api_works_with_an_older_conductor(conf: cfg.ConfigOpts, capped) -> None:  # type: ignore[no-untyped-def]
    with _conductor(conf, OlderConductor(conf)):
        newer_api = rpcapi.ConductorAPI(capped(conductor="1.4"))
        _bind_and_unbind(newer_api, "host-capped-api")
        with pytest.raises(exception.Conflict) as refused:
            _plan_with_a_profile(newer_api)
        assert refused.value.code == 409
        assert "RPC API 1.5" in refused.value.message
        assert "upgrade the conductors first" in refused.value.message
        # Uncapped, the 1.5 call reaches the older conductor, which refuses it before
        # doing anything; rebuilt from the broker's answer as a 409, not a 500.
        with pytest.raises(exception.Conflict) as refused:
            _plan_with_a_profile(rpcapi.ConductorAPI(conf))
        assert "which the cyborg-conductor that took it does not support" in (
            refused.value.message
        )
