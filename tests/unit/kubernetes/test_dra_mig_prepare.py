"""Preparing claims of MIG partitions: the GPU instance is made after the owner agreed,
kept in the checkpoint, named in the CDI spec, and destroyed at unprepare.

The partitioner is a stand-in of the MigPartitioner protocol that records its calls
(the nvidia-smi side is tested on recorded outputs in tests/unit/test_agent_mig.py).
"""

import json
import pathlib
from typing import Any

import pytest

from cyborg.common.mig import MigError, MigInstance
from cyborg.kubernetes.dra import claim_cdi
from cyborg.kubernetes.dra.checkpoint import Checkpoint
from cyborg.kubernetes.dra.ownership import DeviceOwner
from cyborg.kubernetes.dra.preparer import PrepareFailed
from tests.unit.kubernetes import dra_setup
from tests.unit.kubernetes import test_dra_preparer as preparer_tests
from tests.unit.kubernetes.test_dra_preparer import DEV_A, GPU, A, RecordingOwner, Setup, _put

ONE_G = f"{DEV_A}-mig-1g-10gb-3"
THREE_G = f"{DEV_A}-mig-3g-40gb-4"


class Partitioner:
    """Makes GPU instances 7, 8, ... (CI 0); ``fail`` refuses one profile."""

    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.made: list[tuple[str, str, int]] = []
        self.destroyed: list[int] = []

    def create(self, gpu_address: str, profile: str, start: int) -> MigInstance:
        if profile == self.fail:
            raise MigError("Insufficient Resources")
        self.made.append((gpu_address, profile, start))
        gi = 6 + len(self.made)
        uuid = f"MIG-0b9c{gi:04d}-1a2b-5c3d-8e4f-5a6b7c8d9e0f"
        return MigInstance(gpu_address, gi, 0, uuid, (f"/dev/nvidia-caps/nvidia-cap{gi * 9}",))

    def destroy(self, instance: MigInstance) -> None:
        self.destroyed.append(instance.gpu_instance)

    def listed(self) -> dict[str, frozenset[tuple[int, int]]]:
        """As NvidiaSmiPartitioner's list: made and not destroyed since."""
        alive = [7 + n for n in range(len(self.made)) if 7 + n not in self.destroyed]
        return {A.id: frozenset((gi, 0) for gi in alive)} if alive else {}


def _edits(setup: Setup, uid: str) -> dict[str, Any]:
    spec = json.loads((setup.cdi_dir / claim_cdi.file_name(GPU, uid)).read_text())
    return {d["name"]: d["containerEdits"] for d in spec["devices"]}


def _setup(
    tmp_path: pathlib.Path, partitioner: Partitioner | None, owner: DeviceOwner | None = None
) -> Setup:
    return preparer_tests._setup(tmp_path, owner, partitioner)


def test_a_partition_is_made_after_the_owner_agreed_and_named_in_the_spec(
    tmp_path: pathlib.Path,
) -> None:
    partitioner, owner = Partitioner(), RecordingOwner()
    setup = _setup(tmp_path, partitioner, owner)
    prepared = setup.preparer.prepare(_put(setup, "u1", THREE_G, ONE_G))
    # The partitions themselves are owned, not the whole GPU.
    assert owner.claimed == [("u1", [])]
    assert owner.partitions == [("u1", [(A.id, "3g.40gb", 4), (A.id, "1g.10gb", 3)])]
    assert partitioner.made == [(A.id, "1g.10gb", 3), (A.id, "3g.40gb", 4)]
    by_name = {d.device_name: d for d in prepared.devices}
    assert by_name[ONE_G].pci_address == A.id
    assert by_name[ONE_G].mig is not None and by_name[ONE_G].mig.gpu_instance == 7
    assert by_name[THREE_G].mig is not None
    spec = json.loads((setup.cdi_dir / claim_cdi.file_name(GPU, "u1")).read_text())
    edits = {d["name"]: d["containerEdits"] for d in spec["devices"]}
    # Both partitions' CDI devices name both uuids, start 3 before start 4: whichever
    # edit the runtime applies last, the container sees all of the claim's partitions.
    both = f"{by_name[ONE_G].mig.uuid},{by_name[THREE_G].mig.uuid}"
    assert edits[f"u1-{ONE_G}"] == {
        "env": [f"NVIDIA_VISIBLE_DEVICES={both}", f"CUDA_VISIBLE_DEVICES={both}"],
        "deviceNodes": [{"path": "/dev/vfio/7"}, {"path": "/dev/nvidia-caps/nvidia-cap63"}],
    }
    assert edits[f"u1-{THREE_G}"]["env"] == edits[f"u1-{ONE_G}"]["env"]


def test_the_instance_survives_a_restart_in_the_checkpoint_and_goes_at_unprepare(
    tmp_path: pathlib.Path,
) -> None:
    partitioner = Partitioner()
    setup = _setup(tmp_path, partitioner)
    prepared = setup.preparer.prepare(_put(setup, "u1", ONE_G))
    again = Checkpoint(str(tmp_path / "checkpoint.json"), GPU)  # what a restarted plugin reads
    assert again.get("u1") == prepared
    restarted = _setup(tmp_path, partitioner)
    restarted.preparer.unprepare("u1")
    assert partitioner.destroyed == [7]
    assert restarted.preparer.checkpoint.get("u1") is None
    restarted.preparer.unprepare("u1")  # again: nothing left to destroy
    assert partitioner.destroyed == [7]


