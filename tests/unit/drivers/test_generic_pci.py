"""The generic PCI driver and Nova-style whitelist matching (tests/fixtures/hosts/mixed-pci)."""

import json
import pathlib

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers import generic_pci, pci
from cyborg.drivers.base import AttachHandleReport, DeployableReport, DeviceReport

HOST = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts" / "mixed-pci"


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    return conf


def discover(
    conf: cfg.ConfigOpts, *specs: object, root: pathlib.Path = HOST
) -> list[DeviceReport]:
    entries = [s if isinstance(s, str) else json.dumps(s) for s in specs]
    conf.set_override("passthrough_whitelist", entries, "pci")
    return generic_pci.GenericPCIDriver(conf, root=str(root), hostname="compute-1").discover()


def addresses(reports: list[DeviceReport]) -> list[str]:
    """The reports' PCI addresses without the domain: "0a:00.1"."""
    return [r.deployables[0].name.removeprefix("compute-1_0000:") for r in reports]


def info(address: str) -> str:
    return pci.controlpath(address)


def test_exact_report_of_a_whitelisted_gpu(conf: cfg.ConfigOpts) -> None:
    assert discover(conf, {"vendor_id": "10de", "product_id": "1eb8"}) == [
        DeviceReport(
            type="GPU",
            vendor="10de",
            model="NVIDIA 1eb8",
            controlpath=info("0000:3b:00.0"),
            std_board_info='{"class": "030200", "product_id": "1eb8"}',
            deployables=(
                DeployableReport(
                    name="compute-1_0000:3b:00.0",
                    num_accelerators=1,
                    resource_class="CUSTOM_PCI",
                    driver_name="NVIDIA",
                    traits=("OWNER_CYBORG", "CUSTOM_PCI_NVIDIA", "CUSTOM_PCI_PRODUCT_ID_1EB8"),
                    attributes=(
                        ("numa_node", "0"),
                        ("pcie_link", "8GT/s x16"),
                        ("product_id", "1eb8"),
                    ),
                    attach_handles=(AttachHandleReport("PCI", info("0000:3b:00.0")),),
                ),
            ),
        )
    ]


def test_vendor_outside_the_trait_map_gets_no_vendor_trait(conf: cfg.ConfigOpts) -> None:
    (nic,) = discover(conf, {"devname": "eno3np0"})
    deployable = nic.deployables[0]
    assert (nic.type, nic.vendor, nic.model) == ("NIC", "14e4", "14e4:16d8")
    assert deployable.driver_name == "14E4"
    assert deployable.traits == ("OWNER_CYBORG", "CUSTOM_PCI_PRODUCT_ID_16D8")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"address": "*:0a:00.*"}, ["0a:00.0", "0a:00.1"]),
        ({"address": "0000:0a:00.1"}, ["0a:00.1"]),
        ({"address": "0a:00."}, ["0a:00.0", "0a:00.1"]),
        ({"address": ":af:00.1"}, ["af:00.1"]),
        ({"address": "00.0", "vendor_id": "10ee"}, ["af:00.0"]),
        ({"address": "*:*:*.*", "vendor_id": "19e5"}, ["d8:00.0"]),
        ({"address": "0:a:0.0"}, ["0a:00.0"]),
        ({"address": {"bus": "a[f]", "function": "[01]"}}, ["af:00.0", "af:00.1"]),
        ({"address": {"domain": "0000", "bus": "0a", "slot": "00", "function": "1"}}, ["0a:00.1"]),
        ({"address": {"bus": "0"}}, []),  # a regex matches the whole field
        (
            {"vendor_id": "8086", "product_id": "*"},
            ["00:00.0", "0a:00.0", "0a:00.1", "3d:00.0", "64:00.5"],
        ),
        ({"vendor_id": "0x8086", "product_id": "37C8"}, ["3d:00.0"]),
        ({"product_id": "d100"}, ["d8:00.0"]),
        ({"devname": "ens1f1"}, ["0a:00.1"]),
        ({"devname": "eth9"}, []),
        ({"vendor_id": "10de", "physical_network": "physnet1", "trusted": "true"}, ["3b:00.0"]),
    ],
)
def test_whitelist_matching(conf: cfg.ConfigOpts, spec: dict, expected: list[str]) -> None:
    assert addresses(discover(conf, spec)) == expected


