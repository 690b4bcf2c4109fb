"""The agent's MIG partitioner (cyborg.agent.mig) on recorded nvidia-smi outputs.

The privileged runner and the unprivileged reads are stand-ins that answer what
nvidia-smi printed in the recordings of tests/fixtures/nvidia-mig and
tests/fixtures/hosts/nvidia-a100-mig (whose GPU 0 has GPU instance 1, compute
instance 0, as MIG device 0); the driver's /proc files are written in tmp_path in
the format the NVIDIA kernel driver writes them.
"""

import pathlib
from typing import Any

import pytest

from cyborg.agent import mig
from cyborg.common import mig as mig_layout
from cyborg.common.mig import MigError, MigInstance

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
HOST = FIXTURES / "hosts" / "nvidia-a100-mig" / "var/lib/cyborg"
GPU = "0000:3b:00.0"
MIG_UUID = "MIG-8a2f0c3e-51d7-5e0b-9f1c-2d6e7a4b3c10"  # -L's "Device  0" of GPU 0


class Smi:
    """Answers the partitioner's calls; records the privileged ones."""

    def __init__(self, answers: dict[str, dict[str, Any]] | None = None) -> None:
        self.changes: list[list[str]] = []
        self.answers = answers or {}

    def run(self, args: list[str]) -> dict[str, Any]:
        mig.validate_args(args)  # what the privsep daemon would refuse
        self.changes.append(args)
        verb = args[-1]
        if verb in self.answers:
            return self.answers[verb]
        created = (FIXTURES / "nvidia-mig/mig-create.txt").read_text()
        # The A100 recording's instance: GI 1, CI 0 (the H100 line's format, its ids).
        created = created.replace("ID 13", "ID  1")
        outputs = {"-C": created, "-dci": (FIXTURES / "nvidia-mig/mig-destroy-ci.txt").read_text(),
                   "-dgi": (FIXTURES / "nvidia-mig/mig-destroy-gi.txt").read_text()}  # fmt: skip
        return {"exit_code": 0, "stdout": outputs[verb], "stderr": ""}

    def query(self, args: list[str]) -> str:
        if args[:2] == ["-q", "-x"]:
            return (HOST / "nvidia-smi-q-x.xml").read_text()
        assert args == ["-L"]
        return (HOST / "nvidia-smi-L.txt").read_text()


def _proc(root: pathlib.Path) -> None:
    gpus = root / "proc/driver/nvidia/gpus" / GPU
    gpus.mkdir(parents=True)
    (gpus / "information").write_text(
        "Model: \t\t NVIDIA A100-SXM4-40GB\nIRQ:   \t\t 0\nGPU UUID: \t "
        "GPU-5d1e9b8c-2f4a-4c1e-9a52-7be0c6f3a101\nBus Type: \t PCIe\n"
        "Device Minor: \t 0\nBus Location: \t 0000:3b:00.0\n"
    )
    gi = root / "proc/driver/nvidia/capabilities/gpu0/mig/gi1"
    (gi / "ci0").mkdir(parents=True)
    (gi / "access").write_text("DeviceFileMinor: 12\nDeviceFileMode: 292\nDeviceFileModify: 1\n")
    (gi / "ci0/access").write_text("DeviceFileMinor: 13\nDeviceFileMode: 292\n")


def test_create_makes_the_instance_and_names_its_uuid_and_nodes(tmp_path: pathlib.Path) -> None:
    _proc(tmp_path)
    smi = Smi()
    partitioner = mig.NvidiaSmiPartitioner(str(tmp_path), smi.run, smi.query)
    instance = partitioner.create(GPU, "4g.20gb", 0)
    assert smi.changes == [["mig", "-i", GPU, "-cgi", "4g.20gb:0", "-C"]]
    assert instance == MigInstance(
        GPU, 1, 0, MIG_UUID,
        ("/dev/nvidia-caps/nvidia-cap12", "/dev/nvidia-caps/nvidia-cap13"),
    )  # fmt: skip


def test_without_the_driver_s_proc_files_there_are_no_cap_nodes(tmp_path: pathlib.Path) -> None:
    smi = Smi()
    instance = mig.NvidiaSmiPartitioner(str(tmp_path), smi.run, smi.query).create(
        GPU, "4g.20gb", 0
    )
    assert (instance.uuid, instance.device_nodes) == (MIG_UUID, ())


def test_a_refusal_is_a_mig_error_with_nvidia_smi_s_words(tmp_path: pathlib.Path) -> None:
    refused = {"exit_code": 6, "stdout": "Unable to create a GPU instance on GPU  0 using profile"
               " 4g.20gb: Insufficient Resources\n", "stderr": ""}  # fmt: skip
    smi = Smi({"-C": refused})
    with pytest.raises(MigError, match="Insufficient Resources"):
        mig.NvidiaSmiPartitioner(str(tmp_path), smi.run, smi.query).create(GPU, "4g.20gb", 0)


