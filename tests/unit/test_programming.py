"""The agent's programming: Glance download against a real HTTP stand-in, driver choice
on recorded hosts, and the tool's argv and failures (a recording tool runner)."""

import hashlib
import json
import os
import pathlib
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.agent import programming
from cyborg.agent.drivers import FirstThatFinds
from cyborg.clients import glance as glance_client
from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.drivers.fake import FakeDriver
from cyborg.drivers.intel_fpga import IntelFPGADriver
from cyborg.drivers.nvidia_gpu import NvidiaGPUDriver
from cyborg.drivers.xilinx_fpga import XBMGMT, XilinxFPGADriver
from tests import glance_server

HOSTS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "hosts"
IMAGE = "6a1c3f2e-8d4b-4c7a-9e1f-0b2d3c4e5f60"
DATA = bytes(range(256)) * 40 + b"tail"
INTEL_PF = {"domain": "0000", "bus": "5e", "device": "00", "function": "0"}
XILINX_MGMT = {"domain": "0000", "bus": "3b", "device": "00", "function": "0"}


@pytest.fixture
def glance() -> Iterator[glance_server.GlanceStub]:
    with glance_server.running() as stub:
        yield stub


def make_conf(endpoint: str, **glance: Any) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[], use_env=False)
    conf.set_override("endpoint_override", endpoint, "glance")
    for name, value in glance.items():
        conf.set_override(name, value, "glance")
    return conf


def fetch(conf: cfg.ConfigOpts, context: RequestContext | None = None) -> bytes:
    adapter = glance_client.adapter(conf, context or RequestContext())
    with tempfile.TemporaryFile() as out:
        programming.download(adapter, IMAGE, out, conf.glance.num_retries)
        out.seek(0)
        return out.read()


# -- Glance ------------------------------------------------------------------------


def test_download_checks_and_writes_the_image(glance: glance_server.GlanceStub) -> None:
    glance.add(IMAGE, DATA)
    assert fetch(make_conf(glance.endpoint, auth_type="none")) == DATA
    assert [path for path, _ in glance.requests] == [
        f"/v2/images/{IMAGE}",
        f"/v2/images/{IMAGE}/file",
    ]


def test_a_corrupt_transfer_is_tried_again_then_refused(
    glance: glance_server.GlanceStub,
) -> None:
    glance.add(IMAGE, DATA, corrupt=True)
    conf = make_conf(glance.endpoint, auth_type="none", num_retries=2)
    with pytest.raises(exception.ImageDownloadFailed, match="checksum mismatch") as caught:
        fetch(conf)
    assert caught.value.code == 502
    assert glance.file_requests() == 3  # num_retries = 2: three attempts


