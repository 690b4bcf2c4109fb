"""cyborg-status on a compute host (--role agent), and the API's policy file check.

The vendor tools are small shell scripts on PATH (``fake_tools``), so are the two
``sudo`` stand-ins: one that lets the user run anything (``sudo -n -l`` exits 0),
one that wants a password, as sudo says when no NOPASSWD rule matches. SPDK is the
JSON-RPC unix-socket stand-in of the SPDK driver tests. RabbitMQ is the test server on
127.0.0.1:5672.
"""

import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest
from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

import cyborg.conf
from cyborg.cmd import agent_checks, status
from cyborg.drivers import spdk
from tests.spdk_rpc import serving

BIN = os.path.dirname(sys.executable)
Code = upgradecheck.Code
SPDK_VERSION = b'{"jsonrpc": "2.0", "id": 1, "result": {"version": "SPDK v24.01"}}'
SUDO_ALLOWS = (
    '#!/bin/sh\n[ "$1" = -n ] && [ "$2" = -l ] && { shift 2; echo "$@"; exit 0; }\nexit 9\n'
)
SUDO_WANTS_PASSWORD = "#!/bin/sh\necho 'sudo: a password is required' >&2\nexit 1\n"


def _tool(directory: pathlib.Path, name: str, text: str = "#!/bin/sh\nexit 0\n") -> None:
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture
def tools(tmp_path, monkeypatch) -> pathlib.Path:  # type: ignore[no-untyped-def]
    """An empty directory that is this test's whole PATH: add tools with ``_tool``."""
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", str(directory))
    return directory


