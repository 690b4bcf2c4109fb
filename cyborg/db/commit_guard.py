"""Commits of a conductor call happen inside its deadline, and leave its record.

SQLAlchemy session events, for every session whose enginefacade context carries a
CallGuard (cyborg.common.deadline; set by the conductor while it serves a call):

* a statement that writes (INSERT, UPDATE, DELETE, or a flush) ties the session's
  transaction to the guard;
* before such a transaction commits, a call not yet accepted is checked against its
  deadline: past it, the commit raises DeadlineExpired and enginefacade rolls it
  back; inside it, the call's ConductorCall row (with the answer it noted, if any)
  is inserted in the same transaction, which is the call's acceptance;
* once that commit is done, the guard is accepted and later commits go through.

Sessions without a guard (periodic tasks, tools, the API's reads) are untouched.
"""

import json
import time
from typing import Any

import sqlalchemy as sa
from oslo_log import log
from oslo_utils import timeutils
from sqlalchemy import event, orm

from cyborg.common import deadline, exception
from cyborg.db import models

LOG = log.getLogger(__name__)

_GUARD = "cyborg_call_guard"  # session.info: the guard of the transaction that wrote
_ACCEPTING = "cyborg_call_accepting"  # session.info: this commit accepts the call


def _tie(session: orm.Session) -> None:
    """While enginefacade runs a block, ``using_context`` is that block's context."""
    guard = deadline.guard_of(session.info.get("using_context"))
    if guard is not None:
        session.info[_GUARD] = guard


@event.listens_for(orm.Session, "do_orm_execute")
def _on_execute(state: orm.ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _tie(state.session)


@event.listens_for(orm.Session, "before_flush")
def _on_flush(session: orm.Session, flush_context: Any, instances: Any) -> None:
    if session.new or session.dirty or session.deleted:
        _tie(session)


@event.listens_for(orm.Session, "before_commit")
def _before_commit(session: orm.Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()  # so that pending ORM changes count before the check below
    guard: deadline.CallGuard | None = session.info.get(_GUARD)
    if guard is None or guard.accepted or session.info.get(_ACCEPTING):
        return
    if guard.expired():
        LOG.warning(
            "Rolled back %s of request %s: its caller stopped waiting %.1fs ago",
            guard.method,
            guard.request_id,
            time.time() - guard.deadline,
        )
        raise exception.DeadlineExpired(method=guard.method)
    session.info[_ACCEPTING] = True
    noted = None if guard.result is deadline.NOT_NOTED else json.dumps({"result": guard.result})
    session.execute(
        sa.insert(models.ConductorCall).values(
            call_id=guard.call_id,
            request_id=guard.request_id,
            method=guard.method,
            outcome=noted,
            finished=False,
            created_at=timeutils.utcnow(),
        )
    )


@event.listens_for(orm.Session, "after_commit")
def _after_commit(session: orm.Session) -> None:
    guard: deadline.CallGuard | None = session.info.pop(_GUARD, None)
    if session.info.pop(_ACCEPTING, False) and guard is not None:
        guard.accepted = True


@event.listens_for(orm.Session, "after_rollback")
def _after_rollback(session: orm.Session) -> None:
    session.info.pop(_GUARD, None)
    session.info.pop(_ACCEPTING, None)
