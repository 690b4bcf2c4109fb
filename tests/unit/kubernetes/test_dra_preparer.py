"""Preparing and unpreparing claims (cyborg.kubernetes.dra.preparer), without sockets.

The checkpoint, devices and CDI directory are real (under tmp_path); the claim
source is a dictionary of v1 ResourceClaims; owners are small classes of the
DeviceOwner protocol.
"""

import dataclasses
import json
import os
import pathlib
import re
from collections.abc import Sequence
from typing import Any

import pytest

from cyborg.common import exception
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra import claim_cdi
from cyborg.kubernetes.dra.checkpoint import Checkpoint
from cyborg.kubernetes.dra.driver_devices import DriverDevices
from cyborg.kubernetes.dra.mig_partitions import MigPartitioner
from cyborg.kubernetes.dra.ownership import ClaimRef, DeviceOwner, DeviceRefused, LocalOwner
from cyborg.kubernetes.dra.preparer import PrepareFailed, Preparer, PrepareSettings
from cyborg.kubernetes.fpga_bitstreams import Bitstream
from tests.kubernetes import schemas
from tests.kubernetes.claims import Claims, allocated_claim

GPU = "gpu.cyborg.openstack.org"
A = PluginDevice("0000:3b:00.0", "cyborg.openstack.org/gpu", "GPU", "dep-a")
B = PluginDevice("0000:5e:00.0", "cyborg.openstack.org/gpu", "GPU", "dep-b")
DEV_A, DEV_B = "pci-0000-3b-00-0", "pci-0000-5e-00-0"


class RecordingOwner:
    """Refuses what ``refuse`` names; records claims and releases."""

    def __init__(self, refuse: str = "") -> None:
        self.refuse = refuse
        self.claimed: list[tuple[str, list[str]]] = []
        self.partitions: list[tuple[str, list[tuple[str, str, int]]]] = []
        self.released: list[str] = []

    def claim(
        self, claim: ClaimRef, devices: Sequence[PluginDevice], partitions: Sequence[Any] = ()
    ) -> None:
        if self.refuse:
            raise DeviceRefused(self.refuse)
        self.claimed.append((claim.uid, [d.id for d in devices]))
        if partitions:
            self.partitions.append((claim.uid, [(p.id, p.profile, p.start) for p in partitions]))

    def release(self, claim_uid: str) -> None:
        self.released.append(claim_uid)


@dataclasses.dataclass
class Setup:
    preparer: Preparer
    claims: Claims
    devices: DriverDevices
    cdi_dir: pathlib.Path


def _setup(
    tmp_path: pathlib.Path,
    owner: DeviceOwner | None = None,
    partitioner: MigPartitioner | None = None,
) -> Setup:
    devices = DriverDevices()
    devices.replace([A, dataclasses.replace(B, healthy=False)], {A.id: ("/dev/vfio/7",)})
    checkpoint = Checkpoint(str(tmp_path / "checkpoint.json"), GPU)
    source = Claims()
    settings = PrepareSettings(GPU, "node-1", str(tmp_path / "cdi"))
    preparer = Preparer(settings, devices, source, owner or LocalOwner(GPU, checkpoint),
                        checkpoint, partitioner=partitioner)  # fmt: skip
    return Setup(preparer, source, devices, tmp_path / "cdi")


def _put(setup: Setup, uid: str, *devices: str) -> ClaimRef:
    setup.claims.put(allocated_claim("ns", f"c-{uid}", uid, GPU, "node-1", devices))
    return ClaimRef("ns", f"c-{uid}", uid)


def test_prepare_writes_spec_and_checkpoint_and_owner_gets_the_devices(
    tmp_path: pathlib.Path,
) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner)
    prepared = setup.preparer.prepare(_put(setup, "u1", DEV_A))
    (device,) = prepared.devices
    assert (device.device_name, device.pci_address, device.cdi_device_ids) == (
        DEV_A, A.id, (f"{GPU}/claim=u1-{DEV_A}",),
    )  # fmt: skip
    assert owner.claimed == [("u1", [A.id])]
    with open(setup.cdi_dir / claim_cdi.file_name(GPU, "u1")) as handle:
        spec = json.load(handle)
    assert spec["devices"][0]["containerEdits"]["deviceNodes"] == [{"path": "/dev/vfio/7"}]
    assert setup.preparer.checkpoint.get("u1") == prepared


