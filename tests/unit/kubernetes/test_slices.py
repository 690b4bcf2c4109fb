"""ResourceSlices from an inventory: what the pure builders make of GPUs, FPGAs, NVMe.

Every object built is checked against the strict schemas of Kubernetes 1.34 to 1.37
and the API server's own rules (the stand-in's), and read with the CEL a DeviceClass
or a claim's selector would use.
"""

import os
from typing import Any

import pytest

from cyborg.common import inventory
from cyborg.common.constants import AttachType, DeviceType
from cyborg.kubernetes import dra_names, slice_devices, slices
from cyborg.kubernetes.slice_devices import DeviceOptions
from tests.kubernetes import schemas
from tests.kubernetes.slice_rules import slice_problems

NODE = "node-1"
GPU = "gpu.cyborg.openstack.org"
FPGA = "fpga.cyborg.openstack.org"
NVME = "nvme.cyborg.openstack.org"


def _handle(address: str, kind: AttachType = AttachType.PCI) -> inventory.AttachHandleReport:
    info = inventory.canonical_json(inventory.pci_address_info(address))
    return inventory.AttachHandleReport(kind.value, info)


def _device(
    kind: DeviceType, vendor: str, model: str, address: str, name: str,
    facts: dict[str, str], handles: tuple[str, ...] = (),
) -> inventory.DeviceReport:  # fmt: skip
    deployable = inventory.DeployableReport(
        name=name,
        num_accelerators=len(handles) or 1,
        resource_class="PGPU",
        driver_name="test",
        attributes=tuple(sorted(facts.items())),
        attach_handles=tuple(_handle(a) for a in handles or (address,)),
    )
    controlpath = inventory.canonical_json(inventory.pci_address_info(address))
    return inventory.DeviceReport(
        kind.value, vendor, model, controlpath, deployables=(deployable,)
    )


def gpu(address: str = "0000:3b:00.0", **facts: str) -> inventory.DeviceReport:
    base = {
        inventory.ATTR_MEMORY_MB: "81559",
        inventory.ATTR_NUMA_NODE: "0",
        inventory.ATTR_PRODUCT_ID: "2335",
        inventory.ATTR_PRODUCT_NAME: "NVIDIA H200",
        inventory.ATTR_DRIVER_VERSION: "550.54.15",
        inventory.ATTR_UUID: "GPU-5d0c1a4e-0c1d-4a53-9c2b-3a2f4c1e9b11",
    }
    return _device(DeviceType.GPU, "10de", "NVIDIA H200", address, f"{NODE}_{address}",
                   {**base, **facts})  # fmt: skip


def fpga() -> inventory.DeviceReport:
    facts = {inventory.ATTR_FUNCTION_ID: "crypto-v2", slice_devices.ATTR_BITSTREAM_ID: "bs-42",
             inventory.ATTR_NUMA_NODE: "-1", inventory.ATTR_DRIVER_VERSION: "2.3"}  # fmt: skip
    return _device(DeviceType.FPGA, "0x8086", "PAC N3000", "0000:5e:00.0", f"{NODE}_fpga",
                   facts, ("0000:5e:00.1", "0000:5e:00.2"))  # fmt: skip


def nvme() -> inventory.DeviceReport:
    facts = {inventory.ATTR_NUMA_NODE: "1", inventory.ATTR_PRODUCT_ID: "a80a"}
    return _device(DeviceType.SSD, "144d", "Samsung PM9A3", "0000:86:00.0", f"{NODE}_nvme", facts)


HOST = [gpu(), fpga(), nvme()]


def _valid(objects: dict[str, list[dict[str, Any]]]) -> None:
    for pool in objects.values():
        for item in pool:
            schemas.validate(item)
            assert slice_problems(item) == []


def _devices(reports: list[inventory.DeviceReport], **options: Any) -> dict[str, Any]:
    return {
        driver: {d["name"]: d for d in devices}
        for driver, devices in slices.desired_devices(reports, DeviceOptions(**options)).items()
    }


