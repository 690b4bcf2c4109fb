"""Request schemas of /v2/graphs (microversion 2.5)."""

import copy
from typing import Any

from cyborg.api.schemas import common
from cyborg.scheduler import graph_json

# An ONNX model of up to ~48 MiB once decoded (the RPC message carries it).
MAX_ONNX_BASE64 = 64 * 2**20
MAX_NUMBER = 1e24

# The scheduler's JSON graph format, with limits on what one request may hold.
JSON_GRAPH: dict[str, Any] = copy.deepcopy(dict(graph_json.GRAPH_SCHEMA))
JSON_GRAPH["properties"]["name"] = common.NAME
JSON_GRAPH["properties"]["nodes"]["maxItems"] = 100000
JSON_GRAPH["properties"]["nodes"]["items"]["properties"]["name"]["maxLength"] = 255
JSON_GRAPH["properties"]["nodes"]["items"]["properties"]["op_type"]["maxLength"] = 255
JSON_GRAPH["properties"]["edges"]["maxItems"] = 1000000
JSON_GRAPH["properties"]["colocate"]["maxItems"] = 100000
JSON_GRAPH["properties"]["colocate"]["items"]["maxItems"] = 100000
JSON_GRAPH["properties"]["colocate"]["items"]["items"]["maxLength"] = 255
# Finite numbers only (the totals are stored as floats; no backend stores infinity).
_node = JSON_GRAPH["properties"]["nodes"]["items"]["properties"]
for _key in ("flops", "bytes_read", "bytes_written", "param_bytes", "activation_bytes"):
    _node[_key] = {**_node[_key], "maximum": MAX_NUMBER}
_node["measured_seconds"]["additionalProperties"] = {
    **_node["measured_seconds"]["additionalProperties"],
    "maximum": 86400,
}
_edge = JSON_GRAPH["properties"]["edges"]["items"]["properties"]
_edge["bytes"] = {**_edge["bytes"], "maximum": MAX_NUMBER}

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

LIST_QUERY = common.list_query()


def create_schema(body: Any) -> dict[str, Any]:
    """The one alternative a body means (so errors name its own JSON path)."""
    return ONNX_GRAPH if isinstance(body, dict) and "onnx" in body else JSON_GRAPH
