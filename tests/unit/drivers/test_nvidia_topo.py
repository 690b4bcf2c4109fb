"""NVLink peers and PCIe roots of NVIDIA GPUs, on recorded hosts and ``topo -m`` outputs."""

import json
import pathlib

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.common import inventory
from cyborg.drivers import nvidia_gpu, nvidia_topo, pci

HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
DGX = HOSTS / "nvidia-dgx-a100"
PCIE_BOX = HOSTS / "nvidia-pcie-4gpu"
DGX_GPUS = [
    "0000:07:00.0",
    "0000:0f:00.0",
    "0000:47:00.0",
    "0000:4e:00.0",
    "0000:87:00.0",
    "0000:90:00.0",
    "0000:b7:00.0",
    "0000:bd:00.0",
]
DGX_ROOTS = ["pci0000:00"] * 2 + ["pci0000:40"] * 2 + ["pci0000:80"] * 2 + ["pci0000:b0"] * 2


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    return conf


def gpu_attributes(conf: cfg.ConfigOpts, root: pathlib.Path, **kwargs: str) -> dict[str, dict]:
    driver = nvidia_gpu.NvidiaGPUDriver(conf, root=str(root), hostname="h", **kwargs)
    return {
        device.deployables[0].name.removeprefix("h_"): dict(device.deployables[0].attributes)
        for device in driver.discover()
    }


def test_dgx_matrix_every_gpu_nvlinked_to_every_other_with_twelve_links() -> None:
    matrix = nvidia_topo.parse_topo_matrix(
        (DGX / "var/lib/cyborg/nvidia-smi-topo-m.txt").read_text()
    )
    assert matrix == {i: {j: 12 for j in range(8) if j != i} for i in range(8)}


def test_pcie_only_matrix_has_no_links() -> None:
    text = (PCIE_BOX / "var/lib/cyborg/nvidia-smi-topo-m.txt").read_text()
    assert nvidia_topo.parse_topo_matrix(text) == {0: {}, 1: {}, 2: {}, 3: {}}


def test_matrix_copied_with_spaces_and_mixed_link_counts() -> None:
    # A DGX-1-style hybrid cube mesh as tickets show it: tabs turned into spaces.
    text = """        GPU0    GPU1    GPU2    GPU3    mlx5_0  CPU Affinity
GPU0     X      NV1     NV1     NV2     SYS     0-15
GPU1    NV1      X      NV2     NV1     SYS     0-15
GPU2    NV1     NV2      X      NV2     SYS     0-15
GPU3    NV2     NV1     NV2      X      SYS     0-15
mlx5_0  SYS     SYS     SYS     SYS      X

Legend:

  NV#  = Connection traversing a bonded set of # NVLinks
"""
    matrix = nvidia_topo.parse_topo_matrix(text)
    assert matrix[0] == {1: 1, 2: 1, 3: 2}
    assert matrix[2] == {0: 1, 1: 2, 3: 2}


@pytest.mark.parametrize(
    "text", ["", "No devices were found\n", "Legend:\n  X = Self\n", "\x00\xff garbage"]
)
def test_output_without_a_matrix_has_no_links(text: str) -> None:
    assert nvidia_topo.parse_topo_matrix(text) == {}


def test_index_order_comes_from_the_listing_not_the_minor_number() -> None:
    uuids = {"0000:3b:00.0": "GPU-a", "0000:86:00.0": "GPU-b"}
    listing = "GPU 0: X (UUID: GPU-b)\nGPU 1: X (UUID: GPU-a)\n"
    assert nvidia_topo.gpu_order(listing, uuids) == ["0000:86:00.0", "0000:3b:00.0"]
    # A listing that does not name every GPU of the XML: the XML's order.
    assert nvidia_topo.gpu_order("GPU 0: X (UUID: GPU-b)\n", uuids) == list(uuids)