def test_one_pool_per_driver_named_after_the_node_with_valid_slices() -> None:
    objects = slices.desired(NODE, HOST, DeviceOptions())
    _valid(objects)
    assert sorted(objects) == [FPGA, GPU, NVME]
    (gpu_slice,) = objects[GPU]
    assert gpu_slice["metadata"]["name"] == "node-1-gpu-0"
    assert gpu_slice["spec"]["nodeName"] == NODE
    assert gpu_slice["spec"]["pool"] == {"name": NODE, "generation": 0, "resourceSliceCount": 1}
    assert [d["name"] for d in objects[FPGA][0]["spec"]["devices"]] == [
        "pci-0000-5e-00-1",
        "pci-0000-5e-00-2",
    ]


def test_attributes_and_capacity_of_a_gpu() -> None:
    device = _devices(HOST)[GPU]["pci-0000-3b-00-0"]
    assert device["attributes"] == {
        dra_names.PCI_BUS_ID: {"string": "0000:3b:00.0"},
        dra_names.PCIE_ROOT: {"string": "pci0000:3b"},  # no sysfs: the guess
        dra_names.VENDOR: {"string": "10de"},
        dra_names.MODEL: {"string": "NVIDIA H200"},
        dra_names.PRODUCT_NAME: {"string": "NVIDIA H200"},
        dra_names.PRODUCT_ID: {"string": "2335"},
        dra_names.NUMA_NODE: {"int": 0},
        dra_names.DRIVER_VERSION: {"version": "550.54.15"},
        dra_names.UUID: {"string": "GPU-5d0c1a4e-0c1d-4a53-9c2b-3a2f4c1e9b11"},
        dra_names.DEVICE_TYPE: {"string": "GPU"},
        dra_names.DEPLOYABLE: {"string": "node-1_0000:3b:00.0"},
    }
    assert device["capacity"] == {dra_names.MEMORY: {"value": "81559Mi"}}
    assert "taints" not in device


def test_fpga_and_nvme_attributes() -> None:
    found = _devices(HOST)
    fpga_device = found[FPGA]["pci-0000-5e-00-1"]["attributes"]
    assert fpga_device[dra_names.FUNCTION_ID] == {"string": "crypto-v2"}
    assert fpga_device[dra_names.BITSTREAM_ID] == {"string": "bs-42"}
    assert fpga_device[dra_names.VENDOR] == {"string": "8086"}  # upstream's 0x form, trimmed
    assert fpga_device[dra_names.DRIVER_VERSION] == {"string": "2.3"}  # not semver
    assert dra_names.NUMA_NODE not in fpga_device  # -1: no NUMA information
    nvme_device = found[NVME]["pci-0000-86-00-0"]
    assert nvme_device["attributes"][dra_names.NUMA_NODE] == {"int": 1}
    assert dra_names.FUNCTION_ID not in nvme_device["attributes"]
    assert "capacity" not in nvme_device


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("550.54.15", {"version": "550.54.15"}),
        ("1.2.3-rc.1+build.5", {"version": "1.2.3-rc.1+build.5"}),
        ("535.104.05", {"string": "535.104.05"}),  # a leading zero is not semver
        ("2.3", {"string": "2.3"}),
        ("x" * 80, {"string": "x" * 64}),
    ],
)
def test_driver_versions(version: str, expected: dict[str, str]) -> None:
    assert slice_devices.version_attribute(version) == expected


@pytest.mark.parametrize(
    ("megabytes", "quantity"),
    [(16384, "16Gi"), (81559, "81559Mi"), (40960, "40Gi"), (1048576, "1Ti"), (512, "512Mi")],
)
def test_memory_is_a_canonical_quantity(megabytes: int, quantity: str) -> None:
    assert slice_devices.memory_quantity(megabytes) == quantity


def test_pcie_root_comes_from_the_sysfs_device_path(tmp_path: Any) -> None:
    # A GPU behind a switch: its own bus (3b) is not the root bus (3a).
    real = tmp_path / "sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0"
    real.mkdir(parents=True)
    links = tmp_path / "sys/bus/pci/devices"
    links.mkdir(parents=True)
    os.symlink("../../../devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0", links / "0000:3b:00.0")
    device = _devices(HOST, sysfs_root=str(tmp_path))[GPU]["pci-0000-3b-00-0"]
    assert device["attributes"][dra_names.PCIE_ROOT] == {"string": "pci0000:3a"}
    # A recorded tree of plain directories has no path to read: the guess.
    assert slice_devices.pcie_root(str(tmp_path), "0000:86:00.0") == "pci0000:86"


