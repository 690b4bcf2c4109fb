"""Run the vendors' inventory tools and keep their output where the drivers read it.

Drivers only read files (so tests run them on recorded outputs); the agent runs
``nvidia-smi`` and ``xbutil`` before each discovery, for the drivers enabled and
the tools installed, and writes their output atomically under
``<[agent] sysfs_root>/var/lib/cyborg/``. No shell is involved.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

from oslo_log import log

LOG = log.getLogger(__name__)

CAPTURE_DIR = "var/lib/cyborg"

# driver name -> [(argv, file name)]; "{out}" is replaced by a path for tools that
# only write JSON to a file.
CAPTURES: dict[str, list[tuple[list[str], str]]] = {
    "nvidia_gpu_driver": [
        (["nvidia-smi", "-q", "-x"], "nvidia-smi-q-x.xml"),
        (["nvidia-smi", "-L"], "nvidia-smi-L.txt"),
    ],
    "xilinx_fpga_driver": [
        (
            ["xbutil", "examine", "--format", "JSON", "--output", "{out}", "--force"],
            "xbutil-examine.json",
        ),
    ],
}


def _write_atomically(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=directory, delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)


def _run(argv: list[str], target: str) -> None:
    tool = shutil.which(argv[0])
    if tool is None:
        return  # not installed here: the driver falls back to sysfs alone
    scratch = target + ".new"
    argv = [tool, *(scratch if arg == "{out}" else arg for arg in argv[1:])]
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        # Fixed argv from CAPTURES with the tool's resolved path; no shell.
        result = subprocess.run(argv, capture_output=True, timeout=60, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as err:
        LOG.warning("%s failed: %s", argv[0], err)
        return
    if result.returncode != 0:
        LOG.warning(
            "%s exited %s: %s",
            argv[0],
            result.returncode,
            result.stderr.decode(errors="replace")[-500:],
        )
        return
    try:
        if os.path.exists(scratch):
            os.replace(scratch, target)
        else:
            _write_atomically(target, result.stdout)
    except OSError as err:  # e.g. an unprivileged all-in-one cannot write there
        LOG.warning("Cannot keep %s output in %s: %s", argv[0], target, err)


def capture(root: str, enabled_drivers: Sequence[str]) -> None:
    """Refresh the tool outputs the enabled drivers read."""
    for driver in enabled_drivers:
        for argv, name in CAPTURES.get(driver, []):
            _run(list(argv), os.path.join(root, CAPTURE_DIR, name))
