"""Binds of a conductor that stopped: found by its heartbeat, taken over by exactly one
conductor, finished or failed with a true reason, and fenced from the conductor they
were taken from (cyborg.conductor.binding.takeover, cyborg.objects.abandoned_bind)."""

import datetime
import threading

import pytest
import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common import constants, exception
from cyborg.common import context as cyborg_context
from cyborg.conductor import liveness
from cyborg.conductor.binding import bind_flow, device_profiles, takeover
from cyborg.objects import abandoned_bind, nova_notification
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import conductor as conductor_obj
from tests import binders
from tests.db import seed
from tests.db.test_inventory_reports import _conf

State = constants.ARQState
INSTANCE = "6f9c1d2e-8a7b-4c3d-9e0f-1a2b3c4d5e6f"
DEAD = "aaaaaaaa-0000-4000-8000-000000000001"
ALIVE = "bbbbbbbb-0000-4000-8000-000000000002"
SURVIVORS = (
    "cccccccc-0000-4000-8000-000000000003",
    "dddddddd-0000-4000-8000-000000000004",
    "ffffffff-0000-4000-8000-000000000006",
)
DEAD_AFTER = datetime.timedelta(seconds=180)


def _arqs(db, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    device_profiles.create_device_profile(
        db.context, name="gpu", groups=[{"resources:PGPU": str(count)}]
    )
    return binders.binder().create(db.context, device_profile_name="gpu", project_id="p")


def _binding(db, uuids, conductor, rp_uuid=None) -> None:  # type: ignore[no-untyped-def]
    """The state a conductor leaves when it dies right after starting these binds."""
    device = {} if rp_uuid is None else {"device_rp_uuid": rp_uuid}
    for uuid in uuids:
        arq_obj.update_state(
            db.context, uuid, expected={State.INITIAL}, new_state=State.BIND_STARTED,
            hostname="host1", instance_uuid=INSTANCE, binding_conductor=conductor, **device,
        )  # fmt: skip


def _silent_since(db, conductor: str, seconds: int) -> None:  # type: ignore[no-untyped-def]
    with db.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE conductors SET heartbeat_at = :at WHERE uuid = :uuid"),
            {"at": timeutils.utcnow() - datetime.timedelta(seconds=seconds), "uuid": conductor},
        )


def _conductors(db, *, dead_host: str = "conductor-a") -> None:  # type: ignore[no-untyped-def]
    """DEAD last beat 10 minutes ago, ALIVE just now."""
    conductor_obj.beat(db.context, DEAD, dead_host)
    conductor_obj.beat(db.context, ALIVE, "conductor-b")
    _silent_since(db, DEAD, 600)


def _found(db) -> list[str]:  # type: ignore[no-untyped-def]
    cutoff = timeutils.utcnow() - DEAD_AFTER
    return [bind.arq.uuid for bind in abandoned_bind.of_dead_conductors(db.context, cutoff)]


def test_only_the_binds_of_dead_conductors_are_found(db) -> None:  # type: ignore[no-untyped-def]
    _conductors(db)
    dead, alive, unknown, unowned = _arqs(db, 4)
    _binding(db, [dead], DEAD)
    _binding(db, [alive], ALIVE)
    _binding(db, [unknown], "eeeeeeee-0000-4000-8000-000000000005")  # never beat: not judged
    _binding(db, [unowned], None)  # from before heartbeats: the bind timeout's
    assert _found(db) == [dead]
    (bind,) = abandoned_bind.of_dead_conductors(db.context, timeutils.utcnow() - DEAD_AFTER)
    assert bind.hostname == "conductor-a"
    assert bind.arq.binding_conductor == DEAD


def test_a_signed_off_or_restarted_conductor_is_dead_at_once(db) -> None:  # type: ignore[no-untyped-def]
    conductor_obj.beat(db.context, DEAD, "conductor-a")
    conductor_obj.beat(db.context, ALIVE, "conductor-b")
    first, second = _arqs(db, 2)
    _binding(db, [first], DEAD)
    _binding(db, [second], ALIVE)
    assert _found(db) == []
    conductor_obj.beat(db.context, SURVIVORS[0], "conductor-a")  # conductor-a started again
    assert _found(db) == [first]
    conductor_obj.sign_off(db.context, ALIVE)  # a clean stop
    assert _found(db) == [first, second]