def test_pcie_root_prefers_what_the_driver_reported(tmp_path: Any) -> None:
    reported = gpu(**{inventory.ATTR_PCIE_ROOT: "pci0000:17"})
    device = _devices([reported], sysfs_root=str(tmp_path))[GPU]["pci-0000-3b-00-0"]
    assert device["attributes"][dra_names.PCIE_ROOT] == {"string": "pci0000:17"}
    # A value that is no root complex name is not published: sysfs (here the guess).
    odd = gpu(**{inventory.ATTR_PCIE_ROOT: "../../etc"})
    device = _devices([odd], sysfs_root=str(tmp_path))[GPU]["pci-0000-3b-00-0"]
    assert device["attributes"][dra_names.PCIE_ROOT] == {"string": "pci0000:3b"}


def test_dgx_roots_come_from_the_driver_even_without_sysfs_here() -> None:
    from cyborg.drivers import nvidia_gpu

    root = os.path.join(HOSTS, "nvidia-dgx-a100")
    reports = nvidia_gpu.NvidiaGPUDriver(_conf(), root=root, hostname=NODE).discover()
    objects = slices.desired(NODE, reports, DeviceOptions(sysfs_root="/nonexistent"))
    _valid(objects)
    roots = _roots(objects)
    assert roots["pci-0000-07-00-0"] == roots["pci-0000-0f-00-0"] == "pci0000:00"
    assert roots["pci-0000-b7-00-0"] == roots["pci-0000-bd-00-0"] == "pci0000:b0"
    assert len(set(roots.values())) == 4


def test_long_strings_are_shortened_to_the_attribute_limit() -> None:
    long_model = _device(DeviceType.GPU, "10de", "M" * 100, "0000:3b:00.0", "n", {})
    objects = slices.desired(NODE, [long_model], DeviceOptions())
    _valid(objects)
    attributes = objects[GPU][0]["spec"]["devices"][0]["attributes"]
    assert attributes[dra_names.MODEL] == {"string": "M" * 64}


def test_mdev_handles_and_unknown_types_are_not_devices() -> None:
    vgpu = inventory.DeviceReport(
        "GPU", "10de", "T4", "{}",
        deployables=(inventory.DeployableReport(
            "n_vgpu", 2, "VGPU", "nvidia", attach_handles=(
                _handle("0000:af:00.0", AttachType.MDEV),)),),
    )  # fmt: skip
    other = _device(DeviceType.GPU, "10de", "x", "0000:b0:00.0", "n_x", {})
    other = inventory.DeviceReport("WIDGET", *(other.vendor, other.model, other.controlpath),
                                   deployables=other.deployables)  # fmt: skip
    assert slices.desired(NODE, [vgpu, other], DeviceOptions()) == {}


def _split(count: int, **facts: str) -> list[dict[str, Any]]:
    addresses = [f"0000:{bus:02x}:{slot:02x}.0" for bus in range(16) for slot in range(32)]
    reports = [gpu(a, **facts) for a in addresses[:count]]
    return slices.desired(NODE, reports, DeviceOptions(), generations={GPU: 7})[GPU]


def test_more_than_128_devices_split_across_slices_of_one_pool() -> None:
    pool = _split(300)
    _valid({GPU: pool})
    assert [len(s["spec"]["devices"]) for s in pool] == [128, 128, 44]
    assert [s["metadata"]["name"] for s in pool] == [
        "node-1-gpu-0",
        "node-1-gpu-1",
        "node-1-gpu-2",
    ]
    assert {str(s["spec"]["pool"]) for s in pool} == {
        str({"name": NODE, "generation": 7, "resourceSliceCount": 3})
    }
    assert len(slices.pool_devices(reversed(pool))) == 300
    assert len(_split(128)) == 1


def test_a_tainted_pool_splits_at_64_devices() -> None:
    pool = _split(130, health="unhealthy")
    _valid({GPU: pool})
    assert [len(s["spec"]["devices"]) for s in pool] == [64, 64, 2]


