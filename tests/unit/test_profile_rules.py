"""The device-profile group rules that the API, the binds and the planner share."""

import re

import os_resource_classes
import pytest

from cyborg.api import validation
from cyborg.api.schemas import device_profile as schema
from cyborg.common import exception, profile_rules


def test_resources_are_the_positive_amounts_by_class() -> None:
    group = {"resources:FPGA": "2", "resources:PGPU": "0", "trait:CUSTOM_X": "required"}
    assert profile_rules.resources(group) == {"FPGA": 2}


def test_an_amount_that_is_not_an_integer_is_a_400_wherever_it_is_read() -> None:
    group = {"resources:FPGA": "two"}
    for rule in (profile_rules.resources, profile_rules.accelerator_count):
        with pytest.raises(exception.Invalid, match="not an integer") as refused:
            rule(group)
        assert refused.value.code == 400


def test_traits_as_placement_takes_them_sorted_forbidden_with_a_bang() -> None:
    group = {
        "trait:CUSTOM_B": "forbidden",
        "trait:CUSTOM_A": "required",
        "trait:CUSTOM_C": "preferred",  # not a value Placement knows: left out
        "resources:FPGA": "1",
    }
    assert profile_rules.traits(group) == ("CUSTOM_A", "!CUSTOM_B")


def test_programming_keys() -> None:
    assert profile_rules.needs_programming({"accel:bitstream_id": "img"})
    assert profile_rules.needs_programming({"accel:function_id": "f"})
    assert not profile_rules.needs_programming({"resources:FPGA": "1"})
    profile_rules.check_programming({"accel:bitstream_id": "img"})
    with pytest.raises(exception.Invalid, match="not both"):
        profile_rules.check_programming({"accel:bitstream_id": "i", "accel:function_id": "f"})


@pytest.mark.parametrize(
    ("group", "resource_class"),
    [
        ({"resources:PGPU": "1", "trait:CUSTOM_X": "required"}, "PGPU"),
        ({"resources:PGPU": "2"}, None),
        ({"resources:PGPU": "1", "resources:FPGA": "1"}, None),
        ({"trait:CUSTOM_X": "required"}, None),
    ],
)
def test_a_plan_needs_one_unit_of_one_class(
    group: dict[str, str], resource_class: str | None
) -> None:
    assert profile_rules.single_unit_class(group) == resource_class


def test_normalized_strips_spaces_around_names_and_values() -> None:
    assert profile_rules.normalized({" resources : FPGA ": " 1 ", "trait:X": "required"}) == {
        "resources:FPGA": "1",
        "trait:X": "required",
    }
    assert profile_rules.normalized(["not", "a", "group"]) == ["not", "a", "group"]


def test_the_api_schema_is_built_from_the_rules() -> None:
    properties = schema.GROUP["patternProperties"]
    assert set(properties) == {
        profile_rules.RESOURCES_KEY_PATTERN,
        profile_rules.TRAIT_KEY_PATTERN,
        profile_rules.ACCEL_KEY_PATTERN,
    }
    assert schema.GROUP["maxProperties"] == profile_rules.MAX_KEYS
    # The keys the bind flows read are keys the schema lets through.
    for key in (profile_rules.BITSTREAM_KEY, profile_rules.FUNCTION_KEY):
        assert re.match(profile_rules.ACCEL_KEY_PATTERN, key)
    for key in (profile_rules.XILINX_TRAIT,):
        assert re.match(profile_rules.TRAIT_KEY_PATTERN, key)
    assert re.match(profile_rules.RESOURCES_KEY_PATTERN, profile_rules.VGPU_KEY)


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        ("resources:PGPU", True),
        ("resources:VGPU_DISPLAY_HEAD", True),
        ("resources:CUSTOM_QAT_2", True),
        ("resources:CUSTOM_" + "X" * 248, True),
        ("resources:CUSTOM_" + "X" * 249, False),
        ("resources:CUSTOM_", False),
        ("resources:FOO", False),
        ("resources:PGPUS", False),
        ("resources:custom_qat", False),
    ],
    ids=[
        "standard",
        "standard-long",
        "custom",
        "custom-255",
        "custom-256",
        "custom-empty",
        "unknown",
        "standard-prefix",
        "lower-case",
    ],
)
def test_a_resource_class_is_standard_or_custom(key: str, accepted: bool) -> None:
    assert bool(re.match(profile_rules.RESOURCES_KEY_PATTERN, key)) is accepted
    group = {key: "1"}
    if accepted:
        validation.validate(schema.GROUP, group)
    else:
        with pytest.raises(exception.Invalid, match=r"a standard one .* or CUSTOM_<NAME>"):
            validation.validate(schema.GROUP, group)


def test_every_standard_class_of_os_resource_classes_is_accepted() -> None:
    for name in os_resource_classes.STANDARDS:
        assert re.match(profile_rules.RESOURCES_KEY_PATTERN, f"resources:{name}")


def _check(groups: list[dict[str, str]]) -> None:
    profile_rules.check_size(groups, max_units_per_group=16, max_arqs=64)


def test_a_group_of_more_units_than_allowed_is_a_400_naming_it() -> None:
    _check([{"resources:PGPU": "8", "resources:FPGA": "8"}])
    with pytest.raises(exception.Invalid, match=r"group 1 asks for 17 units; .* at most 16"):
        _check([{"resources:PGPU": "1"}, {"resources:PGPU": "9", "resources:FPGA": "8"}])
    with pytest.raises(exception.Invalid, match="999999 units"):
        _check([{"resources:PGPU": "999999"}])


def test_a_profile_making_more_arqs_than_one_request_may_is_a_400() -> None:
    _check([{"resources:PGPU": "16"}] * 4)
    with pytest.raises(exception.Invalid, match=r"makes 65 accelerator requests; .* at most 64"):
        _check([{"resources:PGPU": "16"}] * 4 + [{"resources:FPGA": "1"}])


def test_a_xilinx_board_makes_two_arqs_per_unit() -> None:
    xilinx = {"resources:FPGA": "16", profile_rules.XILINX_TRAIT: "required"}
    assert profile_rules.arq_count([xilinx, {"trait:CUSTOM_X": "required"}]) == 32
    _check([xilinx, xilinx])
    with pytest.raises(exception.Invalid, match="makes 96 accelerator requests"):
        _check([xilinx, xilinx, xilinx])


def test_a_request_of_more_arqs_than_allowed_is_a_400() -> None:
    profile_rules.check_arq_count(64, 64)
    with pytest.raises(exception.Invalid) as refused:
        profile_rules.check_arq_count(972458, 64)
    assert refused.value.code == 400
