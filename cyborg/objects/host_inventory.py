"""A host's whole device tree, read and written in bulk (for agent reports).

``load`` costs six statements whatever the host holds; ``apply`` a few per kind of
change (inserts are executemany, ids are read back by uuid in one select).
Both run in the caller's transaction when there is one.
"""

import dataclasses
import json
import re
import uuid as uuidlib
from typing import Any

import sqlalchemy as sa
from oslo_utils import timeutils

from cyborg.common import constants
from cyborg.common.context import RequestContext
from cyborg.common.inventory import ATTR_HEALTH, AttachHandleReport, DeployableReport, DeviceReport
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base

_TRAIT_KEY = re.compile(r"^trait(\d+)$")


@dataclasses.dataclass
class StoredDeployable:
    id: int
    report: DeployableReport  # with the driver's attributes only
    attribute_ids: dict[str, int]  # key -> attributes.id, of the driver's attributes
    handle_ids: dict[str, int]  # attach_info -> attach_handles.id
    operator_keys: frozenset[str] = frozenset()  # created through the API: never touched
    # Stored before owners were recorded: key -> (attributes.id, value), sorted by the
    # next report.
    unknown_attributes: dict[str, tuple[int, str]] = dataclasses.field(default_factory=dict)
    handles_in_use: frozenset[str] = frozenset()  # attach_info of handles in use
    referenced: bool = False  # an accelerator request points at this deployable

    @property
    def in_use(self) -> bool:
        return bool(self.handles_in_use) or self.referenced


@dataclasses.dataclass
class StoredDevice:
    id: int
    cpid_id: int
    report: DeviceReport
    deployables: dict[str, StoredDeployable]  # name -> deployable

    @property
    def in_use(self) -> bool:
        return any(d.in_use for d in self.deployables.values())


@dataclasses.dataclass
class Changes:
    new_devices: list[DeviceReport] = dataclasses.field(default_factory=list)
    removed_devices: list[int] = dataclasses.field(default_factory=list)
    device_updates: list[tuple[int, dict[str, str]]] = dataclasses.field(default_factory=list)
    # (device id, cpid id, deployable)
    new_deployables: list[tuple[int, int, DeployableReport]] = dataclasses.field(
        default_factory=list
    )
    removed_deployables: list[int] = dataclasses.field(default_factory=list)
    deployable_updates: list[tuple[int, dict[str, object]]] = dataclasses.field(
        default_factory=list
    )
    new_attributes: list[tuple[int, str, str]] = dataclasses.field(default_factory=list)
    attribute_updates: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    removed_attributes: list[int] = dataclasses.field(default_factory=list)
    attribute_owners: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    # (deployable id, cpid id, attach_type, attach_info)
    new_handles: list[tuple[int, int, str, str]] = dataclasses.field(default_factory=list)
    removed_handles: list[int] = dataclasses.field(default_factory=list)
    held_back: list[str] = dataclasses.field(default_factory=list)  # what stayed, and why

    @property
    def empty(self) -> bool:
        return not any(
            getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "held_back"
        )


def is_placement_attribute(key: str) -> bool:
    """``rc``, ``trait<N>`` and ``health``: the driver's attributes a provider is
    published from (health decides whether its inventory is reserved)."""
    return key in ("rc", ATTR_HEALTH) or _TRAIT_KEY.match(key) is not None


def attribute_rows(deployable: DeployableReport) -> dict[str, str]:
    """The attribute rows a deployable is stored as: rc, trait0..N, then its facts."""
    rows = {"rc": deployable.resource_class}
    rows.update({f"trait{i}": trait for i, trait in enumerate(deployable.traits)})
    rows.update(dict(deployable.attributes))
    return rows


def _deployable_report(
    row: models.Deployable, attributes: list[models.Attribute], handles: list[Any]
) -> DeployableReport:
    traits: list[tuple[int, str]] = []
    facts: list[tuple[str, str]] = []
    rc = ""
    for attribute in attributes:
        match = _TRAIT_KEY.match(attribute.key)
        if attribute.key == "rc":
            rc = attribute.value
        elif match:
            traits.append((int(match.group(1)), attribute.value))
        else:
            facts.append((attribute.key, attribute.value))
    return DeployableReport(
        name=row.name,
        num_accelerators=row.num_accelerators,
        resource_class=rc,
        driver_name=row.driver_name or "",
        traits=tuple(value for _, value in sorted(traits)),
        attributes=tuple(sorted(facts)),
        attach_handles=tuple(AttachHandleReport(h.attach_type, h.attach_info) for h in handles),
    )


def controlpath_type(controlpath: str) -> str:
    """PCI, or the ``type`` an SPDK driver puts in its control path (NVMF, VHOST)."""
    try:
        kind = json.loads(controlpath).get("type")
    except (ValueError, AttributeError):
        kind = None
    return kind if kind in constants.values(constants.ControlpathType) else "PCI"