def test_a_retry_rewrites_a_lost_spec_without_asking_again(tmp_path: pathlib.Path) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner)
    ref = _put(setup, "u1", DEV_A)
    first = setup.preparer.prepare(ref)
    os.unlink(setup.cdi_dir / claim_cdi.file_name(GPU, "u1"))
    assert setup.preparer.prepare(ref) == first
    assert (setup.cdi_dir / claim_cdi.file_name(GPU, "u1")).exists()
    assert (setup.claims.reads, len(owner.claimed)) == (1, 1)


def test_unknown_and_unhealthy_devices_are_refused_before_the_owner(
    tmp_path: pathlib.Path,
) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner)
    unknown = re.escape("pci-0000-00-00-0 of gpu.cyborg.openstack.org is not on this node")
    with pytest.raises(PrepareFailed, match=unknown):
        setup.preparer.prepare(_put(setup, "u1", DEV_A, "pci-0000-00-00-0"))
    with pytest.raises(PrepareFailed, match=rf"{DEV_B} \(0000:5e:00.0\) of .* is unhealthy"):
        setup.preparer.prepare(_put(setup, "u2", DEV_B))
    assert owner.claimed == [] and setup.preparer.checkpoint.claims() == []
    assert not setup.cdi_dir.exists()


def test_an_owner_refusal_is_the_claims_error(tmp_path: pathlib.Path) -> None:
    setup = _setup(tmp_path, RecordingOwner(refuse="bound to VM 5d1f"))
    with pytest.raises(PrepareFailed, match=r"^bound to VM 5d1f$"):
        setup.preparer.prepare(_put(setup, "u1", DEV_A))
    assert setup.preparer.checkpoint.claims() == []


def test_a_failed_spec_write_releases_the_claim(tmp_path: pathlib.Path) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner)
    setup.cdi_dir.write_text("not a directory")
    with pytest.raises(PrepareFailed, match="writing the CDI spec or checkpoint"):
        setup.preparer.prepare(_put(setup, "u1", DEV_A))
    assert owner.released == ["u1"]
    assert setup.preparer.checkpoint.claims() == []


def test_unprepare_releases_and_removes_and_an_unknown_claim_is_fine(
    tmp_path: pathlib.Path,
) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner)
    setup.preparer.prepare(_put(setup, "u1", DEV_A))
    setup.preparer.unprepare("u1")
    setup.preparer.unprepare("never")
    assert owner.released == ["u1", "never"]
    assert os.listdir(setup.cdi_dir) == [] and setup.preparer.checkpoint.claims() == []


def test_a_failed_release_keeps_the_claim_prepared(tmp_path: pathlib.Path) -> None:
    class Stubborn(RecordingOwner):
        def release(self, claim_uid: str) -> None:
            raise RuntimeError("conductor unreachable")

    setup = _setup(tmp_path, Stubborn())
    setup.preparer.prepare(_put(setup, "u1", DEV_A))
    with pytest.raises(PrepareFailed, match="releasing claim u1 failed: conductor unreachable"):
        setup.preparer.unprepare("u1")
    assert setup.preparer.checkpoint.get("u1") is not None
    assert (setup.cdi_dir / claim_cdi.file_name(GPU, "u1")).exists()


# -- FPGAs programmed with the bitstream a claim names --------------------------------

FPGA = "fpga.cyborg.openstack.org"
F = PluginDevice("0000:5e:00.1", "cyborg.openstack.org/fpga", "FPGA", "dep-f")
DEV_F = "pci-0000-5e-00-1"
IMAGE = "6a1c3f2e-8d4b-4c7a-9e1f-0b2d3c4e5f60"


class RecordingPodProgrammer:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, Bitstream]] = []

    def program(self, pci_address: str, bitstream: Bitstream) -> None:
        self.calls.append((pci_address, bitstream))
        if self.error is not None:
            raise self.error


