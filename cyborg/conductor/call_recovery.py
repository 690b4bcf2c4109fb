"""The true answer to a conductor call whose reply never came (API side).

A call carries a deadline (cyborg.common.deadline): the conductor neither starts nor
commits it after that moment, and its first commit records the call
(cyborg.db.commit_guard). So once the deadline has passed, the call's record says for
sure what happened:

* no record: nothing was changed and nothing will be: ConductorUnavailable (503);
* a record with the call's answer or error: that answer, as if the reply had come;
* a record without an answer yet: the work was accepted and is done or being
  finished; calls that answer nothing (binds, deletes) answer as usual, the others
  ConductorCallPending (202).
"""

import time
from collections.abc import Callable
from typing import Any

from oslo_log import log

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.objects import conductor_call

LOG = log.getLogger(__name__)

ReadRecord = Callable[[RequestContext, str], conductor_call.CallRecord | None]

# How long to wait for an accepted call to store its answer: the conductor stores it
# right after the call returns, so this only covers calls that were still running.
SETTLE_SECONDS = 5.0
POLL_SECONDS = 0.5


class CallRecovery:
    def __init__(
        self,
        read: ReadRecord = conductor_call.get,
        *,
        settle: float = SETTLE_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._read = read
        self._settle = settle
        self._sleep = sleep

    def answer(self, context: RequestContext, method: str, margin: float) -> Any:
        """What the lost reply of ``method`` would have said (or raises it)."""
        call_id = context.call_id or ""
        # A send that failed may still have reached the broker: wait out the deadline.
        remaining = (context.deadline or 0.0) + margin - time.time()
        if remaining > 0:
            self._sleep(remaining)
        record = self._settled(context, call_id)
        if record is None:
            LOG.warning("%s of request %s: no answer, nothing changed", method, context.request_id)
            raise exception.ConductorUnavailable()
        LOG.warning(
            "%s of request %s: reply lost, answering from its record", method, context.request_id
        )
        outcome = record.outcome or {}
        if "error" in outcome:
            error = outcome["error"]
            raise exception.ConductorAnswer(str(error["message"]), status=int(error["code"]))
        if "result" in outcome:
            return outcome["result"]
        return None if method in ANSWER_NOTHING else _pending()

    def _settled(self, context: RequestContext, call_id: str) -> conductor_call.CallRecord | None:
        record = self._read(context, call_id)
        waited = 0.0
        while record is not None and not record.finished and waited < self._settle:
            self._sleep(POLL_SECONDS)
            waited += POLL_SECONDS
            record = self._read(context, call_id)
        return record


def _pending() -> Any:
    raise exception.ConductorCallPending()


# Calls whose only answer is success: once accepted, their flows finish them
# (binds resume, deletes complete: cyborg.conductor.periodic), so success is true.
ANSWER_NOTHING = frozenset(
    {
        "delete_device_profiles",
        "bind_arqs",
        "unbind_arqs",
        "delete_arqs",
        "delete_attribute",
        "set_device_status",
        "report_measurement",
        "cancel_job",
    }
)