def test_pruning_keeps_the_dead_runs_binds_still_name(db) -> None:  # type: ignore[no-untyped-def]
    _conductors(db)
    conductor_obj.beat(db.context, SURVIVORS[0], "conductor-c")
    _silent_since(db, SURVIVORS[0], 600)
    (arq,) = _arqs(db, 1)
    _binding(db, [arq], DEAD)
    assert conductor_obj.prune(db.context, timeutils.utcnow() - DEAD_AFTER) == 1
    assert {c.uuid for c in conductor_obj.get_all(db.context)} == {DEAD, ALIVE}


def test_a_pruned_run_that_beats_again_is_written_again(db) -> None:  # type: ignore[no-untyped-def]
    assert conductor_obj.beat(db.context, ALIVE, "conductor-b") is False
    assert conductor_obj.beat(db.context, ALIVE, "conductor-b") is True
    _silent_since(db, ALIVE, 600)
    conductor_obj.prune(db.context, timeutils.utcnow() - DEAD_AFTER)
    assert conductor_obj.get_all(db.context) == []
    assert conductor_obj.beat(db.context, ALIVE, "conductor-b") is False
    assert [c.uuid for c in conductor_obj.get_all(db.context)] == [ALIVE]


def test_a_nova_bind_taken_over_is_finished_and_nova_told(db) -> None:  # type: ignore[no-untyped-def]
    _conductors(db)
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _binding(db, [arq], DEAD, deployable.rp_uuid)
    survivor = binders.binder(nova=True, conductor=SURVIVORS[0])
    assert survivor.take_over_abandoned(db.context, DEAD_AFTER) == [arq]
    bound = arq_obj.get_by_uuid(db.context, arq)
    assert (bound.state, bound.binding_conductor) == (State.BOUND, None)
    assert [e.arq_uuid for e in nova_notification.pending(db.context)] == [arq]
    assert survivor.take_over_abandoned(db.context, DEAD_AFTER) == []


def test_a_standalone_bind_that_claimed_nothing_fails_naming_the_stopped_conductor(db) -> None:  # type: ignore[no-untyped-def]
    _conductors(db, dead_host="conductor-a.example.org")
    (arq,) = _arqs(db, 1)
    _binding(db, [arq], DEAD)  # a 2.4 bind without device_rp_uuid, before its claim
    survivor = binders.binder(nova=True, conductor=SURVIVORS[0])
    assert survivor.take_over_abandoned(db.context, DEAD_AFTER) == [arq]
    failed = arq_obj.get_by_uuid(db.context, arq)
    assert failed.state == State.BIND_FAILED
    assert failed.bind_failure_reason == takeover.STOPPED.format(host="conductor-a.example.org")
    assert failed.binding_conductor is None
    assert nova_notification.pending(db.context) == []  # not Nova's bind


def test_the_bind_timeout_still_takes_binds_that_name_no_conductor(db) -> None:  # type: ignore[no-untyped-def]
    (arq,) = _arqs(db, 1)
    _binding(db, [arq], None)
    survivor = binders.binder(conductor=SURVIVORS[0])
    assert survivor.take_over_abandoned(db.context, DEAD_AFTER) == []
    assert survivor.resume_abandoned(db.context, datetime.timedelta(seconds=-1)) == [arq]
    failed = arq_obj.get_by_uuid(db.context, arq)
    assert failed.state == State.BIND_FAILED
    assert failed.bind_failure_reason == takeover.TIMED_OUT.format(seconds=-1)


def test_the_conductor_a_bind_was_taken_from_cannot_write_it(db) -> None:  # type: ignore[no-untyped-def]
    """DEAD was only slow: once SURVIVORS[0] holds the bind, DEAD's writes miss."""
    _conductors(db)
    deployable = seed.bindable_deployable(db.context, handles=2)
    (arq,) = _arqs(db, 1)
    _binding(db, [arq], DEAD, deployable.rp_uuid)
    (bind,) = abandoned_bind.of_dead_conductors(db.context, timeutils.utcnow() - DEAD_AFTER)
    assert abandoned_bind.take_over(db.context, bind.arq, SURVIVORS[0])
    slow = binders.binder(conductor=DEAD)
    with pytest.raises(exception.ARQStateConflict):
        bind_flow.resume_bind(slow, db.context, bind.arq, "unused")
    left = arq_obj.get_by_uuid(db.context, arq)
    assert (left.state, left.binding_conductor, left.attach_handle_id) == (
        State.BIND_STARTED,
        SURVIVORS[0],
        None,
    )
    bind_flow.resume_bind(binders.binder(conductor=SURVIVORS[0]), db.context, left, "unused")
    assert arq_obj.get_by_uuid(db.context, arq).state == State.BOUND