def provider_uuid(deployable_name: str) -> str:
    """The Placement provider uuid of a deployable, as upstream derives it."""
    return str(uuidlib.uuid3(uuidlib.NAMESPACE_DNS, deployable_name))


def _referenced_by_arqs(
    context: RequestContext, deployable_ids: list[int]
) -> tuple[set[int], set[int]]:
    """Attach handles and deployables that accelerator requests point at (one statement)."""
    if not deployable_ids:
        return set(), set()
    arq = models.ExtendedAcceleratorRequest
    rows = context.session.execute(
        sa.select(arq.attach_handle_id, arq.deployable_id).where(
            arq.deployable_id.in_(deployable_ids)
        )
    ).all()
    return {h for h, _ in rows if h is not None}, {d for _, d in rows if d is not None}


def _by_source(attributes: list[models.Attribute]) -> dict[str, list[models.Attribute]]:
    grouped: dict[str, list[models.Attribute]] = {}
    for attribute in attributes:
        grouped.setdefault(attribute.source, []).append(attribute)
    return grouped


@db_api.context_manager.writer
def load(context: RequestContext, hostname: str) -> dict[str, StoredDevice]:
    """The stored tree of ``hostname``, keyed by control path: six statements.

    The host's device and deployable rows stay locked until the caller's transaction
    ends. A bind that starts meanwhile waits for it (pointing an ARQ at a deployable
    needs that row), then finds its device removed or kept; a bind that got there
    first has made its handle in use before this reads it. So the plan never removes
    something a bind is taking.
    """
    session = context.session
    devices = session.scalars(
        sa.select(models.Device).where(models.Device.hostname == hostname).with_for_update()
    ).all()
    deployables = session.scalars(
        sa.select(models.Deployable)
        .join(models.Device, models.Device.id == models.Deployable.device_id)
        .where(models.Device.hostname == hostname)
        .order_by(models.Deployable.id)
        .with_for_update()
    ).all()
    # Plain reads only after the locks: MySQL's REPEATABLE READ takes its snapshot at
    # the first one, and it must show what the binds we waited for committed.
    cpids = {
        c.device_id: c
        for c in session.scalars(
            sa.select(models.ControlpathID).where(models.ControlpathID.hostname == hostname)
        )
    }
    ids = [d.id for d in deployables]
    attributes: dict[int, list[models.Attribute]] = {i: [] for i in ids}
    handles: dict[int, list[models.AttachHandle]] = {i: [] for i in ids}
    if ids:
        for attribute in session.scalars(
            sa.select(models.Attribute)
            .where(models.Attribute.deployable_id.in_(ids))
            .order_by(models.Attribute.id)
        ):
            attributes[attribute.deployable_id].append(attribute)
        for handle in session.scalars(
            sa.select(models.AttachHandle)
            .where(models.AttachHandle.deployable_id.in_(ids))
            .order_by(models.AttachHandle.id)
        ):
            handles[handle.deployable_id].append(handle)

    held_handles, held_deployables = _referenced_by_arqs(context, ids)
    by_device: dict[int, dict[str, StoredDeployable]] = {d.id: {} for d in devices}
    for row in deployables:
        owned = _by_source(attributes[row.id])
        driver = owned.get(constants.AttributeSource.DRIVER, [])
        by_device[row.device_id][row.name] = StoredDeployable(
            id=row.id,
            report=_deployable_report(row, driver, handles[row.id]),
            attribute_ids={a.key: a.id for a in driver},
            handle_ids={h.attach_info: h.id for h in handles[row.id]},
            operator_keys=frozenset(
                a.key for a in owned.get(constants.AttributeSource.OPERATOR, [])
            ),
            unknown_attributes={
                a.key: (a.id, a.value) for a in owned.get(constants.AttributeSource.UNKNOWN, [])
            },
            handles_in_use=frozenset(
                h.attach_info for h in handles[row.id] if h.in_use or h.id in held_handles
            ),
            referenced=row.id in held_deployables,
        )
    stored = {}
    for device in devices:
        cpid = cpids[device.id]
        report = DeviceReport(
            type=device.type,
            vendor=device.vendor,
            model=device.model,
            controlpath=cpid.cpid_info,
            std_board_info=device.std_board_info or "{}",
            vendor_board_info=device.vendor_board_info or "{}",
            deployables=tuple(d.report for d in by_device[device.id].values()),
        )
        stored[cpid.cpid_info] = StoredDevice(device.id, cpid.id, report, by_device[device.id])
    return stored


