"""Request schemas of /v2/device_profiles (the same at every microversion)."""

from typing import Any

from cyborg.api.schemas import common
from cyborg.common import profile_rules

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
    "maxProperties": profile_rules.MAX_KEYS,
    "patternProperties": {
        profile_rules.RESOURCES_KEY_PATTERN: {
            "type": "string",
            "pattern": profile_rules.AMOUNT_PATTERN,
            "description_on_error": "a resources: value must be a positive integer",
        },
        profile_rules.TRAIT_KEY_PATTERN: {
            "type": "string",
            "enum": list(profile_rules.TRAIT_VALUES),
        },
        profile_rules.ACCEL_KEY_PATTERN: {"type": "string", "maxLength": 255},
    },
    "additionalProperties": False,
    "description_on_error": (
        "each group maps 'resources:<RC>' to a count, 'trait:<TRAIT>' to 'required' or "
        "'forbidden', or 'accel:<key>' to a string; a resource class is a standard one "
        "(such as PGPU, FPGA or VGPU) or CUSTOM_<NAME>, names in upper case"
    ),
}

PROFILE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": NAME,
        "groups": {"type": "array", "minItems": 1, "maxItems": 64, "items": GROUP},
        # TEXT holds 64 KiB on MySQL: 16000 characters fit even at 4 bytes each.
        "description": {"type": ["string", "null"], "maxLength": 16000},
        "uuid": common.CANONICAL_UUID,
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
