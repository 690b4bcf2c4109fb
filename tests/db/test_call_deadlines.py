"""Conductor calls within their callers' deadlines, on every backend.

A call past its deadline is refused before it starts; a call whose deadline passes
before its first commit rolls that commit back; a call accepted inside its deadline
commits to the end and leaves a record with its answer; the API's recovery turns a
record (or its absence) into the true answer. Deadlines are moved into the past by
hand: nothing here waits on the clock.
"""

import datetime
import time

import pytest
import sqlalchemy as sa
from oslo_config import cfg
from oslo_messaging.rpc import dispatcher

import cyborg.conf
from cyborg.common import context as cyborg_context
from cyborg.common import deadline, exception
from cyborg.conductor import call_recovery, manager, serving
from cyborg.conductor.binding import binder, device_profiles
from cyborg.conductor.inventory import operator_changes
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import conductor_call
from cyborg.objects import device_profile as profile_obj
from tests.db import seed

GROUPS = [{"resources:PGPU": "2"}]


def _call_context(seconds_left: float) -> cyborg_context.RequestContext:
    """An admin context as the conductor receives it from a caller."""
    context = cyborg_context.RequestContext(
        is_admin=True,
        overwrite=False,
        call_id=deadline.new_call_id(),
        deadline=time.time() + seconds_left,
    )
    return cyborg_context.RequestContext.from_dict(context.to_dict())


def _expire(context: cyborg_context.RequestContext) -> None:
    """The caller stops waiting now."""
    context.call_guard.deadline = time.time() - 1


def _profiles(db) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in profile_obj.get_all(db.context))


def _records(db) -> list[tuple[str, str, bool]]:  # type: ignore[no-untyped-def]
    with db.engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT call_id, method, finished FROM conductor_calls"))
        return sorted((row[0], row[1], bool(row[2])) for row in rows)


def _create_profile(context: cyborg_context.RequestContext, name: str) -> str:
    return device_profiles.create_device_profile(context, name=name, groups=GROUPS)


def test_a_call_that_arrives_after_its_deadline_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(["test"], conf=conf, default_config_files=[])
    conductor = manager.ConductorManager(conf)
    late = _call_context(-1)
    # The RPC server sends the wrapped error to the caller as an answer (no one waits).
    with pytest.raises(dispatcher.ExpectedException) as refused:
        conductor.create_device_profile(late, name="late", groups=GROUPS)
    assert isinstance(refused.value.exc_info[1], exception.DeadlineExpired)
    assert _profiles(db) == []
    assert _records(db) == []


def test_a_commit_after_the_deadline_rolls_back(db) -> None:  # type: ignore[no-untyped-def]
    context = _call_context(60)

    def slow_create() -> str:
        _expire(context)  # the call took longer than its caller waits
        return _create_profile(context, "slow")

    with pytest.raises(exception.DeadlineExpired):
        serving.serve(context, "create_device_profile", slow_create)
    assert _profiles(db) == []
    assert _records(db) == []


def test_an_orm_flush_after_the_deadline_rolls_back(db) -> None:  # type: ignore[no-untyped-def]
    deployable = seed.bindable_deployable(db.context, handles=1)
    before = [a.key for a in attribute_obj.get_all(db.context)]
    context = _call_context(60)

    def slow_attribute() -> str:
        _expire(context)
        return operator_changes.create_attribute(
            context, deployable_uuid=deployable.uuid, key="k", value="v"
        )

    with pytest.raises(exception.DeadlineExpired):
        serving.serve(context, "create_attribute", slow_attribute)
    assert [a.key for a in attribute_obj.get_all(db.context)] == before
    assert _records(db) == []


def test_an_accepted_call_commits_to_its_end_and_records_its_answer(db) -> None:  # type: ignore[no-untyped-def]
    context = _call_context(60)

    def two_commits() -> str:
        first = _create_profile(context, "first")  # inside the deadline: accepted
        _expire(context)
        _create_profile(context, "second")  # accepted calls finish
        return first

    first = serving.serve(context, "create_device_profile", two_commits)
    assert _profiles(db) == ["first", "second"]
    record = conductor_call.get(db.context, context.call_id)
    assert record is not None
    assert (record.method, record.finished, record.outcome) == (
        "create_device_profile",
        True,
        {"result": first},
    )


def test_the_acceptance_commit_stores_the_noted_answer(db) -> None:  # type: ignore[no-untyped-def]
    profile_obj.create(db.context, name="gpu", groups=GROUPS)
    context = _call_context(60)
    seen: list[conductor_call.CallRecord | None] = []

    def create_and_look() -> list[str]:
        uuids = binder.Binder().create(context, device_profile_name="gpu", project_id="p")
        seen.append(conductor_call.get(db.context, context.call_id))  # before it returns
        return uuids

    uuids = serving.serve(context, "create_arqs", create_and_look)
    assert seen[0] is not None and not seen[0].finished
    assert seen[0].outcome == {"result": uuids}
    assert sorted(a.uuid for a in arq_obj.get_all(db.context)) == sorted(uuids)


