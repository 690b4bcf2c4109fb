"""The NVMe SSD driver on a recorded host (tests/fixtures/hosts/nvme-2disks)."""

import json
import os
import pathlib
import shutil

from cyborg.drivers import nvme_ssd
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport

HOST = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts" / "nvme-2disks"
NVME0 = "sys/devices/pci0000:3a/0000:3a:02.0/0000:3b:00.0/nvme/nvme0"


def discover(root: pathlib.Path) -> list[DeviceReport]:
    return nvme_ssd.NVMeSSDDriver(None, root=str(root), hostname="compute-1").discover()


def info(address: str) -> str:
    domain, bus, rest = address.split(":")
    device, function = rest.split(".")
    return json.dumps(
        {"bus": bus, "device": device, "domain": domain, "function": function}, sort_keys=True
    )


def ssd(
    address: str, vendor: str, product: str, name: str, model: str, board: str
) -> DeviceReport:
    return DeviceReport(
        type="SSD",
        vendor=vendor,
        model=model,
        controlpath=info(address),
        std_board_info=json.dumps(
            {"controller": "Non-Volatile memory controller", "product_id": product}
        ),
        vendor_board_info=board,
        deployables=(
            DeployableReport(
                name=f"compute-1_{address}",
                num_accelerators=1,
                resource_class="CUSTOM_SSD",
                driver_name=name,
                traits=(
                    "OWNER_CYBORG",
                    f"CUSTOM_SSD_{name}",
                    f"CUSTOM_SSD_PRODUCT_ID_{product.upper()}",
                ),
                attributes=(
                    ("numa_node", "0"),
                    ("pcie_link", "16GT/s x4"),
                    ("product_id", product),
                ),
                attach_handles=(AttachHandleReport("PCI", info(address)),),
            ),
        ),
    )


SAMSUNG = ssd(
    "0000:3b:00.0",
    "144d",
    "a80a",
    "SAMSUNG",
    "SAMSUNG MZQL23T8HCLS-00A07",
    '{"firmware_rev": "GDC5602Q", "serial": "S64HNE0T512345"}',
)
# Bound to vfio-pci for an instance: out of /sys/class/nvme, still in the inventory.
INTEL = ssd("0000:5e:00.0", "8086", "0b60", "INTEL", "NVMe 8086:0b60", "{}")


def copy_host(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "host"
    shutil.copytree(HOST, root, symlinks=True)
    return root


def test_offers_the_two_disks_the_host_does_not_use() -> None:
    # The boot disk (mounted) and the LVM disk (held by dm-0) are left out.
    assert discover(HOST) == [SAMSUNG, INTEL]


def test_controllers_of_the_host() -> None:
    controllers = nvme_ssd.list_controllers(str(HOST))
    assert controllers["0000:01:00.0"].block_devices == ("nvme1n1", "nvme1n1p1", "nvme1n1p2")
    assert controllers["0000:d8:00.0"].held
    assert sorted(controllers) == ["0000:01:00.0", "0000:3b:00.0", "0000:d8:00.0"]


def test_a_disk_in_use_as_swap_is_left_out(tmp_path: pathlib.Path) -> None:
    root = copy_host(tmp_path)
    with open(root / "proc/swaps", "a") as swaps:
        swaps.write("/dev/nvme0n1                            partition\t8388604\t\t0\t\t-2\n")
    assert discover(root) == [INTEL]


def test_a_multipath_namespace_is_found_by_its_disk_name(tmp_path: pathlib.Path) -> None:
    root = copy_host(tmp_path)
    os.rename(root / NVME0 / "nvme0n1", root / NVME0 / "nvme0c0n1")
    assert discover(root) == [SAMSUNG, INTEL]
    (root / "proc/mounts").write_text("/dev/nvme0n1 /srv xfs rw 0 0\n")
    addresses = [r.deployables[0].name for r in discover(root)]
    assert addresses == ["compute-1_0000:01:00.0", "compute-1_0000:5e:00.0"]


def test_fabrics_controllers_are_not_pci_devices(tmp_path: pathlib.Path) -> None:
    root = copy_host(tmp_path)
    fabric = root / "sys/devices/virtual/nvme-fabrics/ctl/nvme3"
    fabric.mkdir(parents=True)
    (fabric / "transport").write_text("tcp\n")
    (fabric / "model").write_text("Linux\n")
    (root / "sys/class/nvme/nvme3").symlink_to("../../devices/virtual/nvme-fabrics/ctl/nvme3")
    assert "nvme3" not in [c.name for c in nvme_ssd.list_controllers(str(root)).values()]
    assert discover(root) == [SAMSUNG, INTEL]


def test_vendor_without_a_name_uses_its_id(tmp_path: pathlib.Path) -> None:
    root = copy_host(tmp_path)
    function = root / "sys/devices/pci0000:5d/0000:5d:02.0/0000:5e:00.0"
    (function / "vendor").write_text("0x1d78\n")
    deployable = discover(root)[1].deployables[0]
    assert deployable.driver_name == "1D78"
    assert deployable.traits == ("OWNER_CYBORG", "CUSTOM_SSD_1D78", "CUSTOM_SSD_PRODUCT_ID_0B60")


def test_empty_root_has_no_disks(tmp_path: pathlib.Path) -> None:
    assert discover(tmp_path) == []


def test_garbage_files_do_not_crash(tmp_path: pathlib.Path) -> None:
    root = copy_host(tmp_path)
    (root / NVME0 / "model").write_bytes(b"\xff\xfe\x00")
    (root / NVME0 / "serial").unlink()
    (root / NVME0 / "device").unlink()
    (root / NVME0 / "device").write_text("not a link")
    (root / "proc/mounts").write_text("\n\n   \nrubbish\n")
    function = root / "sys/devices/pci0000:3a/0000:3a:02.0/0000:3b:00.0"
    (function / "numa_node").write_text("?\n")
    reports = discover(root)
    # nvme0 lost its device link, so the Samsung shows with PCI facts only; the boot
    # disk, no longer seen as mounted, is offered.
    assert [r.model for r in reports] == [
        "Micron_7450_MTFDKBA960TFR",
        "NVMe 144d:a80a",
        "NVMe 8086:0b60",
    ]
    assert dict(reports[1].deployables[0].attributes).get("numa_node") is None
