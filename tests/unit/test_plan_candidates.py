"""The scheduler's candidates from inventory rows, and measurements as step samples."""

import pytest

from cyborg.conductor import plan_candidates, plan_flow
from cyborg.objects.schedulable import Schedulable


def _row(
    name: str, device_model: str = "A100", host: str = "h1", **attributes: str
) -> Schedulable:
    return Schedulable(
        deployable_uuid=f"uuid-{name}",
        deployable_name=name,
        rp_uuid=f"rp-{name}",
        hostname=host,
        device_type="GPU",
        vendor="10de",
        model=device_model,
        attributes=attributes,
    )


def test_attributes_and_catalog_make_devices() -> None:
    rows = [
        _row("g0", device_model="H100-SXM5-80GB", numa_node="1", peer_links="g1"),
        _row("g1", device_model="H100-SXM5-80GB"),
        _row(
            "f0",
            model="PAC",
            host="h2",
            memory_mb="8192",
            peak_tflops_fp32="1.2",
            memory_bandwidth_gbps="460",
        ),
        _row("x0", device_model="mystery"),
        _row("a0", device_model="A100"),
    ]
    candidates = plan_candidates.build(rows)
    devices = {d.id: d for d in candidates.devices.devices}
    assert set(devices) == {"uuid-g0", "uuid-g1", "uuid-f0"}
    g0 = devices["uuid-g0"]
    assert (g0.host, g0.numa_node, g0.memory_mb) == ("h1", 1, 80 * 1024)
    assert [(k.peer, k.type, k.bandwidth_gbps) for k in g0.links] == [("uuid-g1", "nvlink", 450.0)]
    assert devices["uuid-f0"].peak_tflops == {"fp32": 1.2}
    assert "not in the catalog" in candidates.skipped["x0"]
    assert set(candidates.skipped) == {"x0", "a0"}


def test_model_attribute_names_the_catalog_entry_and_bad_numbers_skip() -> None:
    candidates = plan_candidates.build(
        [_row("a", model="A100-SXM4-80GB"), _row("b", memory_mb="lots")]
    )
    assert [d.model for d in candidates.devices.devices] == ["A100-SXM4-80GB"]
    assert "not a number" in candidates.skipped["b"]


def test_placement_keeps_free_providers_only() -> None:
    body = {"allocation_requests": [{"allocations": {"rp-g1": {"resources": {"PGPU": 1}}}}]}
    rows = [_row("g0", device_model="T4"), _row("g1", device_model="T4", rc="PGPU")]
    candidates = plan_candidates.build(rows, plan_candidates.free_providers(body))
    assert [d.id for d in candidates.devices.devices] == ["uuid-g1"]
    assert candidates.skipped == {"g0": "not free in Placement"}
    assert plan_candidates.resource_classes(rows) == ["PGPU"]


def test_a_measured_step_scales_each_devices_compute() -> None:
    result = {
        "estimated_step_s": 0.01,
        "devices": [
            {"model": "T4", "compute_s": 0.006, "predicted_by_op_s": {"MatMul": 0.005}},
            {"model": "A100", "compute_s": 0.002, "predicted_by_op_s": {"Add": 0.002}},
            {"model": "A100", "compute_s": 0.0, "predicted_by_op_s": {}},
        ],
    }
    samples = plan_flow.step_samples(result, 0.02)
    assert [(s.device_model, s.measured_s) for s in samples] == [
        ("T4", pytest.approx(0.012)),
        ("A100", pytest.approx(0.004)),
    ]
    assert plan_flow.step_samples({"estimated_step_s": 0, "devices": []}, 1.0) == []
