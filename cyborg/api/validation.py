"""JSON Schema validation of bodies and query strings, with messages a user can act on."""

from typing import Any

import jsonschema
from jsonschema import validators

from cyborg.common import exception

_Validator = validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})


def _where(what: str, error: jsonschema.ValidationError) -> str:
    path = "/".join(str(part) for part in error.absolute_path)
    return f"{what} at '{path}'" if path else what


def _has_nul(data: Any) -> bool:
    if isinstance(data, str):
        return "\x00" in data
    if isinstance(data, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_nul(item) for item in data)
    return False


def validate(schema: dict[str, Any], data: Any, what: str = "body") -> None:
    """Raise a 400 naming the first problem when ``data`` does not match ``schema``."""
    if _has_nul(data):
        raise exception.Invalid(reason=f"{what}: strings must not contain NUL characters")
    validator = _Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    # Prefer the most specific error of a oneOf/anyOf.
    while error.context:
        error = min(error.context, key=lambda e: len(e.context or []))
    message = error.schema.get("description_on_error") if isinstance(error.schema, dict) else None
    detail = message or error.message
    if len(detail) > 300:
        detail = detail[:300] + "..."
    raise exception.Invalid(reason=f"{_where(what, error)}: {detail}")


def query_dict(params: Any) -> dict[str, str]:
    """A webob MultiDict as a plain dict; a repeated parameter is an error."""
    result: dict[str, str] = {}
    for key in params:
        values = params.getall(key)
        if len(values) > 1:
            raise exception.Invalid(reason=f"query parameter '{key}' was given more than once")
        result[key] = values[0]
    return result
