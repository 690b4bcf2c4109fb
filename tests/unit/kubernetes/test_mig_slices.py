"""MIG-capable GPUs as partitionable devices: the whole GPU and every profile placement,
with the counter set that keeps them apart, laid out for Kubernetes 1.35 and later.

The geometry is the driver's reading of a recorded ``nvidia-smi mig -lgip`` /
``-lgipp`` of an H100 80GB (tests/fixtures/nvidia-mig); every slice is checked against
the strict schemas and the API server's rules of 1.35 to 1.37.
"""

import dataclasses
import pathlib
from typing import Any

import pytest

from cyborg.common import inventory, mig
from cyborg.drivers import nvidia_mig
from cyborg.kubernetes import dra_names, slices
from cyborg.kubernetes.slice_devices import DeviceOptions
from tests.kubernetes import schemas
from tests.kubernetes.slice_rules import slice_problems
from tests.unit.kubernetes.test_slices import NODE, gpu

OUTPUTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "nvidia-mig"
GPU = "gpu.cyborg.openstack.org"
PARTITIONED = ("1.35.0", "1.36.0", "1.37.0")
WHOLE = "pci-0000-3b-00-0"


def h100_geometry() -> str:
    lgip, lgipp = (OUTPUTS / "h100-lgip.txt").read_text(), (OUTPUTS / "h100-lgipp.txt").read_text()
    return mig.encode(nvidia_mig.parse(lgip, lgipp)[0])


def mig_gpu(address: str = "0000:3b:00.0", **facts: str) -> inventory.DeviceReport:
    return gpu(address, **{mig.ATTR_MIG_PROFILES: h100_geometry(), **facts})


def _slices(reports: list[inventory.DeviceReport], **options: Any) -> list[dict[str, Any]]:
    objects = slices.desired(NODE, reports, DeviceOptions(mig_partitions=True, **options))
    for item in objects[GPU]:
        schemas.validate(item, PARTITIONED)
        assert slice_problems(item, PARTITIONED) == []
    return objects[GPU]


def _devices(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["name"]: d for item in items for d in item["spec"].get("devices", [])}


def test_the_counter_set_has_a_slice_of_its_own() -> None:
    counters, devices = _slices([mig_gpu()])
    assert counters["metadata"]["name"] == "node-1-gpu-0"
    assert "devices" not in counters["spec"]
    assert counters["spec"]["pool"]["resourceSliceCount"] == 2
    (counter_set,) = counters["spec"]["sharedCounters"]
    assert counter_set["name"] == WHOLE
    expected = {f"memory-slice-{i}": {"value": "1"} for i in range(8)}
    expected.update({"compute-slices": {"value": "7"}, "memory": {"value": "81559Mi"}})
    assert counter_set["counters"] == expected
    assert "sharedCounters" not in devices["spec"]


def test_the_whole_gpu_and_every_placement_consume_counters() -> None:
    devices = _devices(_slices([mig_gpu()]))
    # 1g.10gb x7, 1g.20gb x4, 2g.20gb x3, 3g.40gb x2, 4g.40gb, 7g.80gb; no "+me".
    assert len(devices) == 1 + 7 + 4 + 3 + 2 + 1 + 1
    (whole,) = devices[WHOLE]["consumesCounters"]
    assert whole["counterSet"] == WHOLE
    assert len(whole["counters"]) == 10  # every memory slice, compute slices, memory
    three = devices[f"{WHOLE}-mig-3g-40gb-4"]
    assert three["consumesCounters"] == [{
        "counterSet": WHOLE,
        "counters": {
            **{f"memory-slice-{i}": {"value": "1"} for i in range(4, 8)},
            "compute-slices": {"value": "3"},
            "memory": {"value": "40448Mi"},
        },
    }]  # fmt: skip
    attributes = three["attributes"]
    assert attributes[dra_names.MIG_PROFILE] == {"string": "3g.40gb"}
    assert attributes[dra_names.MIG_PROFILE_ID] == {"int": 9}
    assert attributes[dra_names.MIG_START] == {"int": 4}
    assert attributes[dra_names.PCI_BUS_ID] == {"string": "0000:3b:00.0"}
    assert three["capacity"] == {dra_names.MEMORY: {"value": "40448Mi"}}
    assert dra_names.MIG_PROFILE not in devices[WHOLE]["attributes"]


