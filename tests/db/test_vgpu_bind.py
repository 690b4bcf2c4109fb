"""Binding ARQs to vGPU (MDEV) attach handles on every backend: the agent creates the
mdev between the claim and Bound, and removes it before the handle is freed.

The flows run as the conductor runs them (cyborg.conductor.binding.bind_flow, vgpu) on a
real database; only the agent's RPC API is a stand-in, which records each call and
what the database said at that moment. The agent side is tested on its own
(tests/unit/test_mdev.py) and with real processes (tests/functional/test_vgpu_mdev.py).
"""

import datetime
import json
import types
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

import oslo_messaging
import pytest

from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import device_profiles, vgpu
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attach_handle as handle_obj
from cyborg.objects import controlpath as controlpath_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj
from cyborg.objects import nova_notification
from tests import binders
from tests.db import seed

State = constants.ARQState
HOST = "gpu-host"
INSTANCE = "3d4e5f60-7182-4a3b-9c4d-5e6f708192a3"
NO_GRACE = datetime.timedelta(0)


class Agent:
    """A stand-in for AgentAPI's two mdev calls.

    Records (method, hostname, kwargs, what ``observe`` returned at that moment);
    raises ``errors[method]`` when set.
    """

    def __init__(self, observe: Callable[[], Any] = lambda: None) -> None:
        self.conf = types.SimpleNamespace(agent=types.SimpleNamespace(mdev_timeout=60))
        self.observe = observe
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.errors: dict[str, Exception] = {}

    def _record(self, method: str, hostname: str, kwargs: dict[str, str]) -> None:
        self.calls.append((method, hostname, kwargs, self.observe()))
        if method in self.errors:
            raise self.errors[method]

    def create_vgpu_mdev(self, context: Any, hostname: str, **kwargs: str) -> None:
        self._record("create", hostname, kwargs)

    def remove_vgpu_mdev(self, context: Any, hostname: str, **kwargs: str) -> None:
        self._record("remove", hostname, kwargs)


def _vgpu_deployable(db, handles: int = 2) -> deployable_obj.Deployable:  # type: ignore[no-untyped-def]
    """A T4 whose deployable offers ``handles`` nvidia-223 slots, as the driver reports."""
    device = device_obj.create(
        db.context, type="GPU", vendor="10de", model="Tesla T4", hostname=HOST
    )
    cpid = controlpath_obj.create(
        db.context, device_id=device.id, cpid_type="PCI", cpid_info=seed.pci(0x3B)
    )
    deployable = deployable_obj.create(
        db.context, name=f"{HOST}_0000:3b:00.0", num_accelerators=handles,
        device_id=device.id, rp_uuid=str(uuidlib.uuid4()), driver_name="NVIDIA",
    )  # fmt: skip
    for n in range(handles):
        info = {"bus": "3b", "device": "00", "domain": "0000", "function": "0"}
        info.update(asked_type="nvidia-223", vgpu_mark=f"nvidia-223_{n}")
        handle_obj.create(
            db.context, deployable_id=deployable.id, cpid_id=cpid.id, in_use=False,
            attach_type="MDEV", attach_info=json.dumps(info, sort_keys=True),
        )  # fmt: skip
    return deployable


def _arqs(db, count: int = 1, resource: str = "VGPU") -> list[str]:  # type: ignore[no-untyped-def]
    """``count`` ARQs of a new profile asking for ``count`` ``resource``."""
    name = f"{resource.lower()}-{uuidlib.uuid4().hex[:8]}"
    group = {f"resources:{resource}": str(count)}
    device_profiles.create_device_profile(db.context, name=name, groups=[group])
    return binders.binder().create(db.context, device_profile_name=name, project_id="p")


