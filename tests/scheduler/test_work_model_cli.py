"""cyborg-plan with the learned work cost model (``--cost-model work``), end to end."""

import json

import onnx

from tests.scheduler.test_cli import _devices, _run


def _measured(tmp_path, light_model_path: str, transfers: bool) -> str:  # type: ignore[no-untyped-def]
    convs = [n.name for n in onnx.load(light_model_path).graph.node if n.op_type == "Conv"]
    document = {
        "steps": [
            {"device": "t4", "seconds": 0.01, "nodes": convs[:2]},
            {"device": "t4", "seconds": 0.03, "nodes": convs[:6]},
        ]
    }
    if transfers:
        document["transfers"] = [
            {"src": "gpu0", "dst": "t4", "bytes": 2.0**k, "seconds": 3e-5 + 2.0**k / 5e9}
            for k in (10, 16, 22, 26)
        ]
    path = tmp_path / "measured.json"
    path.write_text(json.dumps(document))
    return str(path)


def test_measured_steps_and_transfers_fit_a_version_2_file(
    tmp_path, light_model_path: str
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "model.json"
    measured = _measured(tmp_path, light_model_path, transfers=True)
    args = ["--cost-model", "work", "--measured", measured, "--factors-out", str(out)]
    result = _run(light_model_path, _devices(tmp_path), *args)
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    assert written["version"] == 2
    conv = [c for c in written["coefficients"] if c["op_type"] == "Conv"]
    assert [c["device_model"] for c in conv] == ["T4"]
    assert conv[0]["roofline"] > 1  # slower than the T4's roofline
    (link,) = written["links"]
    assert link["kind"] == "numa"  # gpu0 and t4 are on two NUMA nodes
    assert link["bandwidth"] > 1  # 5 GB/s measured, slower than declared
    # The file selects the work model by itself, and plans.
    again = _run(light_model_path, _devices(tmp_path), "--factors", str(out))
    assert again.returncode == 0, again.stderr
    # The multiplier model cannot read it, and says so.
    refused = _run(
        light_model_path, _devices(tmp_path), "--factors", str(out), "--cost-model", "multiplier"
    )
    assert refused.returncode == 2 and "version-2" in refused.stderr


def test_old_files_and_commands_keep_the_multiplier(tmp_path, light_model_path: str) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "factors.json"
    old.write_text(
        json.dumps({"factors": [{"op_type": "Conv", "device_model": "T4", "factor": 2}]})
    )
    out = tmp_path / "out.json"
    measured = _measured(tmp_path, light_model_path, transfers=False)
    args = ["--factors", str(old), "--measured", measured, "--factors-out", str(out)]
    result = _run(light_model_path, _devices(tmp_path), *args)
    assert result.returncode == 0, result.stderr
    assert list(json.loads(out.read_text())) == ["factors"]
    # Transfers need the work model.
    with_transfers = _measured(tmp_path, light_model_path, transfers=True)
    refused = _run(light_model_path, _devices(tmp_path), "--measured", with_transfers)
    assert refused.returncode == 2 and "--cost-model work" in refused.stderr
    # An old file read into the work model: its factors are the starting point.
    converted = tmp_path / "converted.json"
    args = ["--factors", str(old), "--cost-model", "work", "--factors-out", str(converted)]
    result = _run(light_model_path, _devices(tmp_path), *args)
    assert result.returncode == 0, result.stderr
    (conv,) = json.loads(converted.read_text())["coefficients"]
    assert (conv["launch"], conv["roofline"]) == (2.0, 2.0)
