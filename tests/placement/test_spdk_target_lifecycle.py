"""Binding ARQs to SPDK targets without Nova: the agent creates the NVMe-oF subsystem
or vhost controller between the claim and Bound, and removes it before the handle is
freed.

The flows run as the conductor runs them (cyborg.conductor.binding.bind_flow, vgpu) on a
real database, each bind claimed in the real Placement (a standalone bind pinned to the
target under test; Nova cannot attach SPDK targets, tests/db/test_spdk_target_bind.py).
The agent is the real AgentManager, called in-process instead of over RabbitMQ; its
SPDK is the stand-in of tests/spdk_rpc.py on a real unix socket, whose subsystems and
controllers change as SPDK's do and whose answers are recorded ones.
"""

import datetime
import json
import uuid as uuidlib
from collections.abc import Iterator
from typing import Any

import pytest

from cyborg.common import constants, exception
from cyborg.conductor.binding import device_profiles, vgpu
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle as handle_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects.host_inventory import provider_uuid
from tests import binders
from tests.placement.test_sync import report
from tests.spdk_rpc import LocalAgent, TargetState, storage_host

State = constants.ARQState
EXPORT_NQN = "nqn.2016-06.io.spdk:cyborg-Malloc0"
NO_GRACE = datetime.timedelta(0)


@pytest.fixture
def state() -> TargetState:
    return TargetState()


@pytest.fixture
def agent(
    db: Any, conf: Any, sync: Any, hostname: str, compute_node: str, state: TargetState
) -> Iterator[LocalAgent]:
    """A storage host exporting Malloc0 per bind over NVMe-oF and the lvol over vhost,
    besides the operator's subsystems and controllers; its inventory is stored and
    published to Placement."""
    conf.set_override("spdk_nvmf_export_bdevs", ["Malloc0"], group="agent")
    conf.set_override(
        "spdk_vhost_export_bdevs", ["1b38702c-7f0c-411e-a962-92c6a5a8a602"], group="agent"
    )
    with storage_host(
        conf, hostname, state, lambda d: report(db, conf, sync, hostname, d)
    ) as host:
        yield host


def _deployable(db: Any, agent: LocalAgent, name: str) -> deployable_obj.Deployable:
    return deployable_obj.get_by_rp_uuid(db.context, provider_uuid(f"{agent.hostname}_{name}"))


def _arqs(db: Any, resource: str, count: int = 1) -> list[str]:
    name = f"{resource.lower()}-{uuidlib.uuid4().hex[:8]}"
    group = {f"resources:{resource}": "1"}
    device_profiles.create_device_profile(db.context, name=name, groups=[group] * count)
    return binders.binder().create(db.context, device_profile_name=name, project_id="p")


def _binder(claimer: Any, agent: LocalAgent, **kwargs: Any) -> Any:
    return binders.binder(claimer=claimer, mdevs=vgpu.MdevAgent(agent), **kwargs)  # type: ignore[arg-type]


def _bind(
    db: Any,
    claimer: Any,
    agent: LocalAgent,
    deployable: deployable_obj.Deployable,
    arq: str,
    **kwargs: Any,
) -> None:
    """A standalone bind of ``arq`` for a new consumer, pinned to ``deployable``."""
    _binder(claimer, agent, **kwargs).bind(
        db.context,
        bindings={arq: {"hostname": agent.hostname, "instance_uuid": str(uuidlib.uuid4())}},
        pins={arq: str(deployable.rp_uuid)},
    )


def _in_use(db: Any, deployable: deployable_obj.Deployable) -> list[bool]:
    return [h.in_use for h in handle_obj.get_all(db.context, deployable_id=deployable.id)]


def _nqns(state: TargetState) -> set[str]:
    return {s["nqn"] for s in state.subsystems}


