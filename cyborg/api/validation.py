"""Strict parsing and JSON Schema validation of bodies and query strings, with
messages a user can act on.

Every request body is parsed once, by ``parse_json`` (in cyborg.api.middleware's
JSONBody), before pecan sees it. Python's JSON parser takes more than JSON: ``NaN``
and ``Infinity`` (and numbers too large for a float, which become infinity), and
strings holding unpaired UTF-16 surrogates (``"\\ud800"``), which no database stores;
and it recurses once per nesting level, so a body of 100,000 ``[`` exhausts the
stack. All of these are refused with a 400 here, as are NUL characters, which the
databases refuse too.
"""

import functools
import json
import re
from collections.abc import Iterator
from typing import Any, NoReturn

import jsonschema
from jsonschema import validators

from cyborg.common import exception


def _is_integer(checker: Any, instance: Any) -> bool:
    """JSON Schema's "integer" matches 5.0 too, which the code then uses as a float
    (a slice, a range: a 500); ours matches integers only."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern[str]:
    """A schema's pattern with ECMA-262's ``$`` (the end of the string), where Python's
    also matches before a final line break ("name\\n" matched ``^[a-z]+$``)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
    return re.compile(pattern)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[Any]:
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


_Draft = validators.validator_for({"$schema": "https://json-schema.org/draft/2020-12/schema"})
_Validator = validators.extend(
    _Draft,
    validators={"pattern": _pattern},
    type_checker=_Draft.TYPE_CHECKER.redefine("integer", _is_integer),
)

# Deeper than any body of the API (a graph is four levels deep), and shallow enough
# for the schema validation, which recurses once per level.
MAX_DEPTH = 32

# In a decoded string: NUL, or a surrogate (a valid pair decodes to one character, so
# a surrogate left in a string is unpaired).
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


def _where(what: str, error: jsonschema.ValidationError) -> str:
    path = "/".join(str(part) for part in error.absolute_path)
    return f"{what} at '{path}'" if path else what


def _refuse_constant(name: str) -> NoReturn:
    raise exception.Invalid(reason=f"body: {name} is not a JSON number; numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise exception.Invalid(reason=f"body: {text[:32]} is too large; numbers must be finite")
    return value


def _check_text(text: str, what: str) -> None:
    found = _BAD_CHARACTER.search(text)
    if found is None:
        return
    if found.group() == "\x00":
        raise exception.Invalid(reason=f"{what}: strings must not contain NUL characters")
    raise exception.Invalid(
        reason=f"{what}: strings must not contain unpaired UTF-16 surrogates (U+D800 to U+DFFF)"
    )


def check_document(data: Any, what: str = "body") -> None:
    """400 for a document nested deeper than MAX_DEPTH or holding a string (a key or a
    value) with NUL or an unpaired surrogate. Iterative: any depth is safe to check."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, what)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth == MAX_DEPTH:
            raise exception.Invalid(
                reason=f"{what}: JSON nested more than {MAX_DEPTH} levels deep"
            )
        if isinstance(item, dict):
            for key in item:
                _check_text(key, what)
            stack.extend((value, depth + 1) for value in item.values())
        else:
            stack.extend((value, depth + 1) for value in item)


def parse_json(body: bytes) -> Any:
    """A request body as JSON, strictly (see the module's docstring); 400 otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise exception.Invalid(reason="the request body is not valid UTF-8") from err
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError as err:
        raise exception.Invalid(
            reason=f"body: JSON nested more than {MAX_DEPTH} levels deep"
        ) from err
    except ValueError as err:  # json.JSONDecodeError, or an integer of over 4300 digits
        raise exception.Invalid(reason="the request body is not valid JSON") from err
    check_document(data)
    return data


def validate(schema: dict[str, Any], data: Any, what: str = "body") -> None:
    """Raise a 400 naming the first problem when ``data`` does not match ``schema``."""
    check_document(data, what)
    validator = _Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    # Of a oneOf/anyOf, the error of the alternative that matched deepest: a bare
    # profile object with a bad uuid is told about its uuid, not that it is no list.
    while error.context:
        error = max(error.context, key=lambda e: (len(e.absolute_path), -len(e.context or [])))
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