def _bind(db, agent: Agent, deployable, arqs: list[str], **kwargs: Any) -> None:  # type: ignore[no-untyped-def]
    run_later = kwargs.pop("run_later", None)
    mdevs = vgpu.MdevAgent(agent)  # type: ignore[arg-type]
    binders.binder(nova=True, mdevs=mdevs, run_later=run_later, **kwargs).bind(
        db.context,
        bindings={
            arq: {
                "hostname": HOST,
                "device_rp_uuid": deployable.rp_uuid,
                "instance_uuid": INSTANCE,
            }
            for arq in arqs
        },
    )


def _handles(db, deployable) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    """{handle uuid: in use}."""
    return {h.uuid: h.in_use for h in handle_obj.get_all(db.context, deployable_id=deployable.id)}


def _snapshot(db, arq: str, deployable) -> Callable[[], Any]:  # type: ignore[no-untyped-def]
    """What the stand-in notes at each call: the ARQ's state and handle, and the handles."""

    def observe() -> Any:
        found = arq_obj.get_all(cyborg_context.get_admin_context(), uuids=[arq])
        state = (found[0].state, found[0].attach_handle_uuid) if found else None
        return state, _handles(db, deployable)

    return observe


def _kwargs(handle_uuid: str | None) -> dict[str, str | None]:
    return {"pci_addr": "0000:3b:00.0", "asked_type": "nvidia-223", "ah_uuid": handle_uuid}


def _events(db) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(e.arq_uuid, e.status) for e in nova_notification.pending(db.context)]


def test_the_mdev_is_created_between_the_claim_and_bound(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db)
    (arq,) = _arqs(db)
    agent = Agent()
    agent.observe = _snapshot(db, arq, deployable)
    _bind(db, agent, deployable, [arq])

    bound = arq_obj.get_by_uuid(db.context, arq)
    assert bound.state == State.BOUND and bound.attach_handle_type == "MDEV"
    ((method, host, kwargs, seen),) = agent.calls
    assert (method, host, kwargs) == ("create", HOST, _kwargs(bound.attach_handle_uuid))
    # At the agent call the ARQ held its claimed handle but was not Bound yet.
    assert seen[0] == (State.BIND_STARTED, bound.attach_handle_uuid)
    assert seen[1][bound.attach_handle_uuid] is True
    assert _events(db) == [(arq, "completed")]  # written once, with Bound


@pytest.mark.parametrize(
    ("error", "raised", "reason"),
    [
        (
            exception.VGPUMdevError(
                action="Creating", uuid="u", address="0000:3b:00.0", host=HOST, reason="EINVAL"
            ),
            exception.VGPUMdevError,
            "EINVAL",
        ),
        (oslo_messaging.MessagingTimeout("no answer"), exception.AgentUnavailable, HOST),
    ],
)
def test_a_failed_create_fails_the_bind_and_frees_the_handle_after_removing_the_mdev(
    db, error: Exception, raised: type[Exception], reason: str
) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db)
    (arq,) = _arqs(db)
    agent = Agent()
    agent.observe = _snapshot(db, arq, deployable)
    agent.errors["create"] = error
    with pytest.raises(raised):
        _bind(db, agent, deployable, [arq])

    failed = arq_obj.get_by_uuid(db.context, arq)
    assert failed.state == State.BIND_FAILED
    assert (failed.attach_handle_id, failed.deployable_id) == (None, None)
    assert reason in (failed.bind_failure_reason or "")
    create, remove = agent.calls
    assert (create[0], remove[0]) == ("create", "remove")
    assert remove[2] == create[2]  # the same mdev: the agent may have made it
    # The handle was still in use while its mdev was being removed, and is free now.
    assert remove[3][0] == (State.BIND_FAILED, None)
    assert remove[3][1][create[2]["ah_uuid"]] is True
    assert set(_handles(db, deployable).values()) == {False}
    assert _events(db) == [(arq, "failed")]


