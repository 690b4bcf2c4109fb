"""The learned cost model (cyborg/scheduler/work_model.py): time against work."""

import json

import numpy as np
import pytest

from cyborg.scheduler import factors, synthetic
from cyborg.scheduler import work_model as wm
from cyborg.scheduler.costs import roofline_table
from cyborg.scheduler.json_input import InputFormatError

H100, H200, T4 = "H100-SXM5-80GB", "H200-SXM5-141GB", "T4"
TRUE = {"MatMul": np.array([2.0, 0.0, 0.0, 1.5]), "Add": np.array([1.0, 0.0, 1.3, 0.0])}


def node(rng: np.random.Generator) -> list[float]:
    compute, memory = rng.uniform(1e-5, 1e-2, 2)
    return [rng.integers(1, 20) * 5e-6, compute, memory, max(compute, memory)]


def samples(count: int, seed: int = 0, per_node: bool = False) -> list[wm.WorkSample]:
    """Steps of T4 running both op types (or one node each) under TRUE."""
    rng = np.random.default_rng(seed)
    result = []
    for _ in range(count):
        ops = [rng.choice(sorted(TRUE))] if per_node else sorted(TRUE)
        by_op = {str(op): node(rng) for op in ops}
        measured = sum(float(TRUE[op] @ np.array(f)) for op, f in by_op.items())
        result.append(wm.WorkSample(T4, by_op, measured))
    return result


def predict(model: wm.WorkModel, sample: wm.WorkSample) -> float:
    return sum(
        float(model.coefficients[(op, sample.device_model)] @ np.array(f))
        for op, f in sample.features_by_op.items()
    )


@pytest.mark.parametrize("per_node", [False, True], ids=["step-totals", "per-node"])
def test_known_coefficients_are_recovered(per_node: bool) -> None:
    fitted = wm.WorkModel(ridge=1e-9).learn(samples(30, per_node=per_node))
    for op, expected in TRUE.items():
        assert fitted.coefficients[(op, T4)] == pytest.approx(expected, abs=1e-4), op


def test_held_out_steps_are_predicted_with_the_default_pull() -> None:
    fitted = wm.WorkModel().learn(samples(40))
    for sample in samples(10, seed=1):
        assert predict(fitted, sample) == pytest.approx(sample.measured_s, rel=0.03)


def test_a_fit_over_runs_equals_one_fit_over_all_their_samples() -> None:
    steps = samples(12)
    chained = wm.WorkModel()
    for sample in steps:
        chained = chained.learn([sample])
    once = wm.WorkModel().learn(steps)
    for key, value in once.coefficients.items():
        assert chained.coefficients[key] == pytest.approx(value, rel=1e-9, abs=1e-12)
    again = wm.WorkModel().learn(steps)  # deterministic
    for key, value in once.coefficients.items():
        assert np.array_equal(again.coefficients[key], value)


def test_one_sample_scales_the_roofline_prior_by_one_ratio() -> None:
    features = {"MatMul": [4e-6, 1e-3, 1e-4, 1e-3], "Relu": [4e-6, 1e-7, 1e-6, 1e-6]}
    roofline = sum(f[0] + f[3] for f in features.values())
    fitted = wm.WorkModel().learn([wm.WorkSample(T4, features, 2.0 * roofline)])
    matmul, relu = fitted.coefficients[("MatMul", T4)], fitted.coefficients[("Relu", T4)]
    # Launch and roofline terms move together, op types alike: one sample cannot tell
    # them apart, so the microsecond Relu does not take the whole error.
    assert matmul[0] == pytest.approx(matmul[3], rel=0.02)
    assert relu[3] == pytest.approx(matmul[3], rel=0.05)
    assert 1.6 < matmul[3] < 2.0
    # The terms the roofline lacks stay small.
    assert max(matmul[1], matmul[2], relu[1], relu[2]) < 0.3 * matmul[3]
    step = wm.WorkSample(T4, features, 2.0 * roofline)
    assert predict(fitted, step) == pytest.approx(2.0 * roofline, rel=0.05)


def test_an_unseen_model_borrows_from_its_nearest_model() -> None:
    near, far = np.array([1.0, 0.0, 0.0, 1.4]), np.array([3.0, 0.0, 0.0, 2.5])
    profiles = {
        H100: wm.profile_of({"fp32": 67.0}, 3350.0),
        T4: wm.profile_of({"fp32": 8.1}, 320.0),
    }
    model = wm.WorkModel({("MatMul", H100): near, ("MatMul", T4): far}, profiles)
    h200 = wm.profile_of({"fp32": 67.0}, 4800.0)
    estimate = model.coefficients_for("MatMul", H200, h200)
    assert [m for _, m in model.nearest("MatMul", h200)] == [H100, T4]
    # Weighted by closeness: mostly the H100's.
    terms = [0, 3]  # the ones either has
    assert np.all(np.abs(estimate - near)[terms] < np.abs(estimate - far)[terms])
    assert 1.4 < estimate[3] < 1.6
    # No figures, no neighbours: the roofline.
    assert np.array_equal(model.coefficients_for("MatMul", H200, None), wm.PRIOR)
    # An op type new to a fitted model starts from that model's others: their launch
    # and throughput multipliers on the roofline.
    assert model.coefficients_for("Add", T4, profiles[T4]) == pytest.approx([3.0, 0, 0, 2.5])