def test_an_instance_nobody_can_name_is_destroyed_again(tmp_path: pathlib.Path) -> None:
    smi = Smi()
    smi.query = lambda args: "" if args == ["-L"] else Smi().query(args)  # type: ignore[method-assign]
    with pytest.raises(MigError, match="lists no MIG device for GPU instance 1"):
        mig.NvidiaSmiPartitioner(str(tmp_path), smi.run, smi.query).create(GPU, "4g.20gb", 0)
    assert [c[-1] for c in smi.changes] == ["-C", "-dci", "-dgi"]


def test_destroy_removes_ci_then_gi_and_one_gone_is_no_error(tmp_path: pathlib.Path) -> None:
    gone = {"exit_code": 6, "stdout": "", "stderr": "Failed to destroy compute instance ID  0 "
            "from GPU  0 GPU instance ID  1: Not Found\n"}  # fmt: skip
    smi = Smi({"-dci": gone})
    mig.NvidiaSmiPartitioner(str(tmp_path), smi.run, smi.query).destroy(
        MigInstance(GPU, 1, 0, MIG_UUID)
    )
    assert smi.changes == [
        ["mig", "-i", GPU, "-gi", "1", "-ci", "0", "-dci"],
        ["mig", "-i", GPU, "-gi", "1", "-dgi"],
    ]
    busy = {"exit_code": 6, "stdout": "", "stderr": "Failed to destroy GPU instance ID  1: In use"
            " by another client\n"}  # fmt: skip
    with pytest.raises(MigError, match="In use by another client"):
        mig.NvidiaSmiPartitioner(str(tmp_path), Smi({"-dgi": busy}).run, smi.query).destroy(
            MigInstance(GPU, 1, 0, MIG_UUID)
        )


def test_made_instances_are_listed_for_the_driver_until_destroyed(tmp_path: pathlib.Path) -> None:
    """The list the NVIDIA driver reads (cyborg.common.mig.DRA_INSTANCES_PATH): an
    instance is on it once made, also one that could not be named until it is
    destroyed again, and off it after a destroy; a failed destroy keeps it."""
    _proc(tmp_path)
    smi = Smi()
    partitioner = mig.NvidiaSmiPartitioner(str(tmp_path), smi.run, smi.query)
    instance = partitioner.create(GPU, "4g.20gb", 0)
    assert partitioner.listed() == {GPU: frozenset({(1, 0)})}
    listed = (tmp_path / mig_layout.DRA_INSTANCES_PATH).read_text()
    assert mig_layout.decode_made(listed) == {GPU: frozenset({(1, 0)})}
    busy = {"exit_code": 6, "stdout": "", "stderr": "In use by another client\n"}
    with pytest.raises(MigError):
        mig.NvidiaSmiPartitioner(str(tmp_path), Smi({"-dgi": busy}).run, smi.query).destroy(
            instance
        )
    assert partitioner.listed() == {GPU: frozenset({(1, 0)})}
    partitioner.destroy(instance)
    assert partitioner.listed() == {}
    assert mig_layout.decode_made("not json") == {}


@pytest.mark.parametrize(
    "args",
    [
        ["mig", "-i", GPU, "-cgi", "4g.20gb:0", "-C", "--force"],
        ["mig", "-i", "0", "-cgi", "4g.20gb:0", "-C"],
        ["mig", "-i", GPU, "-cgi", "19", "-C"],
        ["mig", "-i", GPU, "-cgi", "4g.20gb:0;reboot", "-C"],
        ["mig", "-i", GPU, "-gi", "1", "-ci", "x", "-dci"],
        ["-mig", "0", "-i", GPU],
        ["mig", "-i", GPU, "-dgi"],
        "mig -i 0000:3b:00.0 -dgi",
    ],
)
def test_the_privileged_runner_refuses_anything_else(args: Any) -> None:
    with pytest.raises(ValueError):
        mig.validate_args(args)


def test_mig_uuid_reads_the_right_gpu_s_device() -> None:
    listing = (HOST / "nvidia-smi-L.txt").read_text()
    gpu0 = "GPU-5d1e9b8c-2f4a-4c1e-9a52-7be0c6f3a101"
    assert mig.mig_uuid(listing, gpu0, "2") == "MIG-6e5d4c3b-2a19-5f8e-7d6c-5b4a39281706"
    assert mig.mig_uuid(listing, "GPU-a83c44e1-6b0d-4f77-8e2a-0c9d2b7e5f42", "0") is None
