"""MIG geometry parsed from recorded ``nvidia-smi mig -lgip`` / ``-lgipp`` outputs."""

import pathlib

import pytest

from cyborg.common import mig
from cyborg.drivers import nvidia_mig

OUTPUTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "nvidia-mig"


def h100() -> mig.MigLayout:
    lgip, lgipp = (OUTPUTS / "h100-lgip.txt").read_text(), (OUTPUTS / "h100-lgipp.txt").read_text()
    return nvidia_mig.parse(lgip, lgipp)[0]


def test_h100_profiles_without_media_engine_variants() -> None:
    layout = h100()
    assert (layout.compute_slices, layout.memory_slices) == (7, 8)
    assert [
        (p.name, p.id, p.compute_slices, p.memory_slices, p.starts) for p in layout.profiles
    ] == [
        ("1g.10gb", 19, 1, 1, (0, 1, 2, 3, 4, 5, 6)),
        ("1g.20gb", 15, 1, 2, (0, 2, 4, 6)),
        ("2g.20gb", 14, 2, 2, (0, 2, 4)),
        ("3g.40gb", 9, 3, 4, (0, 4)),
        ("4g.40gb", 5, 4, 4, (0,)),
        ("7g.80gb", 0, 7, 8, (0,)),
    ]
    assert layout.profiles[0].memory_mb == 9984  # 9.75 GiB


def test_the_attribute_format_round_trips() -> None:
    layout = h100()
    assert mig.decode(mig.encode(layout)) == layout
    assert layout.profile("3g-40gb") == layout.profiles[3]
    assert layout.profile("1g-10gb+me") is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "not json",
        '{"compute_slices": 7}',
        # A placement past the GPU's eight memory slices.
        '{"compute_slices":7,"memory_slices":8,"profiles":[{"compute_slices":1,"id":19,'
        '"memory_mb":9984,"memory_slices":1,"name":"1g.10gb","starts":[8]}]}',
        # A name that would not make a device name.
        '{"compute_slices":7,"memory_slices":8,"profiles":[{"compute_slices":1,"id":19,'
        '"memory_mb":9984,"memory_slices":1,"name":"1g.10gb/x","starts":[0]}]}',
    ],
)
def test_attribute_values_that_do_not_fit_are_none(value: str) -> None:
    assert mig.decode(value) is None


def test_outputs_without_matching_placements_give_nothing() -> None:
    lgip = (OUTPUTS / "h100-lgip.txt").read_text()
    assert nvidia_mig.parse(lgip, "") == {}
    assert nvidia_mig.parse("", (OUTPUTS / "h100-lgipp.txt").read_text()) == {}
