"""Binding results reach Nova: the outbox of events, delivery, retries and recovery.

Real database (every backend) and a real HTTP stand-in for Nova's
os-server-external-events; the flows are called directly, as the conductor does.
"""

import datetime
import uuid as uuidlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from oslo_config import cfg
from oslo_utils import timeutils

import cyborg.conf
from cyborg.clients import nova
from cyborg.common import constants, exception
from cyborg.conductor.binding import device_profiles, nova_events
from cyborg.db import models
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import nova_notification
from tests import binders, fake_nova
from tests.db import seed

State = constants.ARQState
INSTANCE = "6f9c1d2e-8a7b-4c3d-9e0f-1a2b3c4d5e6f"
OTHER_INSTANCE = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"


@pytest.fixture
def nova_api() -> Iterator[tuple[fake_nova.FakeNova, nova.NovaClient]]:
    with fake_nova.running() as stub:
        conf = cfg.ConfigOpts()
        cyborg.conf.register_opts(conf)
        conf([])
        conf.set_override("auth_type", "none", group="nova")
        conf.set_override("endpoint_override", stub.endpoint, group="nova")
        client = nova.from_conf(conf)
        assert client is not None
        stub.instances.update({INSTANCE, OTHER_INSTANCE})
        yield stub, client


def _arqs(db, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    device_profiles.create_device_profile(
        db.context, name="gpu", groups=[{"resources:PGPU": str(count)}]
    )
    return binders.binder().create(db.context, device_profile_name="gpu", project_id="p")


def _bind(db, uuids, deployable, instance=INSTANCE, notify=True):  # type: ignore[no-untyped-def]
    bindings = {
        u: {"hostname": "host1", "device_rp_uuid": deployable.rp_uuid, "instance_uuid": instance}
        for u in uuids
    }
    binders.binder(nova=notify).bind(db.context, bindings=bindings)


def _resume(db, older_than: datetime.timedelta) -> list[str]:  # type: ignore[no-untyped-def]
    """What the periodic task does: finish the binds abandoned for ``older_than``."""
    return binders.binder(nova=True).resume_abandoned(db.context, older_than)


def test_bound_arqs_are_announced_in_one_request_per_instance(db, nova_api) -> None:  # type: ignore[no-untyped-def]
    stub, client = nova_api
    deployable = seed.bindable_deployable(db.context, handles=3)
    arqs = _arqs(db, 3)
    _bind(db, arqs[:2], deployable)
    _bind(db, arqs[2:], deployable, instance=OTHER_INSTANCE)
    assert len(nova_notification.pending(db.context)) == 3

    assert nova_events.deliver_due(db.context, client) == 3
    assert len(stub.received) == 2  # one POST per instance
    first = stub.received[
        [r.body["events"][0]["server_uuid"] for r in stub.received].index(INSTANCE)
    ]
    assert first.path == "/v2.1/os-server-external-events"
    assert first.headers["OpenStack-API-Version"] == "compute 2.82"
    assert sorted(first.body["events"], key=lambda e: e["tag"]) == sorted(
        (
            {
                "name": "accelerator-request-bound",
                "server_uuid": INSTANCE,
                "tag": uuid,
                "status": "completed",
                "code": 200,
            }
            for uuid in arqs[:2]
        ),
        key=lambda e: e["tag"],
    )
    assert nova_notification.pending(db.context) == []
    assert nova_events.deliver_due(db.context, client) == 0  # nothing sent twice


def test_a_failed_bind_is_announced_failed_with_its_reason_kept(db, nova_api) -> None:  # type: ignore[no-untyped-def]
    stub, client = nova_api
    deployable = seed.bindable_deployable(db.context, handles=1)
    arqs = _arqs(db, 2)
    with pytest.raises(exception.NoFreeAttachHandle):
        _bind(db, arqs, deployable)
    states = {a.uuid: a for a in arq_obj.get_all(db.context)}
    loser = next(u for u in arqs if states[u].state == State.BIND_FAILED)
    assert "free" in (states[loser].bind_failure_reason or "")
    nova_events.deliver_due(db.context, client)
    statuses = {e["tag"]: e["status"] for e in stub.events()}
    assert statuses[loser] == "failed" and list(statuses.values()).count("completed") == 1


def test_nothing_is_sent_while_an_arq_of_the_instance_is_still_binding(db, nova_api) -> None:  # type: ignore[no-untyped-def]
    stub, client = nova_api
    deployable = seed.bindable_deployable(db.context, handles=2)
    arqs = _arqs(db, 2)
    _bind(db, arqs[:1], deployable)
    # The second ARQ of the instance has started binding (another conductor, say).
    arq_obj.update_state(
        db.context, arqs[1], expected={State.INITIAL}, new_state=State.BIND_STARTED,
        instance_uuid=INSTANCE, hostname="host1", device_rp_uuid=deployable.rp_uuid,
    )  # fmt: skip
    assert nova_events.deliver_due(db.context, client) == 0
    assert stub.received == []
    assert _resume(db, datetime.timedelta(0)) == [arqs[1]]
    assert nova_events.deliver_due(db.context, client) == 2
    assert sorted(e["tag"] for e in stub.events()) == sorted(arqs)


def test_nova_down_means_retry_with_back_off(db, nova_api) -> None:  # type: ignore[no-untyped-def]
    stub, client = nova_api
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _bind(db, [arq], deployable)
    stub.answers = [503]
    assert nova_events.deliver_due(db.context, client) == 0
    (event,) = nova_notification.pending(db.context)
    assert event.attempts == 1
    assert nova_events.deliver_due(db.context, client) == 0  # not due yet: back-off
    assert len(stub.received) == 1
    _make_due(db)
    assert nova_events.deliver_due(db.context, client) == 1
    assert [e["tag"] for e in stub.events()] == [arq]


def test_an_unreachable_nova_keeps_the_event(db) -> None:  # type: ignore[no-untyped-def]
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([])
    conf.set_override("auth_type", "none", group="nova")
    conf.set_override("endpoint_override", "http://127.0.0.1:9/v2.1", group="nova")
    client = nova.from_conf(conf)
    assert client is not None
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _bind(db, [arq], deployable)
    assert nova_events.deliver_due(db.context, client) == 0
    assert [e.arq_uuid for e in nova_notification.pending(db.context)] == [arq]


@pytest.mark.parametrize("answer", [207, 404, 422])
def test_answers_nova_gives_for_gone_instances_are_final(db, nova_api, answer: int) -> None:  # type: ignore[no-untyped-def]
    stub, client = nova_api
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _bind(db, [arq], deployable)
    stub.answers = [answer]
    assert nova_events.deliver_due(db.context, client) == 1
    assert nova_notification.pending(db.context) == []


def test_events_too_old_to_matter_are_dropped(db, nova_api) -> None:  # type: ignore[no-untyped-def]
    stub, client = nova_api
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _bind(db, [arq], deployable)
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(models.NovaNotification).values(
                created_at=timeutils.utcnow() - nova_events.MAX_AGE - datetime.timedelta(1)
            )
        )
    assert nova_events.deliver_due(db.context, client) == 0
    assert stub.received == [] and nova_notification.pending(db.context) == []


