"""The privileged entrypoint runs known programming tools only, without a shell.

The entrypoint runs in this process (the PrivContext in server mode), on a fake
``fpgaconf`` put first on PATH.
"""

import os
import pathlib
from collections.abc import Iterator

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.agent import privileged
from cyborg.conf import privileged as privileged_conf
from cyborg.drivers import intel_fpga, xilinx_fpga


@pytest.fixture
def in_process() -> Iterator[None]:
    privileged.context.set_client_mode(False)
    try:
        yield
    finally:
        privileged.context.set_client_mode(True)


@pytest.fixture
def fake_tools(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A directory first on PATH, for fake tools."""
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    return tmp_path


def _tool(directory: pathlib.Path, script: str) -> None:
    path = directory / intel_fpga.FPGACONF
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        (),
        None,
        "fpgaconf --bus 0x5e image",  # a string is not an argv
        [b"fpgaconf"],
        ["fpgaconf", 5],
        ["sh", "-c", "id"],
        ["/bin/sh"],
        ["/usr/bin/fpgaconf", "image"],  # only the exact names the drivers use
        ["xbmgmt", "program"],
        ["fpgaconf", "a\0b"],
    ],
)
def test_anything_but_a_known_tool_is_refused(argv: object) -> None:
    with pytest.raises(ValueError, match=r"argv|programming tool|NUL"):
        privileged.validate_argv(argv)


def test_the_drivers_commands_are_accepted() -> None:
    controlpath = {"domain": "0000", "bus": "5e", "device": "00", "function": "0"}
    for driver in (intel_fpga.IntelFPGADriver(None), xilinx_fpga.XilinxFPGADriver(None)):
        argv = driver.program_command(controlpath, "/tmp/image.bin")
        assert privileged.validate_argv(argv) == argv


def test_the_entrypoint_belongs_to_the_context() -> None:
    assert privileged.context.is_entrypoint(privileged.run_programming_tool)
    assert privileged.context.cfg_section == "cyborg_privileged"


@pytest.mark.usefixtures("in_process")
def test_the_entrypoint_refuses_before_running_anything(fake_tools: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="not a programming tool"):
        privileged.run_programming_tool(["touch", str(fake_tools / "ran")], 5)
    assert not (fake_tools / "ran").exists()


@pytest.mark.usefixtures("in_process")
def test_a_tool_that_succeeds(fake_tools: pathlib.Path) -> None:
    _tool(fake_tools, 'echo "programmed $*"\n')
    result = privileged.run_programming_tool(["fpgaconf", "--bus", "0x5e", "x y"], 5)
    assert result == {
        "exit_code": 0,
        "timed_out": False,
        "not_started": None,
        "stdout": "programmed --bus 0x5e x y\n",
        "stderr": "",
    }


@pytest.mark.usefixtures("in_process")
def test_a_tool_that_fails_gives_its_status_and_output(fake_tools: pathlib.Path) -> None:
    _tool(fake_tools, "echo 'bad image' >&2\nexit 3\n")
    result = privileged.run_programming_tool(["fpgaconf", "image"], 5)
    assert (result["exit_code"], result["stderr"], result["timed_out"]) == (
        3,
        "bad image\n",
        False,
    )


@pytest.mark.usefixtures("in_process")
def test_a_missing_tool_is_not_started(tmp_path: pathlib.Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    result = privileged.run_programming_tool(["fpgaconf", "image"], 5)
    assert result["exit_code"] is None
    assert result["not_started"]


@pytest.mark.usefixtures("in_process")
def test_a_tool_past_its_timeout(fake_tools: pathlib.Path) -> None:
    _tool(fake_tools, "exec sleep 3\n")
    result = privileged.run_programming_tool(["fpgaconf", "image"], 1)
    assert (result["exit_code"], result["timed_out"]) == (None, True)


def test_the_options_have_cyborgs_capabilities() -> None:
    from oslo_privsep import capabilities as caps

    # cyborg.conf leaves the group to the agent's privsep context...
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[], use_env=False)
    assert "cyborg_privileged" not in conf
    # ...which registers it on the global CONF, the one the daemon reads.
    assert privileged.context.cfg_section == "cyborg_privileged"
    assert cfg.CONF.cyborg_privileged.capabilities == privileged_conf.CAPABILITIES
    assert cfg.CONF.cyborg_privileged.helper_command is None
    # Our capability numbers are oslo.privsep's (which we do not import to name them).
    assert privileged_conf.CAPABILITIES == [
        caps.CAP_SYS_ADMIN,
        caps.CAP_DAC_OVERRIDE,
        caps.CAP_DAC_READ_SEARCH,
    ]
    # The sample shows them by name.
    ((_, options),) = privileged_conf.list_opts().items()
    (listed,) = [opt for opt in options if opt.dest == "capabilities"]
    assert listed.sample_default == privileged_conf.SAMPLE_CAPABILITIES
    assert listed.default == privileged_conf.CAPABILITIES
