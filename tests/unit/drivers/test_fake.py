"""The fake driver's simulated host."""

import json

from cyborg.drivers import fake
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport


def info(address: str) -> str:
    domain, bus, rest = address.split(":")
    device, function = rest.split(".")
    return json.dumps(
        {"bus": bus, "device": device, "domain": domain, "function": function}, sort_keys=True
    )


def test_default_host_is_one_fpga_and_two_gpus() -> None:
    reports = fake.FakeDriver(None, hostname="compute-1").discover()
    handles = tuple(
        AttachHandleReport("TEST_PCI", info(f"0000:0c:0{slot}.{fn}"))
        for slot in (0, 1)
        for fn in range(8)
    )
    assert reports == [
        DeviceReport(
            type="FPGA",
            vendor="0xABCD",
            model="FakeDevice",
            controlpath=info("0000:0c:00.0"),
            std_board_info='{"class": "Fake class", "device_id": "0xabcd"}',
            deployables=(
                DeployableReport(
                    name="compute-1_FakeDevice",
                    num_accelerators=16,
                    resource_class="FPGA",
                    driver_name="fake",
                    traits=("CUSTOM_FAKE_DEVICE",),
                    attach_handles=handles,
                ),
            ),
        ),
        *(
            DeviceReport(
                type="GPU",
                vendor="0xABCD",
                model="FakeGPU",
                controlpath=info(address),
                deployables=(
                    DeployableReport(
                        name=f"compute-1_FakeGPU{index}",
                        num_accelerators=1,
                        resource_class="PGPU",
                        driver_name="fake",
                        traits=("OWNER_CYBORG", "CUSTOM_FAKE_GPU"),
                        attributes=(
                            ("memory_mb", "16384"),
                            ("numa_node", str(index)),
                            ("product_id", "abcd"),
                        ),
                        attach_handles=(AttachHandleReport("TEST_PCI", info(address)),),
                    ),
                ),
            )
            for index, address in enumerate(["0000:0d:00.0", "0000:0e:00.0"])
        ),
    ]


def test_every_fpga_accelerator_has_its_own_handle() -> None:
    (fpga, *_) = fake.FakeDriver(None).discover()
    handles = fpga.deployables[0].attach_handles
    assert len(set(handles)) == fpga.deployables[0].num_accelerators == 16


def test_names_replace_characters_outside_the_safe_set() -> None:
    reports = fake.FakeDriver(None, hostname="node-1.example.org").discover()
    names = [d.name for device in reports for d in device.deployables]
    assert names == [
        "node-1_example_org_FakeDevice",
        "node-1_example_org_FakeGPU0",
        "node-1_example_org_FakeGPU1",
    ]


def test_a_given_inventory_replaces_the_default() -> None:
    device = DeviceReport(type="GPU", vendor="10de", model="x", controlpath="{}")
    driver = fake.FakeDriver(None, inventory=[device])
    assert driver.discover() == [device]
    assert fake.FakeDriver(None, inventory=[]).discover() == []


def test_discover_returns_a_new_list_each_time() -> None:
    driver = fake.FakeDriver(None)
    first = driver.discover()
    first.clear()
    assert len(driver.discover()) == 3