@pytest.mark.parametrize(
    ("health", "reason", "effect", "value"),
    [
        ("unhealthy", "XID 79: GPU has fallen off the bus", "NoSchedule",
         "XID_79_GPU_has_fallen_off_the_bus"),
        ("FATAL", "", "NoExecute", "fatal"),
        ("unhealthy", "ECC " + "x" * 100, "NoSchedule", "ECC_" + "x" * 59),
    ],
)  # fmt: skip
def test_unhealthy_and_fatal_devices_are_tainted(
    health: str, reason: str, effect: str, value: str
) -> None:
    facts = {inventory.ATTR_HEALTH: health, inventory.ATTR_HEALTH_REASON: reason}
    objects = slices.desired(NODE, [gpu(**facts)], DeviceOptions())
    _valid(objects)
    (device,) = objects[GPU][0]["spec"]["devices"]
    assert device["taints"] == [
        {"key": dra_names.TAINT_UNHEALTHY, "value": value, "effect": effect}
    ]


def test_instance_held_devices_carry_the_vm_taint_and_pod_held_ones_none() -> None:
    reports = [gpu("0000:3b:00.0"), gpu("0000:5e:00.0")]
    holders = {"node-1_0000:3b:00.0": "instance", "node-1_0000:5e:00.0": "pod"}
    objects = slices.desired(NODE, reports, DeviceOptions(), holders)
    _valid(objects)
    held, pod = objects[GPU][0]["spec"]["devices"]
    assert held["taints"] == [{"key": dra_names.TAINT_VM_BOUND, "effect": "NoSchedule"}]
    assert "taints" not in pod


def test_without_taints_tainted_devices_are_left_out() -> None:
    reports = [gpu("0000:3b:00.0", health="unhealthy"), gpu("0000:5e:00.0"), gpu("0000:86:00.0")]
    holders = {"node-1_0000:86:00.0": "instance"}
    found = slices.desired_devices(reports, DeviceOptions(taints=False), holders)
    assert [d["name"] for d in found[GPU]] == ["pci-0000-5e-00-0"]


def test_taint_times_the_server_gave_are_kept_for_unchanged_taints() -> None:
    sick = slices.desired(NODE, [gpu(health="fatal")], DeviceOptions())[GPU]
    stamped = slices.desired(NODE, [gpu(health="fatal")], DeviceOptions())[GPU]
    stamped[0]["spec"]["devices"][0]["taints"][0]["timeAdded"] = "2026-12-03T10:00:00Z"
    assert slices.pool_devices(stamped) == sick[0]["spec"]["devices"]  # the server's field
    slices.keep_taint_times(sick, stamped)
    assert sick[0]["spec"]["devices"][0]["taints"][0]["timeAdded"] == "2026-12-03T10:00:00Z"
    _valid({GPU: sick})


def test_slice_names_fit_a_long_node_name() -> None:
    node = ".".join(["a" * 60] * 4)  # 243 characters
    name = slices.slice_name(node, GPU, 12)
    assert len(name) <= slices.NAME_MAX and name.endswith("-gpu-12")
    assert name != slices.slice_name(node[:-1] + "b", GPU, 12)


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        (f'device.driver == "{GPU}"', {"pci-0000-3b-00-0"}),
        # A claim's selectors run on the devices of its class: the driver first.
        (f'device.driver == "{GPU}" && device.attributes["{GPU}"].productName == "NVIDIA H200"',
         {"pci-0000-3b-00-0"}),
        (f'device.driver == "{GPU}" && device.attributes["{GPU}"].numaNode == 0',
         {"pci-0000-3b-00-0"}),
        ('device.attributes["resource.kubernetes.io"].pcieRoot == "pci0000:3b"',
         {"pci-0000-3b-00-0"}),
        (f'device.driver == "{FPGA}" && device.attributes["{FPGA}"].functionId == "crypto-v2"',
         {"pci-0000-5e-00-1", "pci-0000-5e-00-2"}),
        (f'device.driver == "{NVME}" && device.attributes["{NVME}"].productId == "a80a"',
         {"pci-0000-86-00-0"}),
        (f'"{GPU}" in device.capacity && device.capacity["{GPU}"].memory == "81559Mi"',
         {"pci-0000-3b-00-0"}),
    ],
)  # fmt: skip
def test_device_class_selectors_select_the_published_devices(
    expression: str, selected: set[str]
) -> None:
    chosen = {
        device["name"]
        for driver, pool in slices.desired(NODE, HOST, DeviceOptions()).items()
        for item in pool
        for device in item["spec"]["devices"]
        if schemas.cel_matches(expression, driver, device)
    }
    assert chosen == selected