def test_a_sha512_mismatch_alone_is_caught(
    glance: glance_server.GlanceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Glance without Content-MD5 or checksum, and a wrong os_hash_value.
    glance.add(IMAGE, DATA)
    answer = glance._answer

    def without_md5(path: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = answer(path, token)
        headers.pop("Content-MD5", None)
        if headers.get("Content-Type") == "application/json":
            metadata = json.loads(body)
            metadata["checksum"] = None
            metadata["os_hash_value"] = hashlib.sha512(b"another image").hexdigest()
            body = json.dumps(metadata).encode()
        return status, headers, body

    monkeypatch.setattr(glance, "_answer", without_md5)
    with pytest.raises(exception.ImageDownloadFailed, match="sha512 checksum mismatch"):
        fetch(make_conf(glance.endpoint, auth_type="none"))


def test_server_errors_are_retried(glance: glance_server.GlanceStub) -> None:
    glance.add(IMAGE, DATA)
    glance.failures = 1
    assert fetch(make_conf(glance.endpoint, auth_type="none", num_retries=1)) == DATA


def test_server_errors_without_retries_fail_cleanly(glance: glance_server.GlanceStub) -> None:
    glance.add(IMAGE, DATA)
    glance.failures = 1
    with pytest.raises(exception.ImageDownloadFailed, match="Glance answered 500"):
        fetch(make_conf(glance.endpoint, auth_type="none"))


def test_an_unknown_image_is_a_400(glance: glance_server.GlanceStub) -> None:
    with pytest.raises(exception.ImageNotFound) as caught:
        fetch(make_conf(glance.endpoint, auth_type="none", num_retries=3))
    assert caught.value.code == 400
    assert len(glance.requests) == 1  # not retried


def test_an_unreachable_glance_fails_cleanly() -> None:
    with glance_server.running() as stub:
        endpoint = stub.endpoint
    with pytest.raises(exception.ImageDownloadFailed) as caught:
        fetch(make_conf(endpoint, auth_type="none"))
    assert endpoint not in caught.value.message


def test_the_callers_token_is_used_when_no_auth_is_configured(
    glance: glance_server.GlanceStub,
) -> None:
    glance.add(IMAGE, DATA)
    fetch(make_conf(glance.endpoint), RequestContext(auth_token="user-token"))
    assert {token for _, token in glance.requests} == {"user-token"}


def test_a_configured_auth_plugin_wins_over_the_token(glance: glance_server.GlanceStub) -> None:
    glance.add(IMAGE, DATA)
    fetch(make_conf(glance.endpoint, auth_type="none"), RequestContext(auth_token="user-token"))
    assert {token for _, token in glance.requests} == {"notused"}  # keystoneauth's "none"


# -- choosing the driver -------------------------------------------------------------


def test_the_driver_is_chosen_by_control_path() -> None:
    intel = IntelFPGADriver(None, root=str(HOSTS / "intel-pac-a10"), hostname="node1")
    xilinx = XilinxFPGADriver(None, root=str(HOSTS / "xilinx-u250"), hostname="node1")
    gpu = NvidiaGPUDriver(None, root=str(HOSTS / "nvidia-t4-vgpu"), hostname="node1")
    drivers = [gpu, xilinx, intel]
    assert programming.find_driver(drivers, INTEL_PF) is intel
    assert programming.find_driver(drivers, XILINX_MGMT) is xilinx
    # A VF of the Intel card, and a function no driver reports, match nothing.
    assert programming.find_driver(drivers, {**INTEL_PF, "function": "1"}) is None
    assert programming.find_driver([gpu], INTEL_PF) is None


def test_drivers_inside_the_all_in_ones_wrapper_are_found() -> None:
    xilinx = XilinxFPGADriver(None, root=str(HOSTS / "mixed-pci"), hostname="node1")
    wrapped = FirstThatFinds([xilinx], FakeDriver(None, hostname="node1"))
    mgmt = {"domain": "0000", "bus": "af", "device": "00", "function": "0"}
    assert programming.find_driver([wrapped], mgmt) is xilinx


# -- programming ----------------------------------------------------------------------


class RecordingTool:
    """Stands in for the privsep entrypoint: records the argv and the file it names."""

    def __init__(self, result: dict[str, Any] | None = None) -> None:
        self.result = result or {"exit_code": 0, "timed_out": False, "not_started": None}
        self.calls: list[tuple[list[str], int, bytes]] = []

    def __call__(self, argv: list[str], timeout: int) -> dict[str, Any]:
        with open(argv[-1], "rb") as image:
            self.calls.append((argv, timeout, image.read()))
        return self.result


def program(
    glance: glance_server.GlanceStub, tool: RecordingTool, root: str = "intel-pac-a10"
) -> bool:
    driver_class = IntelFPGADriver if root.startswith("intel") else XilinxFPGADriver
    driver = driver_class(None, root=str(HOSTS / root), hostname="node1")
    conf = make_conf(glance.endpoint, auth_type="none")
    programmer = programming.Programmer(conf, [driver], "node1", run_tool=tool)
    controlpath = INTEL_PF if root.startswith("intel") else XILINX_MGMT
    return programmer.program(
        RequestContext(),
        {"cpid_type": "PCI", "cpid_info": json.dumps(controlpath, sort_keys=True)},
        IMAGE,
        "intel",
    )


def test_the_drivers_command_runs_on_the_downloaded_file(
    glance: glance_server.GlanceStub,
) -> None:
    glance.add(IMAGE, DATA)
    tool = RecordingTool()
    assert program(glance, tool) is True
    ((argv, timeout, contents),) = tool.calls
    expected = IntelFPGADriver(None).program_command(INTEL_PF, argv[-1])
    assert argv == expected
    assert argv[:-1] == ["fpgaconf", "--bus", "0x5e", "--device", "0x00", "--function", "0x0"]
    assert contents == DATA
    assert 0 < timeout <= 90
    assert not os.path.exists(argv[-1])  # the temporary file is gone


def test_xilinx_cards_are_flashed_with_xbmgmt(glance: glance_server.GlanceStub) -> None:
    glance.add(IMAGE, DATA)
    tool = RecordingTool()
    program(glance, tool, root="xilinx-u250")
    ((argv, _, contents),) = tool.calls
    assert argv[:-1] == [XBMGMT, "program", "--device", "0000:3b:00.0", "--base", "--image"]
    assert contents == DATA


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        ({"exit_code": 2, "timed_out": False, "stderr": "/dev/dfl-fme.0: bad"}, "status 2"),
        ({"exit_code": None, "timed_out": True}, "did not finish within"),
        ({"exit_code": None, "timed_out": False, "not_started": "No such file"}, "not be"),
    ],
)
def test_a_failing_tool_is_a_clean_409(
    glance: glance_server.GlanceStub, result: dict[str, Any], reason: str
) -> None:
    glance.add(IMAGE, DATA)
    tool = RecordingTool(result)
    with pytest.raises(exception.FPGAProgramError, match=reason) as caught:
        program(glance, tool)
    assert caught.value.code == 409
    assert "0000:5e:00.0" in caught.value.message
    assert "/" not in caught.value.message  # no paths, no tool output
    assert not os.path.exists(tool.calls[0][0][-1])


