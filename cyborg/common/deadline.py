"""Deadlines of conductor calls: the moment the caller stops waiting for an answer.

The caller (cyborg.conductor.rpcapi) stamps every call's context with a ``call_id``
and a ``deadline`` (wall-clock seconds since the epoch). The conductor refuses a call
whose deadline has passed, and the first commit that writes for a call (its
*acceptance*) goes through only inside the deadline (cyborg.db.commit_guard), so a
message that arrives late changes nothing. Commits after the acceptance always go
through: the work was accepted and its flow (or the periodic recovery) finishes it.

The ``CallGuard`` rides on the conductor's RequestContext; the database layer reads it
from the context of the transaction that wrote.
"""

import dataclasses
import time
import uuid
from typing import Any

# What a call may still note as its answer before it is accepted (see note_result).
NOT_NOTED: Any = object()


def deadline_after(timeout: float, margin: float) -> float:
    """The deadline of a call the caller waits ``timeout`` seconds for: ``margin``
    seconds before the caller gives up, for clock skew between hosts and the reply's
    trip back."""
    return time.time() + max(0.0, timeout - margin)


def new_call_id() -> str:
    return uuid.uuid4().hex


@dataclasses.dataclass
class CallGuard:
    """One conductor call in progress: whether it may still commit, and what it noted."""

    call_id: str
    method: str
    deadline: float
    request_id: str | None = None
    result: Any = NOT_NOTED
    accepted: bool = False

    def expired(self) -> bool:
        return time.time() > self.deadline

    def may_commit(self) -> bool:
        """A write commits when the call was accepted already or is inside its deadline."""
        return self.accepted or not self.expired()


def guard_of(context: Any) -> CallGuard | None:
    """The guard the conductor put on ``context`` (None: not a guarded call)."""
    guard = getattr(context, "call_guard", None)
    return guard if isinstance(guard, CallGuard) else None


def note_result(context: Any, result: Any) -> None:
    """Record what the call will answer, before its acceptance commit: the commit then
    stores it with the call's record, and a caller that lost the reply reads it."""
    guard = guard_of(context)
    if guard is not None and not guard.accepted:
        guard.result = result