def test_a_bind_creates_the_subsystem_and_unbind_deletes_it(db, claimer, agent, state) -> None:  # type: ignore[no-untyped-def]
    export = _deployable(db, agent, "nvmf_Malloc0")
    (arq,) = _arqs(db, "CUSTOM_NVME_OF")

    _bind(db, claimer, agent, export, arq)

    bound = arq_obj.get_by_uuid(db.context, arq)
    assert (bound.state, bound.attach_handle_type) == (State.BOUND, "NVMF")
    assert (bound.attach_handle_info or {})["subnqn"] == EXPORT_NQN
    (made,) = [s for s in state.subsystems if s["nqn"] == EXPORT_NQN]
    assert [ns["bdev_name"] for ns in made["namespaces"]] == ["Malloc0"]
    assert made["listen_addresses"] == [
        {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1", "trsvcid": "4420"}
    ]

    _binder(claimer, agent).unbind(db.context, uuids=[arq])

    assert arq_obj.get_by_uuid(db.context, arq).state == State.UNBOUND
    assert EXPORT_NQN not in _nqns(state)
    assert _in_use(db, export) == [False]
    assert agent.calls == ["create_spdk_target", "remove_spdk_target"]


def test_a_vhost_bind_creates_the_controller_and_delete_removes_it(
    db, claimer, agent, state
) -> None:  # type: ignore[no-untyped-def]
    export = _deployable(db, agent, "vhost_1b38702c-7f0c-411e-a962-92c6a5a8a602")
    (arq,) = _arqs(db, "CUSTOM_VHOST_BLK")
    _bind(db, claimer, agent, export, arq)
    ctrlr = "cyborg-1b38702c-7f0c-411e-a962-92c6a5a8a602"
    assert ctrlr in {c["ctrlr"] for c in state.controllers}
    assert arq_obj.get_by_uuid(db.context, arq).attach_handle_info == {
        "bdev": "1b38702c-7f0c-411e-a962-92c6a5a8a602",
        "ctrlr": ctrlr,
        "socket": f"/var/tmp/{ctrlr}",
        "transport": "vhost_user_blk",
    }
    _binder(claimer, agent).delete(db.context, uuids=[arq])
    assert ctrlr not in {c["ctrlr"] for c in state.controllers}
    assert _in_use(db, export) == [False]


def test_a_failed_create_fails_the_bind_and_leaves_nothing_behind(
    db, claimer, agent, state
) -> None:  # type: ignore[no-untyped-def]
    export = _deployable(db, agent, "nvmf_Malloc0")
    (arq,) = _arqs(db, "CUSTOM_NVME_OF")
    state.fail["nvmf_subsystem_add_listener"] = ["error_invalid_params"]

    with pytest.raises(exception.SPDKTargetError, match="Invalid parameters"):
        _bind(db, claimer, agent, export, arq)

    failed = arq_obj.get_by_uuid(db.context, arq)
    assert failed.state == State.BIND_FAILED
    assert f"SPDK target {EXPORT_NQN} on host {agent.hostname} failed" in (
        failed.bind_failure_reason or ""
    )
    assert EXPORT_NQN not in _nqns(state)
    assert _in_use(db, export) == [False]  # the removal found nothing and freed it
    # The bdev is free again: the next bind makes the subsystem.
    (again,) = _arqs(db, "CUSTOM_NVME_OF")
    _bind(db, claimer, agent, export, again)
    assert EXPORT_NQN in _nqns(state)


def test_an_unbind_the_agent_misses_holds_the_handle_until_the_retry(
    db, claimer, agent, state
) -> None:  # type: ignore[no-untyped-def]
    export = _deployable(db, agent, "nvmf_Malloc0")
    (arq,) = _arqs(db, "CUSTOM_NVME_OF")
    _bind(db, claimer, agent, export, arq)
    agent.down = True
    mdevs = vgpu.MdevAgent(agent)  # type: ignore[arg-type]

    binders.binder(claimer=claimer, mdevs=mdevs).unbind(db.context, uuids=[arq])

    assert arq_obj.get_by_uuid(db.context, arq).state == State.UNBOUND
    assert EXPORT_NQN in _nqns(state) and _in_use(db, export) == [True]  # held
    (other,) = _arqs(db, "CUSTOM_NVME_OF")
    with pytest.raises(exception.NoFreeAttachHandle):
        _bind(db, claimer, agent, export, other)
    agent.down = False
    assert len(vgpu.remove_abandoned(db.context, mdevs, NO_GRACE)) == 1
    assert EXPORT_NQN not in _nqns(state) and _in_use(db, export) == [False]


def test_an_operators_subsystem_is_checked_and_left_alone(db, claimer, agent, state) -> None:  # type: ignore[no-untyped-def]
    cnode1 = _deployable(db, agent, "nqn.2016-06.io.spdk:cnode1")
    (arq,) = _arqs(db, "CUSTOM_NVME_OF")
    _bind(db, claimer, agent, cnode1, arq)
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    _binder(claimer, agent).unbind(db.context, uuids=[arq])
    assert "nqn.2016-06.io.spdk:cnode1" in _nqns(state)  # not ours to delete
    # Deleted on the target since the last report: the bind says so.
    state.subsystems = [s for s in state.subsystems if s["nqn"] != "nqn.2016-06.io.spdk:cnode1"]
    (late,) = _arqs(db, "CUSTOM_NVME_OF")
    with pytest.raises(exception.SPDKTargetError, match="is gone"):
        _bind(db, claimer, agent, cnode1, late)
    assert arq_obj.get_by_uuid(db.context, late).state == State.BIND_FAILED
    assert _in_use(db, cnode1) == [False]


def test_an_spdk_bind_finishes_in_the_background(db, claimer, agent, state) -> None:  # type: ignore[no-untyped-def]
    export = _deployable(db, agent, "nvmf_Malloc0")
    (arq,) = _arqs(db, "CUSTOM_NVME_OF")
    later: list[Any] = []
    _bind(db, claimer, agent, export, arq, run_later=later.append)
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_STARTED
    assert agent.calls == []
    (finish,) = later
    finish()
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    assert json.dumps(sorted(_nqns(state))).count("cyborg-Malloc0") == 1
