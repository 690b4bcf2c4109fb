"""Rolling upgrades: ``[upgrade_levels]`` caps let services of two releases work together.

An older conductor is one whose RPC target is 1.4 (the release before 1.5); an older
agent one whose target is 1.1 (before vGPU mdevs). oslo.messaging refuses what their
targets do not cover, as a real older service would. With the cap, the newer side
sends only what the older one understands, and refuses the rest with a 409 that
names what to upgrade, before anything changes. Real database, in-process messaging.
"""

import dataclasses
import pathlib
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import oslo_messaging
import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import constants, exception, rpc
from cyborg.conductor import manager, rpcapi
from cyborg.objects import accelerator_request as arq_obj
from tests.db import seed

State = constants.ARQState
INSTANCE = "0d4d6c3e-6a2b-4e59-9c41-2f1f0a6e7b55"


class OlderConductor(manager.ConductorManager):
    """cyborg-conductor of the release before RPC API 1.5."""

    target = oslo_messaging.Target(version="1.4")


class OlderAgent:
    """cyborg-agent of the release before RPC API 1.2 (no vGPU mdevs)."""

    target = oslo_messaging.Target(version="1.1")

    def __init__(self) -> None:
        self.programmed: list[str] = []

    def report_now(self, context: Any) -> None:
        return None

    def fpga_program(
        self, context: Any, *, controlpath_id: Any, bitstream_uuid: str, driver_name: Any
    ) -> bool:
        self.programmed.append(bitstream_uuid)
        return True


def _conf(directory: pathlib.Path, **caps: str) -> cfg.ConfigOpts:
    levels = "".join(f"{service} = {version}\n" for service, version in caps.items())
    path = directory / "cyborg.conf"
    path.write_text(
        "[DEFAULT]\ntransport_url = fake://\nhost = old-conductor\n"
        f"[conductor]\ntopic = caps-{uuidlib.uuid4().hex[:8]}\n"
        f"[upgrade_levels]\n{levels}"
    )
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(
        ["test", "--config-file", str(path)], conf=conf, default_config_files=[]
    )
    return conf


@pytest.fixture
def older_conductor(tmp_path: pathlib.Path) -> Iterator[cfg.ConfigOpts]:
    """An older conductor serving; its conf (the API's and agents' read the same)."""
    conf = _conf(tmp_path)
    target = oslo_messaging.Target(topic=conf.conductor.topic, server=conf.host)
    server = rpc.get_server(conf, target, [OlderConductor(conf)])
    server.start()
    try:
        yield conf
    finally:
        server.stop()
        server.wait()


def _capped(conf: cfg.ConfigOpts, tmp_path: pathlib.Path, **caps: str) -> cfg.ConfigOpts:
    """The configuration of a newer service, capped, that calls ``conf``'s conductor."""
    directory = tmp_path / "capped"
    directory.mkdir(parents=True)
    capped = _conf(directory, **caps)
    capped.set_override("topic", conf.conductor.topic, "conductor")
    return capped


def _plan_with_a_profile(db: Any, api: rpcapi.ConductorAPI) -> None:
    """A plan narrowed by a device profile: a 1.5 call."""
    api.create_plans(
        db.context,
        graph_uuid=str(uuidlib.uuid4()),
        objective="latency",
        max_devices=None,
        count=1,
        project_id="p",
        device_profile_name="gpu",
    )


def test_a_capped_api_works_with_an_older_conductor(db, older_conductor, tmp_path) -> None:  # type: ignore[no-untyped-def]
    api = rpcapi.ConductorAPI(_capped(older_conductor, tmp_path, conductor="1.4"))
    deployable = seed.bindable_deployable(db.context, handles=1)
    api.create_device_profile(db.context, name="gpu", groups=[{"resources:PGPU": "1"}])
    (arq,) = api.create_arqs(db.context, device_profile_name="gpu", project_id="p")
    # Nova's bind (1.0) goes through.
    binding = {"hostname": "host1", "device_rp_uuid": deployable.rp_uuid}
    api.bind_arqs(db.context, bindings={arq: {**binding, "instance_uuid": INSTANCE}})
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    api.unbind_arqs(db.context, uuids=[arq])
    # A plan narrowed by a device profile needs 1.5: refused, nothing sent.
    with pytest.raises(exception.Conflict) as refused:
        _plan_with_a_profile(db, api)
    assert refused.value.code == 409
    assert "RPC API 1.5" in refused.value.message
    assert "upgrade the conductors first" in refused.value.message
    # Capped lower still (a 1.2 conductor): a standalone bind, which needs 1.3, is
    # refused and the ARQ is left as it was.
    older = rpcapi.ConductorAPI(_capped(older_conductor, tmp_path / "x", conductor="1.2"))
    with pytest.raises(exception.Conflict, match=r"RPC API 1\.3"):
        older.bind_arqs(
            db.context, bindings={arq: {"hostname": "host1", "instance_uuid": INSTANCE}}
        )
    assert arq_obj.get_by_uuid(db.context, arq).state == State.UNBOUND


