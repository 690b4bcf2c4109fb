"""Request schemas of /v2/jobs (microversion 2.9)."""

from typing import Any

from cyborg.api.schemas import common
from cyborg.common import constants

#: The most devices one job may ask for, and device models it may name throughputs of.
MAX_DEVICES = 4096
MAX_THROUGHPUTS = 64
MAX_PRIORITY = 1000
MAX_WEIGHT = 1000
#: Work units per second of one gang (finite: stored as a double, compared in an LP).
MAX_THROUGHPUT = 1e12

_COUNT: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_DEVICES}

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": common.NAME,
        "graph_uuid": common.CANONICAL_UUID,
        "job_type": {"type": "string", "minLength": 1, "maxLength": 255},
        "throughputs": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_THROUGHPUTS,
            "description_on_error": f"an object of 1 to {MAX_THROUGHPUTS} device models, "
            "each with its measured work units per second (a positive number) is required",
            "propertyNames": {"minLength": 1, "maxLength": 255},
            "additionalProperties": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": MAX_THROUGHPUT,
            },
        },
        "devices": {
            "type": "object",
            "properties": {"min": _COUNT, "max": _COUNT},
            "required": ["min"],
            "additionalProperties": False,
        },
        "priority": {"type": "integer", "minimum": 0, "maximum": MAX_PRIORITY},
        "weight": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_WEIGHT},
    },
    "required": ["devices"],
    "additionalProperties": False,
}

LIST_QUERY = common.list_query(
    state={"type": "string", "enum": constants.values(constants.JobState)},
    project_id={"type": "string", "minLength": 1, "maxLength": 255},
)
