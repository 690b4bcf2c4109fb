"""Control paths: how a host addresses a device (its PCI address as sorted-key JSON)."""

import dataclasses
import datetime
from typing import Any

import sqlalchemy as sa

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base


@dataclasses.dataclass
class ControlpathID:
    id: int
    uuid: str
    device_id: int
    hostname: str
    cpid_type: str
    cpid_info: str
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str) -> ControlpathID:
    row = context.session.scalars(
        sa.select(models.ControlpathID).where(models.ControlpathID.uuid == uuid)
    ).first()
    if row is None:
        raise exception.ControlpathNotFound(uuid=uuid)
    return base.from_row(ControlpathID, row)


@db_api.context_manager.reader
def get_all(
    context: RequestContext, *, device_id: int | None = None, hostname: str | None = None
) -> list[ControlpathID]:
    stmt = sa.select(models.ControlpathID).order_by(models.ControlpathID.id)
    if device_id is not None:
        stmt = stmt.where(models.ControlpathID.device_id == device_id)
    if hostname is not None:
        stmt = stmt.where(models.ControlpathID.hostname == hostname)
    return [base.from_row(ControlpathID, row) for row in context.session.scalars(stmt)]


@db_api.context_manager.writer
def create(context: RequestContext, **values: Any) -> ControlpathID:
    """Create a control path; its ``hostname`` is copied from the device it belongs to."""
    device_id = values["device_id"]
    hostname = context.session.scalar(
        sa.select(models.Device.hostname).where(models.Device.id == device_id)
    )
    if hostname is None:
        raise exception.DeviceNotFound(uuid=f"id={device_id}")
    row = models.ControlpathID(
        uuid=values.pop("uuid", None) or base.new_uuid(), hostname=hostname, **values
    )
    with base.duplicates_as("device at this address on this host"):
        context.session.add(row)
        context.session.flush()
    return base.from_row(ControlpathID, row)