def test_a_helper_that_breaks_is_a_clean_error(glance: glance_server.GlanceStub) -> None:
    glance.add(IMAGE, DATA)

    def broken(argv: list[str], timeout: int) -> dict[str, Any]:
        raise OSError(13, "Permission denied", "/etc/sudoers")

    with pytest.raises(exception.FPGAProgramError, match="privileged helper") as caught:
        program(glance, broken)  # type: ignore[arg-type]
    assert "sudoers" not in caught.value.message


def test_no_driver_for_the_device_downloads_nothing(glance: glance_server.GlanceStub) -> None:
    glance.add(IMAGE, DATA)
    conf = make_conf(glance.endpoint, auth_type="none")
    gpu = NvidiaGPUDriver(None, root=str(HOSTS / "nvidia-t4-vgpu"), hostname="node1")
    programmer = programming.Programmer(conf, [gpu], "node1", run_tool=RecordingTool())
    with pytest.raises(exception.FPGAProgramError, match="no enabled programmable driver"):
        programmer.program(RequestContext(), {"cpid_info": json.dumps(INTEL_PF)}, IMAGE)
    assert glance.requests == []


@pytest.mark.parametrize("controlpath", ["not json", {"cpid_info": "[1, 2]"}, {"bus": 5}])
def test_a_bad_control_path_is_a_400(controlpath: Any) -> None:
    programmer = programming.Programmer(make_conf("http://unused"), [], "node1")
    with pytest.raises(exception.Invalid):
        programmer.program(RequestContext(), controlpath, IMAGE)


@pytest.mark.parametrize("image", ["../../etc/passwd", "not-a-uuid", ""])
def test_an_image_id_that_is_no_uuid_is_refused(image: str) -> None:
    programmer = programming.Programmer(make_conf("http://unused"), [], "node1")
    with pytest.raises(exception.InvalidParameterValue):
        programmer.program(RequestContext(), {"cpid_info": json.dumps(INTEL_PF)}, image)