def test_link_latency_and_bandwidth_are_learned_from_transfers() -> None:
    latency, per_byte = 5e-6, 1 / 25e9
    transfers = [
        wm.TransferSample("pcie", n, latency, per_byte, 2.5 * latency + n * per_byte / 0.7)
        for n in (1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
    ]
    fitted = wm.WorkModel(ridge=1e-9).learn(transfers=transfers)
    assert fitted.link_factors("pcie") == pytest.approx([2.5, 1 / 0.7], rel=1e-4)
    assert np.array_equal(fitted.link_factors("network"), np.ones(2))


def test_the_cost_table_uses_the_learned_model() -> None:
    graph = synthetic.random_dag(12, 1)
    devices = synthetic.device_set([H100, T4])
    plain = roofline_table(graph, devices, {})
    assert roofline_table(graph, devices, wm.WorkModel()) == pytest.approx(plain)
    doubled = wm.WorkModel({(n.op_type, T4): 2 * wm.PRIOR for n in graph.nodes})
    table = roofline_table(graph, devices, doubled)
    assert table[:, 0] == pytest.approx(plain[:, 0])
    assert table[:, 1] == pytest.approx(2 * plain[:, 1])


def test_an_old_factors_file_still_loads(tmp_path) -> None:
    graph = synthetic.random_dag(12, 1)
    devices = synthetic.device_set([H100, T4])
    old = {(n.op_type, T4): 1.7 for n in graph.nodes}
    path = tmp_path / "factors.json"
    path.write_text(json.dumps(factors.factors_to_dict(old)))
    loaded = wm.load(str(path))
    assert dict(loaded) == pytest.approx(old)  # as a mapping: the old table
    assert roofline_table(graph, devices, loaded) == pytest.approx(
        roofline_table(graph, devices, old)
    )


def test_the_new_format_round_trips_with_its_samples() -> None:
    steps = samples(6)
    fitted = wm.WorkModel().learn(
        steps[:3],
        transfers=[wm.TransferSample("peer", 1e6, 2e-6, 1e-12, 5e-6)],
        profiles={T4: wm.profile_of({"fp32": 8.1}, 320.0)},
    )
    document = json.loads(json.dumps(wm.to_dict(fitted)))
    assert document["version"] == 2
    reloaded = wm.from_dict(document)
    assert reloaded.profiles == fitted.profiles
    # The kept samples travel: learning on after a reload is learning on.
    a, b = fitted.learn(steps[3:]), reloaded.learn(steps[3:])
    for key, value in a.coefficients.items():
        assert b.coefficients[key] == pytest.approx(value, rel=1e-6, abs=1e-9)
    assert b.link_factors("peer") == pytest.approx(a.link_factors("peer"), rel=1e-6)


@pytest.mark.parametrize(
    "document",
    [
        {"version": 3},
        {"version": 2, "coefficients": [{"op_type": "Add", "device_model": "T4"}]},
        {"version": 2, "coefficients": [{"op_type": "Add", "device_model": "T4",
                                         "launch": -1, "compute": 0, "memory": 0,
                                         "roofline": 1}]},
        {"version": 2, "statistics": [{"group": "T4", "keys": ["a/launch"], "gram": [[1]],
                                       "rhs": [], "total": [1], "count": 1}]},
        {"factors": [{"op_type": "Add", "device_model": "T4", "factor": 0}]},
    ],
    ids=["version", "missing-term", "negative", "statistics-shape", "old-zero-factor"],
)  # fmt: skip
def test_bad_documents_are_refused(document: dict) -> None:
    with pytest.raises(InputFormatError):
        wm.from_dict(document)


def test_nnls_keeps_coefficients_non_negative() -> None:
    # Unconstrained optimum (1, -1); constrained: x2 = 0, x1 = g1 / h11.
    h = np.array([[2.0, 1.0], [1.0, 2.0]])
    g = h @ np.array([1.0, -1.0])
    assert wm.nnls_gram(h, g) == pytest.approx([g[0] / 2.0, 0.0])
    assert wm.nnls_gram(h, h @ np.array([0.5, 2.0])) == pytest.approx([0.5, 2.0])
