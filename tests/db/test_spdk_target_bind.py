"""Nova's binds of SPDK targets fail, on every backend, before anything is claimed.

Nova's libvirt driver attaches PCI (and MDEV) handles only and boots an instance
without any other it was given; so a bind to the device Nova picked (a
``device_rp_uuid``) that has NVMF or VHOST_USER handles ends BindFailed with a reason
that says so, Nova gets the failed event, and no handle is claimed and no target made.
Binds without Nova (tests/placement/test_spdk_target_lifecycle.py) go on as before.

The agent is the real AgentManager, called in-process; its SPDK is the stand-in of
tests/spdk_rpc.py on a real unix socket.
"""

import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.common import constants, exception, inventory
from cyborg.conductor.binding import bind_flow, device_profiles, vgpu
from cyborg.conductor.inventory import reports
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle as handle_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import nova_notification
from cyborg.objects.host_inventory import provider_uuid
from tests import binders
from tests.spdk_rpc import LocalAgent, TargetState, storage_host

State = constants.ARQState
HOST = "storage-host"
EXPORT = "nvmf_Malloc0"  # its subsystem is made per bind
VHOST = "vhost_1b38702c-7f0c-411e-a962-92c6a5a8a602"


@pytest.fixture
def state() -> TargetState:
    return TargetState()


@pytest.fixture
def agent(db: Any, state: TargetState) -> Iterator[LocalAgent]:
    """A storage host exporting Malloc0 per bind over NVMe-oF and the lvol over vhost,
    besides the operator's subsystems and controllers; its inventory is stored."""
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], project="cyborg")
    conf.set_override("spdk_nvmf_export_bdevs", ["Malloc0"], group="agent")
    conf.set_override(
        "spdk_vhost_export_bdevs", ["1b38702c-7f0c-411e-a962-92c6a5a8a602"], group="agent"
    )

    def store(devices: list[inventory.DeviceReport]) -> None:
        primitive = inventory.to_primitive(devices)
        fingerprint = inventory.fingerprint(devices)
        reports.report_inventory(conf, db.context, HOST, fingerprint, primitive)

    with storage_host(conf, HOST, state, store) as host:
        yield host


def _deployable(db: Any, name: str) -> deployable_obj.Deployable:
    return deployable_obj.get_by_rp_uuid(db.context, provider_uuid(f"{HOST}_{name}"))


def _arq(db: Any, resource: str) -> str:
    name = f"{resource.lower()}-{uuidlib.uuid4().hex[:8]}"
    device_profiles.create_device_profile(
        db.context, name=name, groups=[{f"resources:{resource}": "1"}]
    )
    (arq,) = binders.binder().create(db.context, device_profile_name=name, project_id="p")
    return arq


def _nova_bind(
    db: Any, agent: LocalAgent, deployable: deployable_obj.Deployable, arq: str, instance: str
) -> None:
    binders.binder(nova=True, mdevs=vgpu.MdevAgent(agent)).bind(  # type: ignore[arg-type]
        db.context,
        bindings={
            arq: {
                "hostname": HOST,
                "device_rp_uuid": str(deployable.rp_uuid),
                "instance_uuid": instance,
            }
        },
    )


def _in_use(db: Any, deployable: deployable_obj.Deployable) -> list[bool]:
    return [h.in_use for h in handle_obj.get_all(db.context, deployable_id=deployable.id)]


def _assert_refused(db: Any, arq: str, instance: str, attach_type: str) -> None:
    failed = arq_obj.get_by_uuid(db.context, arq)
    assert failed.state == State.BIND_FAILED
    assert failed.attach_handle_id is None
    reason = failed.bind_failure_reason or ""
    assert f"Nova cannot attach the {attach_type} handles" in reason
    assert "standalone bind" in reason and "Kubernetes" not in reason  # no pods for SPDK yet
    assert reason.endswith("as a standalone bind.")  # whole: the column keeps 255 characters
    events = nova_notification.pending(db.context, instance)
    assert [(e.arq_uuid, e.status) for e in events] == [
        (arq, constants.NovaEventStatus.FAILED.value)
    ]