def test_a_handle_whose_mdev_could_not_be_removed_stays_held_until_a_retry(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db)
    (arq,) = _arqs(db)
    agent = Agent()
    agent.errors["create"] = agent.errors["remove"] = oslo_messaging.MessagingTimeout("down")
    with pytest.raises(exception.AgentUnavailable):
        _bind(db, agent, deployable, [arq])
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_FAILED
    handle = agent.calls[0][2]["ah_uuid"]
    assert _handles(db, deployable)[handle] is True  # held: no other bind gets it

    # Too recent for the periodic task (an unbind may still be waiting for the agent).
    mdevs = vgpu.MdevAgent(agent)  # type: ignore[arg-type]
    assert vgpu.remove_abandoned(db.context, mdevs) == []
    # Later, the agent still down: tried, still held.
    assert vgpu.remove_abandoned(db.context, mdevs, NO_GRACE) == [handle]
    assert _handles(db, deployable)[handle] is True
    # The agent is back.
    del agent.errors["remove"]
    assert vgpu.remove_abandoned(db.context, mdevs, NO_GRACE) == [handle]
    assert [c[0] for c in agent.calls] == ["create", "remove", "remove", "remove"]
    assert set(_handles(db, deployable).values()) == {False}
    assert vgpu.remove_abandoned(db.context, mdevs, NO_GRACE) == []


def test_one_conductor_at_a_time_takes_a_held_handle(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db, handles=1)
    (arq,) = _arqs(db)
    agent = Agent()
    _bind(db, agent, deployable, [arq])
    agent.errors["remove"] = oslo_messaging.MessagingTimeout("down")
    binders.binder(mdevs=vgpu.MdevAgent(agent)).unbind(  # type: ignore[arg-type]
        db.context, uuids=[arq]
    )
    later = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) + datetime.timedelta(1)
    (target,) = handle_obj.get_mdev_targets(db.context, held_before=later)
    assert (target.hostname, target.attach_info["asked_type"]) == (HOST, "nvidia-223")
    assert handle_obj.take_held(db.context, target.id, later) is True
    # Another conductor read it before the first took it: it sees a fresh hold now.
    assert handle_obj.take_held(db.context, target.id, later - datetime.timedelta(1)) is False


@pytest.mark.parametrize("how", ["unbind", "delete by instance", "delete by uuids"])
def test_unbind_and_delete_remove_the_mdev_before_freeing_the_handle(db, how: str) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db)
    first, second = _arqs(db, 2)
    agent = Agent()
    agent.observe = _snapshot(db, first, deployable)
    _bind(db, agent, deployable, [first, second])
    handles = {
        arq: arq_obj.get_by_uuid(db.context, arq).attach_handle_uuid for arq in (first, second)
    }
    mdevs = vgpu.MdevAgent(agent)  # type: ignore[arg-type]
    del agent.calls[:]

    if how == "unbind":
        binders.binder(mdevs=mdevs).unbind(db.context, uuids=[first, second])
        after: tuple[str, None] | None = (State.UNBOUND, None)
    elif how == "delete by instance":
        binders.binder(mdevs=mdevs).delete(db.context, instance_uuid=INSTANCE)
        after = None
    else:
        binders.binder(mdevs=mdevs).delete(db.context, uuids=[first, second])
        after = None

    assert sorted((c[0], c[1], c[2]["ah_uuid"]) for c in agent.calls) == sorted(
        ("remove", HOST, handle) for handle in handles.values()
    )
    for _, _, kwargs, (arq_state, in_use) in agent.calls:
        assert kwargs == _kwargs(kwargs["ah_uuid"])
        assert arq_state == after  # the ARQ let go first (committed) ...
        assert in_use[kwargs["ah_uuid"]] is True  # ... the handle is freed after removal
    assert set(_handles(db, deployable).values()) == {False}