def test_a_refused_instance_fails_the_prepare_and_undoes_the_others(
    tmp_path: pathlib.Path,
) -> None:
    partitioner, owner = Partitioner(fail="3g.40gb"), RecordingOwner()
    setup = _setup(tmp_path, partitioner, owner)
    with pytest.raises(PrepareFailed, match=r"making MIG 3g.40gb at 4 on 0000:3b:00.0 failed: "
                                             r"Insufficient Resources"):  # fmt: skip
        setup.preparer.prepare(_put(setup, "u1", ONE_G, THREE_G))
    assert partitioner.destroyed == [7]  # the 1g made before it
    assert owner.released == ["u1"]
    assert setup.preparer.checkpoint.claims() == []
    assert not (setup.cdi_dir / claim_cdi.file_name(GPU, "u1")).exists()


def test_a_destroy_that_fails_keeps_the_claim_for_the_kubelet_s_retry(
    tmp_path: pathlib.Path,
) -> None:
    class Stuck(Partitioner):
        def destroy(self, instance: MigInstance) -> None:
            raise MigError("In use by another client")

    owner = RecordingOwner()
    setup = _setup(tmp_path, Stuck(), owner)
    setup.preparer.prepare(_put(setup, "u1", ONE_G))
    with pytest.raises(PrepareFailed, match="In use by another client"):
        setup.preparer.unprepare("u1")
    assert owner.released == [] and setup.preparer.checkpoint.get("u1") is not None


def test_without_mig_partitions_a_partition_is_refused(tmp_path: pathlib.Path) -> None:
    setup = _setup(tmp_path, None)
    with pytest.raises(PrepareFailed, match="MIG partitions are not enabled on this node"):
        setup.preparer.prepare(_put(setup, "u1", ONE_G))


def test_claims_share_a_gpu_by_partitions_and_each_gets_only_its_own(
    tmp_path: pathlib.Path,
) -> None:
    """Seven 1g.10gb claims on one GPU (LocalOwner): each its own instance and uuid."""
    partitioner = Partitioner()
    setup = _setup(tmp_path, partitioner)
    uuids = []
    for start in range(7):
        prepared = setup.preparer.prepare(_put(setup, f"u{start}", f"{DEV_A}-mig-1g-10gb-{start}"))
        (device,) = prepared.devices
        assert device.mig is not None
        assert _edits(setup, f"u{start}")[f"u{start}-{device.device_name}"]["env"] == [
            f"NVIDIA_VISIBLE_DEVICES={device.mig.uuid}",
            f"CUDA_VISIBLE_DEVICES={device.mig.uuid}",
        ]
        uuids.append(device.mig.uuid)
    assert len(set(uuids)) == 7
    assert partitioner.made == [(A.id, "1g.10gb", s) for s in range(7)]
    owners = setup.preparer.checkpoint.owners_of(A.id)
    assert sorted(part for _, part in owners) == [("1g.10gb", s) for s in range(7)]


def test_the_same_partition_or_the_whole_gpu_is_refused_to_another_claim(
    tmp_path: pathlib.Path,
) -> None:
    partitioner = Partitioner()
    setup = _setup(tmp_path, partitioner)
    setup.preparer.prepare(_put(setup, "u1", ONE_G))
    with pytest.raises(PrepareFailed, match=r"MIG 1g.10gb at 3 on 0000:3b:00.0 .*this "
                       r"partition is already prepared for claim"):  # fmt: skip
        setup.preparer.prepare(_put(setup, "u2", ONE_G))
    with pytest.raises(PrepareFailed, match=r"prepared \(MIG partitions of it\) for claim"):
        setup.preparer.prepare(_put(setup, "u3", DEV_A))
    assert partitioner.made == [(A.id, "1g.10gb", 3)]  # nothing made for the refused
    setup.preparer.unprepare("u1")
    setup.preparer.prepare(_put(setup, "u3", DEV_A))  # free again: whole
    with pytest.raises(PrepareFailed, match="the whole GPU is already prepared for claim"):
        setup.preparer.prepare(_put(setup, "u4", THREE_G))


class Slices(Partitioner):
    """Refuses a placement that overlaps one it made, as the GPU does."""

    def __init__(self) -> None:
        super().__init__()
        self.used: dict[int, set[int]] = {}

    def create(self, gpu_address: str, profile: str, start: int) -> MigInstance:
        size = {"1g.10gb": 1, "3g.40gb": 4}[profile]
        wanted = set(range(start, start + size))
        if any(wanted & used for used in self.used.values()):
            raise MigError("Insufficient Resources")
        instance = super().create(gpu_address, profile, start)
        self.used[instance.gpu_instance] = wanted
        return instance

    def destroy(self, instance: MigInstance) -> None:
        super().destroy(instance)
        self.used.pop(instance.gpu_instance, None)


