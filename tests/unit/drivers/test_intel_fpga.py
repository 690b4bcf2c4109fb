"""The Intel FPGA driver on recorded sysfs trees (DFL and OPAE's intel-fpga layouts)."""

import os
import pathlib
import shutil

import pytest
import stevedore.driver
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport
from cyborg.drivers.intel_fpga import IntelFPGADriver

HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
REGION = "CE48969398F05F33946D560708BE108A"
NLB0 = "D8424DC4A4A3C413F89E433683F9040B"
DMA = "F7DF405CBD7ACF7222F144B0B93ACD18"


def _pci(bus: str, function: str) -> str:
    return f'{{"bus": "{bus}", "device": "00", "domain": "0000", "function": "{function}"}}'


def _report(
    bus: str, handles: tuple[str, ...], afus: tuple[str, ...], numa: str, function_id: str | None
) -> DeviceReport:
    attributes = (
        *((("function_id", function_id),) if function_id else ()),
        ("numa_node", numa),
        ("pcie_link", "8GT/s x8"),
        ("product_id", "09c4"),
    )
    return DeviceReport(
        type="FPGA",
        vendor="8086",
        model="Intel PAC Arria 10 GX",
        controlpath=_pci(bus, "0"),
        deployables=(
            DeployableReport(
                name=f"node1_0000:{bus}:00.0",
                num_accelerators=len(handles),
                resource_class="FPGA",
                driver_name="intel",
                traits=(
                    "CUSTOM_FPGA_INTEL",
                    "CUSTOM_FPGA_INTEL_PAC_ARRIA10",
                    f"CUSTOM_FPGA_REGION_INTEL_{REGION}",
                    *(f"CUSTOM_FPGA_FUNCTION_ID_INTEL_{afu}" for afu in afus),
                ),
                attributes=attributes,
                attach_handles=tuple(AttachHandleReport("PCI", _pci(bus, f)) for f in handles),
            ),
        ),
    )


def discover(root: pathlib.Path | str) -> list[DeviceReport]:
    return IntelFPGADriver(None, root=str(root), hostname="node1").discover()


def test_pf_with_vfs_is_one_deployable_with_a_handle_per_vf() -> None:
    assert discover(HOSTS / "intel-pac-a10") == [
        _report("5e", ("1", "2"), (NLB0,), "0", NLB0),
    ]


def test_pf_without_vfs_is_its_own_handle_opae_layout() -> None:
    assert discover(HOSTS / "intel-pac-a10-opae") == [
        _report("3b", ("0",), (DMA,), "1", DMA),
    ]


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "host"
    shutil.copytree(HOSTS / "intel-pac-a10", root, symlinks=True)
    return root


def _vf_dir(root: pathlib.Path, address: str) -> pathlib.Path:
    return root / "sys/devices/pci0000:5d/0000:5d:00.0" / address


def test_different_afus_give_each_a_trait_and_no_function_id(tree: pathlib.Path) -> None:
    afu = next(_vf_dir(tree, "0000:5e:00.2").glob("fpga_region/region*/dfl-port.*/afu_id"))
    afu.write_text(DMA.lower() + "\n")
    assert discover(tree) == [_report("5e", ("1", "2"), (NLB0, DMA), "0", None)]


def test_garbage_and_missing_files_are_tolerated(tree: pathlib.Path) -> None:
    pf = _vf_dir(tree, "0000:5e:00.0")
    next(pf.glob("fpga_region/**/compat_id")).write_text("not-an-id\n")
    for afu in tree.glob("sys/devices/**/afu_id"):
        afu.unlink()
    for name in ("numa_node", "current_link_speed"):
        (pf / name).unlink()
    (_vf_dir(tree, "0000:5e:00.1") / "vendor").write_text("garbage")
    (device,) = discover(tree)
    (deployable,) = device.deployables
    assert deployable.traits == ("CUSTOM_FPGA_INTEL", "CUSTOM_FPGA_INTEL_PAC_ARRIA10")
    assert deployable.attributes == (("product_id", "09c4"),)
    assert deployable.num_accelerators == 2


def test_a_vf_missing_from_sysfs_is_not_a_handle(tree: pathlib.Path) -> None:
    os.unlink(tree / "sys/bus/pci/devices/0000:5e:00.2")
    (device,) = discover(tree)
    assert [h.attach_info for h in device.deployables[0].attach_handles] == [_pci("5e", "1")]


@pytest.mark.parametrize("device_id", ["0x09c5\n", "0x1572\n"])  # a VF id; an Intel NIC
def test_other_intel_functions_are_not_cards(tree: pathlib.Path, device_id: str) -> None:
    (_vf_dir(tree, "0000:5e:00.0") / "device").write_text(device_id)
    assert discover(tree) == []


def test_empty_root_is_no_devices(tmp_path: pathlib.Path) -> None:
    assert discover(tmp_path) == []
    assert discover(tmp_path / "missing") == []


def test_program_command_is_fpgaconf_on_the_pf() -> None:
    driver = IntelFPGADriver(None)
    controlpath = {"domain": "0000", "bus": "3b", "device": "00", "function": "0"}
    assert driver.program_command(controlpath, "/var/lib/cyborg/nlb0.gbs") == [
        "fpgaconf",
        "--bus",
        "0x3b",
        "--device",
        "0x00",
        "--function",
        "0x0",
        "/var/lib/cyborg/nlb0.gbs",
    ]
    elsewhere = {"domain": "0001", "bus": "af", "device": "1f", "function": "7"}
    assert driver.program_command(elsewhere, "x.gbs") == [
        "fpgaconf",
        "--segment",
        "0x0001",
        "--bus",
        "0xaf",
        "--device",
        "0x1f",
        "--function",
        "0x7",
        "x.gbs",
    ]
    with pytest.raises(ValueError, match="bus"):
        driver.program_command(
            {"domain": "0000", "bus": "3b;reboot", "device": "00", "function": "0"}, "x.gbs"
        )


def test_loads_through_stevedore() -> None:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    manager = stevedore.driver.DriverManager(
        "cyborg.accelerator.driver",
        "intel_fpga_driver",
        invoke_on_load=True,
        invoke_args=(conf,),
        invoke_kwds={"root": str(HOSTS / "intel-pac-a10"), "hostname": "node1"},
    )
    assert isinstance(manager.driver, IntelFPGADriver)
    assert [d.deployables[0].name for d in manager.driver.discover()] == ["node1_0000:5e:00.0"]
