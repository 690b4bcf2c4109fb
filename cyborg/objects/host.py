"""Hosts: an agent's identity, the fingerprint of its last stored inventory, liveness."""

import contextlib
import dataclasses
import datetime

import sqlalchemy as sa
from oslo_db import api as oslo_db_api
from oslo_db import exception as db_exc
from oslo_utils import timeutils

from cyborg.common import constants
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base


@dataclasses.dataclass
class Host:
    id: int
    hostname: str
    inventory_fingerprint: str | None
    last_seen_at: datetime.datetime
    state: str
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


def _locked(context: RequestContext, hostname: str) -> models.Host | None:
    return context.session.scalars(
        sa.select(models.Host).where(models.Host.hostname == hostname).with_for_update()
    ).first()


@oslo_db_api.wrap_db_retry(
    max_retries=8, retry_on_deadlock=True, retry_interval=0.05, max_retry_interval=1, jitter=True
)
def create_if_missing(context: RequestContext, hostname: str) -> None:
    """Create the host's row, in a transaction of its own before the report's.

    A locking read of a missing row takes a gap lock on MySQL/MariaDB, and two first
    reports of different hosts inserting into the same gap deadlock. Here nothing else
    is in the transaction, so a deadlock (MariaDB still reports some between inserts
    into one unique index) or a duplicate just ends it: tried again, or done.
    """
    with contextlib.suppress(db_exc.DBDuplicateEntry):  # another conductor was first
        _insert_host(context, hostname)


@db_api.context_manager.writer
def _insert_host(context: RequestContext, hostname: str) -> None:
    exists = context.session.scalar(
        sa.select(models.Host.id).where(models.Host.hostname == hostname)
    )
    if exists is None:
        context.session.execute(sa.insert(models.Host).values(hostname=hostname, **_new_host()))


def _new_host() -> dict[str, object]:
    now = timeutils.utcnow()
    return {"last_seen_at": now, "created_at": now, "state": constants.HostState.UP.value}


@db_api.context_manager.writer
def mark_seen(
    context: RequestContext,
    host: Host,
    fingerprint: str | None = None,
    *,
    store_fingerprint: bool = False,
) -> None:
    values: dict[str, object] = {
        "last_seen_at": timeutils.utcnow(),
        "state": constants.HostState.UP.value,
    }
    if store_fingerprint:
        values["inventory_fingerprint"] = fingerprint
    context.session.execute(
        sa.update(models.Host).where(models.Host.id == host.id).values(**values)
    )


@db_api.context_manager.writer
def mark_many_seen(context: RequestContext, hostnames: list[str]) -> None:
    """Liveness of hosts that reported, in one statement; stale ones stay stale (their
    next report brings them back through ``mark_seen``)."""
    context.session.execute(
        sa.update(models.Host)
        .where(
            models.Host.hostname.in_(hostnames),
            models.Host.state == constants.HostState.UP.value,
        )
        .values(last_seen_at=timeutils.utcnow())
    )


@db_api.context_manager.writer
def lock(context: RequestContext, hostname: str) -> Host | None:
    """The host's row, locked until the transaction ends; None if it never reported."""
    row = _locked(context, hostname)
    return None if row is None else base.from_row(Host, row)


@db_api.context_manager.writer
def forget_fingerprint(context: RequestContext, hostname: str) -> None:
    """Make the host's next report send its devices, and be stored and synced again."""
    context.session.execute(
        sa.update(models.Host)
        .where(models.Host.hostname == hostname)
        .values(inventory_fingerprint=None, updated_at=timeutils.utcnow())
    )


@db_api.context_manager.writer
def mark_stale(context: RequestContext, not_seen_since: datetime.datetime) -> list[str]:
    """Mark hosts silent since ``not_seen_since`` stale; return their names."""
    stmt = sa.select(models.Host.hostname).where(
        models.Host.state == constants.HostState.UP.value,
        models.Host.last_seen_at < not_seen_since,
    )
    names = list(context.session.scalars(stmt.with_for_update()))
    if names:
        context.session.execute(
            sa.update(models.Host)
            .where(models.Host.hostname.in_(names))
            .values(state=constants.HostState.STALE.value, updated_at=timeutils.utcnow())
        )
    return names


@db_api.context_manager.reader
def get_all(context: RequestContext) -> list[Host]:
    rows = context.session.scalars(sa.select(models.Host).order_by(models.Host.hostname))
    return [base.from_row(Host, row) for row in rows]
