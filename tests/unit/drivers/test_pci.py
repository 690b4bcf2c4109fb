"""Reading PCI functions from recorded sysfs trees (cyborg.drivers.pci)."""

import os
import pathlib

import pytest

from cyborg.drivers import pci

HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
A100 = str(HOSTS / "nvidia-a100-mig")


def write(root: pathlib.Path, address: str, **files: str) -> pathlib.Path:
    """A function directory straight under sys/bus/pci/devices (no symlink)."""
    path = root / "sys" / "bus" / "pci" / "devices" / address
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)
    return path


def test_lists_every_function_of_a_recorded_host_in_address_order() -> None:
    assert [f.address for f in pci.list_functions(A100)] == [
        "0000:00:00.0",
        "0000:07:00.0",
        "0000:3a:00.0",
        "0000:3b:00.0",
        "0000:85:00.0",
        "0000:86:00.0",
        "0000:86:00.4",
        "0000:86:00.5",
        "0000:86:00.6",
        "0000:86:00.7",
    ]


def test_reads_a_physical_function_with_vfs() -> None:
    assert pci.read_function(A100, "0000:86:00.0") == pci.PCIFunction(
        address="0000:86:00.0",
        vendor="10de",
        device="20b0",
        class_code="030200",
        numa_node=1,
        link_speed="16.0 GT/s PCIe",
        link_width="16",
        driver="nvidia",
        physfn=None,
        virtfns=("0000:86:00.4", "0000:86:00.5", "0000:86:00.6", "0000:86:00.7"),
        sriov_totalvfs=16,
        sriov_numvfs=4,
        iommu_group="61",
    )


def test_reads_a_vf() -> None:
    vf = pci.read_function(A100, "0000:86:00.5")
    assert vf is not None
    assert vf.is_vf and vf.physfn == "0000:86:00.0"
    assert (vf.virtfns, vf.sriov_totalvfs, vf.base_class) == ((), None, "03")
    assert (vf.link_speed, vf.link_width, pci.pcie_link(vf)) == ("Unknown", "0", None)


def test_a_function_without_optional_files() -> None:
    bridge = pci.read_function(A100, "0000:00:00.0")
    assert bridge is not None
    assert (bridge.vendor, bridge.class_code, bridge.numa_node) == ("8086", "060000", 0)
    assert (bridge.driver, bridge.link_speed, bridge.sriov_numvfs) == (None, None, None)
    assert pci.pcie_link(bridge) is None


def test_plain_directories_work_like_symlinks(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "0000:0A:00.0", vendor="0x10DE\n", device="0x1EB8\n", numa_node="-1\n")
    (function,) = pci.list_functions(str(tmp_path))
    assert (function.address, function.vendor, function.device) == ("0000:0a:00.0", "10de", "1eb8")
    assert function.numa_node is None


def test_garbage_values_read_as_unknown(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "0000:0b:00.0",
        vendor="banana\n",
        device="0x123456\n",
        **{"class": "0x3\n"},
        numa_node="one\n",
        sriov_totalvfs="\n",
        sriov_numvfs="-",
        current_link_speed="fast\n",
        current_link_width="wide\n",
    )
    (path / "virtfn0").symlink_to("../not-an-address")
    (path / "physfn").write_text("0000:0a:00.0\n")  # a file, not a link
    (path / "driver").mkdir()
    (function,) = pci.list_functions(str(tmp_path))
    assert function == pci.PCIFunction(
        address="0000:0b:00.0",
        vendor=None,
        device=None,
        class_code=None,
        link_speed="fast",
        link_width="wide",
    )
    assert pci.pcie_link(function) is None and function.base_class is None


def test_unreadable_attribute_is_none(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "0000:0c:00.0", vendor="0x8086\n")
    (path / "device").mkdir()  # reading a directory fails
    (function,) = pci.list_functions(str(tmp_path))
    assert (function.vendor, function.device) == ("8086", None)


def test_entries_that_are_not_functions_are_skipped(tmp_path: pathlib.Path) -> None:
    write(tmp_path, "0000:0d:00.0", vendor="0x1af4\n")
    write(tmp_path, "not-a-function", vendor="0x1af4\n")
    devices = tmp_path / "sys" / "bus" / "pci" / "devices"
    (devices / "0000:0e:00.0").symlink_to("../nowhere")  # dangling link
    (devices / "README").write_text("x")
    assert [f.address for f in pci.list_functions(str(tmp_path))] == ["0000:0d:00.0"]


@pytest.mark.parametrize("root", ["/nonexistent/root", ""])
def test_no_pci_tree_means_no_functions(root: str) -> None:
    if root == "":
        root = os.devnull  # a file, not a directory
    assert pci.list_functions(root) == []
    assert pci.read_function(root, "0000:00:00.0") is None


def test_read_function_of_an_absent_or_malformed_address() -> None:
    assert pci.read_function(A100, "0000:99:00.0") is None
    assert pci.read_function(A100, "../../../etc") is None


@pytest.mark.parametrize(
    ("speed", "width", "expected"),
    [
        ("16.0 GT/s PCIe", "16", "16GT/s x16"),
        ("2.5 GT/s PCIe", "1", "2.5GT/s x1"),
        ("8 GT/s", "8", "8GT/s x8"),  # kernels before 5.2
        ("32.0 GT/s PCIe", None, "32GT/s"),
        ("8.0 GT/s PCIe", "0", "8GT/s"),
        ("Unknown", "4", None),
        (None, "16", None),
    ],
)
def test_pcie_link(speed: str | None, width: str | None, expected: str | None) -> None:
    function = pci.PCIFunction("0000:01:00.0", "10de", "1eb8", "030200")
    function = pci.PCIFunction(**{**function.__dict__, "link_speed": speed, "link_width": width})
    assert pci.pcie_link(function) == expected


def test_report_helpers() -> None:
    info = '{"bus": "3b", "device": "00", "domain": "0000", "function": "1"}'
    assert pci.controlpath("0000:3B:00.1") == info
    assert pci.pci_handle("0000:3b:00.1") == pci.AttachHandleReport("PCI", info)
    assert pci.attributes({"b": 2, "a": None, "c": "x"}) == (("b", "2"), ("c", "x"))
    assert pci.trait_part("t4-2b.x") == "T4_2B_X"
