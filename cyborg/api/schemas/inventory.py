"""Request schemas of /v2/devices, /v2/deployables and /v2/attributes."""

from typing import Any

from cyborg.api.schemas import common

DEVICES_QUERY = common.list_query(
    # Any string, as upstream: a type no device has matches none (200, an empty list).
    type={"type": "string", "minLength": 1, "maxLength": 255},
    vendor={"type": "string", "minLength": 1, "maxLength": 255},
    hostname={"type": "string", "minLength": 1, "maxLength": 255},
)

DEPLOYABLES_QUERY = common.list_query(
    hostname={"type": "string", "minLength": 1, "maxLength": 255},
)

ATTRIBUTES_QUERY = common.list_query(
    deployable_id=common.ID_STRING,
    key={"type": "string", "minLength": 1, "maxLength": 255},
)

_ATTRIBUTE: dict[str, Any] = {
    "type": "object",
    "properties": {
        # OSC sends the id as a string, upstream's own client as a number.
        "deployable_id": {"oneOf": [common.ID, common.ID_STRING]},
        "key": {"type": "string", "minLength": 1, "maxLength": 255},
        "value": {"type": "string", "minLength": 1, "maxLength": 16000},
    },
    "required": ["deployable_id", "key", "value"],
    "additionalProperties": False,
}

# Upstream reads a bare object; openstacksdk wraps it in {"attribute": ...}.
CREATE_ATTRIBUTE: dict[str, Any] = {
    "oneOf": [
        _ATTRIBUTE,
        {
            "type": "object",
            "properties": {"attribute": _ATTRIBUTE},
            "required": ["attribute"],
            "additionalProperties": False,
        },
    ],
}

PROGRAM: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "maxItems": 1,
    "items": {
        "type": "object",
        "properties": {
            "op": {"type": "string", "enum": ["replace"]},
            "path": {"type": "string", "enum": ["/program"]},
            "value": {
                "type": "array",
                "minItems": 1,
                "maxItems": 1,
                "items": {
                    "type": "object",
                    "properties": {"image_uuid": common.UUID},
                    "required": ["image_uuid"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["op", "path", "value"],
        "additionalProperties": False,
    },
}