def test_peer_links_leave_out_peers_nvidia_smi_cannot_name() -> None:
    links = nvidia_topo.peer_links(
        {0: {1: 4, 2: 4}, 1: {0: 4}, 2: {0: 4}}, ["0000:01:00.0", "0000:02:00.0"]
    )
    assert json.loads(links["0000:01:00.0"]) == [
        {"links": 4, "peer": "0000:02:00.0", "type": "nvlink"}
    ]
    assert set(links) == {"0000:01:00.0", "0000:02:00.0"}


def test_pcie_root_follows_sysfs_through_the_switches() -> None:
    assert pci.pcie_root(str(DGX), "0000:b7:00.0") == "pci0000:b0"
    assert pci.pcie_root(str(PCIE_BOX), "0000:1c:00.0") == "pci0000:17"  # below 2 switches
    assert pci.pcie_root(str(PCIE_BOX), "0000:ff:00.0") is None


def test_dgx_gpus_carry_their_nvlink_peers_and_pcie_roots(conf: cfg.ConfigOpts) -> None:
    found = gpu_attributes(conf, DGX)
    assert list(found) == DGX_GPUS
    for address, root in zip(DGX_GPUS, DGX_ROOTS, strict=True):
        facts = found[address]
        assert facts[inventory.ATTR_PCIE_ROOT] == root
        peers = json.loads(facts[inventory.ATTR_PEER_LINKS])
        assert peers == [
            {"links": 12, "peer": other, "type": "nvlink"}
            for other in DGX_GPUS
            if other != address
        ]


def test_without_the_listing_the_xml_order_names_the_indexes(conf: cfg.ConfigOpts) -> None:
    topo = "\tGPU0\tGPU1\tGPU2\nGPU0\t X \tNV12\tNV4\nGPU1\tNV12\t X \tSYS\nGPU2\tNV4\tSYS\t X \n"
    found = gpu_attributes(conf, DGX, smi_list="", smi_topo=topo)
    assert json.loads(found["0000:07:00.0"][inventory.ATTR_PEER_LINKS]) == [
        {"links": 12, "peer": "0000:0f:00.0", "type": "nvlink"},
        {"links": 4, "peer": "0000:47:00.0", "type": "nvlink"},
    ]
    assert inventory.ATTR_PEER_LINKS not in found["0000:4e:00.0"]


def test_pcie_only_box_has_roots_and_no_peer_links(conf: cfg.ConfigOpts) -> None:
    found = gpu_attributes(conf, PCIE_BOX)
    assert {a: f[inventory.ATTR_PCIE_ROOT] for a, f in found.items()} == {
        "0000:1c:00.0": "pci0000:17",
        "0000:1d:00.0": "pci0000:17",
        "0000:20:00.0": "pci0000:17",
        "0000:af:00.0": "pci0000:ae",
    }
    assert not any(inventory.ATTR_PEER_LINKS in f for f in found.values())


def test_garbage_topology_output_reports_no_links(conf: cfg.ConfigOpts) -> None:
    found = gpu_attributes(conf, DGX, smi_topo="\x00\xffNV12\tGPU0\n")
    assert not any(inventory.ATTR_PEER_LINKS in f for f in found.values())
    assert found["0000:07:00.0"][inventory.ATTR_PCIE_ROOT] == "pci0000:00"


def test_mig_instances_get_no_peer_links_their_peer_still_names_the_gpu(
    conf: cfg.ConfigOpts,
) -> None:
    # The recorded A100 host with its two GPUs NVLinked (GPU0 is in MIG mode).
    topo = "\tGPU0\tGPU1\nGPU0\t X \tNV12\nGPU1\tNV12\t X \n"
    driver = nvidia_gpu.NvidiaGPUDriver(conf, root=str(HOSTS / "nvidia-a100-mig"), smi_topo=topo)
    mig_gpu, whole_gpu = driver.discover()
    assert all(inventory.ATTR_PEER_LINKS not in dict(d.attributes) for d in mig_gpu.deployables)
    assert json.loads(dict(whole_gpu.deployables[0].attributes)[inventory.ATTR_PEER_LINKS]) == [
        {"links": 12, "peer": "0000:3b:00.0", "type": "nvlink"}
    ]
