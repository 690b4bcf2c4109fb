"""cyborg-plan's learned costs: read a factors file, fit measured runs, write it back.

Two cost models (``--cost-model``): ``multiplier``, one factor per (op type, device
model) (:mod:`cyborg.scheduler.factors`, the old ``{"factors": [...]}`` file), and
``work``, time against work per (op type, device model) with learned links
(:mod:`cyborg.scheduler.work_model`, a ``"version": 2`` file). Without the option a
version-2 file selects ``work`` and anything else ``multiplier``, so old files and old
commands behave as before.

The measured file::

    {"steps": [{"device": "t4", "seconds": 0.01, "nodes": ["conv1", "relu1"]}],
     "transfers": [{"src": "h100", "dst": "t4", "bytes": 4194304, "seconds": 0.0003}]}

``transfers`` (optional) are learned by the ``work`` model only.
"""

import json
from typing import Any

from cyborg.scheduler import factors as factors_mod
from cyborg.scheduler import json_input
from cyborg.scheduler import work_model as wm
from cyborg.scheduler.costs import roofline_table
from cyborg.scheduler.devices import DeviceSet, link_between
from cyborg.scheduler.graph import Graph

COST_MODELS = ("multiplier", "work")

MEASURED_SCHEMA = {
    "type": "object",
    "required": ["steps"],
    "additionalProperties": False,
    "properties": {
        "steps": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["device", "seconds", "nodes"],
                "additionalProperties": False,
                "properties": {
                    "device": {"type": "string"},
                    "seconds": json_input.POSITIVE,
                    "nodes": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "transfers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["src", "dst", "bytes", "seconds"],
                "additionalProperties": False,
                "properties": {
                    "src": {"type": "string"},
                    "dst": {"type": "string"},
                    "bytes": json_input.POSITIVE,
                    "seconds": json_input.POSITIVE,
                },
            },
        },
    },
}


def load(path: str | None, cost_model: str | None) -> factors_mod.Factors:
    """The learned costs to plan with: the file's, in the chosen model."""
    document = json_input.read_json(path, "factors") if path else None
    what = f"factors {path}"
    if cost_model is None:
        cost_model = "work" if isinstance(document, dict) and "version" in document else None
    if cost_model == "work":
        return wm.from_dict(document, what) if document is not None else wm.WorkModel()
    if isinstance(document, dict) and "version" in document:
        raise json_input.InputFormatError(
            f"{what}: a version-2 (work) cost model; --cost-model multiplier reads only "
            'the {"factors": [...]} format'
        )
    return factors_mod.factors_from_dict(document, what) if document is not None else {}


def _steps(
    graph: Graph, devices: DeviceSet, document: Any, what: str
) -> list[tuple[int, list[int], float]]:
    """(device position, node positions, seconds) of each measured step."""
    positions = {d.id: p for p, d in enumerate(devices.devices)}
    result = []
    for k, step in enumerate(document["steps"]):
        d = positions.get(step["device"])
        if d is None:
            raise json_input.InputFormatError(f"{what}.steps[{k}]: no device {step['device']!r}")
        nodes = []
        for name in step["nodes"]:
            i = graph.index.get(name)
            if i is None:
                raise json_input.InputFormatError(f"{what}.steps[{k}]: no node {name!r}")
            nodes.append(i)
        result.append((d, nodes, float(step["seconds"])))
    return result


def step_samples(
    graph: Graph, devices: DeviceSet, document: Any, what: str
) -> list[factors_mod.StepSample]:
    """Measured steps as multiplier samples: the uncorrected roofline per op type."""
    json_input.validate(document, MEASURED_SCHEMA, what)
    table = roofline_table(graph, devices, {})
    samples = []
    for d, nodes, seconds in _steps(graph, devices, document, what):
        predicted: dict[str, float] = {}
        for i in nodes:
            op = graph.nodes[i].op_type
            predicted[op] = predicted.get(op, 0.0) + float(table[i, d])
        samples.append(factors_mod.StepSample(devices.devices[d].model, predicted, seconds))
    return samples


def transfer_samples(devices: DeviceSet, document: Any, what: str) -> list[wm.TransferSample]:
    by_id = {d.id: d for d in devices.devices}
    samples = []
    for k, transfer in enumerate(document.get("transfers", [])):
        ends = [by_id.get(transfer[end]) for end in ("src", "dst")]
        if ends[0] is None or ends[1] is None or ends[0].id == ends[1].id:
            raise json_input.InputFormatError(
                f"{what}.transfers[{k}]: src and dst must be two devices of the set"
            )
        link = link_between(ends[0], ends[1], devices.interconnect)
        samples.append(
            wm.TransferSample(
                link.kind,
                float(transfer["bytes"]),
                link.latency_us * 1e-6,
                1.0 / (link.bandwidth_gbps * 1e9),
                float(transfer["seconds"]),
            )
        )
    return samples


def fit(
    learned: factors_mod.Factors, graph: Graph, devices: DeviceSet, document: Any, what: str
) -> factors_mod.Factors:
    """``learned`` fitted to the measured ``document`` as well."""
    if not isinstance(learned, wm.WorkModel):
        if document.get("transfers") if isinstance(document, dict) else None:
            raise json_input.InputFormatError(
                f"{what}: transfers are learned by --cost-model work only"
            )
        return factors_mod.fit_step_times(learned, step_samples(graph, devices, document, what))
    json_input.validate(document, MEASURED_SCHEMA, what)
    features = wm.graph_features(graph, devices)
    work = [
        wm.work_sample(graph, devices, features, d, nodes, seconds)
        for d, nodes, seconds in _steps(graph, devices, document, what)
    ]
    transfers = transfer_samples(devices, document, what)
    return learned.learn(work, transfers, wm.profiles_of(devices))


def write(path: str, learned: factors_mod.Factors) -> None:
    if isinstance(learned, wm.WorkModel):
        document = wm.to_dict(learned)
    else:
        document = factors_mod.factors_to_dict(learned)
    with open(path, "w") as out:
        json.dump(document, out, indent=2)