def test_overlapping_placements_share_a_memory_slice_counter() -> None:
    devices = _devices(_slices([mig_gpu()]))

    def slices_of(name: str) -> set[str]:
        counters = devices[name]["consumesCounters"][0]["counters"]
        return {c for c in counters if c.startswith("memory-slice-")}

    assert slices_of(f"{WHOLE}-mig-1g-10gb-5") <= slices_of(f"{WHOLE}-mig-3g-40gb-4")
    assert not slices_of(f"{WHOLE}-mig-1g-10gb-3") & slices_of(f"{WHOLE}-mig-3g-40gb-4")


def test_partition_names_parse_back() -> None:
    for name in _devices(_slices([mig_gpu()])):
        parsed = dra_names.parse_mig_device_name(name)
        if name == WHOLE:
            assert parsed is None
        else:
            assert parsed is not None and parsed[0] == WHOLE
            assert dra_names.mig_device_name(*parsed) == name


def test_off_by_default_and_without_geometry_nothing_changes() -> None:
    plain = slices.desired(NODE, [mig_gpu()], DeviceOptions())[GPU]
    assert [d["name"] for d in plain[0]["spec"]["devices"]] == [WHOLE]
    assert "sharedCounters" not in plain[0]["spec"]
    assert (
        _slices([gpu()])[0]["spec"]["devices"][0].keys() == plain[0]["spec"]["devices"][0].keys()
    )


def test_many_gpus_split_counter_sets_by_eight_and_devices_by_64() -> None:
    reports = [mig_gpu(f"0000:{bus:02x}:00.0") for bus in range(0x10, 0x19)]  # nine GPUs
    items = _slices(reports)
    counter_slices = [i for i in items if "sharedCounters" in i["spec"]]
    assert [len(i["spec"]["sharedCounters"]) for i in counter_slices] == [8, 1]
    device_slices = [i for i in items if "devices" in i["spec"]]
    assert [len(i["spec"]["devices"]) for i in device_slices] == [64, 64, 43]
    assert {i["spec"]["pool"]["resourceSliceCount"] for i in items} == {5}


def test_an_unhealthy_gpu_s_partitions_carry_its_taint() -> None:
    devices = _devices(_slices([mig_gpu(health="UNHEALTHY", health_reason="XID 48")]))
    assert {d["taints"][0]["key"] for d in devices.values()} == {dra_names.TAINT_UNHEALTHY}


def test_kubernetes_1_34_refuses_the_layout() -> None:
    counters, devices = _slices([mig_gpu()])
    assert slice_problems(devices, ("1.34.0",))  # its counter set is in another slice
    one_slice = {**devices, "spec": {**devices["spec"], **counters["spec"], "devices":
                                      devices["spec"]["devices"][:10]}}  # fmt: skip
    assert slice_problems(one_slice, ("1.35.0",)) == [
        "1.35.0: devices and sharedCounters in one slice"
    ]


@pytest.mark.parametrize("memory", [None, "not a number"])
def test_without_a_memory_size_there_is_no_memory_counter(memory: str | None) -> None:
    report = mig_gpu()
    (deployable,) = report.deployables
    facts = dict(deployable.attributes)
    if memory is None:
        del facts[inventory.ATTR_MEMORY_MB]
    else:
        facts[inventory.ATTR_MEMORY_MB] = memory
    deployable = dataclasses.replace(deployable, attributes=tuple(sorted(facts.items())))
    counters, _ = _slices([dataclasses.replace(report, deployables=(deployable,))])
    assert "memory" not in counters["spec"]["sharedCounters"][0]["counters"]