def test_a_list_entry_and_several_entries(conf: cfg.ConfigOpts) -> None:
    reports = discover(
        conf, [{"vendor_id": "102b"}, {"vendor_id": "144d"}], {"product_id": "d100"}
    )
    assert addresses(reports) == ["03:00.0", "5e:00.0", "d8:00.0"]


@pytest.mark.parametrize(
    "entry",
    [
        "not json",
        '"a string"',
        "[1, 2]",
        '{"vendor_id": "xyz"}',
        '{"product_id": "123456"}',
        '{"address": "1:2:3:4.5"}',
        '{"address": "zz:00.0"}',
        '{"address": 12}',
        '{"address": {"bus": "("}}',
        '{"address": {"bsu": "0a"}}',
        '{"address": "*:0a:00.*", "devname": "ens1f0"}',
    ],
    # Plain ids: gabbi's pytest plugin trips over ids holding ':' and quotes.
    ids=lambda entry: "entry-" + "".join(c for c in str(entry) if c.isalnum())[:30],
)
def test_bad_entries_are_skipped(conf: cfg.ConfigOpts, entry: str) -> None:
    assert addresses(discover(conf, entry, {"vendor_id": "19e5"})) == ["d8:00.0"]


def test_no_whitelist_no_devices(conf: cfg.ConfigOpts) -> None:
    assert discover(conf) == []


def test_empty_root_has_no_devices(conf: cfg.ConfigOpts, tmp_path: pathlib.Path) -> None:
    assert discover(conf, {"vendor_id": "*"}, root=tmp_path) == []


def test_device_types_from_the_pci_class(conf: cfg.ConfigOpts) -> None:
    reports = discover(conf, {"vendor_id": "*"})
    types = {a: r.type for a, r in zip(addresses(reports), reports, strict=True)}
    assert types == {
        "00:00.0": "GPU",  # a host bridge has no Cyborg type: upstream's GPU
        "03:00.0": "GPU",
        "0a:00.0": "NIC",
        "0a:00.1": "NIC",
        "3b:00.0": "GPU",
        "3d:00.0": "QAT",
        "5e:00.0": "SSD",
        "64:00.5": "GPU",
        "af:00.0": "FPGA",
        "af:00.1": "FPGA",
        "d8:00.0": "AICHIP",
        "d9:00.0": "NIC",
    }


def test_garbage_function_files_do_not_crash(conf: cfg.ConfigOpts, tmp_path: pathlib.Path) -> None:
    function = tmp_path / "sys/bus/pci/devices/0000:0f:00.0"
    function.mkdir(parents=True)
    (function / "vendor").write_text("??\n")
    (function / "class").write_text("\x00\n")
    (function / "net").write_text("not a directory")
    (device,) = discover(conf, {"vendor_id": "*"}, root=tmp_path)
    assert (device.type, device.vendor, device.model) == ("GPU", "0000", "0000:0000")
    assert discover(conf, {"vendor_id": "10de"}, {"devname": "x"}, root=tmp_path) == []


def test_a_nic_handle_names_its_physical_network(conf: cfg.ConfigOpts) -> None:
    (nic, other) = discover(
        conf, {"devname": "ens1f1", "physical_network": "physnet1"}, {"vendor_id": "10de"}
    )
    (handle,) = nic.deployables[0].attach_handles
    assert (handle.attach_type, json.loads(handle.attach_info)) == (
        "PCI",
        {"domain": "0000", "bus": "0a", "device": "00", "function": "1",
         "physical_network": "physnet1"},
    )  # fmt: skip
    (plain,) = other.deployables[0].attach_handles
    assert "physical_network" not in json.loads(plain.attach_info)
