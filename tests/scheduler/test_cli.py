"""cyborg-plan end to end: installed, in a subprocess, on an ONNX light model."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import onnx

from cyborg.scheduler import graph_json, synthetic

BIN = os.path.join(os.path.dirname(sys.executable), "cyborg-plan")
DEVICES = {
    "devices": [
        {
            "id": "gpu0",
            "model": "H100-SXM5-80GB",
            "host": "a",
            "numa_node": 0,
            "peer_links": [{"peer": "gpu1"}],
        },
        {"id": "gpu1", "model": "H100-SXM5-80GB", "host": "a", "numa_node": 0},
        {"id": "t4", "model": "T4", "host": "a", "numa_node": 1},
        {"id": "fpga", "model": "FPGA-HBM", "host": "b"},
    ]
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120, check=False)


def _devices(tmp_path) -> str:  # type: ignore[no-untyped-def]
    path = tmp_path / "devices.json"
    path.write_text(json.dumps(DEVICES))
    return str(path)


def test_plan_an_onnx_model(tmp_path, light_model_path: str) -> None:  # type: ignore[no-untyped-def]
    result = _run(
        light_model_path, _devices(tmp_path), "--objective", "throughput", "--steps", "8"
    )
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    graph = onnx.load(light_model_path).graph
    assert plan["graph"] == "light_squeezenet"
    assert plan["objective"] == "throughput"
    assert plan["estimated_stage_s"] <= plan["best_single_device_s"]
    assert plan["replayed_s"] <= plan["best_single_device_s"]
    assert set(plan["placement"].values()) <= {"gpu0", "gpu1", "t4", "fpga"}
    assert len(plan["placement"]) == plan["graph_summary"]["nodes"] < len(graph.node)
    used = {d["id"] for d in plan["devices"]}
    assert used == set(plan["placement"].values()) and len(used) == plan["devices_used"]
    for device in plan["devices"]:
        assert device["memory_mb"] <= device["memory_limit_mb"]
    assert 0 < plan["graph_summary"]["critical_path_s"] <= plan["estimated_step_s"]


def test_max_devices_and_factors_round_trip(tmp_path, light_model_path: str) -> None:  # type: ignore[no-untyped-def]
    measured = tmp_path / "measured.json"
    squeezenet = [n.name for n in onnx.load(light_model_path).graph.node if n.op_type == "Conv"]
    conv_nodes = squeezenet[:2]
    measured.write_text(
        json.dumps({"steps": [{"device": "t4", "seconds": 0.01, "nodes": conv_nodes}]})
    )
    factors_out = tmp_path / "factors.json"
    result = _run(
        light_model_path,
        _devices(tmp_path),
        "--max-devices",
        "1",
        "--measured",
        str(measured),
        "--factors-out",
        str(factors_out),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["devices_used"] == 1
    written = json.loads(factors_out.read_text())["factors"]
    assert [(f["op_type"], f["device_model"]) for f in written] == [("Conv", "T4")]
    assert written[0]["factor"] > 1  # 10 ms is slower than the T4's roofline
    again = _run(
        light_model_path,
        _devices(tmp_path),
        "--factors",
        str(factors_out),
        "--scheduler",
        "first_fit",
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["algorithm"] == "first-fit"


def test_bad_input_is_a_clear_error(tmp_path, light_model_path: str) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"devices": [{"id": "x", "model": "mystery", "host": "h"}]}))
    result = _run(light_model_path, str(bad))
    assert result.returncode == 2
    assert "devices[0]: model 'mystery' is not in the catalog" in result.stderr
    assert "Traceback" not in result.stderr
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps({"nodes": [{"name": "a", "op_type": "X", "param_bytes": 1e12}]}))
    result = _run(str(graph), _devices(tmp_path))
    assert result.returncode == 1
    assert "no plan" in result.stderr


def _stage_lines(stderr: str) -> list[str]:
    return [line.removeprefix("cyborg-plan: ") for line in stderr.splitlines()]


def test_a_large_graph_shows_the_planning_stages(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A generated graph of 1,500 nodes: not on a terminal, each stage of the planning
    and each tenth of the local search is a line on stderr; the plan is on stdout."""
    generated = synthetic.random_dag(1500, 7)
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(graph_json.graph_to_dict(generated)))
    result = _run(str(graph), _devices(tmp_path), "--objective", "throughput")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["placement"]) == 1500
    lines = _stage_lines(result.stderr)
    assert lines[0] == f"1500 nodes, {len(generated.edges)} edges"
    stages = [line for line in lines[1:] if ":" not in line or line.endswith(" to do")]
    assert [line.split(":")[0] for line in stages] == [
        "cost model",
        "constructions",
        "local search (work units)",
        "replay",
    ]
    assert "constructions: HEFT: " in result.stderr and " candidates, best " in result.stderr
    search = [line for line in lines if line.startswith("local search (work units): ")]
    percents = [int(line.split("(")[2].split("%")[0]) for line in search[1:]]
    assert percents == sorted(percents) and percents[-1] == 100
    assert lines[-1].startswith("done in ")
    assert "\r" not in result.stderr


def test_progress_is_off_for_small_graphs_unless_asked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    small = synthetic.random_dag(40, 3)
    graph = tmp_path / "graph.json"
    graph.write_text(json.dumps(graph_json.graph_to_dict(small)))
    quiet = _run(str(graph), _devices(tmp_path))
    assert quiet.returncode == 0 and quiet.stderr == ""
    shown = _run(str(graph), _devices(tmp_path), "--progress", "always")
    assert shown.returncode == 0, shown.stderr
    assert _stage_lines(shown.stderr)[:2] == [
        "reading the graph",
        f"reading the graph: 40 nodes, {len(small.edges)} edges",
    ]
    assert json.loads(shown.stdout) == json.loads(quiet.stdout)  # the same plan
    large = tmp_path / "large.json"
    large.write_text(json.dumps(graph_json.graph_to_dict(synthetic.random_dag(1200, 3))))
    never = _run(str(large), _devices(tmp_path), "--progress", "never")
    assert never.returncode == 0 and never.stderr == ""


def test_svg_draws_the_plan_it_prints(tmp_path, light_model_path: str) -> None:  # type: ignore[no-untyped-def]
    picture = tmp_path / "plan.svg"
    result = _run(light_model_path, _devices(tmp_path), "--svg", str(picture))
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    root = ET.fromstring(picture.read_text())
    drawn = {
        e.get("data-node"): e.get("data-device") for e in root.iter() if e.get("class") == "node"
    }
    assert drawn == plan["placement"]
    rows = [e.get("data-device") for e in root.iter() if e.get("class") == "device-row"]
    assert rows == [d["id"] for d in plan["devices"]]
    computes = [e for e in root.iter() if e.get("class") == "bar compute"]
    assert sum(int(e.get("data-count", "0")) for e in computes) == len(plan["placement"])
    assert plan["timeline"]["step_s"] == plan["estimated_step_s"]


def test_svg_needs_a_plan_it_makes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    stored = tmp_path / "plan.json"
    stored.write_text("{}")
    result = _run("--plan", str(stored), "--output", "resourceclaim", "--svg", "x.svg")
    assert result.returncode == 2
    assert "--svg draws a plan it makes" in result.stderr
