"""What cyborg-agent does as root: run an FPGA programming tool, and create or remove
a vGPU mdev, nothing else.

The agent runs unprivileged; oslo.privsep starts a root daemon on first use (with
``[cyborg_privileged] helper_command``, by default ``sudo privsep-helper ...``) and
runs the entrypoints below in it. The daemon keeps the capabilities of
cyborg.conf.privileged.CAPABILITIES. run_programming_tool accepts only an argv whose
executable is a known programming tool, so the daemon cannot be used to run anything
else as root. No shell is involved. create_mdev and remove_mdev write one uuid (or
"1") to one sysfs file whose path they build from checked names (cyborg.agent.mdev)
under the daemon's own ``[agent] sysfs_root``: the caller cannot choose the tree.
run_nvidia_smi_mig runs ``nvidia-smi mig`` with one of three argument shapes (make a
GPU instance at a placement with its compute instance, destroy a compute instance,
destroy a GPU instance), every argument checked (cyborg.agent.mig).
"""

import subprocess
from typing import Any

from oslo_concurrency import processutils
from oslo_config import cfg
from oslo_privsep import priv_context

from cyborg.agent import mdev, mig
from cyborg.conf import privileged as privileged_conf
from cyborg.drivers import intel_fpga, xilinx_fpga

# The executables the daemon may run: the drivers' programming tools, exactly as their
# program_command() names them (fpgaconf from PATH, xbmgmt by XRT's absolute path).
PROGRAMMING_TOOLS = frozenset({intel_fpga.FPGACONF, xilinx_fpga.XBMGMT})

# How much of the tool's output comes back to the agent (for its log).
OUTPUT_TAIL = 2000

context = priv_context.PrivContext(
    "cyborg",
    cfg_section=privileged_conf.GROUP.name,
    pypath=__name__ + ".context",
    capabilities=privileged_conf.CAPABILITIES,
)


def validate_argv(argv: Any) -> list[str]:
    """``argv`` as a list, or ValueError unless it is a known tool and string arguments."""
    if not isinstance(argv, list | tuple) or not argv:
        raise ValueError("argv must be a non-empty list of strings")
    if not all(isinstance(arg, str) for arg in argv):
        raise ValueError("argv must be a non-empty list of strings")
    if any("\0" in arg for arg in argv):
        raise ValueError("argv must not contain NUL characters")
    if argv[0] not in PROGRAMMING_TOOLS:
        allowed = ", ".join(sorted(PROGRAMMING_TOOLS))
        raise ValueError(f"{argv[0]!r} is not a programming tool; allowed: {allowed}")
    return list(argv)


def _tail(text: str | bytes) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return text[-OUTPUT_TAIL:]


@context.entrypoint
def run_programming_tool(argv: list[str], timeout: int) -> dict[str, Any]:
    """Run a programming tool as root; its exit status and the tail of its output.

    Returns ``{"exit_code", "timed_out", "not_started", "stdout", "stderr"}`` in plain
    types (the result crosses the privsep socket): ``exit_code`` is None when the tool
    could not be started (``not_started`` says why, e.g. not installed) or is still
    running after ``timeout`` seconds (``timed_out``); such a tool is left alone, as
    killing a flash half-way may brick the card. An argv that is not a known tool is
    refused with ValueError.
    """
    checked = validate_argv(argv)
    result: dict[str, Any] = {
        "exit_code": None,
        "timed_out": False,
        "not_started": None,
        "stdout": "",
        "stderr": "",
    }
    try:
        stdout, stderr = processutils.execute(*checked, timeout=timeout)
    except processutils.ProcessExecutionError as err:
        result.update(exit_code=err.exit_code, stdout=_tail(err.stdout or ""))
        result["stderr"] = _tail(err.stderr or "")
    except subprocess.TimeoutExpired:
        result["timed_out"] = True
    except OSError as err:
        result["not_started"] = err.strerror or type(err).__name__
    else:
        result.update(exit_code=0, stdout=_tail(stdout), stderr=_tail(stderr))
    return result


def _sysfs_root() -> str:
    """The daemon's ``[agent] sysfs_root``: privsep-helper parses the agent's config files
    into the global CONF, where importing cyborg.conf registered the option."""
    return str(cfg.CONF.agent.sysfs_root)


@context.entrypoint
def create_mdev(parent: str, mdev_type: str, uuid: str) -> bool:
    """Create mdev ``uuid`` of ``mdev_type`` on PCI function ``parent``.

    True when created, False when it existed; ValueError for a name that is not a PCI
    address, type name or uuid; cyborg.agent.mdev.MdevError when the kernel refuses.
    """
    return mdev.create(_sysfs_root(), parent, mdev_type, uuid)


@context.entrypoint
def remove_mdev(parent: str, mdev_type: str, uuid: str) -> bool:
    """Remove mdev ``uuid``; True when removed, False when it was gone (errors as create)."""
    return mdev.remove(_sysfs_root(), parent, mdev_type, uuid)


@context.entrypoint
def run_nvidia_smi_mig(args: list[str]) -> dict[str, Any]:
    """Run ``nvidia-smi <args>`` as root for one of cyborg.agent.mig's MIG changes;
    ``{"exit_code", "stdout", "stderr"}`` (exit_code None: not started). Any other
    argument list is refused with ValueError."""
    checked = mig.validate_args(args)
    try:
        stdout, stderr = processutils.execute(mig.NVIDIA_SMI, *checked, timeout=120)
    except processutils.ProcessExecutionError as err:
        return {"exit_code": err.exit_code, "stdout": _tail(err.stdout or ""),
                "stderr": _tail(err.stderr or "")}  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as err:
        return {"exit_code": None, "stdout": "", "stderr": str(err)}
    return {"exit_code": 0, "stdout": _tail(stdout), "stderr": _tail(stderr)}
