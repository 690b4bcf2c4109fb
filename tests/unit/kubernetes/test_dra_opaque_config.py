"""Opaque configuration of the drivers other than the FPGA driver's, at prepare.

On the real preparer, checkpoint and CDI files of tests.unit.kubernetes.dra_setup.
"""

import pathlib
from collections.abc import Sequence
from typing import Any

import pytest

from cyborg.kubernetes import opaque_config
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra.ownership import ClaimRef
from cyborg.kubernetes.dra.preparer import PrepareFailed
from tests.unit.kubernetes.dra_setup import DEV_A, DEV_N, GPU, NVME, NVME_NODES, config, put
from tests.unit.kubernetes.dra_setup import setup as _setup


class RecordingOwner:
    """Records claims."""

    def __init__(self) -> None:
        self.claimed: list[tuple[str, list[str]]] = []

    def claim(
        self, claim: ClaimRef, devices: Sequence[PluginDevice], partitions: Sequence[Any] = ()
    ) -> None:
        self.claimed.append((claim.uid, [d.id for d in devices]))

    def release(self, claim_uid: str) -> None:
        pass


def _gpu(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": f"{GPU}/v1alpha1", "kind": "GPUConfig", **fields}


def test_a_gpu_config_adds_its_env_and_the_claims_wins_over_the_class(
    tmp_path: pathlib.Path,
) -> None:
    setup = _setup(tmp_path)
    configs = [
        config(GPU, _gpu(env={"NCCL_DEBUG": "WARN", "FROM_CLASS": "1"}), "FromClass"),
        config(GPU, _gpu(env={"NCCL_DEBUG": "INFO"})),
        config("gpu.example.com", {"anything": "at all"}),  # another driver's: not ours
    ]
    setup.preparer.prepare(put(setup, "u1", DEV_A, configs=configs))
    assert setup.edits("u1")[f"u1-{DEV_A}"] == {
        "env": ["CYBORG_PCI_0000_3B_00_0=0000:3b:00.0", "FROM_CLASS=1", "NCCL_DEBUG=INFO"],
        "deviceNodes": [{"path": "/dev/nvidia0"}],
    }


def test_a_config_for_some_requests_applies_to_their_devices_only(tmp_path: pathlib.Path) -> None:
    setup = _setup(tmp_path, RecordingOwner())
    configs = [config(GPU, _gpu(env={"ROLE": "trainer"}), requests=["gpu-1"])]
    setup.preparer.prepare(put(setup, "u1", DEV_A, configs=configs))  # its request: gpu-0
    assert setup.edits("u1")[f"u1-{DEV_A}"]["env"] == ["CYBORG_PCI_0000_3B_00_0=0000:3b:00.0"]
    configs = [config(GPU, _gpu(env={"ROLE": "trainer"}), requests=["gpu-0"])]
    setup.preparer.prepare(put(setup, "u2", DEV_A, configs=configs))
    assert setup.edits("u2")[f"u2-{DEV_A}"]["env"][1:] == ["ROLE=trainer"]


@pytest.mark.parametrize(
    "parameters, message",
    [
        (_gpu(sharing={"strategy": "TimeSlicing"}), "unknown GPUConfig fields: sharing"),
        ({**_gpu(), "kind": "NVMeConfig"}, "takes apiVersion gpu.cyborg.openstack.org/v1alpha1"),
        ({**_gpu(), "apiVersion": "gpu.cyborg.openstack.org/v2"}, "kind GPUConfig; not"),
        (_gpu(env={"1BAD": "x"}), "'1BAD' is not a variable name"),
        (_gpu(env={"CYBORG_PCI_X": "x"}), "CYBORG_PCI_X is reserved"),
        (_gpu(env={"N": 1}), "the value of N must be a string"),
        (_gpu(env=["N=1"]), "env must be an object"),
    ],
    ids=["unknown-field", "wrong-kind", "wrong-version", "bad-name", "reserved", "not-string",
         "not-object"],
)  # fmt: skip
def test_an_invalid_config_of_our_driver_fails_before_the_device_is_taken(
    tmp_path: pathlib.Path, parameters: Any, message: str
) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner)
    with pytest.raises(PrepareFailed) as failed:
        setup.preparer.prepare(put(setup, "u1", DEV_A, configs=[config(GPU, parameters)]))
    assert str(failed.value).startswith(
        f"the opaque configuration of claim ns/c-u1 (u1) for {GPU} is invalid: "
    )
    assert message in str(failed.value)
    assert owner.claimed == [] and setup.preparer.checkpoint.claims() == []
    assert not setup.cdi_dir.exists()


