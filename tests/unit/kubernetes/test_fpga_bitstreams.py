"""A pod's FPGA bitstream: the claim's opaque config, read and followed."""

import pathlib
from typing import Any

import pytest

from cyborg.common import exception
from cyborg.drivers.intel_fpga import IntelFPGADriver
from cyborg.kubernetes import fpga_bitstreams
from cyborg.kubernetes.fpga_bitstreams import Bitstream, InvalidConfig
from tests.kubernetes import schemas

HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
DRIVER = "fpga.cyborg.openstack.org"
IMAGE = "6a1c3f2e-8d4b-4c7a-9e1f-0b2d3c4e5f60"
INTEL_PF = '{"bus": "5e", "device": "00", "domain": "0000", "function": "0"}'


def fpga_config(**bitstream: str) -> dict[str, Any]:
    return {"apiVersion": fpga_bitstreams.API_VERSION, "kind": "FPGAConfig",
            "bitstream": bitstream}  # fmt: skip


def claim(*configs: dict[str, Any]) -> dict[str, Any]:
    """An allocated v1 ResourceClaim for requests fpga and fpga2 with ``configs``."""
    document = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": "crypto", "namespace": "default", "uid": "b1c1"},
        "spec": {"devices": {"requests": [
            {"name": n, "exactly": {"deviceClassName": DRIVER}} for n in ("fpga", "fpga2")
        ]}},
        "status": {"allocation": {"devices": {
            "results": [
                {"request": r, "driver": DRIVER, "pool": "node1", "device": f"pci-0000-5e-00-{f}"}
                for r, f in (("fpga", 1), ("fpga2", 2))
            ],
            "config": list(configs),
        }}},
    }  # fmt: skip
    schemas.validate(document)  # what a real API server would hold
    return document


def opaque(parameters: Any, source: str = "FromClaim", *requests: str) -> dict[str, Any]:
    config: dict[str, Any] = {"source": source, "opaque": {"driver": DRIVER,
                                                            "parameters": parameters}}  # fmt: skip
    if requests:
        config["requests"] = list(requests)
    return config


def test_a_claim_config_names_an_image_for_every_request() -> None:
    found = fpga_bitstreams.bitstreams_by_request(
        claim(opaque(fpga_config(image=IMAGE))), DRIVER, ["fpga", "fpga2"]
    )
    assert found == {"fpga": Bitstream(image=IMAGE), "fpga2": Bitstream(image=IMAGE)}


def test_a_bare_uuid_is_short_for_an_image() -> None:
    parameters = {**fpga_config(), "bitstream": IMAGE}
    found = fpga_bitstreams.bitstreams_by_request(claim(opaque(parameters)), DRIVER, ["fpga"])
    assert found == {"fpga": Bitstream(image=IMAGE)}


def test_the_claims_config_wins_over_the_class_and_requests_narrow_it() -> None:
    document = claim(
        opaque(fpga_config(file="claim.gbs"), "FromClaim", "fpga"),
        opaque(fpga_config(file="class.gbs"), "FromClass"),  # listed last, applied first
    )
    found = fpga_bitstreams.bitstreams_by_request(document, DRIVER, ["fpga", "fpga2"])
    assert found == {"fpga": Bitstream(file="claim.gbs"), "fpga2": Bitstream(file="class.gbs")}


def test_other_drivers_configs_and_unconfigured_requests_are_left_alone() -> None:
    other = {"source": "FromClaim", "opaque": {"driver": "gpu.example.com", "parameters": {}}}
    assert fpga_bitstreams.bitstreams_by_request(claim(other), DRIVER, ["fpga"]) == {}


@pytest.mark.parametrize(
    "parameters, reason",
    [
        ({"kind": "FPGAConfig"}, "apiVersion"),
        ({**fpga_config(image=IMAGE), "extra": 1}, "unknown FPGAConfig fields: extra"),
        (fpga_config(), "exactly one"),
        (fpga_config(image=IMAGE, file="a.gbs"), "exactly one"),
        (fpga_config(image="not-a-uuid"), "image uuid or a plain file name"),
        (fpga_config(file="../etc/shadow"), "plain file name"),
        (fpga_config(url="http://x"), "bitstream.url"),
        ({}, "apiVersion"),
    ],
)
def test_a_bad_config_is_refused_with_its_reason(parameters: Any, reason: str) -> None:
    with pytest.raises(InvalidConfig, match=reason):
        fpga_bitstreams.bitstreams_by_request(claim(opaque(parameters)), DRIVER, ["fpga"])


def discover() -> list[Any]:
    return IntelFPGADriver(None, root=str(HOSTS / "intel-pac-a10"), hostname="n").discover()


class RecordingProgrammer:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def program(self, context: Any, controlpath_id: Any, bitstream_uuid: str,
                driver_name: str | None = None) -> bool:  # fmt: skip
        self.calls.append(("image", controlpath_id, bitstream_uuid))
        return True

    def program_file(self, controlpath_id: Any, path: str) -> bool:
        self.calls.append(("file", controlpath_id, path))
        return True


def test_a_virtual_function_is_programmed_through_its_board(tmp_path: pathlib.Path) -> None:
    recorder = RecordingProgrammer()
    programmer = fpga_bitstreams.PodProgrammer(recorder, [], discover)
    programmer.program("0000:5e:00.1", Bitstream(image=IMAGE))
    assert recorder.calls == [("image", INTEL_PF, IMAGE)]


def test_a_local_file_comes_from_an_allowed_directory(tmp_path: pathlib.Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (second / "crypto.gbs").write_bytes(b"bits")
    recorder = RecordingProgrammer()
    programmer = fpga_bitstreams.PodProgrammer(recorder, [str(first), str(second)], discover)
    programmer.program("0000:5e:00.2", Bitstream(file="crypto.gbs"))
    assert recorder.calls == [("file", INTEL_PF, str(second / "crypto.gbs"))]


def test_links_out_of_the_directory_and_missing_files_are_refused(tmp_path: pathlib.Path) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir(), outside.mkdir()
    (outside / "secret").write_bytes(b"x")
    (allowed / "link.gbs").symlink_to(outside / "secret")
    programmer = fpga_bitstreams.PodProgrammer(RecordingProgrammer(), [str(allowed)], discover)
    for name in ("link.gbs", "missing.gbs"):
        with pytest.raises(InvalidConfig, match=f"no bitstream file {name}"):
            programmer.program("0000:5e:00.1", Bitstream(file=name))


def test_local_files_are_refused_when_no_directory_is_allowed() -> None:
    programmer = fpga_bitstreams.PodProgrammer(RecordingProgrammer(), [], discover)
    with pytest.raises(InvalidConfig, match="fpga_bitstream_dirs is empty"):
        programmer.program("0000:5e:00.1", Bitstream(file="crypto.gbs"))


def test_a_device_no_driver_reports_is_refused() -> None:
    programmer = fpga_bitstreams.PodProgrammer(RecordingProgrammer(), [], discover)
    with pytest.raises(exception.FPGAProgramError, match="no driver reports"):
        programmer.program("0000:99:00.0", Bitstream(image=IMAGE))
