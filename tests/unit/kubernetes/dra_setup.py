"""A Preparer on real files for the DRA prepare tests: devices, claims, CDI specs.

Claims are real resource.k8s.io/v1 ResourceClaims (validated against the published
schemas); the preparer, checkpoint and CDI directory are real (under tmp_path).
"""

import dataclasses
import json
import pathlib
from collections.abc import Sequence
from typing import Any

from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra import claim_cdi
from cyborg.kubernetes.dra.checkpoint import Checkpoint
from cyborg.kubernetes.dra.driver_devices import DriverDevices
from cyborg.kubernetes.dra.mig_partitions import MigPartitioner
from cyborg.kubernetes.dra.ownership import ClaimRef, DeviceOwner, LocalOwner
from cyborg.kubernetes.dra.preparer import Preparer, PrepareSettings
from tests.kubernetes import schemas
from tests.kubernetes.claims import Claims, allocated_claim

GPU = "gpu.cyborg.openstack.org"
NVME = "nvme.cyborg.openstack.org"
A = PluginDevice("0000:3b:00.0", "cyborg.openstack.org/gpu", "GPU", "dep-a")
B = PluginDevice("0000:5e:00.0", "cyborg.openstack.org/gpu", "GPU", "dep-b", healthy=False)
N = PluginDevice("0000:af:00.0", "cyborg.openstack.org/nvme", "SSD", "dep-n")
DEV_A, DEV_B, DEV_N = "pci-0000-3b-00-0", "pci-0000-5e-00-0", "pci-0000-af-00-0"
NVME_NODES = ("/dev/nvme0", "/dev/nvme0n1", "/dev/nvme0n2")


@dataclasses.dataclass
class Setup:
    preparer: Preparer
    claims: Claims
    cdi_dir: pathlib.Path
    driver: str

    def spec(self, uid: str) -> dict[str, Any]:
        with open(self.cdi_dir / claim_cdi.file_name(self.driver, uid)) as handle:
            spec: dict[str, Any] = json.load(handle)
        return spec

    def edits(self, uid: str) -> dict[str, Any]:
        return {d["name"]: d["containerEdits"] for d in self.spec(uid)["devices"]}


def setup(
    tmp_path: pathlib.Path,
    owner: DeviceOwner | None = None,
    driver: str = GPU,
    partitioner: MigPartitioner | None = None,
) -> Setup:
    """GPU: A (with /dev/nvidia0) and B (unhealthy); NVMe: N with two namespaces;
    ``partitioner`` makes MIG partitions of the GPUs."""
    devices = DriverDevices()
    if driver == GPU:
        devices.replace([A, B], {A.id: ("/dev/nvidia0",)})
    else:
        devices.replace([N], {N.id: NVME_NODES})
    checkpoint = Checkpoint(str(tmp_path / f"{driver}.json"), driver)
    settings = PrepareSettings(driver, "node-1", str(tmp_path / "cdi"))
    source = Claims()
    preparer = Preparer(settings, devices, source, owner or LocalOwner(driver, checkpoint),
                        checkpoint, partitioner=partitioner)  # fmt: skip
    return Setup(preparer, source, tmp_path / "cdi", driver)


def put(
    made: Setup,
    uid: str,
    *devices: str,
    configs: Sequence[dict[str, Any]] = (),
    admin: Sequence[str] = (),
) -> ClaimRef:
    """A claim of ``devices`` (requests gpu-0, gpu-1, ...); ``configs`` its
    allocation's config entries; the results naming a device in ``admin`` have
    adminAccess (their request asks for it too)."""
    claim = allocated_claim("ns", f"c-{uid}", uid, made.driver, "node-1", devices, made.driver)
    results = claim["status"]["allocation"]["devices"]["results"]
    for result, request in zip(results, claim["spec"]["devices"]["requests"], strict=True):
        if result["device"] in admin:
            result["adminAccess"] = True
            request["exactly"]["adminAccess"] = True
    if configs:
        claim["status"]["allocation"]["devices"]["config"] = list(configs)
    schemas.validate(claim)
    made.claims.put(claim)
    return ClaimRef("ns", f"c-{uid}", uid)


def config(
    driver: str,
    parameters: dict[str, Any],
    source: str = "FromClaim",
    requests: Sequence[str] = (),
) -> dict[str, Any]:
    """One entry of the allocation's ``config``."""
    entry: dict[str, Any] = {
        "source": source,
        "opaque": {"driver": driver, "parameters": parameters},
    }
    if requests:
        entry["requests"] = list(requests)
    return entry
