"""How the conductor serves one RPC call within its caller's deadline.

``serve`` refuses a call whose deadline (cyborg.common.deadline) has passed, puts a
CallGuard on the context so that the call's commits obey the deadline
(cyborg.db.commit_guard), and once the call ends stores its answer or error in the
call's record, if the call was accepted (wrote something). A context without a
deadline (a caller older than deadlines) is served as before.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from oslo_log import log

from cyborg.common import deadline, exception
from cyborg.common.context import RequestContext
from cyborg.objects import conductor_call

LOG = log.getLogger(__name__)

R = TypeVar("R")

# Calls refused when late but whose commits are not held to the deadline: an agent's
# report is a snapshot its agent sends again whatever the answer, and reports of one
# host are serialized by its row lock. Holding a full report of a large host to the
# deadline would drop it again and again on a loaded conductor, and the host would
# never converge.
COMMITS_AFTER_DEADLINE = frozenset({"report_inventory"})


def admit(context: RequestContext, method: str) -> deadline.CallGuard | None:
    """The call's guard, on ``context``; DeadlineExpired when its caller gave up.
    None: the call is not guarded (no deadline, or COMMITS_AFTER_DEADLINE)."""
    if context.deadline is None or context.call_id is None:
        return None
    guard = deadline.CallGuard(
        call_id=context.call_id,
        method=method,
        deadline=float(context.deadline),
        request_id=context.request_id,
    )
    if guard.expired():
        LOG.warning(
            "Refused %s of request %s: it arrived after its caller stopped waiting",
            method,
            context.request_id,
        )
        raise exception.DeadlineExpired(method=method)
    if method in COMMITS_AFTER_DEADLINE:
        return None
    context.call_guard = guard
    return guard


def accept(context: RequestContext) -> None:
    """Accept the call now (its record committed inside the deadline), before side
    effects outside the database that must not start after the caller gave up."""
    guard = deadline.guard_of(context)
    if guard is not None and not guard.accepted:
        conductor_call.accept(context, guard.call_id)


def serve(context: RequestContext, method: str, call: Callable[[], R]) -> R:
    guard = admit(context, method)
    try:
        result = call()
    except Exception as err:
        _finish(context, guard, {"error": _error(err, context)})
        raise
    _finish(context, guard, {"result": result})
    return result


def _error(err: Exception, context: RequestContext) -> dict[str, Any]:
    if isinstance(err, exception.CyborgException):
        return {"code": err.code, "message": err.message}
    return {
        "code": 500,
        "message": f"An unexpected error occurred; the request id is {context.request_id}.",
    }


def _finish(
    context: RequestContext, guard: deadline.CallGuard | None, outcome: dict[str, Any]
) -> None:
    if guard is None or not guard.accepted:
        return  # nothing was committed: no record to finish
    try:
        conductor_call.finish(context, guard.call_id, outcome)
    except Exception:  # the answer still goes out; a lost one then reads as pending
        LOG.exception("Could not record how call %s of %s ended", guard.method, context.request_id)
