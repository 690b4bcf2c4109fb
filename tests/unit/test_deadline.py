"""Deadlines of conductor calls: how they travel and what they allow (no database)."""

import time

import pytest

from cyborg.common import context as cyborg_context
from cyborg.common import deadline, exception, rpc
from cyborg.conductor import call_recovery


def test_call_id_and_deadline_travel_with_the_context() -> None:
    sent = cyborg_context.RequestContext(call_id="c1", deadline=123.5, project_id="p")
    serializer = rpc.RequestContextSerializer()
    received = serializer.deserialize_context(serializer.serialize_context(sent))
    assert (received.call_id, received.deadline, received.project_id) == ("c1", 123.5, "p")
    assert received.call_guard is None  # the conductor sets it while serving


def test_a_context_from_an_older_caller_has_no_deadline() -> None:
    values = cyborg_context.RequestContext(project_id="p").to_dict()
    del values["call_id"], values["deadline"]
    received = cyborg_context.RequestContext.from_dict(values)
    assert (received.call_id, received.deadline) == (None, None)


def test_the_deadline_falls_a_margin_before_the_caller_gives_up() -> None:
    before = time.time()
    due = deadline.deadline_after(60, 5)
    assert before + 55 <= due <= time.time() + 55
    assert deadline.deadline_after(3, 5) <= time.time()  # never after the caller


def test_an_accepted_call_may_commit_after_its_deadline() -> None:
    guard = deadline.CallGuard(call_id="c", method="m", deadline=time.time() - 1)
    assert guard.expired() and not guard.may_commit()
    guard.accepted = True
    assert guard.may_commit()


def test_note_result_only_before_acceptance() -> None:
    context = cyborg_context.RequestContext()
    context.call_guard = deadline.CallGuard(call_id="c", method="m", deadline=time.time() + 9)
    deadline.note_result(context, ["a"])
    context.call_guard.accepted = True
    deadline.note_result(context, ["b"])
    assert context.call_guard.result == ["a"]


def test_recovery_waits_out_the_deadline_of_a_send_that_failed() -> None:
    """A send that failed may still have reached the broker: the record is read only
    once the conductor can no longer commit the call."""
    slept: list[float] = []
    reads: list[str] = []

    def read(context: cyborg_context.RequestContext, call_id: str) -> None:
        reads.append(call_id)
        assert sum(slept) > 0  # the deadline was waited out before the read

    recovery = call_recovery.CallRecovery(read, settle=0, sleep=slept.append)
    context = cyborg_context.RequestContext(call_id="c", deadline=time.time() + 30)
    with pytest.raises(exception.ConductorUnavailable):
        recovery.answer(context, "create_arqs", 5)
    assert 30 < slept[0] <= 35 and reads == ["c"]
