"""Request schemas of /v2/graphs (microversion 2.5; ``colocate`` from 2.8)."""

import copy
from typing import Any

from cyborg.api.schemas import common
from cyborg.scheduler import graph_json

# An ONNX model of up to ~48 MiB once decoded (the RPC message carries it).
MAX_ONNX_BASE64 = 64 * 2**20
MAX_NUMBER = 1e24

# The scheduler's JSON graph format, with limits on what one request may hold.
JSON_GRAPH_2_8: dict[str, Any] = copy.deepcopy(dict(graph_json.GRAPH_SCHEMA))
JSON_GRAPH_2_8["properties"]["name"] = common.NAME
JSON_GRAPH_2_8["properties"]["nodes"]["maxItems"] = 100000
JSON_GRAPH_2_8["properties"]["nodes"]["items"]["properties"]["name"]["maxLength"] = 255
JSON_GRAPH_2_8["properties"]["nodes"]["items"]["properties"]["op_type"]["maxLength"] = 255
JSON_GRAPH_2_8["properties"]["edges"]["maxItems"] = 1000000
JSON_GRAPH_2_8["properties"]["colocate"]["maxItems"] = 100000
JSON_GRAPH_2_8["properties"]["colocate"]["items"]["maxItems"] = 100000
JSON_GRAPH_2_8["properties"]["colocate"]["items"]["items"]["maxLength"] = 255
# Finite numbers only (the totals are stored as floats; no backend stores infinity).
_node = JSON_GRAPH_2_8["properties"]["nodes"]["items"]["properties"]
for _key in ("flops", "bytes_read", "bytes_written", "param_bytes", "activation_bytes"):
    _node[_key] = {**_node[_key], "maximum": MAX_NUMBER}
_node["measured_seconds"]["additionalProperties"] = {
    **_node["measured_seconds"]["additionalProperties"],
    "maximum": 86400,
}
_edge = JSON_GRAPH_2_8["properties"]["edges"]["items"]["properties"]
_edge["bytes"] = {**_edge["bytes"], "maximum": MAX_NUMBER}

# Before 2.8 (COLOCATION) a graph has no co-location groups.
JSON_GRAPH: dict[str, Any] = copy.deepcopy(JSON_GRAPH_2_8)
del JSON_GRAPH["properties"]["colocate"]

ONNX_GRAPH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": common.NAME,
        "onnx": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_ONNX_BASE64,
            "description": "The ONNX model's bytes, base64.",
        },
    },
    "required": ["onnx"],
    "additionalProperties": False,
}

CREATE: dict[str, Any] = {"oneOf": [JSON_GRAPH, ONNX_GRAPH]}
CREATE_2_8: dict[str, Any] = {"oneOf": [JSON_GRAPH_2_8, ONNX_GRAPH]}

LIST_QUERY = common.list_query()


def create_schema(body: Any, colocation: bool = False) -> dict[str, Any]:
    """The one alternative a body means (so errors name its own JSON path);
    ``colocation``: the request's version takes ``colocate`` (2.8)."""
    if isinstance(body, dict) and "onnx" in body:
        return ONNX_GRAPH
    return JSON_GRAPH_2_8 if colocation else JSON_GRAPH
