"""Naming and replacing FPGA function traits (cyborg.conductor.inventory.function_traits)."""

import pytest

from cyborg.conductor.inventory import function_traits


@pytest.mark.parametrize(
    ("driver", "function_id", "trait"),
    [
        # An AFU id or xclbin uuid, as the drivers report it: no dashes, upper case.
        (
            "intel",
            "9f1c5a2e-3b4d-4e6f-8a7b-0c1d2e3f4a5b",
            "CUSTOM_FPGA_FUNCTION_ID_INTEL_9F1C5A2E3B4D4E6F8A7B0C1D2E3F4A5B",
        ),
        (
            "XILINX",
            "9F1C5A2E3B4D4E6F8A7B0C1D2E3F4A5B",
            "CUSTOM_FPGA_FUNCTION_ID_XILINX_9F1C5A2E3B4D4E6F8A7B0C1D2E3F4A5B",
        ),
        # Any other id: characters a trait cannot hold become "_".
        ("intel", "gzip-v2", "CUSTOM_FPGA_FUNCTION_ID_INTEL_GZIP_V2"),
        (None, "a.b", "CUSTOM_FPGA_FUNCTION_ID_UNKNOWN_A_B"),
    ],
)
def test_trait_names_match_the_drivers(driver: str | None, function_id: str, trait: str) -> None:
    assert function_traits.trait_name(driver, function_id) == trait


def test_the_function_trait_is_replaced_where_it_was() -> None:
    traits = ["A", "CUSTOM_FPGA_FUNCTION_ID_INTEL_OLD", "B", "CUSTOM_FPGA_FUNCTION_ID_INTEL_X"]
    assert function_traits.replaced(traits, "CUSTOM_FPGA_FUNCTION_ID_INTEL_NEW") == [
        "A",
        "CUSTOM_FPGA_FUNCTION_ID_INTEL_NEW",
        "B",
    ]


def test_a_first_function_comes_last_and_none_removes() -> None:
    assert function_traits.replaced(["A"], "CUSTOM_FPGA_FUNCTION_ID_X_Y") == [
        "A",
        "CUSTOM_FPGA_FUNCTION_ID_X_Y",
    ]
    assert function_traits.replaced(["A", "CUSTOM_FPGA_FUNCTION_ID_X_Y"], None) == ["A"]
