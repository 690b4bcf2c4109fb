"""Request schemas of /v2/accelerator_requests."""

from typing import Any

from cyborg.api.schemas import common

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        # Any string is looked up, as upstream does: one that names no profile (the
        # empty one too) is 404.
        "device_profile_name": {
            "type": "string",
            "maxLength": 65535,
            "description_on_error": "'device_profile_name' must name an existing profile",
        },
        # Accepted for client compatibility; upstream ignores them too.
        "device_profile_group_id": {"type": ["integer", "null"], "minimum": 0, "maximum": 1024},
        "image_uuid": {"type": ["string", "null"], "maxLength": 36},
    },
    "required": ["device_profile_name"],
    "additionalProperties": False,
}

# Any string, as upstream: an instance that has no ARQ (a non-uuid included) lists
# none, and deleting its ARQs is the usual idempotent 204.
INSTANCE: dict[str, Any] = {"type": "string", "maxLength": 65535}

LIST_QUERY = common.list_query(
    instance=INSTANCE,
    bind_state={
        "type": "string",
        "enum": ["resolved"],
        "description_on_error": "bind_state accepts only 'resolved'",
    },
)

DELETE_QUERY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "arqs": {"type": "string", "minLength": 1, "maxLength": 65535},
        "instance": INSTANCE,
    },
    "additionalProperties": False,
}

BIND_PATHS = ("/hostname", "/device_rp_uuid", "/instance_uuid")
# From microversion.STANDALONE_BIND a bind may leave out /device_rp_uuid: Cyborg picks
# and claims the device.
STANDALONE_BIND_PATHS = ("/hostname", "/instance_uuid")
PROJECT_PATH = "/project_id"

_OPERATION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "op": {"type": "string", "enum": ["add", "remove"]},
        "path": {"type": "string", "enum": [*BIND_PATHS, PROJECT_PATH]},
        "value": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "required": ["op", "path"],
    "additionalProperties": False,
}

PATCH: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 256,
    "propertyNames": {"pattern": common.UUID_PATTERN},
    "additionalProperties": {"type": "array", "minItems": 1, "maxItems": 8, "items": _OPERATION},
    "description_on_error": (
        "the body maps ARQ uuids to JSON patches: [{'op': 'add', 'path': '/hostname', "
        "'value': ...}, ...] to bind, or 'remove' operations to unbind"
    ),
}
