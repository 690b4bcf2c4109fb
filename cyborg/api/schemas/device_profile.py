"""Request schemas of /v2/device_profiles (the same at every microversion)."""

from typing import Any

from cyborg.api.schemas import common

NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[a-zA-Z0-9_-]+$",
    "description_on_error": "a name of 1 to 255 letters, digits, '-' or '_' is required",
}

GROUP: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 64,
    "patternProperties": {
        "^resources:[A-Z0-9_]{1,255}$": {
            "type": "string",
            "pattern": "^[1-9][0-9]{0,5}$",
            "description_on_error": "a resources: value must be a positive integer",
        },
        "^trait:[A-Z0-9_]{1,255}$": {"type": "string", "enum": ["required", "forbidden"]},
        "^accel:[A-Za-z0-9_.:-]{1,255}$": {"type": "string", "maxLength": 255},
    },
    "additionalProperties": False,
    "description_on_error": (
        "each group maps 'resources:<RC>' to a count, 'trait:<TRAIT>' to 'required' or "
        "'forbidden', or 'accel:<key>' to a string (names in upper case)"
    ),
}

PROFILE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": NAME,
        "groups": {"type": "array", "minItems": 1, "maxItems": 64, "items": GROUP},
        # TEXT holds 64 KiB on MySQL: 16000 characters fit even at 4 bytes each.
        "description": {"type": ["string", "null"], "maxLength": 16000},
        "uuid": common.UUID,
    },
    "required": ["name", "groups"],
    "additionalProperties": False,
}

# Upstream takes a list holding exactly one profile; a bare object is accepted too.
CREATE: dict[str, Any] = {
    "oneOf": [
        {"type": "array", "minItems": 1, "maxItems": 1, "items": PROFILE},
        PROFILE,
    ],
}

LIST_QUERY = common.list_query(name={"type": "string", "maxLength": 65535})
DELETE_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {"value": {"type": "string", "minLength": 1, "maxLength": 65535}},
    "additionalProperties": False,
}


def normalize_group(group: Any) -> Any:
    """Strip spaces around the name after the prefix ('resources: FPGA'), as upstream."""
    if not isinstance(group, dict):
        return group
    normalized = {}
    for key, value in group.items():
        if isinstance(key, str) and ":" in key:
            prefix, _, name = key.partition(":")
            key = f"{prefix.strip()}:{name.strip()}"
        normalized[key] = value.strip() if isinstance(value, str) else value
    return normalized