@pytest.mark.parametrize(
    ("name", "resource", "attach_type"),
    [
        (EXPORT, "CUSTOM_NVME_OF", "NVMF"),
        ("nqn.2016-06.io.spdk:cnode1", "CUSTOM_NVME_OF", "NVMF"),
        (VHOST, "CUSTOM_VHOST_BLK", "VHOST_USER"),
        ("vhost.scsi0", "CUSTOM_VHOST_SCSI", "VHOST_USER"),
    ],
    ids=["nvmf-export", "nvmf-operators", "vhost-export", "vhost-operators"],
)
def test_a_nova_bind_of_an_spdk_target_fails_and_nova_is_told(
    db, agent, state, name, resource, attach_type
) -> None:  # type: ignore[no-untyped-def]
    deployable = _deployable(db, name)
    arq = _arq(db, resource)
    instance = str(uuidlib.uuid4())
    subsystems, controllers = list(state.subsystems), list(state.controllers)

    with pytest.raises(exception.NovaCannotAttach) as refused:
        _nova_bind(db, agent, deployable, arq, instance)

    assert refused.value.code == 400
    _assert_refused(db, arq, instance, attach_type)
    assert _in_use(db, deployable) == [False]  # never claimed
    assert agent.calls == []  # no target made, none to remove
    assert (state.subsystems, state.controllers) == (subsystems, controllers)


def test_a_nova_bind_taken_over_is_refused_too(db, agent, state) -> None:  # type: ignore[no-untyped-def]
    """A conductor that died after BindStarted: the one taking the bind over refuses
    it the same way, and Nova is told."""
    export = _deployable(db, EXPORT)
    arq = _arq(db, "CUSTOM_NVME_OF")
    instance = str(uuidlib.uuid4())
    arq_obj.update_state(
        db.context,
        arq,
        expected=[State.INITIAL],
        new_state=State.BIND_STARTED,
        hostname=HOST,
        device_rp_uuid=str(export.rp_uuid),
        instance_uuid=instance,
    )
    started = arq_obj.get_by_uuid(db.context, arq)
    assert started.bound_by_nova

    with pytest.raises(exception.NovaCannotAttach):
        bind_flow.resume_bind(
            binders.binder(nova=True, mdevs=vgpu.MdevAgent(agent)),  # type: ignore[arg-type]
            db.context,
            started,
            "unused",
        )

    _assert_refused(db, arq, instance, "NVMF")
    assert _in_use(db, export) == [False] and agent.calls == []


def test_one_query_finds_the_spdk_targets_of_all_novas_bindings(db, agent, state) -> None:  # type: ignore[no-untyped-def]
    """Nova binds an instance's ARQs in one PATCH: both refused, the handle types of
    their devices read in one statement, not one per ARQ."""
    export, cnode1 = _deployable(db, EXPORT), _deployable(db, "nqn.2016-06.io.spdk:cnode1")
    first, second = _arq(db, "CUSTOM_NVME_OF"), _arq(db, "CUSTOM_NVME_OF")
    instance = str(uuidlib.uuid4())
    bindings = {
        arq: {"hostname": HOST, "device_rp_uuid": str(d.rp_uuid), "instance_uuid": instance}
        for arq, d in ((first, export), (second, cnode1))
    }

    with db.count_statements() as statements, pytest.raises(exception.NovaCannotAttach):
        binders.binder(nova=True).bind(db.context, bindings=bindings)

    assert len([s for s in statements if "SELECT DISTINCT" in s.upper()]) == 1
    events = nova_notification.pending(db.context, instance)
    assert sorted((e.arq_uuid, e.status) for e in events) == sorted(
        (arq, constants.NovaEventStatus.FAILED.value) for arq in (first, second)
    )
    assert _in_use(db, export) == _in_use(db, cnode1) == [False]
