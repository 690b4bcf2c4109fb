"""SPDK targets bound without Nova, end to end: the SPDK drivers ask a stand-in SPDK
(recorded JSON-RPC answers on a real unix socket), the conductor stores and publishes
their report to a real Placement, and binds hand out the NVMF / VHOST_USER handles."""

import pathlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cyborg.api.views import accelerator_request as arq_view
from cyborg.common import constants
from cyborg.drivers import spdk
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle
from cyborg.objects import deployable as deployable_obj
from cyborg.objects.host_inventory import provider_uuid
from tests import binders
from tests.placement.test_standalone_bind import allocations, arqs_of, bind
from tests.placement.test_sync import report
from tests.spdk_rpc import serving

State = constants.ARQState
CNODE1 = "nqn.2016-06.io.spdk:cnode1"
CNODE2 = "nqn.2016-06.io.spdk:cnode2"
LISTENER = {"adrfam": "IPv4", "traddr": "192.168.100.8", "trsvcid": "4420"}
CONNECT = {
    CNODE1: {"subnqn": CNODE1, "trtype": "TCP", **LISTENER},
    CNODE2: {"subnqn": CNODE2, "trtype": "RDMA", **LISTENER},
}


@pytest.fixture
def spdk_host(db: Any, conf: Any, sync: Any, hostname: str, compute_node: str) -> Iterator[str]:
    """A compute node whose SPDK exports two NVMe-oF subsystems and three vhost
    controllers (tests/fixtures/spdk), as its agent reports them."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="cy-spdk-", dir="/tmp"))
    try:
        with serving(root):
            devices = [
                *spdk.NVMfSPDKDriver(conf, root=str(root), hostname=hostname).discover(),
                *spdk.VhostSPDKDriver(conf, root=str(root), hostname=hostname).discover(),
            ]
        report(db, conf, sync, hostname, devices)
        yield hostname
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_an_nvmf_bind_hands_out_the_subsystems_connect_parameters(
    db, client, claimer, spdk_host
) -> None:  # type: ignore[no-untyped-def]
    (arq,) = arqs_of(db, "nvmf", [{"resources:CUSTOM_NVME_OF": "1"}])
    instance = str(uuid.uuid4())

    bind(db, claimer, [arq], spdk_host, instance)

    bound = arq_obj.get_by_uuid(db.context, arq)
    assert bound.state == State.BOUND
    assert bound.attach_handle_type == "NVMF"
    (subsystem,) = allocations(client, instance)
    assert allocations(client, instance) == {subsystem: {"CUSTOM_NVME_OF": 1}}
    nqn = (bound.attach_handle_info or {}).get("subnqn", "")
    assert subsystem == provider_uuid(f"{spdk_host}_{nqn}")
    shown = arq_view.show(bound, "http://cyborg/v2")
    assert shown["attach_handle_type"] == "NVMF"
    # Placement picks either subsystem; the handle is that one's first listener.
    assert shown["attach_handle_info"] == CONNECT[nqn]


def test_each_subsystem_binds_once_and_unbinding_frees_it(db, client, claimer, spdk_host) -> None:  # type: ignore[no-untyped-def]
    first, second, third = arqs_of(db, "nvmf3", [{"resources:CUSTOM_NVME_OF": "3"}])
    instance = str(uuid.uuid4())
    with pytest.raises(Exception, match="No free accelerator"):
        bind(db, claimer, [first, second, third], spdk_host, instance)  # two subsystems
    assert allocations(client, instance) == {}

    (a,), (b,) = arqs_of(db, "one", [{"resources:CUSTOM_NVME_OF": "1"}]), arqs_of(db, "one")
    other = str(uuid.uuid4())
    bind(db, claimer, [a], spdk_host, instance)
    bind(db, claimer, [b], spdk_host, other)
    bound = arq_obj.get_all(db.context, uuids=[a, b])
    handles = {arq.attach_handle_info["subnqn"] for arq in bound if arq.attach_handle_info}
    assert handles == {CNODE1, CNODE2}

    binders.binder(claimer=claimer).unbind(db.context, uuids=[a, b])
    assert allocations(client, instance) == allocations(client, other) == {}
    for nqn in handles:
        deployable = deployable_obj.get_by_rp_uuid(db.context, provider_uuid(f"{spdk_host}_{nqn}"))
        (handle,) = attach_handle.get_all(db.context, deployable_id=deployable.id)
        assert (handle.attach_type, handle.in_use) == ("NVMF", False)


def test_a_vhost_bind_hands_out_the_controllers_socket(db, client, claimer, spdk_host) -> None:  # type: ignore[no-untyped-def]
    (scsi,) = arqs_of(db, "scsi", [{"resources:CUSTOM_VHOST_SCSI": "1"}])
    instance = str(uuid.uuid4())

    bind(db, claimer, [scsi], spdk_host, instance)

    bound = arq_obj.get_by_uuid(db.context, scsi)
    assert (bound.state, bound.attach_handle_type) == (State.BOUND, "VHOST_USER")
    assert bound.attach_handle_info == {
        "ctrlr": "vhost.scsi0",
        "socket": "/var/tmp/vhost.scsi0",
        "transport": "vhost_user_scsi",
    }
    controller = provider_uuid(f"{spdk_host}_vhost.scsi0")
    assert allocations(client, instance) == {controller: {"CUSTOM_VHOST_SCSI": 1}}
    binders.binder(claimer=claimer).delete(db.context, uuids=[scsi])
    assert client.get_provider_usages(controller) == {"CUSTOM_VHOST_SCSI": 0}
