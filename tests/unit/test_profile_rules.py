"""The device-profile group rules that the API, the binds and the planner share."""

import re

import pytest

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
