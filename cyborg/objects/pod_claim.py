"""Devices handed to Kubernetes pods: a ResourceClaim's attach handles, held in the DB.

A pod's device is one PCI attach handle (``PCI`` or ``TEST_PCI``) named by its host
and PCI address, as the kubelet plugins name devices. While a ResourceClaim holds it,
a ``pod_device_claims`` row references it and the handle is ``in_use``, so neither an
ARQ's bind (cyborg.objects.attach_handle.claim_free) nor another claim takes it, and
the agent's reports keep the device. Who holds a handle is read in one query.
"""

import dataclasses
import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from oslo_serialization import jsonutils
from sqlalchemy import orm

from cyborg.common import constants, exception, inventory
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base

INSTANCE = "instance"  # what holds a device: a VM (an ARQ) ...
POD = "pod"  # ... or a pod (a ResourceClaim)
_PCI_TYPES = (constants.AttachType.PCI.value, constants.AttachType.TEST_PCI.value)
_HANDLE = models.AttachHandle
_CLAIM = models.PodDeviceClaim
_ARQ = models.ExtendedAcceleratorRequest


@dataclasses.dataclass(frozen=True)
class PodClaimRef:
    """The ResourceClaim a pod's devices are claimed for."""

    uid: str
    namespace: str
    name: str

    @property
    def pod(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclasses.dataclass(frozen=True)
class HostDevice:
    """A PCI attach handle of a host, the Placement provider it counts on, and its holder."""

    handle_id: int
    pci_address: str
    deployable: str
    rp_uuid: str | None  # None: not published in Placement yet
    resource_class: str  # the deployable's ``rc`` attribute; "" when none
    in_use: bool
    instance_uuid: str | None  # the VM of the ARQ holding it
    claim: PodClaimRef | None  # the ResourceClaim holding it

    @property
    def holder(self) -> str | None:
        """INSTANCE, POD or None (free). In use without either: an mdev being removed
        for a VM, which counts as the VM's."""
        if self.claim is not None:
            return POD
        return INSTANCE if self.in_use or self.instance_uuid else None


_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def info_prefix(pci_address: str) -> str:
    """How every PCI handle's attach_info at '0000:3b:00.0' begins: its canonical JSON
    up to the function (a NIC's goes on with its ``physical_network``). 400 if it is
    no PCI address."""
    if not isinstance(pci_address, str) or not _PCI_ADDRESS.match(pci_address):
        raise exception.Invalid(
            reason=f"{pci_address!r} is not a PCI address (domain:bus:device.function, hex)"
        )
    return inventory.canonical_json(inventory.pci_address_info(pci_address))[:-1]


def _devices_query(hostname: str) -> sa.Select[*tuple[Any, ...]]:
    rc = orm.aliased(models.Attribute)
    return (
        sa.select(
            _HANDLE.id,
            _HANDLE.attach_info,
            _HANDLE.in_use,
            models.Deployable.name,
            models.Deployable.rp_uuid,
            rc.value,
            _ARQ.instance_uuid,
            _CLAIM.claim_uid,
            _CLAIM.namespace,
            _CLAIM.name.label("claim_name"),
        )
        .join(models.Deployable, models.Deployable.id == _HANDLE.deployable_id)
        .join(models.Device, models.Device.id == models.Deployable.device_id)
        .outerjoin(rc, sa.and_(rc.deployable_id == models.Deployable.id, rc.key == "rc"))
        .outerjoin(_ARQ, _ARQ.attach_handle_id == _HANDLE.id)
        .outerjoin(_CLAIM, _CLAIM.attach_handle_id == _HANDLE.id)
        .where(models.Device.hostname == hostname, _HANDLE.attach_type.in_(_PCI_TYPES))
        .order_by(_HANDLE.id)
    )


def _device(row: sa.Row[Any]) -> HostDevice:
    claim = None
    if row.claim_uid is not None:
        claim = PodClaimRef(str(row.claim_uid), str(row.namespace), str(row.claim_name))
    return HostDevice(
        handle_id=int(row.id),
        pci_address=address_of(str(row.attach_info)),
        deployable=str(row.name),
        rp_uuid=row.rp_uuid,
        resource_class=str(row.value or ""),
        in_use=bool(row.in_use),
        instance_uuid=row.instance_uuid,
        claim=claim,
    )


def address_of(info: str) -> str:
    """'0000:3b:00.0' from a PCI handle's attach_info."""
    parts = jsonutils.loads(info)
    return f"{parts['domain']}:{parts['bus']}:{parts['device']}.{parts['function']}"


@db_api.context_manager.reader
def find_devices(
    context: RequestContext, hostname: str, pci_addresses: Iterable[str]
) -> dict[str, HostDevice]:
    """{address: its device} for the addresses (lower case) that ``hostname`` has, in
    one query."""
    prefixes = [info_prefix(address) for address in pci_addresses]
    # The prefix ends with the function's closing quote: "}" or ", " follows it. The
    # address was checked to be hex, so the prefix holds no LIKE wildcard.
    matches = [_HANDLE.attach_info.like(prefix + "%") for prefix in prefixes]
    rows = context.session.execute(_devices_query(hostname).where(sa.or_(*matches)))
    found: dict[str, HostDevice] = {}
    for row in rows:
        device = _device(row)
        found.setdefault(device.pci_address, device)
    return found


@db_api.context_manager.reader
def holders(context: RequestContext, hostname: str) -> dict[str, str]:
    """{deployable name: INSTANCE or POD} for the deployables of ``hostname`` that are
    held, by any handle (MDEV ones too: a vGPU's VM holds its GPU). A deployable held
    both ways says INSTANCE: no new pod may get it."""
    rows = context.session.execute(
        sa.select(models.Deployable.name, _CLAIM.id)
        .select_from(_HANDLE)
        .join(models.Deployable, models.Deployable.id == _HANDLE.deployable_id)
        .join(models.Device, models.Device.id == models.Deployable.device_id)
        .outerjoin(_CLAIM, _CLAIM.attach_handle_id == _HANDLE.id)
        .where(models.Device.hostname == hostname, _HANDLE.in_use.is_(True))
    )
    held: dict[str, str] = {}
    for name, claim_id in rows:
        if claim_id is None or held.get(name) == INSTANCE:
            held[name] = INSTANCE
        else:
            held[name] = POD
    return held


@dataclasses.dataclass(frozen=True)
class ClaimedHandle:
    """One device a claim holds."""

    claim: PodClaimRef
    hostname: str
    handle_id: int
    pci_address: str


@db_api.context_manager.reader
def get_claim(context: RequestContext, claim_uid: str) -> list[ClaimedHandle]:
    """The devices ``claim_uid`` holds, on whichever host (none: an unknown claim)."""
    rows = context.session.execute(
        sa.select(_CLAIM, _HANDLE.attach_info)
        .join(_HANDLE, _HANDLE.id == _CLAIM.attach_handle_id)
        .where(_CLAIM.claim_uid == claim_uid)
        .order_by(_CLAIM.id)
    )
    return [_claimed(row, info) for row, info in rows]


def _claimed(row: models.PodDeviceClaim, info: str) -> ClaimedHandle:
    return ClaimedHandle(
        claim=PodClaimRef(row.claim_uid, row.namespace, row.name),
        hostname=row.hostname,
        handle_id=row.attach_handle_id,
        pci_address=address_of(info),
    )


@db_api.context_manager.writer
def record(
    context: RequestContext, claim: PodClaimRef, hostname: str, devices: Sequence[HostDevice]
) -> None:
    """Take every device for ``claim`` in one transaction, or none.

    Each handle goes from free to in use by a compare-and-swap, the same guard an
    ARQ's bind takes (cyborg.objects.attach_handle.claim_free); a handle taken
    meanwhile raises DeviceTaken and nothing is kept.
    """
    # In id order: two claims of the same handles lock them in the same order.
    for device in sorted(devices, key=lambda d: d.handle_id):
        taken = context.session.execute(
            sa.update(_HANDLE)
            .where(_HANDLE.id == device.handle_id, _HANDLE.in_use.is_(False))
            .values(in_use=True)
            .execution_options(synchronize_session=False)
        )
        if base.rowcount(taken) != 1:
            raise exception.DeviceTaken(host=hostname, address=device.pci_address)
        context.session.add(
            _CLAIM(
                claim_uid=claim.uid,
                namespace=claim.namespace,
                name=claim.name,
                hostname=hostname,
                attach_handle_id=device.handle_id,
            )
        )
    with base.duplicates_as("pod claim of this attach handle"):
        context.session.flush()


@db_api.context_manager.writer
def rename(context: RequestContext, claim: PodClaimRef, hostname: str) -> None:
    """Record ``claim``'s namespace and name on its rows of ``hostname``."""
    context.session.execute(
        sa.update(_CLAIM)
        .where(_CLAIM.claim_uid == claim.uid, _CLAIM.hostname == hostname)
        .values(namespace=claim.namespace, name=claim.name)
        .execution_options(synchronize_session=False)
    )


@db_api.context_manager.writer
def forget(context: RequestContext, claim_uid: str, hostname: str) -> list[int]:
    """Remove ``claim_uid``'s rows on ``hostname`` and free their handles; the handle ids
    freed (none for an unknown claim)."""
    ids = list(
        context.session.scalars(
            sa.select(_CLAIM.attach_handle_id)
            .where(_CLAIM.claim_uid == claim_uid, _CLAIM.hostname == hostname)
            .with_for_update()
        )
    )
    if not ids:
        return []
    _delete_and_free(context, claim_uid, hostname, ids)
    return ids


def _delete_and_free(
    context: RequestContext, claim_uid: str, hostname: str, handle_ids: Collection[int]
) -> None:
    context.session.execute(
        sa.delete(_CLAIM)
        .where(_CLAIM.claim_uid == claim_uid, _CLAIM.hostname == hostname)
        .execution_options(synchronize_session=False)
    )
    context.session.execute(
        sa.update(_HANDLE)
        .where(_HANDLE.id.in_(list(handle_ids)))
        .values(in_use=False)
        .execution_options(synchronize_session=False)
    )


@db_api.context_manager.reader
def claims_elsewhere(context: RequestContext, claim_uid: str, hostname: str) -> bool:
    """Whether ``claim_uid`` also holds devices on another host than ``hostname``."""
    return (
        context.session.scalars(
            sa.select(_CLAIM.id)
            .where(_CLAIM.claim_uid == claim_uid, _CLAIM.hostname != hostname)
            .limit(1)
        ).first()
        is not None
    )


@db_api.context_manager.reader
def claimed_uids(context: RequestContext, claim_uids: Collection[str]) -> set[str]:
    """Those of ``claim_uids`` that hold devices (one statement)."""
    if not claim_uids:
        return set()
    stmt = sa.select(_CLAIM.claim_uid).where(_CLAIM.claim_uid.in_(list(claim_uids))).distinct()
    return set(context.session.scalars(stmt))
