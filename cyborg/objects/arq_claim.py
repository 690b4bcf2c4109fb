"""Allocations Cyborg claimed itself in Placement for ARQs (binds without device_rp_uuid).

An ARQ's ``claimed_resources`` is its share, {resource class: amount}, of its
instance's allocation on its ``device_rp_uuid``. It is recorded once the claim is
made and cleared once the share is released, so it is also what the standalone
path's quota counts. NULL for ARQs bound the Nova way: Nova owns those allocations.
"""

from collections.abc import Collection

import sqlalchemy as sa
from oslo_serialization import jsonutils
from oslo_utils import timeutils

from cyborg.common import constants
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import accelerator_request as arq
from cyborg.objects import base


@db_api.context_manager.writer
def record_claims(
    context: RequestContext,
    claims: dict[str, tuple[str, dict[str, int]]],
    *,
    fence: str | None = None,
) -> list[str]:
    """Store {uuid: (device_rp_uuid, share)} on ARQs still BindStarted (by conductor
    run ``fence``, when given); return those uuids. An ARQ unbound, deleted or taken
    over meanwhile is left out: its share is not recorded."""
    recorded = []
    for uuid, (rp_uuid, share) in claims.items():
        result = context.session.execute(
            sa.update(arq.ARQ_MODEL)
            .where(
                arq.ARQ_MODEL.uuid == uuid,
                arq.ARQ_MODEL.state == constants.ARQState.BIND_STARTED.value,
                *([] if fence is None else [arq.ARQ_MODEL.binding_conductor == fence]),
            )
            .values(
                device_rp_uuid=rp_uuid,
                claimed_resources=jsonutils.dumps(share, sort_keys=True),
                updated_at=timeutils.utcnow(),
            )
            .execution_options(synchronize_session=False)
        )
        if base.rowcount(result) == 1:
            recorded.append(uuid)
    return recorded


@db_api.context_manager.writer
def forget_claims(context: RequestContext, uuids: Collection[str]) -> None:
    """The shares of these ARQs were released in Placement."""
    context.session.execute(
        sa.update(arq.ARQ_MODEL)
        .where(arq.ARQ_MODEL.uuid.in_(list(uuids)))
        .values(claimed_resources=None)
        .execution_options(synchronize_session=False)
    )


@db_api.context_manager.reader
def claimed_usage(context: RequestContext, project_id: str | None) -> dict[str, int]:
    """{resource class: amount} Cyborg holds in Placement for the project's ARQs."""
    owner = (
        arq.ARQ_MODEL.project_id.is_(None)
        if project_id is None
        else arq.ARQ_MODEL.project_id == project_id
    )
    stmt = sa.select(arq.ARQ_MODEL.claimed_resources).where(
        owner, arq.ARQ_MODEL.claimed_resources.is_not(None)
    )
    totals: dict[str, int] = {}
    for value in context.session.scalars(stmt):
        for resource_class, amount in (arq.claimed_from_json(value) or {}).items():
            totals[resource_class] = totals.get(resource_class, 0) + amount
    return totals


@db_api.context_manager.reader
def provider_uuids(context: RequestContext) -> list[str]:
    """Every deployable's resource provider: where Cyborg's claims can be."""
    stmt = sa.select(models.Deployable.rp_uuid).where(models.Deployable.rp_uuid.is_not(None))
    return sorted(set(context.session.scalars(stmt)))


@db_api.context_manager.reader
def accounted_for(
    context: RequestContext, consumers: Collection[str]
) -> tuple[dict[tuple[str, str], dict[str, int]], set[str]]:
    """What the consumers' ARQs account for in Placement, in one statement:
    ({(consumer, provider): recorded shares added up}, consumers with an ARQ binding)."""
    if not consumers:
        return {}, set()
    stmt = sa.select(
        arq.ARQ_MODEL.instance_uuid,
        arq.ARQ_MODEL.device_rp_uuid,
        arq.ARQ_MODEL.claimed_resources,
        arq.ARQ_MODEL.state,
    ).where(arq.ARQ_MODEL.instance_uuid.in_(list(consumers)))
    shares: dict[tuple[str, str], dict[str, int]] = {}
    binding: set[str] = set()
    for row in context.session.execute(stmt):
        consumer, rp_uuid, claimed, state = str(row[0]), row[1], row[2], row[3]
        if state == constants.ARQState.BIND_STARTED.value:
            binding.add(consumer)
        share = arq.claimed_from_json(claimed)
        if share and rp_uuid:
            total = shares.setdefault((consumer, rp_uuid), {})
            for resource_class, amount in share.items():
                total[resource_class] = total.get(resource_class, 0) + amount
    return shares, binding
