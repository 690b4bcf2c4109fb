"""SPDK targets bound without Nova, end to end: the SPDK drivers ask a stand-in SPDK
(recorded JSON-RPC answers on a real unix socket), the conductor stores and publishes
their report to a real Placement, and binds hand out the NVMF / VHOST_USER handles;
with the host's agent (a real AgentManager, called in-process), a bind of an exported
bdev creates its subsystem and unbinding deletes it."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cyborg.api.views import accelerator_request as arq_view
from cyborg.common import constants
from cyborg.conductor.binding import vgpu
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle
from cyborg.objects import deployable as deployable_obj
from cyborg.objects.host_inventory import provider_uuid
from tests import binders
from tests.placement.test_standalone_bind import allocations, arqs_of, bind
from tests.placement.test_sync import report
from tests.spdk_rpc import LocalAgent, TargetState, storage_host

State = constants.ARQState
CNODE1 = "nqn.2016-06.io.spdk:cnode1"
CNODE2 = "nqn.2016-06.io.spdk:cnode2"
LISTENER = {"adrfam": "IPv4", "traddr": "192.168.100.8", "trsvcid": "4420"}
EXPORT = "nqn.2016-06.io.spdk:cyborg-Malloc0"  # made per bind, over bdev Malloc0
CONNECT = {
    CNODE1: {"subnqn": CNODE1, "trtype": "TCP", **LISTENER},
    CNODE2: {"subnqn": CNODE2, "trtype": "RDMA", **LISTENER},
    EXPORT: {
        "subnqn": EXPORT,
        "trtype": "TCP",
        **LISTENER,
        "traddr": "127.0.0.1",
        "bdev": "Malloc0",
    },
}


@pytest.fixture
def target_state() -> TargetState:
    return TargetState()


@pytest.fixture
def spdk_host(
    db: Any, conf: Any, sync: Any, hostname: str, compute_node: str, target_state: TargetState
) -> Iterator[LocalAgent]:
    """A compute node whose SPDK exports two NVMe-oF subsystems and three vhost
    controllers (tests/fixtures/spdk) and offers bdev Malloc0 for export per bind, as
    its agent reports them; the host's agent, over that SPDK."""
    conf.set_override("spdk_nvmf_export_bdevs", ["Malloc0"], group="agent")
    publish = lambda devices: report(db, conf, sync, hostname, devices)  # noqa: E731
    with storage_host(conf, hostname, target_state, publish) as host:
        yield host


def _provider(host: LocalAgent, nqn: str) -> str:
    """The provider of a subsystem: an operator's by its NQN, the export by its bdev."""
    name = "nvmf_Malloc0" if nqn == EXPORT else nqn
    return provider_uuid(f"{host.hostname}_{name}")


def test_an_nvmf_bind_hands_out_the_subsystems_connect_parameters(
    db, client, claimer, spdk_host
) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "nvmf", [{"resources:CUSTOM_NVME_OF": "1"}])
    instance = str(uuid.uuid4())

    bind(db, claimer, [arq], spdk_host.hostname, instance)

    bound = arq_obj.get_by_uuid(db.context, arq)
    assert bound.state == State.BOUND
    assert bound.attach_handle_type == "NVMF"
    (subsystem,) = allocations(client, instance)
    assert allocations(client, instance) == {subsystem: {"CUSTOM_NVME_OF": 1}}
    nqn = (bound.attach_handle_info or {}).get("subnqn", "")
    assert subsystem == _provider(spdk_host, nqn)
    shown = arq_view.show(bound, "http://cyborg/v2")
    assert shown["attach_handle_type"] == "NVMF"
    # Placement picks any of the three; the handle is that one's first listener.
    assert shown["attach_handle_info"] == CONNECT[nqn]