def test_two_survivors_racing_take_each_bind_once(db) -> None:  # type: ignore[no-untyped-def]
    if db.backend == "sqlite":
        pytest.skip("SQLite is the all-in-one's database: one conductor, one writer")
    _conductors(db)
    count = 9
    deployable = seed.bindable_deployable(db.context, handles=count)
    arqs = _arqs(db, count)
    _binding(db, arqs, DEAD, deployable.rp_uuid)
    start = threading.Barrier(len(SURVIVORS))
    taken: dict[str, list[str]] = {}
    errors: list[BaseException] = []

    def survive(conductor: str) -> None:
        context = cyborg_context.get_admin_context()
        survivor = binders.binder(nova=True, conductor=conductor)
        try:
            start.wait()
            taken[conductor] = survivor.take_over_abandoned(context, DEAD_AFTER)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=survive, args=(c,)) for c in SURVIVORS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    won = [set(taken[c]) for c in SURVIVORS]
    assert sum(len(w) for w in won) == count  # each taken once ...
    assert set().union(*won) == set(arqs)  # ... and all of them
    resolved = arq_obj.get_all(db.context, uuids=arqs)
    assert {a.state for a in resolved} == {State.BOUND}
    assert len({a.attach_handle_id for a in resolved}) == count  # no handle taken twice
    assert sorted(e.arq_uuid for e in nova_notification.pending(db.context)) == sorted(arqs)


def test_a_conductor_never_takes_over_its_own_binds(db) -> None:  # type: ignore[no-untyped-def]
    """Its heartbeat may look stale (the database was out of reach), but its threads
    may still be running them: only another conductor takes them."""
    _conductors(db)
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _binding(db, [arq], DEAD, deployable.rp_uuid)
    itself = binders.binder(conductor=DEAD)
    assert itself.take_over_abandoned(db.context, DEAD_AFTER) == []
    assert itself.resume_abandoned(db.context, datetime.timedelta(seconds=-1)) == []
    other = binders.binder(conductor=SURVIVORS[0])
    assert other.take_over_abandoned(db.context, DEAD_AFTER) == [arq]


def test_the_heartbeat_registers_supersedes_and_signs_off(db) -> None:  # type: ignore[no-untyped-def]
    conf = _conf()
    conf.set_override("host", "conductor-a")
    first, second = liveness.Heartbeat(conf), liveness.Heartbeat(conf)
    assert first.interval == conf.conductor.conductor_dead_after / liveness.BEATS_PER_DEATH
    assert first.beat()
    assert [c.uuid for c in conductor_obj.get_all(db.context)] == [first.uuid]
    assert second.beat()  # the same host started again: the first run ended, and,
    (run,) = conductor_obj.get_all(db.context)  # named by no bind, forgotten
    assert run.uuid == second.uuid and run.heartbeat_at is not None
    second.stop()  # never started its thread: signs off all the same
    (run,) = conductor_obj.get_all(db.context)
    assert (run.uuid, run.heartbeat_at) == (second.uuid, None)


def test_a_bind_taken_over_between_the_two_reads_is_left_to_its_taker(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Finding binds is two statements; under READ COMMITTED (PostgreSQL) the second
    may see a takeover the first did not. The later conductor must not take the bind
    from the one that took it."""
    if db.backend == "sqlite":
        pytest.skip("SQLite is the all-in-one's database: one conductor, one writer")
    _conductors(db)
    deployable = seed.bindable_deployable(db.context, handles=1)
    (arq,) = _arqs(db, 1)
    _binding(db, [arq], DEAD, deployable.rp_uuid)
    load = arq_obj.get_all

    def taken_meanwhile(context, **filters):  # type: ignore[no-untyped-def]
        def first_taker() -> None:
            other = cyborg_context.get_admin_context()
            assert abandoned_bind.take_over(other, load(other, uuids=[arq])[0], SURVIVORS[0])

        thread = threading.Thread(target=first_taker)
        thread.start()
        thread.join(timeout=60)
        return load(context, **filters)

    monkeypatch.setattr(arq_obj, "get_all", taken_meanwhile)
    late = binders.binder(conductor=SURVIVORS[1])
    assert late.take_over_abandoned(db.context, DEAD_AFTER) == []
    monkeypatch.undo()
    left = arq_obj.get_by_uuid(db.context, arq)
    assert (left.state, left.binding_conductor) == (State.BIND_STARTED, SURVIVORS[0])
