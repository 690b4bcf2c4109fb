"""Request schemas of plans (microversion 2.5; the list from 2.7)."""

from typing import Any

from cyborg.api.schemas import common

_NAMES: dict[str, Any] = {
    "type": "array",
    "items": {"type": "string", "minLength": 1, "maxLength": 255},
    "minItems": 1,
    "maxItems": 1024,
    "uniqueItems": True,
}
_MILLISECONDS: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0, "maximum": 86400000}

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "objective": {"type": "string", "enum": ["latency", "throughput"]},
        "max_devices": {"type": "integer", "minimum": 1, "maximum": 1024},
        "count": {"type": "integer", "minimum": 1, "maximum": 5},
        "device_profile_name": common.NAME,
        "constraints": {
            "type": "object",
            "properties": {
                "hosts": _NAMES,
                "device_models": _NAMES,
                "single_host": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

CLAIM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "device_profile_name": common.NAME,
        "consumer_uuid": common.CANONICAL_UUID,
    },
    "additionalProperties": False,
}

MEASURE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "step_time_ms": _MILLISECONDS,
        "device_times_ms": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": 1024,
            "propertyNames": common.UUID,
            "additionalProperties": _MILLISECONDS,
        },
    },
    "required": ["step_time_ms"],
    "additionalProperties": False,
}

LIST_QUERY_2_7 = common.list_query(graph_uuid=common.UUID)
