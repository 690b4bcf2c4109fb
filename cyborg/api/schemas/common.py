"""Schema pieces shared by the resources."""

from typing import Any

UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"

UUID: dict[str, Any] = {"type": "string", "pattern": UUID_PATTERN}

# A uuid the client chooses and Cyborg stores (a profile's, a consumer's): only the
# canonical 8-4-4-4-12 form, so it names its resource the way every lookup writes it.
CANONICAL_UUID_PATTERN = (
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
CANONICAL_UUID: dict[str, Any] = {
    "type": "string",
    "pattern": CANONICAL_UUID_PATTERN,
    "minLength": 36,
    "maxLength": 36,
    "description_on_error": "a UUID in its canonical form (8-4-4-4-12 hexadecimal digits) "
    "is required",
}

# Database ids are 32-bit integers on every backend.
MAX_ID = 2**31 - 1
ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
ID_STRING: dict[str, Any] = {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"}
NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255}

PAGINATION_QUERY: dict[str, Any] = {
    "limit": {"type": "string", "pattern": "^[0-9]{1,9}$"},
    "marker": {"type": "string", "minLength": 1, "maxLength": 36},
    "sort_key": {"type": "string", "pattern": "^[a-z_]{1,64}$"},
    "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
}


def list_query(**filters: dict[str, Any]) -> dict[str, Any]:
    """A query-string schema: these filters plus pagination, nothing else."""
    return {
        "type": "object",
        "properties": {**PAGINATION_QUERY, **filters},
        "additionalProperties": False,
    }
