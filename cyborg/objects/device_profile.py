"""Device profiles: named lists of request groups that ARQs are created from."""

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from oslo_db import exception as db_exc
from oslo_serialization import jsonutils

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base, pagination

SORT_KEYS = frozenset({"id", "uuid", "name", "created_at", "updated_at"})

Group = dict[str, str]


@dataclasses.dataclass
class DeviceProfile:
    id: int
    uuid: str
    name: str
    description: str | None
    groups: list[Group]
    project_id: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None


def _from_row(row: models.DeviceProfile) -> DeviceProfile:
    groups = jsonutils.loads(row.profile_json)["groups"]
    return base.from_row(DeviceProfile, row, groups=groups)


def _visible(stmt: Any, project_id: str | None) -> Any:
    """Limit to profiles a project may see: its own and the shared ones (project NULL)."""
    if project_id is None:
        return stmt
    return stmt.where(
        sa.or_(
            models.DeviceProfile.project_id == project_id,
            models.DeviceProfile.project_id.is_(None),
        )
    )


@db_api.context_manager.reader
def get_by_uuid(
    context: RequestContext, uuid: str, *, visible_to_project: str | None = None
) -> DeviceProfile:
    stmt = _visible(sa.select(models.DeviceProfile), visible_to_project)
    row = context.session.scalars(stmt.where(models.DeviceProfile.uuid == uuid)).first()
    if row is None:
        raise exception.DeviceProfileNotFound(name=uuid)
    return _from_row(row)


@db_api.context_manager.reader
def get_by_name(
    context: RequestContext, name: str, *, visible_to_project: str | None = None
) -> DeviceProfile:
    stmt = _visible(sa.select(models.DeviceProfile), visible_to_project)
    row = context.session.scalars(stmt.where(models.DeviceProfile.name == name)).first()
    if row is None:
        raise exception.DeviceProfileNotFound(name=name)
    return _from_row(row)


@db_api.context_manager.reader
def get_all(
    context: RequestContext,
    *,
    names: Sequence[str] | None = None,
    visible_to_project: str | None = None,
    page: pagination.PageRequest = pagination.ALL,
) -> list[DeviceProfile]:
    stmt = _visible(sa.select(models.DeviceProfile), visible_to_project)
    if names is not None:
        stmt = stmt.where(models.DeviceProfile.name.in_(list(names)))
    stmt = pagination.paginate(context.session, stmt, models.DeviceProfile, page, SORT_KEYS)
    return [_from_row(row) for row in context.session.scalars(stmt)]


@db_api.context_manager.writer
def create(
    context: RequestContext,
    *,
    name: str,
    groups: list[Group],
    description: str | None = None,
    uuid: str | None = None,
    project_id: str | None = None,
) -> DeviceProfile:
    row = models.DeviceProfile(
        uuid=uuid or base.new_uuid(),
        name=name,
        profile_json=jsonutils.dumps({"groups": groups}, sort_keys=True),
        description=description,
        project_id=project_id,
    )
    try:
        with context.session.begin_nested():
            context.session.add(row)
    except db_exc.DBDuplicateEntry as err:
        taken = context.session.scalar(
            sa.select(sa.func.count()).where(models.DeviceProfile.name == name)
        )
        if taken:
            raise exception.DeviceProfileNameConflict(name=name) from err
        raise exception.DuplicateEntry(resource="device profile", columns="uuid") from err
    return _from_row(row)


@db_api.context_manager.writer
def delete_by_uuid(
    context: RequestContext, uuid: str, *, visible_to_project: str | None = None
) -> None:
    """Delete one profile; ARQs made from it keep their own copy of its group."""
    stmt = sa.delete(models.DeviceProfile).where(models.DeviceProfile.uuid == uuid)
    if visible_to_project is not None:
        stmt = stmt.where(models.DeviceProfile.project_id == visible_to_project)
    if base.rowcount(context.session.execute(stmt)) == 0:
        raise exception.DeviceProfileNotFound(name=uuid)


@db_api.context_manager.writer
def delete_by_names(
    context: RequestContext, names: Sequence[str], *, visible_to_project: str | None = None
) -> None:
    """Delete every named profile, or none of them when one is missing (404 names it)."""
    stmt = sa.select(models.DeviceProfile.id, models.DeviceProfile.name).where(
        models.DeviceProfile.name.in_(list(names))
    )
    if visible_to_project is not None:
        stmt = stmt.where(models.DeviceProfile.project_id == visible_to_project)
    found = {name: id_ for id_, name in context.session.execute(stmt.with_for_update())}
    missing = [name for name in names if name not in found]
    if missing:
        raise exception.DeviceProfileNotFound(name=", ".join(missing))
    context.session.execute(
        sa.delete(models.DeviceProfile).where(models.DeviceProfile.id.in_(list(found.values())))
    )
