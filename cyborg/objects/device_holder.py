"""Who holds each deployable's devices: the VMs of its bound ARQs, the pods of its
ResourceClaims (cyborg.objects.pod_claim), the claims of its MIG partitions
(cyborg.objects.pod_partition: one holder each). Read for many deployables in one query."""

import dataclasses
from collections.abc import Collection

import sqlalchemy as sa

from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models

INSTANCE = "instance"
POD = "pod"


@dataclasses.dataclass(frozen=True)
class Holder:
    """One holder of one of a deployable's attach handles."""

    type: str  # INSTANCE or POD
    instance_uuid: str | None = None  # INSTANCE
    claim_uid: str | None = None  # POD: the ResourceClaim's uid, namespace and name
    namespace: str | None = None
    name: str | None = None


@db_api.context_manager.reader
def by_deployable(
    context: RequestContext, deployable_ids: Collection[int]
) -> dict[int, list[Holder]]:
    """{deployable id: its holders, by attach handle} for ``deployable_ids`` (a free
    deployable is left out)."""
    if not deployable_ids:
        return {}
    handle, arq, claim, part = (
        models.AttachHandle,
        models.ExtendedAcceleratorRequest,
        models.PodDeviceClaim,
        models.PodMigPartition,
    )
    rows = context.session.execute(
        sa.select(
            handle.deployable_id,
            arq.instance_uuid,
            sa.func.coalesce(part.claim_uid, claim.claim_uid),
            sa.func.coalesce(part.namespace, claim.namespace),
            sa.func.coalesce(part.name, claim.name),
        )
        .outerjoin(arq, arq.attach_handle_id == handle.id)
        .outerjoin(claim, claim.attach_handle_id == handle.id)
        .outerjoin(part, part.gpu_claim_id == claim.id)
        .where(
            handle.deployable_id.in_(list(deployable_ids)),
            sa.or_(arq.id.is_not(None), claim.id.is_not(None)),
        )
        .order_by(handle.id, part.id)
    )
    held: dict[int, list[Holder]] = {}
    for deployable_id, instance_uuid, claim_uid, namespace, name in rows:
        if claim_uid is not None:
            holder = Holder(POD, claim_uid=claim_uid, namespace=namespace, name=name)
        else:
            holder = Holder(INSTANCE, instance_uuid=instance_uuid)
        holders = held.setdefault(deployable_id, [])
        if holder not in holders:  # a claim with several partitions of the GPU: once
            holders.append(holder)
    return held


@db_api.context_manager.reader
def held_deployable_uuids(context: RequestContext) -> set[str]:
    """The deployables of which an attach handle is held: in use, or named by an ARQ
    or a pod's ResourceClaim. One query."""
    handle, arq, claim = (
        models.AttachHandle,
        models.ExtendedAcceleratorRequest,
        models.PodDeviceClaim,
    )
    stmt = (
        sa.select(models.Deployable.uuid)
        .join(handle, handle.deployable_id == models.Deployable.id)
        .where(
            sa.or_(
                handle.in_use.is_(True),
                sa.exists().where(arq.attach_handle_id == handle.id),
                sa.exists().where(claim.attach_handle_id == handle.id),
            )
        )
        .distinct()
    )
    return set(context.session.scalars(stmt))