def test_binds_without_nova_owe_nothing(db) -> None:  # type: ignore[no-untyped-def]
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _bind(db, [arq], deployable, notify=False)
    assert nova_notification.pending(db.context) == []


def test_deleting_the_arqs_drops_their_events(db) -> None:  # type: ignore[no-untyped-def]
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _bind(db, [arq], deployable)
    binders.binder().delete(db.context, instance_uuid=INSTANCE)
    assert nova_notification.pending(db.context) == []


def test_abandoned_binds_are_finished_only_when_old_enough(db, nova_api) -> None:  # type: ignore[no-untyped-def]
    stub, client = nova_api
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    arq_obj.update_state(
        db.context, arq, expected={State.INITIAL}, new_state=State.BIND_STARTED,
        instance_uuid=INSTANCE, hostname="host1", device_rp_uuid=deployable.rp_uuid,
    )  # fmt: skip
    assert _resume(db, datetime.timedelta(hours=1)) == []
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BIND_STARTED
    assert _resume(db, datetime.timedelta(0)) == [arq]
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND
    nova_events.deliver_due(db.context, client)
    assert [(e["tag"], e["status"]) for e in stub.events()] == [(arq, "completed")]

    # A bind whose device vanished meanwhile fails, and Nova hears that too.
    (again,) = binders.binder().create(db.context, device_profile_name="gpu", project_id="p")
    arq_obj.update_state(
        db.context, again, expected={State.INITIAL}, new_state=State.BIND_STARTED,
        instance_uuid=OTHER_INSTANCE, hostname="host1", device_rp_uuid=str(uuidlib.uuid4()),
    )  # fmt: skip
    _resume(db, datetime.timedelta(0))
    assert arq_obj.get_by_uuid(db.context, again).state == State.BIND_FAILED
    nova_events.deliver_due(db.context, client)
    assert (again, "failed") in [(e["tag"], e["status"]) for e in stub.events()]


def _make_due(db) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(models.NovaNotification).values(
                next_attempt_at=timeutils.utcnow() - datetime.timedelta(seconds=1)
            )
        )
