"""The Xilinx FPGA driver on a recorded Alveo U250 sysfs tree and saved xbutil output."""

import dataclasses
import json
import logging
import pathlib
import shutil

import pytest
import stevedore.driver
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport
from cyborg.drivers.xilinx_fpga import XilinxFPGADriver, parse_examine

HOST = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts" / "xilinx-u250"
EXAMINE = HOST / "var/lib/cyborg/xbutil-examine.json"
XCLBIN = "6C3B2A518E4F4D2B9C710A5E3D8F1B24"


def _pci(function: str) -> str:
    return f'{{"bus": "3b", "device": "00", "domain": "0000", "function": "{function}"}}'


def _report(
    model: str, extra_traits: tuple[str, ...], extra_attrs: dict[str, str]
) -> DeviceReport:
    attributes = {"numa_node": "0", "pcie_link": "8GT/s x16", "product_id": "5004", **extra_attrs}
    return DeviceReport(
        type="FPGA",
        vendor="10ee",
        model=model,
        controlpath=_pci("0"),
        deployables=(
            DeployableReport(
                name="node1_0000:3b:00.0",
                num_accelerators=1,
                resource_class="FPGA",
                driver_name="XILINX",
                traits=("CUSTOM_FPGA_XILINX", "CUSTOM_FPGA_PRODUCT_ID_5004", *extra_traits),
                attributes=tuple(sorted(attributes.items())),
                attach_handles=(
                    AttachHandleReport("PCI", _pci("0")),
                    AttachHandleReport("PCI", _pci("1")),
                ),
            ),
        ),
    )


FULL = _report(
    "xilinx_u250_gen3x16_xdma_shell_4_1",
    (f"CUSTOM_FPGA_FUNCTION_ID_XILINX_{XCLBIN}",),
    {"function_id": XCLBIN, "memory_mb": "65536"},
)
SYSFS_ONLY = _report("Xilinx 5004", (), {})


def discover(root: pathlib.Path, **kwargs: str) -> list[DeviceReport]:
    return XilinxFPGADriver(None, root=str(root), hostname="node1", **kwargs).discover()


def test_both_pfs_of_the_slot_are_one_device_with_xbutil_facts() -> None:
    assert discover(HOST) == [FULL]


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "host"
    shutil.copytree(HOST, root, symlinks=True)
    return root


def test_without_xbutil_output_sysfs_alone(tree: pathlib.Path) -> None:
    (tree / "var/lib/cyborg/xbutil-examine.json").unlink()
    assert discover(tree) == [SYSFS_ONLY]


def test_examine_path_is_a_parameter(tree: pathlib.Path, tmp_path: pathlib.Path) -> None:
    moved = tmp_path / "examine.json"
    (tree / "var/lib/cyborg/xbutil-examine.json").rename(moved)
    assert discover(tree, examine_path=str(moved)) == [FULL]


@pytest.mark.parametrize(
    "content",
    [
        "{ not json",
        "[]",
        '{"devices": {"0000:3b:00.1": {}}}',
        '{"devices": [{"device_id": 7}]}',
        '{"devices": [{"device_id": "0000:3b:00.1", "platforms": "x", "dynamic_regions": [{}]}]}',
    ],
)
def test_broken_xbutil_output_means_less_detail(
    tree: pathlib.Path, content: str, caplog: pytest.LogCaptureFixture
) -> None:
    (tree / "var/lib/cyborg/xbutil-examine.json").write_text(content)
    with caplog.at_level(logging.WARNING, logger="cyborg.drivers.xilinx_fpga"):
        assert discover(tree) == [SYSFS_ONLY]


