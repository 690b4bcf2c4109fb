"""Devices: one physical accelerator card (or function group) on a host."""

import dataclasses
import datetime
from typing import Any

import sqlalchemy as sa

from cyborg.common import constants, exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base, pagination

SORT_KEYS = frozenset(
    {"id", "uuid", "type", "vendor", "model", "hostname", "status", "created_at", "updated_at"}
)


@dataclasses.dataclass
class Device:
    id: int
    uuid: str
    type: str
    vendor: str
    model: str
    std_board_info: str | None
    vendor_board_info: str | None
    hostname: str
    status: str
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


@db_api.context_manager.reader
def get_by_uuid(context: RequestContext, uuid: str) -> Device:
    row = context.session.scalars(
        sa.select(models.Device).where(models.Device.uuid == uuid)
    ).first()
    if row is None:
        raise exception.DeviceNotFound(uuid=uuid)
    return base.from_row(Device, row)


@db_api.context_manager.reader
def get_by_id(context: RequestContext, device_id: int) -> Device:
    """The device a deployable's ``device_id`` names."""
    row = context.session.get(models.Device, device_id)
    if row is None:
        raise exception.DeviceNotFound(uuid=f"id={device_id}")
    return base.from_row(Device, row)


@db_api.context_manager.reader
def get_all(
    context: RequestContext,
    *,
    device_type: str | None = None,
    vendor: str | None = None,
    hostname: str | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[Device]:
    stmt = sa.select(models.Device)
    if device_type is not None:
        # No device has a type outside the enum (which PostgreSQL would not compare).
        known = device_type in constants.values(constants.DeviceType)
        stmt = stmt.where(models.Device.type == device_type if known else sa.false())
    if vendor is not None:
        stmt = stmt.where(models.Device.vendor == vendor)
    if hostname is not None:
        stmt = stmt.where(models.Device.hostname == hostname)
    stmt = pagination.paginate(context.session, stmt, models.Device, page, SORT_KEYS)
    return [base.from_row(Device, row) for row in context.session.scalars(stmt)]


@db_api.context_manager.writer
def create(context: RequestContext, **values: Any) -> Device:
    row = models.Device(uuid=values.pop("uuid", None) or base.new_uuid(), **values)
    with base.duplicates_as("device"):
        context.session.add(row)
        context.session.flush()
    return base.from_row(Device, row)


@db_api.context_manager.writer
def update(context: RequestContext, uuid: str, **values: Any) -> Device:
    row = context.session.scalars(
        sa.select(models.Device).where(models.Device.uuid == uuid).with_for_update()
    ).first()
    if row is None:
        raise exception.DeviceNotFound(uuid=uuid)
    for name, value in values.items():
        setattr(row, name, value)
    context.session.flush()
    return base.from_row(Device, row)


@db_api.context_manager.writer
def delete(context: RequestContext, uuid: str) -> None:
    """Delete a device with its control paths, deployables, attributes and handles.

    Refused (409) while an accelerator request holds one of its attach handles.
    """
    with base.references_as(
        exception.InUse(resource="Device", uuid=uuid, reason="an accelerator request uses it")
    ):
        result = context.session.execute(
            sa.delete(models.Device).where(models.Device.uuid == uuid)
        )
    if base.rowcount(result) == 0:
        raise exception.DeviceNotFound(uuid=uuid)