def test_each_subsystem_binds_once_and_unbinding_frees_it(db, client, claimer, spdk_host) -> None:  # type: ignore[no-untyped-def]
    first, second, third = arqs_of(db, "nvmf3", [{"resources:CUSTOM_NVME_OF": "3"}])
    instance = str(uuid.uuid4())
    with pytest.raises(Exception, match="No free accelerator"):
        # One unit of each subsystem: none has three.
        bind(db, claimer, [first, second, third], spdk_host.hostname, instance)
    assert allocations(client, instance) == {}

    (a,), (b,) = arqs_of(db, "one", [{"resources:CUSTOM_NVME_OF": "1"}]), arqs_of(db, "one")
    other = str(uuid.uuid4())
    bind(db, claimer, [a], spdk_host.hostname, instance)
    bind(db, claimer, [b], spdk_host.hostname, other)
    bound = arq_obj.get_all(db.context, uuids=[a, b])
    handles = {arq.attach_handle_info["subnqn"] for arq in bound if arq.attach_handle_info}
    assert len(handles) == 2 and handles <= set(CONNECT)

    binders.binder(claimer=claimer).unbind(db.context, uuids=[a, b])
    assert allocations(client, instance) == allocations(client, other) == {}
    for nqn in handles:
        deployable = deployable_obj.get_by_rp_uuid(db.context, _provider(spdk_host, nqn))
        (handle,) = attach_handle.get_all(db.context, deployable_id=deployable.id)
        assert (handle.attach_type, handle.in_use) == ("NVMF", False)


def test_a_vhost_bind_hands_out_the_controllers_socket(db, client, claimer, spdk_host) -> None:  # type: ignore[no-untyped-def]
    (scsi,) = arqs_of(db, "scsi", [{"resources:CUSTOM_VHOST_SCSI": "1"}])
    instance = str(uuid.uuid4())

    bind(db, claimer, [scsi], spdk_host.hostname, instance)

    bound = arq_obj.get_by_uuid(db.context, scsi)
    assert (bound.state, bound.attach_handle_type) == (State.BOUND, "VHOST_USER")
    assert bound.attach_handle_info == {
        "ctrlr": "vhost.scsi0",
        "socket": "/var/tmp/vhost.scsi0",
        "transport": "vhost_user_scsi",
    }
    controller = provider_uuid(f"{spdk_host.hostname}_vhost.scsi0")
    assert allocations(client, instance) == {controller: {"CUSTOM_VHOST_SCSI": 1}}
    binders.binder(claimer=claimer).delete(db.context, uuids=[scsi])
    assert client.get_provider_usages(controller) == {"CUSTOM_VHOST_SCSI": 0}


def test_an_exported_bdev_gets_its_subsystem_for_the_bind_and_loses_it_after(
    db, client, claimer, spdk_host, target_state
) -> None:  # type: ignore[no-untyped-def]
    export = _provider(spdk_host, EXPORT)
    nqn = EXPORT
    (arq,) = arqs_of(db, "export", [{"resources:CUSTOM_NVME_OF": "1"}])
    instance = str(uuid.uuid4())
    agent = vgpu.MdevAgent(spdk_host)  # type: ignore[arg-type]
    # The operator's two subsystems are taken: only the export is left.
    for taken in (CNODE1, CNODE2):
        rp = _provider(spdk_host, taken)
        client.put_allocations(
            str(uuid.uuid4()), {rp: {"CUSTOM_NVME_OF": 1}}, project_id="o", user_id="o"
        )

    binders.binder(claimer=claimer, mdevs=agent).bind(
        db.context, bindings={arq: {"hostname": spdk_host.hostname, "instance_uuid": instance}}
    )

    bound = arq_obj.get_by_uuid(db.context, arq)
    assert (bound.state, bound.device_rp_uuid) == (State.BOUND, export)
    assert bound.attach_handle_info == CONNECT[EXPORT]
    assert allocations(client, instance) == {export: {"CUSTOM_NVME_OF": 1}}
    assert nqn in {s["nqn"] for s in target_state.subsystems}

    binders.binder(claimer=claimer, mdevs=agent).unbind(db.context, uuids=[arq])

    assert allocations(client, instance) == {}
    assert nqn not in {s["nqn"] for s in target_state.subsystems}
    assert spdk_host.calls == ["create_spdk_target", "remove_spdk_target"]
