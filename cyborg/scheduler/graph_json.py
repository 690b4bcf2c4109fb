"""The JSON graph format (``cyborg-graph``), for graphs that do not come from ONNX.

::

    {"name": "toy", "precision": "fp16",
     "nodes": [{"name": "embed", "op_type": "Gather", "bytes_read": 4096,
                "bytes_written": 4096, "param_bytes": 1048576, "activation_bytes": 4096},
               {"name": "mm", "op_type": "MatMul", "flops": 2.1e9,
                "measured_seconds": {"T4": 0.0009}}],
     "edges": [{"src": "embed", "dst": "mm", "bytes": 4096}],
     "colocate": [["embed", "mm"]]}

Required: ``nodes``, each node's ``name`` and ``op_type``, each edge's ``src`` and
``dst``. Every number is optional and defaults to 0; ``precision`` (fp32, tf32, fp16, bf16,
fp8, int8) defaults to the graph's, which defaults to fp32. ``measured_seconds`` maps a
device model to a measured time that replaces the roofline estimate on that model.
An edge's ``tensor`` (optional) names the tensor it carries: edges from one node with
the same tensor -- or, without names, with the same bytes -- carry one tensor, moved
to another device once whatever the number of its consumers there. ``"training":
true`` marks a training step, whose activations stay in memory for the backward pass.
``colocate`` (optional) lists groups of node names that must run on one device (see
:class:`~cyborg.scheduler.graph.Graph`).
"""

from collections.abc import Mapping
from typing import Any

from cyborg.scheduler import json_input
from cyborg.scheduler.graph import PRECISIONS, Edge, Graph, GraphError, Node

_NUMBER = json_input.NUMBER
GRAPH_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["nodes"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "precision": {"enum": list(PRECISIONS)},
        "training": {"type": "boolean"},
        "nodes": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "op_type"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "op_type": {"type": "string", "minLength": 1},
                    "flops": _NUMBER,
                    "bytes_read": _NUMBER,
                    "bytes_written": _NUMBER,
                    "param_bytes": _NUMBER,
                    "activation_bytes": _NUMBER,
                    "precision": {"enum": list(PRECISIONS)},
                    "measured_seconds": {
                        "type": "object",
                        "additionalProperties": json_input.POSITIVE,
                    },
                },
            },
        },
        "edges": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["src", "dst"],
                "additionalProperties": False,
                "properties": {
                    "src": {"type": "string"},
                    "dst": {"type": "string"},
                    "bytes": _NUMBER,
                    "tensor": {"type": "string", "minLength": 1, "maxLength": 255},
                },
            },
        },
        "colocate": {
            "type": "array",
            "items": {
                "type": "array",
                "minItems": 2,
                "items": {"type": "string", "minLength": 1},
            },
        },
    },
}


def graph_from_dict(document: Any, what: str = "graph") -> Graph:
    """A :class:`Graph` from a parsed document; :class:`InputFormatError` if malformed."""
    json_input.validate(document, GRAPH_SCHEMA, what)
    precision = document.get("precision", "fp32")
    nodes = [
        Node(
            name=n["name"],
            op_type=n["op_type"],
            flops=float(n.get("flops", 0)),
            bytes_read=float(n.get("bytes_read", 0)),
            bytes_written=float(n.get("bytes_written", 0)),
            param_bytes=float(n.get("param_bytes", 0)),
            activation_bytes=float(n.get("activation_bytes", 0)),
            precision=n.get("precision", precision),
            measured=dict(n.get("measured_seconds", {})),
        )
        for n in document["nodes"]
    ]
    edges = [
        Edge(e["src"], e["dst"], float(e.get("bytes", 0)), e.get("tensor"))
        for e in document.get("edges", [])
    ]
    try:
        return Graph(
            nodes,
            edges,
            name=document.get("name", "graph"),
            training=bool(document.get("training", False)),
            colocate=document.get("colocate", ()),
        )
    except GraphError as err:
        raise json_input.InputFormatError(f"{what}: {err}") from err


def graph_to_dict(graph: Graph) -> dict[str, Any]:
    """The JSON document of ``graph`` (round-trips through :func:`graph_from_dict`)."""
    nodes = []
    for node in graph.nodes:
        entry: dict[str, Any] = {"name": node.name, "op_type": node.op_type}
        for key in ("flops", "bytes_read", "bytes_written", "param_bytes", "activation_bytes"):
            if getattr(node, key):
                entry[key] = getattr(node, key)
        entry["precision"] = node.precision
        if node.measured:
            entry["measured_seconds"] = dict(node.measured)
        nodes.append(entry)
    edges = []
    for e in graph.edges:
        edge: dict[str, Any] = {"src": e.src, "dst": e.dst, "bytes": e.bytes}
        if e.tensor is not None:
            edge["tensor"] = e.tensor
        edges.append(edge)
    document: dict[str, Any] = {"name": graph.name, "nodes": nodes, "edges": edges}
    if graph.training:
        document["training"] = True
    if graph.groups:
        document["colocate"] = [list(group) for group in graph.colocate]
    return document


def load_graph(path: str) -> Graph:
    """A graph from a JSON file."""
    return graph_from_dict(json_input.read_json(path, "graph"), f"graph {path}")
