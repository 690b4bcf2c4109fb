"""A simulated Intel PAC Arria 10, for the all-in-one on a machine without an FPGA.

The card is a sysfs tree under a directory of its own (the DFL layout that
cyborg.drivers.intel_fpga reads: one PF at ``0000:5e:00.0`` bound to ``dfl-pci``,
its FME's ``compat_id`` and its port's ``afu_id``), so the real Intel driver reports
it. Programming runs the driver's real ``fpgaconf`` command line, but through
:func:`SimulatedPACDriver.fpgaconf` instead of the privileged daemon: it does what
fpgaconf does to the card, seen from sysfs. It reads the ``.gbs`` header
(cyborg.drivers.gbs), refuses a bitstream built for another PR interface, and writes
the bitstream's AFU id into the port's ``afu_id``, so the next discovery reports
the new function trait.
"""

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from cyborg.drivers import gbs, intel_fpga
from cyborg.drivers.base import ToolRunner

ADDRESS = "0000:5e:00.0"
PRODUCT_ID = "09c4"  # PAC Arria 10 GX
#: The PR interface of the simulated card's FPGA Interface Manager (its compat_id).
INTERFACE_UUID = "9346116d-a52d-5ca8-b06a-a9a389ef7c8d"
FME_COMPAT_ID = "fpga_region/region0/dfl-fme.0/dfl-fme-region.0/fpga_region/region1/compat_id"
PORT_AFU_ID = "fpga_region/region0/dfl-port.0/afu_id"

_FILES = {
    "vendor": "0x8086",
    "device": f"0x{PRODUCT_ID}",
    "class": "0x120000",
    "numa_node": "0",
    "current_link_speed": "8.0 GT/s PCIe",
    "current_link_width": "8",
    FME_COMPAT_ID: INTERFACE_UUID.replace("-", ""),
}


def function_dir(root: str) -> str:
    return os.path.join(root, "sys", "bus", "pci", "devices", ADDRESS)


def _write(path: str, text: str) -> None:
    """Replace ``path`` at once, as the kernel's attribute changes are seen."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
    os.replace(temporary, path)


def build_tree(root: str, afu_uuid: str) -> None:
    """The card's sysfs under ``root``, its port holding ``afu_uuid``; an existing tree
    is kept as it is (what was programmed survives a restart)."""
    pf = function_dir(root)
    if os.path.isdir(pf):
        return
    for name, text in _FILES.items():
        _write(os.path.join(pf, name), text)
    _write(os.path.join(pf, PORT_AFU_ID), afu_uuid.replace("-", ""))
    drivers = os.path.join(root, "sys", "bus", "pci", "drivers", "dfl-pci")
    os.makedirs(drivers, exist_ok=True)
    os.symlink(os.path.relpath(drivers, pf), os.path.join(pf, "driver"))


def _result(exit_code: int, stdout: str = "", stderr: str = "") -> dict[str, Any]:
    # The shape of cyborg.agent.privileged.run_programming_tool's answer.
    return {
        "exit_code": exit_code,
        "timed_out": False,
        "not_started": None,
        "stdout": stdout,
        "stderr": stderr,
    }


def _options(argv: Sequence[str]) -> tuple[dict[str, int], str]:
    """fpgaconf's ``--segment/--bus/--device/--function`` values and the image path."""
    values: dict[str, int] = {"segment": 0}
    rest = list(argv[1:])
    while len(rest) > 1 and rest[0].startswith("--"):
        values[rest[0][2:]] = int(rest[1], 16)
        rest = rest[2:]
    if len(rest) != 1:
        raise ValueError("expected options and one image path")
    return values, rest[0]


class SimulatedPACDriver(intel_fpga.IntelFPGADriver):
    """The Intel FPGA driver on the simulated card's tree, with a simulated fpgaconf."""

    def tool_runner(self) -> ToolRunner:
        return self.fpgaconf

    def fpgaconf(self, argv: list[str], timeout: int) -> dict[str, Any]:
        """Load the ``.gbs`` named by ``argv`` (intel_fpga's program_command) onto the
        simulated card; fpgaconf's exit status and messages."""
        if not argv or argv[0] != intel_fpga.FPGACONF:
            return _result(2, stderr=f"not fpgaconf: {argv[:1]}")
        try:
            options, image = _options(argv)
            address = (
                f"{options['segment']:04x}:{options['bus']:02x}:"
                f"{options['device']:02x}.{options['function']:x}"
            )
        except (KeyError, ValueError) as err:
            return _result(1, stderr=f"fpgaconf: invalid arguments ({err})")
        if address != ADDRESS:
            return _result(1, stderr="Error: No suitable slots found.")
        try:
            with open(image, "rb") as handle:
                header = gbs.parse(handle.read(1 << 20))
        except (OSError, gbs.InvalidGBS) as err:
            return _result(1, stderr=f"Error: invalid bitstream ({err})")
        if header.interface_uuid != INTERFACE_UUID:
            return _result(
                1, stderr=f"Error: interface {header.interface_uuid} does not match the FIM"
            )
        _write(
            os.path.join(function_dir(self.root), PORT_AFU_ID), header.afu_uuid.replace("-", "")
        )
        return _result(0, stdout=f"Programmed {header.name} ({header.afu_uuid}) on {address}")
