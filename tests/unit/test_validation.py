"""Strict parsing of request bodies (cyborg.api.validation): what Python's JSON parser
takes beyond JSON is a 400 with a message, never a RecursionError or a database error."""

import pytest

from cyborg.api import validation
from cyborg.api.schemas import device_profile
from cyborg.common import exception


def _refused(body: bytes) -> str:
    with pytest.raises(exception.Invalid) as refused:
        validation.parse_json(body)
    assert refused.value.code == 400
    return refused.value.message


def test_a_plain_body_parses() -> None:
    body = '{"name": "caf\u00e9 \U0001f600", "n": [1, 2.5, -3e10, null, true]}'.encode()
    assert validation.parse_json(body) == {
        "name": "caf\u00e9 \U0001f600",
        "n": [1, 2.5, -3e10, None, True],
    }


def test_a_valid_surrogate_pair_is_one_character() -> None:
    assert validation.parse_json(b'"\\ud83d\\ude00"') == "\U0001f600"


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_nesting_deeper_than_the_limit_is_refused_at_any_depth(depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    assert "nested more than 32 levels deep" in _refused(body)


def test_100000_unclosed_brackets_are_refused_too() -> None:
    assert "nested more than 32 levels" in _refused(b"[" * 100_000)


def test_nesting_up_to_the_limit_is_fine() -> None:
    body = b'{"a": ' * 31 + b"[]" + b"}" * 31
    assert validation.parse_json(body) is not None


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_constants_are_refused(constant: str) -> None:
    message = _refused(f'{{"flops": {constant}}}'.encode())
    assert f"{constant} is not a JSON number; numbers must be finite" in message


@pytest.mark.parametrize(
    "number", ["1e400", "-1e400", "1" * 400 + ".0"], ids=["e400", "-e400", "long"]
)
def test_numbers_beyond_a_float_are_refused_not_made_infinite(number: str) -> None:
    assert "numbers must be finite" in _refused(f"[{number}]".encode())


def test_an_integer_of_thousands_of_digits_is_refused() -> None:
    assert "not valid JSON" in _refused(b"[" + b"9" * 5000 + b"]")


@pytest.mark.parametrize(
    "body",
    [b'{"name": "\\ud800"}', b'{"\\udfff": 1}', b'["ok", ["\\ud83d"]]', b'"\\ude00\\ud83d"'],
    ids=["value", "key", "nested", "reversed-pair"],
)
def test_unpaired_surrogates_are_refused_in_keys_and_values(body: bytes) -> None:
    assert "unpaired UTF-16 surrogates" in _refused(body)


def test_nul_is_refused() -> None:
    assert "NUL" in _refused(b'{"name": "a\\u0000b"}')


def test_a_body_that_is_not_utf8_is_refused() -> None:
    assert "not valid UTF-8" in _refused('{"name": "caf\u00e9"}'.encode("latin-1"))


def test_a_body_that_is_not_json_is_refused() -> None:
    assert "not valid JSON" in _refused(b"{'name': 1}")


def test_documents_built_in_python_are_checked_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(exception.Invalid, match="nested more than 32"):
        validation.check_document(deep, "query")


@pytest.mark.parametrize("value", [5.0, 1e2, True], ids=["5.0", "1e2", "true"])
def test_an_integer_field_takes_integers_only(value: object) -> None:
    schema = {"type": "object", "properties": {"count": {"type": "integer"}}}
    validation.validate(schema, {"count": 5})
    with pytest.raises(exception.Invalid, match="is not of type 'integer'"):
        validation.validate(schema, {"count": value})


def test_a_pattern_ends_at_the_end_of_the_string_not_before_a_line_break() -> None:
    schema = {"type": "string", "pattern": "^[a-z]+$"}
    validation.validate(schema, "name")
    with pytest.raises(exception.Invalid, match="does not match"):
        validation.validate(schema, "name\n")
    validation.validate({"type": "string", "pattern": "cost \\$"}, "a cost $")


def test_of_two_shapes_the_error_names_what_is_wrong_in_the_one_sent() -> None:
    group = {"resources:PGPU": "1"}
    profile = {"name": "p", "uuid": "8E505Ee0DfcB05A6-9daAFFfe9eFb98dc", "groups": [group]}
    for body in (profile, [profile]):
        with pytest.raises(exception.Invalid, match=r"uuid'. a UUID in its canonical form"):
            validation.validate(device_profile.CREATE, body)
