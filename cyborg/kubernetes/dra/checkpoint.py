"""What one DRA plugin has prepared, kept in a JSON file so a restart forgets nothing.

The kubelet retries NodePrepareResources until it gets an answer and calls it again
for every running pod after it restarts; the plugin answers a claim it prepared from
here, the same answer as the first time, and NodeUnprepareResources finds here what
to undo. Every change rewrites the whole file atomically (write, fsync, rename): a
crash leaves the old file or the new one, never half of one.

Format (``version`` 1)::

    {"version": 1, "driver": "gpu.cyborg.openstack.org",
     "claims": {"<uid>": {"namespace": ..., "name": ..., "uid": ...,
                          "devices": [{"device_name": ..., "pool_name": ...,
                                       "request_names": [...], "pci_address": ...,
                                       "cdi_device_ids": [...],
                                       "admin_access": false,
                                       "mig": {...}}],  # a MIG partition's instance only
                          "cdi_spec": {...}}}}
"""

import dataclasses
import json
import os
import tempfile
import threading
from typing import Any

from cyborg.kubernetes.dra.mig_partitions import MigInstance, partition_of
from cyborg.kubernetes.dra.ownership import ClaimRef

VERSION = 1


class CheckpointCorrupt(Exception):
    """The file is not a checkpoint this code wrote; the plugin will not guess."""


@dataclasses.dataclass(frozen=True)
class PreparedDevice:
    device_name: str
    pool_name: str
    request_names: tuple[str, ...]
    pci_address: str
    cdi_device_ids: tuple[str, ...]
    admin_access: bool = False  # monitoring access only: the claim does not own it
    mig: MigInstance | None = None  # the GPU instance made for a MIG partition

    def to_json(self) -> dict[str, Any]:
        entry = dataclasses.asdict(self)
        entry.pop("mig")
        return {**entry, "mig": self.mig.to_json()} if self.mig else entry


@dataclasses.dataclass(frozen=True)
class PreparedClaim:
    ref: ClaimRef
    devices: tuple[PreparedDevice, ...]
    cdi_spec: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self.ref),
            "devices": [d.to_json() for d in self.devices],
            "cdi_spec": self.cdi_spec,
        }

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "PreparedClaim":
        devices = tuple(
            PreparedDevice(
                device_name=d["device_name"],
                pool_name=d["pool_name"],
                request_names=tuple(d["request_names"]),
                pci_address=d["pci_address"],
                cdi_device_ids=tuple(d["cdi_device_ids"]),
                mig=MigInstance.from_json(d["mig"]) if d.get("mig") else None,
                admin_access=bool(d.get("admin_access", False)),  # absent in earlier releases
            )
            for d in entry["devices"]
        )
        ref = ClaimRef(entry["namespace"], entry["name"], entry["uid"])
        return cls(ref=ref, devices=devices, cdi_spec=dict(entry["cdi_spec"]))


def _load(path: str, driver: str) -> dict[str, PreparedClaim]:
    try:
        with open(path) as handle:
            document = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise CheckpointCorrupt(f"DRA checkpoint {path} is unreadable: {err}") from err
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise CheckpointCorrupt(f"DRA checkpoint {path} is not a version {VERSION} checkpoint")
    if document.get("driver") != driver:
        raise CheckpointCorrupt(f"DRA checkpoint {path} is of driver {document.get('driver')}, "
                                f"not {driver}")  # fmt: skip
    try:
        return {uid: PreparedClaim.from_json(e) for uid, e in document["claims"].items()}
    except (KeyError, TypeError, AttributeError) as err:
        raise CheckpointCorrupt(f"DRA checkpoint {path} has a malformed entry: {err!r}") from err


class Checkpoint:
    """The prepared claims of one driver, by claim uid; every change is on disk on return."""

    def __init__(self, path: str, driver: str) -> None:
        self.path = path
        self.driver = driver
        self._lock = threading.Lock()
        self._claims = _load(path, driver)  # raises CheckpointCorrupt

    def get(self, claim_uid: str) -> PreparedClaim | None:
        with self._lock:
            return self._claims.get(claim_uid)

    def claims(self) -> list[PreparedClaim]:
        with self._lock:
            return list(self._claims.values())

    def claim_of(self, device_id: str) -> ClaimRef | None:
        """The claim that owns the device (adminAccess preparations own nothing)."""
        with self._lock:
            for claim in self._claims.values():
                if any(d.pci_address == device_id and not d.admin_access for d in claim.devices):
                    return claim.ref
        return None

    def owners_of(self, device_id: str) -> list[tuple[ClaimRef, tuple[str, int] | None]]:
        """The claims that own the device, each with the MIG partition (profile,
        start) it holds of it, or None: it owns the whole device."""
        owners: list[tuple[ClaimRef, tuple[str, int] | None]] = []
        with self._lock:
            for claim in self._claims.values():
                for device in claim.devices:
                    if device.pci_address != device_id or device.admin_access:
                        continue
                    partition = partition_of(device.device_name)
                    held = (partition.profile, partition.start) if partition else None
                    owners.append((claim.ref, held))
        return owners

    def put(self, claim: PreparedClaim) -> None:
        with self._lock:
            claims = {**self._claims, claim.ref.uid: claim}
            self._write(claims)
            self._claims = claims

    def remove(self, claim_uid: str) -> None:
        with self._lock:
            if claim_uid not in self._claims:
                return
            claims = {u: c for u, c in self._claims.items() if u != claim_uid}
            self._write(claims)
            self._claims = claims

    def _write(self, claims: dict[str, PreparedClaim]) -> None:
        directory = os.path.dirname(self.path) or "."
        os.makedirs(directory, exist_ok=True)
        document = {
            "version": VERSION,
            "driver": self.driver,
            "claims": {uid: c.to_json() for uid, c in sorted(claims.items())},
        }
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