def _fpga_setup(
    tmp_path: pathlib.Path, owner: RecordingOwner, programmer: RecordingPodProgrammer
) -> Setup:
    devices = DriverDevices()
    devices.replace([F], {})
    checkpoint = Checkpoint(str(tmp_path / "checkpoint.json"), FPGA)
    source = Claims()
    settings = PrepareSettings(FPGA, "node-1", str(tmp_path / "cdi"))
    preparer = Preparer(settings, devices, source, owner, checkpoint,
                        programmer)  # type: ignore[arg-type]  # fmt: skip
    return Setup(preparer, source, devices, tmp_path / "cdi")


def _put_fpga(setup: Setup, uid: str, parameters: dict[str, object]) -> ClaimRef:
    claim = allocated_claim("ns", f"c-{uid}", uid, FPGA, "node-1", [DEV_F], FPGA)
    claim["status"]["allocation"]["devices"]["config"] = [
        {"source": "FromClaim", "opaque": {"driver": FPGA, "parameters": parameters}}
    ]
    schemas.validate(claim)
    setup.claims.put(claim)
    return ClaimRef("ns", f"c-{uid}", uid)


def _fpga_config(**bitstream: str) -> dict[str, object]:
    return {"apiVersion": "fpga.cyborg.openstack.org/v1alpha1", "kind": "FPGAConfig",
            "bitstream": bitstream}  # fmt: skip


def test_an_fpga_is_programmed_once_after_it_is_owned(tmp_path: pathlib.Path) -> None:
    owner, programmer = RecordingOwner(), RecordingPodProgrammer()
    setup = _fpga_setup(tmp_path, owner, programmer)
    ref = _put_fpga(setup, "u1", _fpga_config(image=IMAGE))
    first = setup.preparer.prepare(ref)
    assert owner.claimed == [("u1", [F.id])]
    assert programmer.calls == [(F.id, Bitstream(image=IMAGE))]
    assert setup.preparer.prepare(ref) == first  # a retry: not programmed again
    assert len(programmer.calls) == 1


def test_a_failed_programming_fails_the_prepare_and_frees_the_device(
    tmp_path: pathlib.Path,
) -> None:
    owner = RecordingOwner()
    programmer = RecordingPodProgrammer(exception.FPGAProgramError(
        address=F.id, host="node-1", reason="fpgaconf exited with status 1"))  # fmt: skip
    setup = _fpga_setup(tmp_path, owner, programmer)
    with pytest.raises(PrepareFailed, match=f"programming FPGA {F.id} with image {IMAGE} "
                       "failed: .*fpgaconf exited with status 1"):  # fmt: skip
        setup.preparer.prepare(_put_fpga(setup, "u1", _fpga_config(image=IMAGE)))
    assert owner.released == ["u1"]
    assert setup.preparer.checkpoint.get("u1") is None
    assert not (setup.cdi_dir / claim_cdi.file_name(FPGA, "u1")).exists()


def test_an_invalid_fpga_config_fails_before_the_device_is_taken(tmp_path: pathlib.Path) -> None:
    owner, programmer = RecordingOwner(), RecordingPodProgrammer()
    setup = _fpga_setup(tmp_path, owner, programmer)
    with pytest.raises(PrepareFailed, match="FPGA configuration of the claim is invalid"):
        setup.preparer.prepare(_put_fpga(setup, "u1", _fpga_config(url="http://x")))
    assert (owner.claimed, programmer.calls) == ([], [])


def test_an_admin_access_fpga_is_not_programmed(tmp_path: pathlib.Path) -> None:
    owner, programmer = RecordingOwner(), RecordingPodProgrammer()
    setup = _fpga_setup(tmp_path, owner, programmer)
    ref = _put_fpga(setup, "u1", _fpga_config(image=IMAGE))
    claim = setup.claims.get("ns", "c-u1")
    claim["spec"]["devices"]["requests"][0]["exactly"]["adminAccess"] = True
    claim["status"]["allocation"]["devices"]["results"][0]["adminAccess"] = True
    setup.claims.put(claim)
    with pytest.raises(PrepareFailed, match="adminAccess: it is not the claim's to program"):
        setup.preparer.prepare(ref)
    assert (owner.claimed, programmer.calls) == ([], [])