def _insert(context: RequestContext, model: Any, rows: list[dict[str, Any]]) -> dict[Any, int]:
    """Insert rows (each with a fresh uuid) in one executemany; return uuid -> id."""
    if not rows:
        return {}
    now = timeutils.utcnow()
    for row in rows:
        row.setdefault("uuid", base.new_uuid())
        row["created_at"] = now
    context.session.execute(sa.insert(model), rows)
    uuids = [row["uuid"] for row in rows]
    return dict(
        context.session.execute(sa.select(model.uuid, model.id).where(model.uuid.in_(uuids))).all()
    )


def _add_devices(context: RequestContext, hostname: str, changes: Changes) -> None:
    """Insert new devices and their control paths; queue their deployables."""
    devices: list[dict[str, Any]] = [
        {
            "uuid": base.new_uuid(),
            "type": d.type,
            "vendor": d.vendor,
            "model": d.model,
            "std_board_info": d.std_board_info,
            "vendor_board_info": d.vendor_board_info,
            "hostname": hostname,
            "status": "enabled",
        }
        for d in changes.new_devices
    ]
    device_ids = _insert(context, models.Device, devices)
    cpids: list[dict[str, Any]] = [
        {
            "device_id": device_ids[row["uuid"]],
            "hostname": hostname,
            "cpid_type": controlpath_type(report.controlpath),
            "cpid_info": report.controlpath,
        }
        for row, report in zip(devices, changes.new_devices, strict=True)
    ]
    cpid_ids = _insert(context, models.ControlpathID, cpids)
    for cpid, report in zip(cpids, changes.new_devices, strict=True):
        for deployable in report.deployables:
            changes.new_deployables.append((cpid["device_id"], cpid_ids[cpid["uuid"]], deployable))


def _add_deployables(context: RequestContext, changes: Changes) -> None:
    rows: list[dict[str, Any]] = [
        {
            "uuid": base.new_uuid(),
            "name": d.name,
            # Upstream's deterministic provider uuid: Placement sync creates it as such.
            "rp_uuid": provider_uuid(d.name),
            "num_accelerators": d.num_accelerators,
            "device_id": device_id,
            "driver_name": d.driver_name,
        }
        for device_id, _, d in changes.new_deployables
    ]
    ids = _insert(context, models.Deployable, rows)
    for row, (_, cpid_id, deployable) in zip(rows, changes.new_deployables, strict=True):
        deployable_id = ids[row["uuid"]]
        changes.new_attributes += [
            (deployable_id, k, v) for k, v in attribute_rows(deployable).items()
        ]
        changes.new_handles += [
            (deployable_id, cpid_id, h.attach_type, h.attach_info)
            for h in deployable.attach_handles
        ]


def _update_many(
    context: RequestContext, table: Any, updates: list[tuple[int, dict[str, Any]]]
) -> None:
    """One executemany per set of changed columns, whatever the number of rows."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in updates:
        names = tuple(sorted(values))
        groups.setdefault(names, []).append(
            {"row_id": row_id, **{f"new_{n}": values[n] for n in names}}
        )
    now = timeutils.utcnow()
    for names, rows in groups.items():
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"))
            .values(updated_at=now, **{n: sa.bindparam(f"new_{n}") for n in names})
        )
        context.session.execute(stmt, rows)


def _delete(context: RequestContext, model: Any, ids: list[int]) -> None:
    if ids:
        context.session.execute(sa.delete(model).where(model.id.in_(ids)))


@db_api.context_manager.writer
def apply(context: RequestContext, hostname: str, changes: Changes) -> None:
    """Make the stored tree match: deletes first, then updates, then inserts."""
    _delete(context, models.AttachHandle, changes.removed_handles)
    _delete(context, models.Attribute, changes.removed_attributes)
    _delete(context, models.Deployable, changes.removed_deployables)
    _delete(context, models.Device, changes.removed_devices)
    _update_many(context, models.Device.__table__, changes.device_updates)
    _update_many(context, models.Deployable.__table__, changes.deployable_updates)
    _update_many(
        context,
        models.Attribute.__table__,
        [(attribute_id, {"value": value}) for attribute_id, value in changes.attribute_updates]
        + [
            (attribute_id, {"source": source}) for attribute_id, source in changes.attribute_owners
        ],
    )
    _add_devices(context, hostname, changes)
    _add_deployables(context, changes)
    _insert(
        context,
        models.Attribute,
        [
            {"deployable_id": d, "key": k, "value": v, "source": constants.AttributeSource.DRIVER}
            for d, k, v in changes.new_attributes
        ],
    )
    _insert(
        context,
        models.AttachHandle,
        [
            {"deployable_id": d, "cpid_id": c, "attach_type": t, "attach_info": i, "in_use": False}
            for d, c, t, i in changes.new_handles
        ],
    )
