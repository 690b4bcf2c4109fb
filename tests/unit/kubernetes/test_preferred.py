"""GetPreferredAllocation's choice, as a pure function."""

import pathlib

from oslo_config import cfg

import cyborg.conf
from cyborg.drivers import nvidia_gpu
from cyborg.kubernetes import devices
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.preferred import preferred


def _devices(*specs: tuple[str, int | None, tuple[str, ...]]) -> dict[str, PluginDevice]:
    return {
        i: PluginDevice(i, "x/gpu", "GPU", i, numa_node=n, nvlink_peers=frozenset(p))
        for i, n, p in specs
    }


EIGHT = _devices(
    ("a", 0, ("b",)), ("b", 0, ("a",)), ("c", 0, ()), ("d", 0, ()),
    ("e", 1, ("f", "g", "h")), ("f", 1, ("e", "g", "h")), ("g", 1, ("e", "f", "h")),
    ("h", 1, ("e", "f", "g")),
)  # fmt: skip


def test_a_whole_request_on_one_node_beats_splitting() -> None:
    assert sorted(preferred(list("abcefg"), [], 3, EIGHT)) == ["e", "f", "g"]


def test_nvlink_peers_come_first_within_a_node() -> None:
    assert preferred(list("dcba"), [], 2, EIGHT) == ["a", "b"]


def test_must_include_decides_the_node_and_comes_first() -> None:
    assert preferred(list("abcdefgh"), ["c"], 2, EIGHT)[0] == "c"
    assert preferred(list("abcdefgh"), ["c"], 2, EIGHT)[1] in {"a", "b", "d"}
    assert preferred(list("abcdefgh"), ["e"], 4, EIGHT) == ["e", "f", "g", "h"]


def test_a_request_larger_than_a_node_spills_over() -> None:
    chosen = preferred(list("abcdefgh"), [], 6, EIGHT)
    assert len(chosen) == 6 and {"e", "f", "g", "h"} <= set(chosen)


def test_size_at_or_below_must_include_and_short_supply() -> None:
    assert preferred(list("abc"), ["b", "a"], 2, EIGHT) == ["b", "a"]
    assert preferred(list("abc"), ["b", "a"], 1, EIGHT) == ["b"]
    assert preferred(list("ab"), [], 5, EIGHT) == ["a", "b"]
    assert preferred([], [], 0, EIGHT) == []


def test_unknown_ids_and_no_topology_keep_the_kubelets_order() -> None:
    assert preferred(["z", "y", "x"], [], 2, {}) == ["x", "y"]  # sorted, stable


# The real NVIDIA driver's output on recorded hosts, through the device plugin's view.
HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def _driver_devices(host: str, **captures: str) -> dict[str, PluginDevice]:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    driver = nvidia_gpu.NvidiaGPUDriver(conf, root=str(HOSTS / host), hostname="n", **captures)
    found = devices.by_resource(driver.discover(), "cyborg.openstack.org", ["GPU"])
    return {d.id: d for d in found["cyborg.openstack.org/gpu"]}


def test_dgx_driver_output_gives_every_gpu_its_seven_peers_and_numa_pairs() -> None:
    dgx = _driver_devices("nvidia-dgx-a100")
    assert all(d.nvlink_peers == set(dgx) - {i} for i, d in dgx.items())
    # All NVLinked alike: the NUMA node decides (node 1 is the lowest with two free).
    assert preferred(sorted(dgx), [], 2, dgx) == ["0000:47:00.0", "0000:4e:00.0"]
    assert preferred(sorted(dgx), ["0000:b7:00.0"], 2, dgx) == ["0000:b7:00.0", "0000:bd:00.0"]


def test_pcie_box_prefers_the_bridged_pair_the_driver_reported() -> None:
    plain = _driver_devices("nvidia-pcie-4gpu")
    available = ["0000:1c:00.0", "0000:1d:00.0", "0000:20:00.0"]
    assert preferred(available, [], 2, plain) == ["0000:1c:00.0", "0000:1d:00.0"]
    # The same box with an NVLink bridge between GPU0 and GPU2 (topo -m shows NV4).
    bridged_topo = (HOSTS / "nvidia-pcie-4gpu/var/lib/cyborg/nvidia-smi-topo-m.txt").read_text()
    bridged_topo = bridged_topo.replace("GPU0\t X \tPIX\tPXB", "GPU0\t X \tPIX\tNV4").replace(
        "GPU2\tPXB\tPXB\t X ", "GPU2\tNV4\tPXB\t X "
    )
    bridged = _driver_devices("nvidia-pcie-4gpu", smi_topo=bridged_topo)
    assert bridged["0000:1c:00.0"].nvlink_peers == {"0000:20:00.0"}
    assert preferred(available, [], 2, bridged) == ["0000:1c:00.0", "0000:20:00.0"]
