"""The fake driver's simulated host."""

import json

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers import fake, fake_inventory
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


def _driver_on_file(tmp_path, content: str, hostname: str = "node-1.example.org"):  # type: ignore[no-untyped-def]
    path = tmp_path / "inventory.json"
    path.write_text(content)
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([])
    conf.set_override("inventory_file", str(path), group="fake_driver")
    return path, fake.FakeDriver(conf, hostname=hostname)


def test_an_inventory_file_describes_the_host_and_is_read_at_each_discovery(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, driver = _driver_on_file(
        tmp_path,
        json.dumps(
            [
                {
                    "type": "GPU",
                    "address": "0000:3B:00.0",
                    "model": "A100",
                    "vendor": "10de",
                    "deployables": [
                        {"traits": ["CUSTOM_A100"], "attributes": {"memory_mb": "40960"}}
                    ],
                },
                {
                    "type": "FPGA",
                    "address": "0000:5e:00.6",
                    "deployables": [{"num_accelerators": 3}],
                },
            ]
        ),
    )
    gpu, fpga = driver.discover()
    assert (gpu.type, gpu.vendor, gpu.model) == ("GPU", "10de", "A100")
    assert json.loads(gpu.controlpath) == {
        "domain": "0000",
        "bus": "3b",
        "device": "00",
        "function": "0",
    }
    (deployable,) = gpu.deployables
    assert deployable.name == "node-1_example_org_0000:3B:00.0"
    assert (deployable.resource_class, deployable.num_accelerators) == ("PGPU", 1)
    assert deployable.traits == ("CUSTOM_A100",)
    assert deployable.attributes == (("memory_mb", "40960"),)
    # Handles walk the functions of a slot, then the next slot.
    handles = [json.loads(h.attach_info) for h in fpga.deployables[0].attach_handles]
    assert [(h["device"], h["function"]) for h in handles] == [
        ("00", "6"),
        ("00", "7"),
        ("01", "0"),
    ]
    assert fpga.deployables[0].resource_class == "FPGA"

    path.write_text(json.dumps([{"type": "SSD", "address": "0000:81:00.0"}]))
    (ssd,) = driver.discover()
    assert ssd.deployables[0].resource_class == "CUSTOM_SSD"


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        json.dumps({"type": "GPU"}),
        json.dumps([{"type": "GPU"}]),
        json.dumps([{"type": "TPU", "address": "0000:3b:00.0"}]),
        json.dumps([{"type": "GPU", "address": "3b:00.0"}]),
        json.dumps([{"type": "GPU", "address": "0000:3b:00.0", "deployables": [{"x": 1}]}]),
    ],
)
def test_a_bad_inventory_file_fails_discovery_with_its_path(tmp_path, content: str) -> None:  # type: ignore[no-untyped-def]
    _, driver = _driver_on_file(tmp_path, content)
    with pytest.raises(fake_inventory.InvalidInventoryFile, match=r"inventory\.json"):
        driver.discover()


def test_a_missing_inventory_file_fails_discovery(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path, driver = _driver_on_file(tmp_path, "[]")
    assert driver.discover() == []
    path.unlink()
    with pytest.raises(fake_inventory.InvalidInventoryFile):
        driver.discover()
