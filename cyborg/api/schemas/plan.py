"""Request schemas of plans (microversion 2.5)."""

from typing import Any

from cyborg.api.schemas import common

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "objective": {"type": "string", "enum": ["latency", "throughput"]},
        "max_devices": {"type": "integer", "minimum": 1, "maximum": 1024},
        "count": {"type": "integer", "minimum": 1, "maximum": 5},
    },
    "additionalProperties": False,
}

CLAIM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "device_profile_name": common.NAME,
        "consumer_uuid": common.UUID,
    },
    "required": ["device_profile_name", "consumer_uuid"],
    "additionalProperties": False,
}

MEASURE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "step_time_ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400000},
    },
    "required": ["step_time_ms"],
    "additionalProperties": False,
}
