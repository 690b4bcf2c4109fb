"""The conductor's plan results for replicated plans: every replica's devices, and the
predictions measurements are fitted against scaled by each replica's share."""

import pytest

from cyborg.conductor.plans import candidate_devices, planning
from cyborg.objects.schedulable import Schedulable
from cyborg.scheduler import synthetic
from cyborg.scheduler.base import PlanRequest
from cyborg.scheduler.costs import roofline_table
from cyborg.scheduler.synthetic_models import Layer, training_graph

H100 = "H100-SXM5-80GB"


def _candidates(count: int) -> candidate_devices.Candidates:
    devices = synthetic.device_set([H100] * count)
    sources = {
        d.id: Schedulable(f"uuid-{d.id}", d.id, f"rp-{d.id}", d.host, "GPU", "nvidia", H100, {})
        for d in devices.devices
    }
    return candidate_devices.Candidates(devices, sources, {})


def test_a_replicated_result_lists_every_replica_and_scales_its_predictions() -> None:
    layers = [Layer(f"l{k}", 4e12, 1e6, 4e6, 4e6) for k in range(3)]
    graph = training_graph("small", layers)
    results = planning.rank_plans(
        graph, _candidates(4), PlanRequest("throughput"), "graph_aware", count=2
    )
    best = results[0]
    assert best["kind"] == "data-parallel" and best["replicas"] == 4
    assert best["devices_used"] == len(best["devices"]) == 4
    assert best["batch_shares"] == pytest.approx([0.25] * 4)
    # Each device predicts its replica's share of the whole graph's roofline time.
    candidates = _candidates(4)
    whole = roofline_table(graph, candidates.devices, {}).sum(axis=0)
    for device in best["devices"]:
        assert device["rp_uuid"] == f"rp-{device['id']}"
        position = [d.id for d in candidates.devices.devices].index(device["id"])
        predicted = sum(device["predicted_by_op_s"].values())
        assert predicted == pytest.approx(0.25 * whole[position])
    # The next plan uses fewer devices, and is ranked after.
    assert len(results) == 2 and results[1]["devices_used"] < 4
    samples = planning.step_samples(best, best["estimated_stage_s"])
    assert len(samples) == 4