def test_without_the_cap_the_older_conductor_refuses_what_it_does_not_know(
    db, older_conductor, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """What the cap is for: uncapped, a 1.5 call reaches the older conductor, which
    refuses it before doing anything: a 409 naming what to upgrade."""
    api = rpcapi.ConductorAPI(older_conductor)
    with pytest.raises(exception.Conflict, match=r"RPC API 1\.5, which the cyborg-conductor"):
        _plan_with_a_profile(db, api)


def test_newer_agents_report_to_an_older_conductor(db, older_conductor) -> None:  # type: ignore[no-untyped-def]
    # Agents send report_inventory at 1.1, which every conductor since 1.1 takes.
    answer = rpcapi.ConductorAPI(older_conductor).report_inventory(
        db.context, hostname="new-agent", fingerprint="f1", devices=[]
    )
    assert answer is not None


@pytest.fixture
def older_agent(tmp_path: pathlib.Path) -> Iterator[tuple[cfg.ConfigOpts, OlderAgent]]:
    conf = _conf(tmp_path)
    agent = OlderAgent()
    target = oslo_messaging.Target(topic=conf.agent.topic, server="old-agent-host")
    server = rpc.get_server(conf, target, [agent])
    server.start()
    try:
        yield conf, agent
    finally:
        server.stop()
        server.wait()


def test_a_capped_conductor_works_with_older_agents(db, older_agent) -> None:  # type: ignore[no-untyped-def]
    conf, agent = older_agent
    conf.set_override("agent", "1.1", "upgrade_levels")
    api = agent_rpcapi.AgentAPI(conf)
    controlpath = {"cpid_type": "PCI", "cpid_info": "0000:5e:00.0"}
    assert api.fpga_program(
        db.context,
        "old-agent-host",
        controlpath_id=controlpath,
        bitstream_uuid="image-1",
        driver_name=None,
    )
    assert agent.programmed == ["image-1"]
    # vGPU mdevs need 1.2: refused before anything is sent, naming what to upgrade.
    with pytest.raises(exception.Conflict) as refused:
        api.create_vgpu_mdev(
            db.context, "old-agent-host", pci_addr="0000:3b:00.0", asked_type="t", ah_uuid="u"
        )
    assert "upgrade the agents first" in refused.value.message
    # Uncapped, the older agent cannot take the call.
    conf.clear_override("agent", "upgrade_levels")
    with pytest.raises(exception.Conflict, match="which the cyborg-agent that took it"):
        agent_rpcapi.AgentAPI(conf).create_vgpu_mdev(
            db.context, "old-agent-host", pci_addr="0000:3b:00.0", asked_type="t", ah_uuid="u"
        )


def test_the_caps_must_be_versions(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = _conf(tmp_path, conductor="newest")
    with pytest.raises(ValueError, match="conductor"):
        conf.upgrade_levels.conductor  # noqa: B018


def test_an_older_conductor_refuses_pods_claims_in_words_the_kubelet_shows(
    db, older_conductor, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """A 1.6 agent's pod claim reaches a conductor without it (uncapped), or is not
    sent (capped at 1.5): either way a refusal that says the conductor is too old."""
    from cyborg.kubernetes import conductor_owner
    from cyborg.kubernetes.ownership_errors import DeviceRefused

    @dataclasses.dataclass(frozen=True)
    class Claim:
        namespace: str = "ml"
        name: str = "trainer"
        uid: str = str(uuidlib.uuid4())

    @dataclasses.dataclass(frozen=True)
    class Device:
        id: str = "0000:01:00.0"
        deployable: str = "host1_gpu1"

    capped = _capped(older_conductor, tmp_path, conductor="1.5")
    for conf in (older_conductor, capped):
        owner = conductor_owner.ConductorDeviceOwner(rpcapi.ConductorAPI(conf), "host1")
        with pytest.raises(DeviceRefused) as refused:
            owner.claim(Claim(), [Device()])
        assert refused.value.reason.startswith(conductor_owner.CONDUCTOR_TOO_OLD)
        with pytest.raises(DeviceRefused, match="conductor is too old"):
            owner.release(Claim().uid)