def test_no_xclbin_loaded() -> None:
    document = json.loads(EXAMINE.read_text())
    document["devices"][0]["dynamic_regions"][0]["xclbin_uuid"] = (
        "00000000-0000-0000-0000-000000000000"
    )
    assert parse_examine(document) == {
        "0000:3b:00": {
            "vbnv": "xilinx_u250_gen3x16_xdma_shell_4_1",
            "ddr_size_bytes": "68719476736",
        },
    }
    del document["devices"][0]["dynamic_regions"]
    # One document per card, as a list, is read too.
    assert parse_examine([document, {"devices": []}])["0000:3b:00"]["vbnv"].startswith("xilinx")


def test_output_for_another_card_is_not_applied(tree: pathlib.Path) -> None:
    path = tree / "var/lib/cyborg/xbutil-examine.json"
    path.write_text(path.read_text().replace("0000:3b:00.1", "0000:af:00.1"))
    assert discover(tree) == [SYSFS_ONLY]


def test_unbound_functions_still_merge_and_first_is_the_control_path(tree: pathlib.Path) -> None:
    for function in ("0000:3b:00.0", "0000:3b:00.1"):
        (tree / "sys/bus/pci/devices" / function / "driver").unlink()
    (device,) = discover(tree)
    (deployable,) = device.deployables
    # Merged as before; without xclmgmt the card is unhealthy (cannot be programmed).
    health = {
        "health": "unhealthy",
        "health_reason": "0000:3b:00.0: no kernel driver bound (xclmgmt)",
    }
    attributes = tuple(sorted({**dict(FULL.deployables[0].attributes), **health}.items()))
    assert device == dataclasses.replace(
        FULL, deployables=(dataclasses.replace(FULL.deployables[0], attributes=attributes),)
    )
    assert deployable.attach_handles == FULL.deployables[0].attach_handles


def test_a_user_pf_an_instance_holds_leaves_the_card_healthy(tree: pathlib.Path) -> None:
    (tree / "sys/bus/pci/devices/0000:3b:00.1/driver").unlink()
    assert discover(tree) == [FULL]


def test_garbage_sysfs_files_are_tolerated(tree: pathlib.Path) -> None:
    user_pf = tree / "sys/bus/pci/devices/0000:3b:00.1"
    (user_pf / "class").write_text("garbage\n")  # no longer an accelerator: one handle
    mgmt_pf = tree / "sys/bus/pci/devices/0000:3b:00.0"
    (mgmt_pf / "numa_node").write_text("-1\n")
    (mgmt_pf / "current_link_width").unlink()
    (mgmt_pf / "current_link_speed").write_text("Unknown\n")
    (device,) = discover(tree)
    (deployable,) = device.deployables
    assert deployable.attach_handles == (AttachHandleReport("PCI", _pci("0")),)
    assert dict(deployable.attributes) == {
        "function_id": XCLBIN,
        "memory_mb": "65536",
        "product_id": "5004",
    }


def test_empty_root_is_no_devices(tmp_path: pathlib.Path) -> None:
    assert discover(tmp_path) == []


def test_program_command_flashes_the_base_through_the_mgmt_pf() -> None:
    controlpath = {"domain": "0000", "bus": "3b", "device": "00", "function": "0"}
    assert XilinxFPGADriver(None).program_command(controlpath, "/lib/firmware/u250.xsabin") == [
        "/opt/xilinx/xrt/bin/xbmgmt",
        "program",
        "--device",
        "0000:3b:00.0",
        "--base",
        "--image",
        "/lib/firmware/u250.xsabin",
    ]
    with pytest.raises(ValueError, match="device"):
        XilinxFPGADriver(None).program_command({**controlpath, "device": ""}, "x")


def test_loads_through_stevedore() -> None:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    manager = stevedore.driver.DriverManager(
        "cyborg.accelerator.driver",
        "xilinx_fpga_driver",
        invoke_on_load=True,
        invoke_args=(conf,),
        invoke_kwds={"root": str(HOST), "hostname": "node1"},
    )
    assert isinstance(manager.driver, XilinxFPGADriver)
    assert manager.driver.discover() == [FULL]