def test_unbind_with_the_agent_down_succeeds_and_leaves_the_handles_held(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db, handles=2)
    arqs = _arqs(db, 2)
    agent = Agent()
    _bind(db, agent, deployable, arqs)
    agent.errors["remove"] = oslo_messaging.MessagingTimeout("down")
    del agent.calls[:]
    mdevs = vgpu.MdevAgent(agent)  # type: ignore[arg-type]
    binders.binder(mdevs=mdevs).unbind(db.context, uuids=arqs)
    assert {arq_obj.get_by_uuid(db.context, arq).state for arq in arqs} == {State.UNBOUND}
    assert list(_handles(db, deployable).values()) == [True, True]
    assert len(agent.calls) == 1  # one timeout per host, not one per mdev
    # Bound again meanwhile: both handles are held, so there is nothing to bind to.
    with pytest.raises(exception.NoFreeAttachHandle):
        _bind(db, agent, deployable, arqs[:1])
    del agent.errors["remove"]
    assert len(vgpu.remove_abandoned(db.context, mdevs, NO_GRACE)) == 2
    assert list(_handles(db, deployable).values()) == [False, False]


def test_a_resumed_bind_creates_the_mdev_of_the_handle_it_holds(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db)
    (arq,) = _arqs(db)
    arq_obj.update_state(
        db.context, arq, expected={State.INITIAL}, new_state=State.BIND_STARTED,
        hostname=HOST, device_rp_uuid=deployable.rp_uuid, instance_uuid=INSTANCE,
    )  # fmt: skip
    # A conductor claimed a handle, then died before the agent was asked.
    claimed = arq_obj.attach_free_handle(
        db.context, arq, deployable_id=deployable.id, hold_types=arq_obj.HELD_TYPES
    )
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_STARTED
    agent = Agent()
    mdevs = vgpu.MdevAgent(agent)  # type: ignore[arg-type]
    resumed = binders.binder(nova=True, mdevs=mdevs).resume_abandoned(
        db.context, datetime.timedelta(seconds=-1)
    )
    assert resumed == [arq]
    bound = arq_obj.get_by_uuid(db.context, arq)
    assert (bound.state, bound.attach_handle_uuid) == (State.BOUND, claimed.uuid)
    assert [(c[0], c[2]["ah_uuid"]) for c in agent.calls] == [("create", claimed.uuid)]
    assert list(_handles(db, deployable).values()).count(True) == 1


def test_bound_needs_the_handle_the_mdev_was_made_for(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db)
    (arq,) = _arqs(db)
    arq_obj.update_state(
        db.context, arq, expected={State.INITIAL}, new_state=State.BIND_STARTED,
        hostname=HOST, device_rp_uuid=deployable.rp_uuid, instance_uuid=INSTANCE,
    )  # fmt: skip
    claimed = arq_obj.attach_free_handle(
        db.context, arq, deployable_id=deployable.id, hold_types=arq_obj.HELD_TYPES
    )
    with pytest.raises(exception.ARQStateConflict, match="holding attach handle"):
        arq_obj.update_state(
            db.context, arq, expected={State.BIND_STARTED}, new_state=State.BOUND,
            holding_handle=claimed.id + 1000,
        )  # fmt: skip
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_STARTED


def test_a_vgpu_bind_finishes_in_the_background(db) -> None:  # type: ignore[no-untyped-def]
    deployable = _vgpu_deployable(db)
    (arq,) = _arqs(db)
    agent = Agent()
    later: list[Callable[[], None]] = []
    _bind(db, agent, deployable, [arq], run_later=later.append)
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_STARTED
    assert agent.calls == [] and len(later) == 1
    later[0]()
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    assert [c[0] for c in agent.calls] == ["create"]


def test_pci_handles_never_ask_the_agent(db) -> None:  # type: ignore[no-untyped-def]
    deployable = seed.bindable_deployable(db.context, handles=1, host=HOST)
    (arq,) = _arqs(db, resource="PGPU")
    agent = Agent()
    _bind(db, agent, deployable, [arq])
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    binders.binder(mdevs=vgpu.MdevAgent(agent)).delete(  # type: ignore[arg-type]
        db.context, uuids=[arq]
    )
    assert agent.calls == []
    assert list(_handles(db, deployable).values()) == [False]
