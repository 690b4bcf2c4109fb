"""The records of conductor calls (cyborg.db.commit_guard writes them at acceptance):
read by the API when a reply was lost, finished by the conductor, pruned after a day."""

import dataclasses
import datetime
import json
from typing import Any

import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models

MODEL = models.ConductorCall


@dataclasses.dataclass(frozen=True)
class CallRecord:
    call_id: str
    method: str
    finished: bool
    outcome: dict[str, Any] | None  # {"result": ...} or {"error": {"code", "message"}}


@db_api.context_manager.reader
def get(context: RequestContext, call_id: str) -> CallRecord | None:
    row = context.session.execute(
        sa.select(MODEL.call_id, MODEL.method, MODEL.finished, MODEL.outcome).where(
            MODEL.call_id == call_id
        )
    ).first()
    if row is None:
        return None
    outcome = None if row.outcome is None else json.loads(row.outcome)
    return CallRecord(row.call_id, row.method, bool(row.finished), outcome)


@db_api.context_manager.writer
def accept(context: RequestContext, call_id: str) -> None:
    """A write that changes nothing, so that its commit accepts the guarded call of
    ``context`` (inside its deadline, else DeadlineExpired): for calls whose side
    effects outside the database come before their first write."""
    context.session.execute(
        sa.update(MODEL).where(MODEL.call_id == call_id).values(finished=False)
    )


@db_api.context_manager.writer
def finish(context: RequestContext, call_id: str, outcome: dict[str, Any]) -> None:
    """Store how an accepted call ended (its answer or its error)."""
    context.session.execute(
        sa.update(MODEL)
        .where(MODEL.call_id == call_id)
        .values(outcome=json.dumps(outcome), finished=True)
    )


@db_api.context_manager.writer
def prune(context: RequestContext, older_than: datetime.timedelta) -> int:
    """Delete records older than ``older_than``; how many. No caller waits that long."""
    cutoff = timeutils.utcnow() - older_than
    result = context.session.execute(sa.delete(MODEL).where(MODEL.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
