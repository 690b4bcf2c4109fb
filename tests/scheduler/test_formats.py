"""The JSON graph, device-set and factors formats: good documents load, bad ones say
where they are wrong."""

import json

import pytest

from cyborg.scheduler import factors
from cyborg.scheduler.catalog import CATALOG
from cyborg.scheduler.device_json import devices_from_dict, devices_to_dict, load_devices
from cyborg.scheduler.devices import _FALLBACK
from cyborg.scheduler.graph import PRECISIONS
from cyborg.scheduler.graph_json import graph_from_dict, graph_to_dict, load_graph
from cyborg.scheduler.json_input import InputFormatError

GRAPH = {
    "name": "toy",
    "precision": "fp16",
    "nodes": [
        {"name": "a", "op_type": "MatMul", "flops": 1e9, "param_bytes": 1024},
        {
            "name": "b",
            "op_type": "Relu",
            "bytes_read": 10,
            "precision": "fp32",
            "measured_seconds": {"T4": 0.5},
        },
    ],
    "edges": [{"src": "a", "dst": "b", "bytes": 4096}],
}


def test_graph_loads_with_defaults() -> None:
    graph = graph_from_dict(GRAPH)
    a, b = graph.nodes
    assert (a.flops, a.param_bytes, a.bytes_read, a.precision) == (1e9, 1024, 0.0, "fp16")
    assert b.precision == "fp32" and b.measured == {"T4": 0.5}
    assert graph.edge_bytes == (4096.0,)
    assert graph_from_dict(graph_to_dict(graph)).nodes == graph.nodes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: g.pop("nodes"), r"graph \(top level\): 'nodes' is a required property"),
        (lambda g: g["nodes"][0].update(flops=-1), r"graph\.nodes\[0\]\.flops: -1"),
        (lambda g: g["nodes"][1].update(precision="fp4"), r"graph\.nodes\[1\]\.precision"),
        (lambda g: g["nodes"][0].update(colour="red"), r"graph\.nodes\[0\]: Additional"),
        (lambda g: g["edges"].append({"src": "b", "dst": "zz"}), "no node 'zz'"),
        (lambda g: g["edges"].append({"src": "b", "dst": "a"}), "cycle"),
        (lambda g: g["nodes"].append({"name": "a", "op_type": "X"}), "two nodes are named 'a'"),
        (lambda g: g["edges"].append({"src": "a", "dst": "a"}), "self-loop"),
    ],
)
def test_bad_graphs_say_where(change, message: str) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(json.dumps(GRAPH))
    change(document)
    with pytest.raises(InputFormatError, match=message):
        graph_from_dict(document)


def test_files_that_are_not_json_say_where(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "g.json"
    path.write_text('{"nodes": [\n  {"name": "a",}\n]}')
    with pytest.raises(InputFormatError, match=r"g\.json: not JSON \(line 2 column"):
        load_graph(str(path))
    with pytest.raises(InputFormatError, match="No such file"):
        load_devices(str(tmp_path / "missing.json"))


DEVICES = {
    "interconnect": {"network_bandwidth_gbps": 25},
    "devices": [
        {
            "id": "g0",
            "model": "H100-SXM5-80GB",
            "host": "n1",
            "numa_node": 0,
            "peer_links": [{"peer": "g1"}],
        },
        {"id": "g1", "model": "H100-SXM5-80GB", "host": "n1", "memory_mb": 40960},
        {
            "id": "f0",
            "model": "custom-fpga",
            "host": "n2",
            "memory_mb": 4096,
            "peak_tflops": {"fp32": 1.5},
            "memory_bandwidth_gbps": 77,
            "pcie_gbps": 8,
        },
    ],
}


def test_devices_fill_in_from_the_catalog() -> None:
    devices = devices_from_dict(DEVICES)
    g0, g1, f0 = devices.devices
    h100 = CATALOG["H100-SXM5-80GB"]
    assert g0.memory_mb == h100.memory_mb and g0.peak_tflops["fp16"] == 989.5
    assert g0.links[0].type == "nvlink" and g0.links[0].bandwidth_gbps == 450.0
    assert g1.memory_mb == 40960  # explicit beats the catalog
    assert (f0.peak_tflops, f0.pcie_gbps, f0.numa_node) == ({"fp32": 1.5}, 8.0, None)
    assert devices.interconnect.network_bandwidth_gbps == 25
    assert devices_from_dict(devices_to_dict(devices)) == devices


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["devices"][2].pop("peak_tflops"),
            r"devices\.devices\[2\]: model 'custom-fpga' is not in the catalog .*give peak_tflops",
        ),
        (
            lambda d: d["devices"][0]["peer_links"].append({"peer": "nobody"}),
            "peer 'nobody' is unknown",
        ),
        (lambda d: d["devices"][1].update(id="g0"), "two devices share an id"),
        (
            lambda d: d["devices"][2]["peak_tflops"].update(fp64=1),
            r"devices\.devices\[2\]\.peak_tflops",
        ),
        (lambda d: d["devices"][0].update(memory_mb=0), r"devices\.devices\[0\]\.memory_mb"),
        (
            lambda d: d["devices"][2].update(peer_links=[{"peer": "g0", "type": "serial"}]),
            r"peer_links\[0\]: give bandwidth_gbps",
        ),
        (lambda d: d.update(devices=[]), r"devices\.devices: \[\] should be non-empty"),
    ],
)
def test_bad_device_sets_say_where(change, message: str) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(json.dumps(DEVICES))
    change(document)
    with pytest.raises(InputFormatError, match=message):
        devices_from_dict(document)


def test_every_precision_has_a_fallback() -> None:
    assert set(_FALLBACK) == set(PRECISIONS)


def test_factors_round_trip_and_validate() -> None:
    table = {("MatMul", "T4"): 1.5, ("Conv", "A100-SXM4-80GB"): 0.8}
    assert factors.factors_from_dict(factors.factors_to_dict(table)) == table
    with pytest.raises(InputFormatError, match=r"factors\.factors\[0\]\.factor"):
        factors.factors_from_dict(
            {"factors": [{"op_type": "MatMul", "device_model": "T4", "factor": 0}]}
        )
