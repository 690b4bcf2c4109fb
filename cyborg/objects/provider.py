"""Deployables as Placement sees them: one resource provider each (for the sync).

``load`` reads what one host's providers must hold in two statements, whatever the
host has: the deployables with their device's status, then their ``rc``,
``trait<N>`` and ``health`` attributes.
"""

import dataclasses
import re

import sqlalchemy as sa

from cyborg.common import constants, inventory
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models

_TRAIT_KEY = re.compile(r"^trait(\d+)$")


@dataclasses.dataclass(frozen=True)
class DeployableProvider:
    """What the resource provider of one deployable is built from."""

    name: str
    rp_uuid: str | None
    num_accelerators: int
    resource_class: str  # the ``rc`` attribute; "" when the driver set none
    traits: tuple[str, ...]  # the ``trait<N>`` attributes, by N
    # Its device is in maintenance, or its host's agent is silent (stale): the whole
    # inventory is reserved, so that nothing new is scheduled there.
    disabled: bool
    # Its driver reports it unhealthy or fatal (the ``health`` attribute): reserved too.
    healthy: bool = True

    @property
    def reserved_whole(self) -> bool:
        return self.disabled or not self.healthy


@db_api.context_manager.reader
def load(context: RequestContext, hostname: str) -> list[DeployableProvider]:
    """The providers ``hostname``'s stored deployables make, by deployable name."""
    rows = context.session.execute(
        sa.select(
            models.Deployable.id,
            models.Deployable.name,
            models.Deployable.rp_uuid,
            models.Deployable.num_accelerators,
            models.Device.status,
            models.Host.state.label("host_state"),
        )
        .join(models.Device, models.Device.id == models.Deployable.device_id)
        .outerjoin(models.Host, models.Host.hostname == models.Device.hostname)
        .where(models.Device.hostname == hostname)
        .order_by(models.Deployable.name)
    ).all()
    if not rows:
        return []
    rcs: dict[int, str] = {}
    health: dict[int, dict[str, str]] = {}
    traits: dict[int, list[tuple[int, str]]] = {row.id: [] for row in rows}
    attributes = context.session.execute(
        sa.select(models.Attribute.deployable_id, models.Attribute.key, models.Attribute.value)
        .where(models.Attribute.deployable_id.in_(list(traits)))
        .where(
            sa.or_(
                models.Attribute.key == "rc",
                models.Attribute.key.like("trait%"),
                models.Attribute.key == inventory.ATTR_HEALTH,
            )
        )
    )
    for deployable_id, key, value in attributes:
        match = _TRAIT_KEY.match(key)
        if key == "rc":
            rcs[deployable_id] = value
        elif key == inventory.ATTR_HEALTH:
            health[deployable_id] = {key: value}
        elif match:
            traits[deployable_id].append((int(match.group(1)), value))
    return [
        DeployableProvider(
            name=row.name,
            rp_uuid=row.rp_uuid,
            num_accelerators=row.num_accelerators,
            resource_class=rcs.get(row.id, ""),
            traits=tuple(value for _, value in sorted(traits[row.id])),
            disabled=row.status != constants.DeviceStatus.ENABLED.value
            or row.host_state == constants.HostState.STALE.value,
            healthy=inventory.is_healthy(health.get(row.id, {})),
        )
        for row in rows
    ]


@db_api.context_manager.reader
def hostnames(context: RequestContext) -> list[str]:
    """Every host that reported or holds devices, sorted (for a full resync)."""
    reported = sa.select(models.Host.hostname)
    with_devices = sa.select(models.Device.hostname).distinct()
    return sorted(
        set(context.session.scalars(reported)) | set(context.session.scalars(with_devices))
    )
