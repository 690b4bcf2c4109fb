"""What the scheduler may plan on: deployables of enabled devices on hosts that are up.

Two statements whatever the inventory's size: the deployables joined with their
devices and hosts, then the attributes of all of them.
"""

import dataclasses
import json

import sqlalchemy as sa

from cyborg.common import constants
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import attribute as attribute_obj


@dataclasses.dataclass(frozen=True)
class Schedulable:
    deployable_uuid: str
    deployable_name: str
    rp_uuid: str | None
    hostname: str
    device_type: str
    vendor: str
    model: str
    attributes: dict[str, str]
    pci_address: str | None = None  # the device's PCI control path: what peer links name


def _pci_address(cpid_info: str | None) -> str | None:
    """A PCI control path's canonical JSON as "0000:3b:00.0"; None for anything else."""
    try:
        info = json.loads(cpid_info or "")
        return f"{info['domain']}:{info['bus']}:{info['device']}.{info['function']}".lower()
    except (ValueError, TypeError, KeyError):
        return None


@db_api.context_manager.reader
def get_all(context: RequestContext, hostname: str | None = None) -> list[Schedulable]:
    """Root deployables of enabled devices whose host is not stale (a device whose host
    has no row yet, e.g. created through the API, counts as up); of one host if given."""
    stmt = (
        sa.select(
            models.Deployable.id,
            models.Deployable.uuid,
            models.Deployable.name,
            models.Deployable.rp_uuid,
            models.Device.hostname,
            models.Device.type,
            models.Device.vendor,
            models.Device.model,
            models.ControlpathID.cpid_info,
        )
        .join(models.Device, models.Device.id == models.Deployable.device_id)
        .outerjoin(
            models.ControlpathID,
            sa.and_(
                models.ControlpathID.device_id == models.Device.id,
                models.ControlpathID.cpid_type == constants.ControlpathType.PCI.value,
            ),
        )
        .outerjoin(models.Host, models.Host.hostname == models.Device.hostname)
        .where(
            models.Device.status == constants.DeviceStatus.ENABLED.value,
            models.Deployable.parent_id.is_(None),
            sa.or_(models.Host.id.is_(None), models.Host.state == constants.HostState.UP.value),
        )
        .order_by(models.Device.hostname, models.Deployable.name, models.Deployable.id)
    )
    if hostname is not None:
        stmt = stmt.where(models.Device.hostname == hostname)
    rows = context.session.execute(stmt).all()
    attributes = attribute_obj.get_for_deployables(context, [row.id for row in rows])
    return [
        Schedulable(
            deployable_uuid=row.uuid,
            deployable_name=row.name,
            rp_uuid=row.rp_uuid,
            hostname=row.hostname,
            device_type=row.type,
            vendor=row.vendor,
            model=row.model,
            attributes={a.key: a.value for a in attributes[row.id]},
            pci_address=_pci_address(row.cpid_info),
        )
        for row in rows
    ]