def test_an_overlap_the_gpu_refuses_fails_that_claim_only_and_leaks_no_ownership(
    tmp_path: pathlib.Path,
) -> None:
    """1g at 4 is taken; 3g at 4 overlaps it: the GPU says no, the claim owns nothing
    afterwards, the first claim keeps its partition, and 3g at 4 goes once it is free."""
    partitioner = Slices()
    setup = _setup(tmp_path, partitioner)
    setup.preparer.prepare(_put(setup, "u1", f"{DEV_A}-mig-1g-10gb-4"))
    with pytest.raises(PrepareFailed, match=r"making MIG 3g.40gb at 4 .*Insufficient Resources"):
        setup.preparer.prepare(_put(setup, "u2", THREE_G))
    assert [ref.uid for ref, _ in setup.preparer.checkpoint.owners_of(A.id)] == ["u1"]
    setup.preparer.prepare(_put(setup, "u3", ONE_G))  # 1g at 3 does not overlap
    setup.preparer.unprepare("u1")
    assert partitioner.destroyed == [7]
    setup.preparer.prepare(_put(setup, "u2", THREE_G))
    assert sorted(u.uid for u, _ in setup.preparer.checkpoint.owners_of(A.id)) == ["u2", "u3"]


def test_after_a_restart_unprepare_destroys_only_that_claim_s_instance(
    tmp_path: pathlib.Path,
) -> None:
    partitioner = Partitioner()
    setup = _setup(tmp_path, partitioner)
    setup.preparer.prepare(_put(setup, "u1", ONE_G))
    setup.preparer.prepare(_put(setup, "u2", THREE_G))
    owner = RecordingOwner()
    restarted = _setup(tmp_path, partitioner, owner)
    restarted.preparer.unprepare("u1")
    assert partitioner.destroyed == [7]
    assert owner.released == ["u1"]
    assert [ref.uid for ref, _ in restarted.preparer.checkpoint.owners_of(A.id)] == ["u2"]


def test_unprepare_with_the_option_turned_off_keeps_the_claim_and_says_why(
    tmp_path: pathlib.Path,
) -> None:
    setup = _setup(tmp_path, Partitioner())
    setup.preparer.prepare(_put(setup, "u1", ONE_G))
    restarted = _setup(tmp_path, None)
    with pytest.raises(PrepareFailed, match=r"GPU instance 7 on 0000:3b:00.0 stays: "):
        restarted.preparer.unprepare("u1")
    assert restarted.preparer.checkpoint.get("u1") is not None


def test_a_partition_s_edits_carry_the_claim_s_env_after_its_own(
    tmp_path: pathlib.Path,
) -> None:
    """The claim's GPUConfig env reaches a partition's CDI edits as it reaches a whole
    GPU's: after the partition's own NVIDIA_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES."""
    made = dra_setup.setup(tmp_path, partitioner=Partitioner())
    gpu_config = {"apiVersion": f"{GPU}/v1alpha1", "kind": "GPUConfig", "env": {"ROLE": "x"}}
    ref = dra_setup.put(made, "u1", ONE_G, configs=[dra_setup.config(GPU, gpu_config)])
    (device,) = made.preparer.prepare(ref).devices
    assert device.mig is not None
    uuid = device.mig.uuid
    assert made.edits("u1")[f"u1-{ONE_G}"]["env"] == [
        f"NVIDIA_VISIBLE_DEVICES={uuid}",
        f"CUDA_VISIBLE_DEVICES={uuid}",
        "ROLE=x",
    ]


def test_admin_access_to_a_partition_is_refused_and_makes_no_instance(
    tmp_path: pathlib.Path,
) -> None:
    partitioner = Partitioner()
    made = dra_setup.setup(tmp_path, partitioner=partitioner)
    ref = dra_setup.put(made, "u1", ONE_G, admin=[ONE_G])
    with pytest.raises(PrepareFailed, match="adminAccess is offered for whole devices only"):
        made.preparer.prepare(ref)
    assert partitioner.made == []


def test_a_restart_destroys_the_instances_no_prepared_claim_has(tmp_path: pathlib.Path) -> None:
    """An instance made just before a crash, with no checkpoint entry yet, would keep
    its placement from the kubelet's retry: a restarted plugin destroys it, and only
    it; the claims in the checkpoint keep theirs."""
    partitioner = Partitioner()
    setup = _setup(tmp_path, partitioner)
    setup.preparer.prepare(_put(setup, "u1", ONE_G))  # GI 7, checkpointed
    partitioner.create(A.id, "3g.40gb", 4)  # GI 8: made, then the crash
    restarted = _setup(tmp_path, partitioner)
    assert [i.gpu_instance for i in restarted.preparer.reap_orphans()] == [8]
    assert partitioner.destroyed == [8]
    assert restarted.preparer.reap_orphans() == []  # nothing more
    restarted.preparer.prepare(_put(restarted, "u2", THREE_G))  # its placement is free again
    assert _setup(tmp_path, None).preparer.reap_orphans() == []  # no partitioner: nothing