def _nvme(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": f"{NVME}/v1alpha1", "kind": "NVMeConfig", **fields}


def test_an_nvme_config_chooses_the_namespaces_the_container_gets(tmp_path: pathlib.Path) -> None:
    setup = _setup(tmp_path, RecordingOwner(), driver=NVME)
    configs = [config(NVME, _nvme(namespaces=[2], env={"DATA": "/dev/nvme0n2"}))]
    setup.preparer.prepare(put(setup, "u1", DEV_N, configs=configs))
    assert setup.edits("u1")[f"u1-{DEV_N}"] == {
        "env": ["CYBORG_PCI_0000_AF_00_0=0000:af:00.0", "DATA=/dev/nvme0n2"],
        "deviceNodes": [{"path": "/dev/nvme0"}, {"path": "/dev/nvme0n2"}],
    }
    setup.preparer.prepare(put(setup, "u2", DEV_N))  # no config: every namespace
    nodes = setup.edits("u2")[f"u2-{DEV_N}"]["deviceNodes"]
    assert [n["path"] for n in nodes] == list(NVME_NODES)


def test_an_nvme_namespace_the_controller_lacks_fails_the_prepare(tmp_path: pathlib.Path) -> None:
    owner = RecordingOwner()
    setup = _setup(tmp_path, owner, driver=NVME)
    with pytest.raises(PrepareFailed, match=r"device 0000:af:00.0 has no NVMe namespace 3 "
                       r"\(it has: 1, 2\)"):  # fmt: skip
        setup.preparer.prepare(
            put(setup, "u1", DEV_N, configs=[config(NVME, _nvme(namespaces=[3]))])
        )
    assert owner.claimed == []
    with pytest.raises(PrepareFailed, match="namespaces must be a list of distinct"):
        setup.preparer.prepare(
            put(setup, "u2", DEV_N, configs=[config(NVME, _nvme(namespaces=[1, 1]))])
        )


def test_each_driver_takes_its_own_kind() -> None:
    with pytest.raises(opaque_config.InvalidConfig, match="not an object"):
        opaque_config.parse(GPU, "GPUConfig")
    assert opaque_config.kind_of("gpu.cyborg.openstack.org") == "GPUConfig"
    assert opaque_config.kind_of("nvme.example.org") == "NVMeConfig"
    assert opaque_config.kind_of("fpga.cyborg.openstack.org") == "FPGAConfig"
    assert opaque_config.kind_of("qat.cyborg.openstack.org") == "DeviceConfig"
    qat = "qat.cyborg.openstack.org"
    parsed = opaque_config.parse(qat, {"apiVersion": f"{qat}/v1alpha1", "kind": "DeviceConfig",
                                       "env": {"QAT_SECTION": "SSL"}})  # fmt: skip
    assert parsed == opaque_config.DeviceConfig(env=(("QAT_SECTION", "SSL"),))
    with pytest.raises(
        opaque_config.InvalidConfig, match="unknown DeviceConfig fields: namespaces"
    ):
        opaque_config.parse(qat, {"apiVersion": f"{qat}/v1alpha1", "kind": "DeviceConfig",
                                  "namespaces": [1]})  # fmt: skip
