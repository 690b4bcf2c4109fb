"""Run the vendors' inventory tools and keep their output where the drivers read it.

Drivers only read files (so tests run them on recorded outputs); the agent runs
``nvidia-smi`` (``-q -x``, ``-L``, ``topo -m`` for NVLink peers, ``mig -lgip`` and
``mig -lgipp`` for MIG geometry) and ``xbutil``
before each discovery, for the drivers enabled and the tools installed, and writes
their output atomically under
``<[agent] sysfs_root>/var/lib/cyborg/``. No shell is involved. For GPU health it
also keeps what ``nvidia-smi -q -x`` writes on stderr (the GPUs it cannot open; kept
even when it fails, when its XML stays the last good one) and the kernel's XID lines
(cyborg.agent.kernel_log, from ``[gpu_devices] xid_source``).
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence

from oslo_log import log

from cyborg.agent import kernel_log

LOG = log.getLogger(__name__)

CAPTURE_DIR = "var/lib/cyborg"

# driver name -> [(argv, file name)]; "{out}" is replaced by a path for tools that
# only write JSON to a file.
CAPTURES: dict[str, list[tuple[list[str], str]]] = {
    "nvidia_gpu_driver": [
        (["nvidia-smi", "-q", "-x"], "nvidia-smi-q-x.xml"),
        (["nvidia-smi", "-L"], "nvidia-smi-L.txt"),
        (["nvidia-smi", "topo", "-m"], "nvidia-smi-topo-m.txt"),  # NVLink peers
        # MIG geometry for DRA partitions (cyborg.drivers.nvidia_mig).
        (["nvidia-smi", "mig", "-lgip"], "nvidia-smi-mig-lgip.txt"),
        (["nvidia-smi", "mig", "-lgipp"], "nvidia-smi-mig-lgipp.txt"),
    ],
    "xilinx_fpga_driver": [
        (
            ["xbutil", "examine", "--format", "JSON", "--output", "{out}", "--force"],
            "xbutil-examine.json",
        ),
    ],
}
# Outputs whose stderr is kept beside them (as <name>.stderr, without the extension).
KEEP_STDERR = frozenset({"nvidia-smi-q-x.xml"})
# Outputs whose tool fails on every host without the feature (no MIG-capable GPU):
# a failure is no news there, so it is logged at debug level only.
EXPECTED_TO_FAIL = frozenset({"nvidia-smi-mig-lgip.txt", "nvidia-smi-mig-lgipp.txt"})
XID_LOG = "nvidia-xid.log"
XID_DRIVER = "nvidia_gpu_driver"


def stderr_path(target: str) -> str:
    return os.path.splitext(target)[0] + ".stderr"


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
    if os.path.basename(target) in KEEP_STDERR:
        _keep(stderr_path(target), result.stderr, argv[0])
    if result.returncode != 0:
        quiet = os.path.basename(target) in EXPECTED_TO_FAIL
        (LOG.debug if quiet else LOG.warning)(
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


def _keep(path: str, data: bytes, what: str) -> None:
    try:
        _write_atomically(path, data)
    except OSError as err:  # e.g. an unprivileged all-in-one cannot write there
        LOG.warning("Cannot keep %s output in %s: %s", what, path, err)


def capture_xids(root: str, source: str, window: int) -> None:
    """Refresh the XID lines the GPU driver judges health from (kept as they were when
    the source cannot be read)."""
    lines = kernel_log.read_xid_lines(source, window)
    if lines is not None:
        text = "".join(f"{line}\n" for line in lines)
        _keep(os.path.join(root, CAPTURE_DIR, XID_LOG), text.encode(), "XID")


def capture(
    root: str, enabled_drivers: Sequence[str], xid_source: str = "none", xid_window: int = 600
) -> None:
    """Refresh the tool outputs the enabled drivers read."""
    for driver in enabled_drivers:
        for argv, name in CAPTURES.get(driver, []):
            _run(list(argv), os.path.join(root, CAPTURE_DIR, name))
    if XID_DRIVER in enabled_drivers:
        capture_xids(root, xid_source, xid_window)