@pytest.fixture
def root() -> Iterator[pathlib.Path]:
    # Short, so that <root>/var/tmp/spdk.sock fits in a unix socket address.
    path = pathlib.Path(tempfile.mkdtemp(prefix="cy-st-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _conf(tmp_path, text: str) -> cfg.ConfigOpts:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(text)
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(["cyborg-status", "--config-file", str(path)], conf=conf)
    return conf


def _agent(tmp_path, drivers: str, extra: str = "", root: str = "/") -> cfg.ConfigOpts:  # type: ignore[no-untyped-def]
    return _conf(tmp_path, f"[agent]\nenabled_drivers = {drivers}\nsysfs_root = {root}\n" + extra)


# -- drivers -------------------------------------------------------------------------


def test_real_drivers_load(tmp_path) -> None:  # type: ignore[no-untyped-def]
    conf = _agent(tmp_path, "nvidia_gpu_driver,intel_fpga_driver,nvme_ssd_driver")
    result = agent_checks.check_drivers_load(conf)
    assert result.code == Code.SUCCESS, result.details
    assert "nvme_ssd_driver" in result.details


def test_an_unknown_driver_fails_listing_the_known_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_drivers_load(_agent(tmp_path, "nvidia_gpu_driver,tpu_driver"))
    assert result.code == Code.FAILURE
    assert "tpu_driver" in result.details
    assert "intel_fpga_driver" in result.details  # among the known ones
    assert "[agent] enabled_drivers" in result.details


def test_the_fake_driver_alone_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_drivers_load(_conf(tmp_path, ""))
    assert result.code == Code.WARNING
    assert "fake_driver" in result.details


def test_no_driver_at_all_is_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_drivers_load(_agent(tmp_path, ""))
    assert result.code == Code.WARNING
    assert "empty" in result.details


# -- vendor tools --------------------------------------------------------------------


def test_missing_tools_are_warnings_that_say_what_is_lost(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_driver_tools(
        _agent(tmp_path, "nvidia_gpu_driver,intel_fpga_driver")
    )
    assert result.code == Code.WARNING
    assert "nvidia-smi is not installed" in result.details
    assert "fpgaconf is not installed" in result.details
    assert "programming a card fails" in result.details


def test_tools_on_path_pass(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _tool(tools, "nvidia-smi")
    _tool(tools, "fpgaconf")
    result = agent_checks.check_driver_tools(
        _agent(tmp_path, "nvidia_gpu_driver,intel_fpga_driver")
    )
    assert result.code == Code.SUCCESS, result.details


def test_a_tool_that_is_not_executable_counts_as_missing(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _tool(tools, "nvidia-smi")
    (tools / "nvidia-smi").chmod(0o644)
    result = agent_checks.check_driver_tools(_agent(tmp_path, "nvidia_gpu_driver"))
    assert result.code == Code.WARNING
    assert "nvidia-smi" in result.details


def test_xilinx_needs_xbutil_on_path_and_xbmgmt_at_its_absolute_path(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _tool(tools, "xbutil")
    conf = _agent(tmp_path, "xilinx_fpga_driver")
    if not os.access(agent_checks.xilinx_fpga.XBMGMT, os.X_OK):  # no XRT on this host
        result = agent_checks.check_driver_tools(conf)
        assert result.code == Code.WARNING
        assert "/opt/xilinx/xrt/bin/xbmgmt" in result.details
        assert "xbutil" not in result.details
    # The same table with xbmgmt where this test can put it.
    _tool(tmp_path, "xbmgmt")
    table = {"xilinx_fpga_driver": (agent_checks.Tool(str(tmp_path / "xbmgmt"), "programming"),)}
    assert agent_checks.check_driver_tools(conf, tools=table).code == Code.SUCCESS


def test_sysfs_only_drivers_need_no_tool(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_driver_tools(_agent(tmp_path, "nvme_ssd_driver,pci_driver"))
    assert result.code == Code.SUCCESS
    assert "sysfs only" in result.details


def test_spdk_that_answers_passes(tmp_path, tools, root) -> None:  # type: ignore[no-untyped-def]
    conf = _agent(tmp_path, "nvmf_spdk_driver", root=str(root))
    with serving(root, {"spdk_get_version": SPDK_VERSION}) as server:
        result = agent_checks.check_driver_tools(conf)
    assert result.code == Code.SUCCESS, result.details
    assert server.methods == ["spdk_get_version"]


def test_spdk_not_running_is_a_warning(tmp_path, tools, root) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_driver_tools(_agent(tmp_path, "vhost_spdk_driver", root=str(root)))
    assert result.code == Code.WARNING
    assert str(root / spdk.DEFAULT_SOCKET) in result.details


def test_spdk_socket_nobody_listens_on_fails(tmp_path, tools, root) -> None:  # type: ignore[no-untyped-def]
    (root / "var" / "tmp").mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(root / spdk.DEFAULT_SOCKET))  # bound, never listening: refused
        result = agent_checks.check_driver_tools(
            _agent(tmp_path, "nvmf_spdk_driver", root=str(root)), timeout=3
        )
    assert result.code == Code.FAILURE
    assert "does not answer" in result.details


def test_silent_spdk_fails_within_the_timeout(tmp_path, tools, root) -> None:  # type: ignore[no-untyped-def]
    (root / "var" / "tmp").mkdir(parents=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.bind(str(root / spdk.DEFAULT_SOCKET))
        silent.listen()  # accepts the connection, never answers
        result = agent_checks.check_driver_tools(
            _agent(tmp_path, "nvmf_spdk_driver", root=str(root)), timeout=0.5
        )
    assert result.code == Code.FAILURE
    assert "timed out" in result.details


# -- privileged helper ---------------------------------------------------------------


def test_no_privileged_driver_needs_no_helper(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_privsep_helper(_agent(tmp_path, "nvme_ssd_driver"))
    assert result.code == Code.SUCCESS
    assert "No enabled driver" in result.details


def test_default_helper_passes_when_sudo_allows_it(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _tool(tools, "sudo", SUDO_ALLOWS)
    result = agent_checks.check_privsep_helper(_agent(tmp_path, "intel_fpga_driver"))
    assert result.code == Code.SUCCESS, result.details
    assert "sudo privsep-helper" in result.details


def test_default_helper_fails_when_sudo_wants_a_password(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _tool(tools, "sudo", SUDO_WANTS_PASSWORD)
    result = agent_checks.check_privsep_helper(_agent(tmp_path, "xilinx_fpga_driver"))
    assert result.code == Code.FAILURE
    assert "a password is required" in result.details
    assert "sudoers" in result.details
    assert "helper_command" in result.details


def test_helper_without_sudo_installed_fails(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    result = agent_checks.check_privsep_helper(_agent(tmp_path, "nvidia_gpu_driver"))
    assert result.code == Code.FAILURE
    assert "`sudo`" in result.details


def test_a_custom_helper_command_is_found_on_path(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _tool(tools, "privsep-helper")
    extra = "[cyborg_privileged]\nhelper_command = privsep-helper --config-file /etc/c.conf\n"
    result = agent_checks.check_privsep_helper(_agent(tmp_path, "intel_fpga_driver", extra))
    assert result.code == Code.SUCCESS, result.details


def test_a_helper_command_that_does_not_parse_fails(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    extra = "[cyborg_privileged]\nhelper_command = sudo 'privsep-helper\n"
    result = agent_checks.check_privsep_helper(_agent(tmp_path, "intel_fpga_driver", extra))
    assert result.code == Code.FAILURE
    assert "does not parse" in result.details


# -- policy file (API) ---------------------------------------------------------------


def _policy_conf(tmp_path, text: str) -> cfg.ConfigOpts:  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return _conf(tmp_path, f"[oslo_policy]\npolicy_file = {path}\n")


def test_a_policy_file_with_cyborg_rules_passes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_policy_file(
        _policy_conf(tmp_path, '"cyborg:device_profile:get_all": "role:reader"\n')
    )
    assert result.code == Code.SUCCESS, result.details
    assert "1 rules" in result.details


def test_a_policy_file_that_does_not_parse_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_policy_file(_policy_conf(tmp_path, "rule: [unclosed\n"))
    assert result.code == Code.FAILURE
    assert "does not parse" in result.details


def test_unknown_rule_names_are_a_warning(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = status.check_policy_file(_policy_conf(tmp_path, '"cyborg:typo:get": "@"\n'))
    assert result.code == Code.WARNING
    assert "cyborg:typo:get" in result.details


def test_no_policy_file_uses_the_defaults(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert status.check_policy_file(_conf(tmp_path, "")).code == Code.SUCCESS


# -- the command with --role agent ---------------------------------------------------


def _require_rabbitmq() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
    except OSError as err:
        pytest.fail(f"RabbitMQ is not reachable on 127.0.0.1:5672 ({err})", pytrace=False)


def _run_agent_role(
    tmp_path, tools: pathlib.Path, drivers: str
) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    path = tmp_path / "cyborg.conf"
    path.write_text(
        "[DEFAULT]\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/\n"
        f"[agent]\nenabled_drivers = {drivers}\n"
    )
    return subprocess.run(
        [
            os.path.join(BIN, "cyborg-status"),
            "--config-file",
            str(path),
            "upgrade",
            "check",
            "--json",
            "--role",
            "agent",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": str(tools)},
    )


def _codes(stdout: str) -> dict[str, int]:
    return {c["check"]: c["result"] for c in json.loads(stdout)["checks"]}


def test_agent_role_passes_with_its_tools_and_sudo(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    for name in ("nvidia-smi", "fpgaconf"):
        _tool(tools, name)
    _tool(tools, "sudo", SUDO_ALLOWS)
    result = _run_agent_role(tmp_path, tools, "nvidia_gpu_driver,intel_fpga_driver")
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(_codes(result.stdout)) == list(status.ROLES["agent"])
    assert "Database schema" not in result.stdout  # not the agent's to check


def test_agent_role_warns_on_a_missing_tool_and_fails_on_sudo(tmp_path, tools) -> None:  # type: ignore[no-untyped-def]
    _require_rabbitmq()
    result = _run_agent_role(tmp_path, tools, "intel_fpga_driver")
    codes = _codes(result.stdout)
    assert codes["Driver tools"] == Code.WARNING
    assert codes["Privileged helper"] == Code.FAILURE
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
