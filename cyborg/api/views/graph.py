"""Graph → API dict: summary, and the analysis when shown alone."""

from typing import Any

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects.graph import Graph
from cyborg.scheduler import analysis, graph_json


def summary(graph: Graph, base: str) -> dict[str, Any]:
    return {
        "uuid": graph.uuid,
        "name": graph.name,
        "format": graph.format,
        "nodes": graph.nodes,
        "gflops": graph.flops / 1e9,
        "bytes_moved": graph.bytes_moved,
        "param_bytes": graph.param_bytes,
        "project_id": graph.project_id,
        "created_at": timestamp(graph.created_at),
        "links": links.self_link(base, "graphs", graph.uuid),
    }


def show(graph: Graph, base: str) -> dict[str, Any]:
    """The summary plus the analysis: totals and the critical path by FLOPs (the
    longest chain of dependent work, whatever the devices)."""
    body = summary(graph, base)
    if graph.document is not None:
        parsed = graph_json.graph_from_dict(graph.document, "stored graph")
        totals = analysis.summarize(parsed)
        path = analysis.critical_path(parsed, [n.flops for n in parsed.nodes])
        body["analysis"] = {
            "edges": totals.edges,
            "activation_bytes": totals.activation_bytes,
            "edge_bytes": totals.edge_bytes,
            "op_types": sorted({n.op_type for n in parsed.nodes}),
            "critical_path_gflops": path.length / 1e9,
            "critical_path_nodes": len(path.nodes),
            "critical_path": list(path.nodes[:100]),
        }
    return body
