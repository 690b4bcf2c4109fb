"""Reading the scheduler's JSON documents: parse, validate against a schema, and say
exactly where a document is wrong."""

import json
import pathlib
from collections.abc import Mapping
from typing import Any

import jsonschema


class InputFormatError(ValueError):
    """A graph, device-set or factors document that does not follow its format."""


def read_json(path: str | pathlib.Path, what: str) -> Any:
    """The parsed contents of ``path``; an :class:`InputFormatError` names the file."""
    try:
        text = pathlib.Path(path).read_text()
    except OSError as err:
        raise InputFormatError(f"{what} {path}: {err.strerror or err}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFormatError(
            f"{what} {path}: not JSON (line {err.lineno} column {err.colno}: {err.msg})"
        ) from err


def validate(document: Any, schema: Mapping[str, Any], what: str) -> None:
    """Raise :class:`InputFormatError` at the first schema violation, with its JSON path."""
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is not None:
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        raise InputFormatError(f"{what}{where or ' (top level)'}: {error.message}")


NUMBER = {"type": "number", "minimum": 0}
POSITIVE = {"type": "number", "exclusiveMinimum": 0}
