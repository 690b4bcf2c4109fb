"""cyborg-status checks for a compute host: what cyborg-agent needs besides the bus.

Each takes the parsed configuration and returns an oslo.upgradecheck Result:

* the drivers of ``[agent] enabled_drivers`` load, as the agent loads them;
* the vendor tools those drivers use are installed (nvidia-smi and xbutil for
  inventory, fpgaconf and xbmgmt for programming) and SPDK answers on its socket;
* the privsep helper (``[cyborg_privileged] helper_command``, by default
  ``sudo privsep-helper``) can start, when a driver needs root.

Run the command as the agent's user: PATH and sudo's rules are checked for it.
"""

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from oslo_config import cfg
from oslo_upgradecheck import upgradecheck

from cyborg.agent import drivers as agent_drivers
from cyborg.drivers import intel_fpga, spdk, xilinx_fpga

Code = upgradecheck.Code
Result = upgradecheck.Result

# Seconds a probe (sudo -l, the SPDK socket) may take before it counts as failed.
TIMEOUT = 5.0


@dataclass(frozen=True)
class Tool:
    executable: str  # a name looked up on PATH, or an absolute path
    lost: str  # what the agent cannot do without it


# What each driver runs (cyborg.agent.captures for inventory, the drivers'
# program_command() for programming). Drivers not listed read only sysfs.
DRIVER_TOOLS: Mapping[str, Sequence[Tool]] = {
    "nvidia_gpu_driver": (
        Tool("nvidia-smi", "GPU uuids, MIG profiles and health come from sysfs only"),
    ),
    "xilinx_fpga_driver": (
        Tool("xbutil", "cards are reported without their shell and UUIDs"),
        Tool(xilinx_fpga.XBMGMT, "programming a card fails"),
    ),
    "intel_fpga_driver": (Tool(intel_fpga.FPGACONF, "programming a card fails"),),
}

SPDK_DRIVERS = frozenset({"nvmf_spdk_driver", "vhost_spdk_driver"})

# Drivers whose work runs in the privsep daemon: FPGA programming, vGPU mdevs.
PRIVILEGED_DRIVERS = frozenset({"intel_fpga_driver", "xilinx_fpga_driver", "nvidia_gpu_driver"})

PRIVSEP_GROUP = "cyborg_privileged"


def check_drivers_load(conf: cfg.ConfigOpts) -> upgradecheck.Result:
    """Each enabled driver is a known entry point and starts with this configuration."""
    names = list(conf.agent.enabled_drivers)
    if not names:
        return Result(Code.WARNING, "[agent] enabled_drivers is empty: the agent reports nothing.")
    problems = []
    for name in names:
        try:
            agent_drivers.load(
                conf, [name], conf.agent.sysfs_root, conf.agent.resource_provider_name
            )
        except agent_drivers.UnknownDriver as err:
            problems.append(str(err))
        except Exception as err:  # a driver's __init__ may raise anything; all mean "broken"
            problems.append(f"{name} does not start ({type(err).__name__}: {err})")
    if problems:
        return Result(Code.FAILURE, "; ".join(problems) + ". Fix [agent] enabled_drivers.")
    if names == ["fake_driver"]:
        return Result(
            Code.WARNING,
            "[agent] enabled_drivers is fake_driver only, which reports made-up devices: "
            "list this host's real drivers.",
        )
    return Result(Code.SUCCESS, f"Drivers load: {', '.join(names)}.")


def _missing(tool: Tool) -> bool:
    return shutil.which(tool.executable) is None