HOSTS = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "hosts")


def _conf() -> Any:
    from oslo_config import cfg

    import cyborg.conf

    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    return conf


def _roots(objects: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    return {
        d["name"]: d["attributes"][dra_names.PCIE_ROOT]["string"]
        for items in objects.values()
        for item in items
        for d in item["spec"]["devices"]
    }


def test_recorded_hosts_with_the_real_drivers() -> None:
    from cyborg.drivers import nvidia_gpu, nvme_ssd

    t4_root = os.path.join(HOSTS, "nvidia-t4-vgpu")
    t4 = nvidia_gpu.NvidiaGPUDriver(_conf(), root=t4_root, hostname=NODE).discover()
    gpus = slices.desired(NODE, t4, DeviceOptions(sysfs_root=t4_root))
    nvme_root = os.path.join(HOSTS, "nvme-2disks")
    disks = nvme_ssd.NVMeSSDDriver(None, root=nvme_root, hostname=NODE).discover()
    ssds = slices.desired(NODE, disks, DeviceOptions(sysfs_root=nvme_root))
    _valid(gpus)
    _valid(ssds)
    # Every function sits behind a root port: its root is not its own bus.
    assert _roots(gpus) == {"pci-0000-3b-00-0": "pci0000:3a", "pci-0000-d8-00-0": "pci0000:d7"}
    assert _roots(ssds) == {"pci-0000-3b-00-0": "pci0000:3a", "pci-0000-5e-00-0": "pci0000:5d"}
    t4_device = gpus[GPU][0]["spec"]["devices"][0]
    assert t4_device["capacity"] == {dra_names.MEMORY: {"value": "15Gi"}}
    assert t4_device["attributes"][dra_names.MODEL] == {"string": "Tesla T4"}
    selector = f'device.driver == "{GPU}" && device.attributes["{GPU}"].model == "Tesla T4"'
    assert schemas.cel_matches(selector, GPU, t4_device)


def test_a_gpu_in_mig_mode_is_left_out() -> None:
    from cyborg.drivers import nvidia_gpu

    root = os.path.join(HOSTS, "nvidia-a100-mig")
    reports = nvidia_gpu.NvidiaGPUDriver(_conf(), root=root, hostname=NODE).discover()
    # 0000:3b:00.0 is in MIG mode: its instances are deployables without a PCI handle.
    objects = slices.desired(NODE, reports, DeviceOptions(sysfs_root=root))
    _valid(objects)
    assert _roots(objects) == {"pci-0000-86-00-0": "pci0000:85"}


def test_the_api_server_rules_refuse_what_the_builders_avoid() -> None:
    """The stand-in's rules themselves: each catches the slip a builder could make."""
    (item,) = slices.desired(NODE, [gpu()], DeviceOptions())[GPU]
    assert slice_problems(item) == []
    device = item["spec"]["devices"][0]
    slips: list[tuple[Any, str]] = [
        ({"taints": [{"key": dra_names.TAINT_UNHEALTHY, "value": "XID 79: off",
                      "effect": "NoSchedule"}]}, "not a label value"),
        ({"taints": [{"key": dra_names.TAINT_UNHEALTHY, "effect": "PreferNoSchedule"}]},
         "taint effect"),
        ({"attributes": {dra_names.DRIVER_VERSION: {"version": "535.104.05"}}}, "not semver"),
        ({"attributes": {dra_names.MODEL: {"string": "M" * 65}}}, "longer than 64"),
        ({"attributes": {"product-name": {"string": "x"}}}, "attribute name"),
        ({"name": "PCI_0000"}, "device name"),
    ]  # fmt: skip
    for change, problem in slips:
        broken = {**item, "spec": {**item["spec"], "devices": [{**device, **change}]}}
        assert any(problem in p for p in slice_problems(broken)), (change, problem)
    tainted = {**device, "taints": [{"key": dra_names.TAINT_VM_BOUND, "effect": "NoSchedule"}]}
    many = [{**tainted, "name": f"d{i}"} for i in range(65)]
    crowded = {**item, "spec": {**item["spec"], "devices": many}}
    assert any("more than 64" in p for p in slice_problems(crowded))
