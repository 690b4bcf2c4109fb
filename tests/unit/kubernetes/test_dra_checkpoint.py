"""The DRA plugin's checkpoint (cyborg.kubernetes.dra.checkpoint)."""

import json
import os
import pathlib

import pytest

from cyborg.kubernetes.dra.checkpoint import (
    Checkpoint,
    CheckpointCorrupt,
    PreparedClaim,
    PreparedDevice,
)
from cyborg.kubernetes.dra.ownership import ClaimRef

GPU = "gpu.cyborg.openstack.org"


def _prepared(uid: str, address: str) -> PreparedClaim:
    device = PreparedDevice(
        device_name="pci-" + address.replace(":", "-").replace(".", "-"),
        pool_name="node-1",
        request_names=("gpu-0",),
        pci_address=address,
        cdi_device_ids=(f"{GPU}/claim={uid}-dev",),
    )
    return PreparedClaim(ClaimRef("ns", f"name-{uid}", uid), (device,), {"kind": f"{GPU}/claim"})


def test_entries_survive_a_new_checkpoint_object(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "dir" / "gpu.json")
    checkpoint = Checkpoint(path, GPU)
    first, second = _prepared("u1", "0000:3b:00.0"), _prepared("u2", "0000:5e:00.0")
    checkpoint.put(first)
    checkpoint.put(second)
    checkpoint.remove("u1")
    checkpoint.remove("never-there")
    again = Checkpoint(path, GPU)
    assert again.claims() == [second]
    assert again.get("u2") == second and again.get("u1") is None
    assert again.claim_of("0000:5e:00.0") == ClaimRef("ns", "name-u2", "u2")
    assert again.claim_of("0000:3b:00.0") is None
    assert os.listdir(tmp_path / "dir") == ["gpu.json"]  # no temporary file left
    with open(path) as handle:
        assert json.load(handle)["version"] == 1


def test_a_missing_file_is_an_empty_checkpoint(tmp_path: pathlib.Path) -> None:
    assert Checkpoint(str(tmp_path / "none.json"), GPU).claims() == []
    assert not (tmp_path / "none.json").exists()  # nothing is written until a change


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{", "unreadable"),
        ('{"version": 2, "driver": "gpu.cyborg.openstack.org", "claims": {}}', "not a version 1"),
        ('{"version": 1, "driver": "fpga.cyborg.openstack.org", "claims": {}}', "of driver fpga"),
        ('{"version": 1, "driver": "gpu.cyborg.openstack.org", "claims": {"u": {}}}',
         "malformed entry"),
    ],
)  # fmt: skip
def test_an_unreadable_checkpoint_is_refused(
    tmp_path: pathlib.Path, text: str, reason: str
) -> None:
    path = tmp_path / "gpu.json"
    path.write_text(text)
    with pytest.raises(CheckpointCorrupt, match=reason):
        Checkpoint(str(path), GPU)


def test_a_failed_write_keeps_the_old_entries_and_leaves_no_temporary_file(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "gpu.json"
    checkpoint = Checkpoint(str(path), GPU)
    checkpoint.put(_prepared("u1", "0000:3b:00.0"))
    path.unlink()
    (path / "in-the-way").mkdir(parents=True)  # the rename onto it fails, even as root
    with pytest.raises(OSError):
        checkpoint.put(_prepared("u2", "0000:5e:00.0"))
    assert [c.ref.uid for c in checkpoint.claims()] == ["u1"]
    assert sorted(os.listdir(tmp_path)) == ["gpu.json"]


def test_an_entry_of_an_earlier_release_owns_its_devices(tmp_path: pathlib.Path) -> None:
    """Checkpoints written before adminAccess have no ``admin_access`` per device."""
    path = tmp_path / "gpu.json"
    entry = _prepared("u1", "0000:3b:00.0").to_json()
    del entry["devices"][0]["admin_access"]
    path.write_text(json.dumps({"version": 1, "driver": GPU, "claims": {"u1": entry}}))
    checkpoint = Checkpoint(str(path), GPU)
    assert checkpoint.get("u1") == _prepared("u1", "0000:3b:00.0")
    assert checkpoint.claim_of("0000:3b:00.0") == ClaimRef("ns", "name-u1", "u1")