def check_driver_tools(
    conf: cfg.ConfigOpts,
    tools: Mapping[str, Sequence[Tool]] = DRIVER_TOOLS,
    timeout: float = TIMEOUT,
) -> upgradecheck.Result:
    """The tools of the enabled drivers are installed; SPDK answers on its socket."""
    enabled = list(conf.agent.enabled_drivers)
    warnings = [
        f"{driver}: {tool.executable} is not installed or not on PATH, so {tool.lost}"
        for driver in enabled
        for tool in tools.get(driver, ())
        if _missing(tool)
    ]
    failures = []
    if SPDK_DRIVERS.intersection(enabled):
        socket_path = os.path.join(conf.agent.sysfs_root, spdk.DEFAULT_SOCKET)
        if not os.path.exists(socket_path):
            warnings.append(f"SPDK does not run here (no {socket_path}): it reports no devices")
        else:
            try:
                spdk.rpc_call(socket_path, "spdk_get_version", timeout=timeout)
            except spdk.SPDKError as err:
                failures.append(f"SPDK at {socket_path} does not answer ({err})")
    if failures:
        return Result(Code.FAILURE, "; ".join(failures + warnings) + ".")
    if warnings:
        return Result(Code.WARNING, "; ".join(warnings) + ".")
    used = [d for d in enabled if d in tools or d in SPDK_DRIVERS]
    if not used:
        return Result(Code.SUCCESS, "The enabled drivers read sysfs only: no tools needed.")
    return Result(Code.SUCCESS, f"The tools of {', '.join(used)} are present.")


def _register_privsep_opts(conf: cfg.ConfigOpts) -> None:
    # oslo.privsep owns the options (see cyborg.conf.privileged); imported only here.
    from oslo_privsep import priv_context

    if PRIVSEP_GROUP not in conf or "helper_command" not in conf[PRIVSEP_GROUP]:
        conf.register_opts(priv_context.OPTS, group=PRIVSEP_GROUP)


def _helper_argv(conf: cfg.ConfigOpts) -> list[str]:
    """The command oslo.privsep starts, without the arguments it appends itself."""
    command = conf[PRIVSEP_GROUP].helper_command
    return shlex.split(command) if command else ["sudo", "privsep-helper"]


def _sudo_allows(argv: list[str], timeout: float) -> str | None:
    """None when ``sudo -n`` may run ``argv`` for this user; else what sudo said."""
    try:
        result = subprocess.run(  # noqa: S603 - sudo from PATH, as oslo.privsep runs it
            [argv[0], "-n", "-l", *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"sudo -n -l did not answer within {timeout:g} s"
    except OSError as err:
        return f"{type(err).__name__}: {err}"
    if result.returncode == 0:
        return None
    said = (result.stderr or result.stdout).strip().splitlines()
    return said[-1][:200] if said else f"exit status {result.returncode}"


def check_privsep_helper(conf: cfg.ConfigOpts, timeout: float = TIMEOUT) -> upgradecheck.Result:
    """The privsep daemon can start when a driver needs root."""
    needing = sorted(PRIVILEGED_DRIVERS.intersection(conf.agent.enabled_drivers))
    if not needing:
        return Result(Code.SUCCESS, "No enabled driver needs the privileged helper.")
    _register_privsep_opts(conf)
    try:
        argv = _helper_argv(conf)
    except ValueError as err:
        return Result(Code.FAILURE, f"[cyborg_privileged] helper_command does not parse: {err}.")
    if not argv:
        return Result(Code.FAILURE, "[cyborg_privileged] helper_command is blank.")
    why = f"{', '.join(needing)} run FPGA programming or vGPU mdevs through it"
    if shutil.which(argv[0]) is None:
        return Result(
            Code.FAILURE,
            f"`{argv[0]}`, which starts the privileged helper, is not installed or not on PATH "
            f"({why}): install it or set [cyborg_privileged] helper_command.",
        )
    if os.path.basename(argv[0]) == "sudo":
        refused = _sudo_allows(argv, timeout)
        if refused is not None:
            return Result(
                Code.FAILURE,
                f"sudo does not let this user run `{shlex.join(argv[1:])}` without a "
                f"password ({refused}); {why}. Add a sudoers rule for the agent's user "
                "(NOPASSWD) or set [cyborg_privileged] helper_command.",
            )
    return Result(Code.SUCCESS, f"The privileged helper `{shlex.join(argv)}` can start.")
