"""adminAccess results at prepare: monitoring access, without ownership.

On the real preparer, checkpoint and CDI files of tests.unit.kubernetes.dra_setup;
the owners are the DeviceOwner protocol's LocalOwner and a recording one.
"""

import pathlib
from collections.abc import Sequence
from typing import Any

import pytest

from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra.checkpoint import Checkpoint
from cyborg.kubernetes.dra.ownership import ClaimRef, DeviceRefused
from cyborg.kubernetes.dra.preparer import PrepareFailed
from tests.unit.kubernetes.dra_setup import DEV_A, DEV_B, GPU, A, B, put
from tests.unit.kubernetes.dra_setup import setup as _setup


class RecordingOwner:
    """Records claims; ``vm_held`` deployables are refused to adminAccess."""

    def __init__(self, vm_held: Sequence[str] = ()) -> None:
        self.vm_held = set(vm_held)
        self.claimed: list[tuple[str, list[str]]] = []
        self.checked: list[tuple[str, list[str]]] = []

    def claim(
        self, claim: ClaimRef, devices: Sequence[PluginDevice], partitions: Sequence[Any] = ()
    ) -> None:
        self.claimed.append((claim.uid, [d.id for d in devices]))

    def release(self, claim_uid: str) -> None:
        pass

    def check_admin_access(self, claim: ClaimRef, devices: Sequence[PluginDevice]) -> None:
        self.checked.append((claim.uid, [d.id for d in devices]))
        for device in devices:
            if device.deployable in self.vm_held:
                raise DeviceRefused(f"held by a VM: {device.id}")


def test_admin_access_to_a_device_another_claim_holds_is_prepared_without_owning_it(
    tmp_path: pathlib.Path,
) -> None:
    setup = _setup(tmp_path)  # the LocalOwner: two owning claims of A would be refused
    setup.preparer.prepare(put(setup, "owner", DEV_A))
    watched = setup.preparer.prepare(put(setup, "monitor", DEV_A, admin=[DEV_A]))
    (device,) = watched.devices
    assert (device.pci_address, device.admin_access) == (A.id, True)
    assert setup.preparer.checkpoint.claim_of(A.id) == ClaimRef("ns", "c-owner", "owner")
    # The owner goes; the monitor does not make the device its own.
    setup.preparer.unprepare("owner")
    assert setup.preparer.checkpoint.claim_of(A.id) is None
    setup.preparer.prepare(put(setup, "next", DEV_A))
    with pytest.raises(PrepareFailed, match="already prepared for claim ns/c-next"):
        setup.preparer.prepare(put(setup, "third", DEV_A))


def test_admin_access_is_checked_not_claimed_and_a_vm_held_device_is_refused(
    tmp_path: pathlib.Path,
) -> None:
    owner = RecordingOwner(vm_held=["dep-b"])
    setup = _setup(tmp_path, owner)
    setup.preparer.prepare(put(setup, "u1", DEV_A, admin=[DEV_A]))
    assert (owner.claimed, owner.checked) == ([], [("u1", [A.id])])
    # B is unhealthy (fine for monitoring) but a VM's: refused with the owner's reason.
    with pytest.raises(PrepareFailed, match=r"^held by a VM: 0000:5e:00.0$"):
        setup.preparer.prepare(put(setup, "u2", DEV_B, admin=[DEV_B]))
    assert setup.preparer.checkpoint.get("u2") is None


def test_a_claim_mixing_admin_access_and_owned_devices_owns_only_the_latter(
    tmp_path: pathlib.Path,
) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner)
    setup.preparer.prepare(put(setup, "u1", DEV_B, DEV_A, admin=[DEV_B]))
    assert owner.claimed == [("u1", [A.id])]
    assert owner.checked == [("u1", [B.id])]
    # A checkpoint read back keeps which devices were only watched.
    again = Checkpoint(setup.preparer.checkpoint.path, GPU).get("u1")
    assert again is not None
    assert [(d.pci_address, d.admin_access) for d in again.devices] == [
        (B.id, True),
        (A.id, False),
    ]


def test_an_unhealthy_device_is_refused_unless_for_admin_access(tmp_path: pathlib.Path) -> None:
    setup = _setup(tmp_path, RecordingOwner())
    with pytest.raises(PrepareFailed, match="is unhealthy"):
        setup.preparer.prepare(put(setup, "u1", DEV_B))
    setup.preparer.prepare(put(setup, "u2", DEV_B, admin=[DEV_B]))