def _fail_after_commit() -> cyborg_context.RequestContext:
    """A device-profile create served with a deadline that commits, then raises a 409."""
    context = _call_context(60)

    def create_then_fail() -> None:
        _create_profile(context, "kept")
        raise exception.Conflict(reason="after the commit")

    with pytest.raises(exception.Conflict):
        serving.serve(context, "create_device_profile", create_then_fail)
    return context


def test_an_error_after_acceptance_is_recorded(db) -> None:  # type: ignore[no-untyped-def]
    context = _fail_after_commit()
    record = conductor_call.get(db.context, context.call_id)
    assert record is not None and record.finished
    assert record.outcome == {"error": {"code": 409, "message": "Conflict: after the commit"}}


def test_a_call_that_writes_nothing_leaves_no_record(db) -> None:  # type: ignore[no-untyped-def]
    context = _call_context(60)
    serving.serve(
        context, "delete_arqs", lambda: binder.Binder().delete(context, instance_uuid="i")
    )
    assert _records(db) == []


def test_accept_commits_the_record_before_side_effects(db) -> None:  # type: ignore[no-untyped-def]
    context = _call_context(60)
    serving.serve(context, "program_deployable", lambda: serving.accept(context))
    assert [r[1:] for r in _records(db)] == [("program_deployable", True)]
    late = _call_context(60)
    with pytest.raises(exception.DeadlineExpired):
        serving.serve(late, "program_deployable", lambda: (_expire(late), serving.accept(late)))


def test_old_records_are_pruned(db) -> None:  # type: ignore[no-untyped-def]
    context = _call_context(60)
    serving.serve(context, "create_device_profile", lambda: _create_profile(context, "p"))
    assert conductor_call.prune(db.context, datetime.timedelta(days=1)) == 0
    assert conductor_call.prune(db.context, datetime.timedelta(seconds=-60)) == 1
    assert _records(db) == []


# -- the API's recovery of a lost reply ------------------------------------------------


def _recovery() -> call_recovery.CallRecovery:
    return call_recovery.CallRecovery(settle=0, sleep=lambda seconds: None)


def _caller_context(call_id: str) -> cyborg_context.RequestContext:
    return cyborg_context.RequestContext(
        is_admin=True, overwrite=False, call_id=call_id, deadline=time.time() - 1
    )


def test_recovery_without_a_record_is_a_true_503(db) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exception.ConductorUnavailable) as unavailable:
        _recovery().answer(_caller_context("nothing"), "create_arqs", 0)
    assert unavailable.value.code == 503


def test_recovery_answers_from_the_record(db) -> None:  # type: ignore[no-untyped-def]
    profile_obj.create(db.context, name="gpu", groups=GROUPS)
    context = _call_context(60)
    uuids = serving.serve(
        context,
        "create_arqs",
        lambda: binder.Binder().create(context, device_profile_name="gpu", project_id="p"),
    )
    assert _recovery().answer(_caller_context(context.call_id), "create_arqs", 0) == uuids


def test_recovery_raises_the_recorded_error(db) -> None:  # type: ignore[no-untyped-def]
    context = _fail_after_commit()
    with pytest.raises(exception.ConductorAnswer) as answer:
        _recovery().answer(_caller_context(context.call_id), "create_device_profile", 0)
    assert (answer.value.code, answer.value.message) == (409, "Conflict: after the commit")


def test_recovery_of_an_unfinished_call(db) -> None:  # type: ignore[no-untyped-def]
    """Accepted, still running (or its conductor died): success for calls whose flows
    finish themselves, 202 pending for the others."""
    for method in ("bind_arqs", "create_plans"):
        context = _call_context(60)
        serving.admit(context, method)
        conductor_call.accept(context, context.call_id)  # accepted, never finished
        caller = _caller_context(context.call_id)
        if method == "bind_arqs":
            assert _recovery().answer(caller, method, 0) is None
        else:
            with pytest.raises(exception.ConductorCallPending) as pending:
                _recovery().answer(caller, method, 0)
            assert pending.value.code == 202


def test_agent_reports_are_refused_late_but_commit_late(db) -> None:  # type: ignore[no-untyped-def]
    """A late report is dropped on arrival; one that started in time commits however
    long it takes (a large host's report would otherwise never land on a busy
    conductor)."""
    with pytest.raises(exception.DeadlineExpired):
        serving.admit(_call_context(-1), "report_inventory")
    context = _call_context(60)
    assert serving.admit(context, "report_inventory") is None
    assert deadline.guard_of(context) is None  # its commits are not checked
