"""Device health from what the kernel's drivers show in sysfs (FPGAs and NVMe).

Each rule reads the current sysfs only, so a cleared error or a controller that is
live again is healthy at the next report:

* Intel DFL FME ``errors/catfatal_errors`` not 0 (OPAE's driver:
  ``intel-fpga-fme.N/errors/``): **fatal**; ``errors/fme_errors``,
  ``pcie0_errors``, ``pcie1_errors``, ``nonfatal_errors`` not 0: **unhealthy**
  (drivers/fpga/dfl-fme-error.c writes ``0x%llx``; writing the value back or a
  card reset clears them).
* a port's ``errors/errors`` not 0: **unhealthy** (drivers/fpga/dfl-afu-error.c, the
  AFU's errors; a port reset clears them).
* a management PF no kernel driver holds: **unhealthy** (the card can be neither
  programmed nor watched).
* an NVMe controller whose ``state`` is not "live" ("new", "resetting",
  "connecting"; drivers/nvme/host/sysfs.c): **unhealthy**; "dead" or "deleting":
  **fatal**.
"""

import glob
import os

from cyborg.drivers import pci
from cyborg.drivers.health import OK, Health, fatal, unhealthy, worst

# FME error files, under the PF's directory, in both kernel layouts.
FME_ERROR_DIRS = (
    "fpga_region/region*/dfl-fme.*/errors",
    "fpga/intel-fpga-dev.*/intel-fpga-fme.*/errors",
)
FATAL_FME_ERRORS = ("catfatal_errors",)
FME_ERRORS = ("fme_errors", "pcie0_errors", "pcie1_errors", "nonfatal_errors")
PORT_ERROR_FILES = (
    "fpga_region/region*/dfl-port.*/errors/errors",
    "fpga/intel-fpga-dev.*/intel-fpga-port.*/errors/errors",
)
NVME_LIVE = "live"
NVME_FATAL_STATES = ("dead", "deleting", "deleting (no io)")


def _nonzero(path: str) -> int | None:
    value = pci.read_int(path)
    return value if value else None


def _glob(base: str, pattern: str) -> list[str]:
    return sorted(glob.glob(os.path.join(glob.escape(base), pattern)))


def fme_health(pf_dir: str) -> Health:
    """The FPGA Management Engine's error registers, as the PF's driver shows them."""
    judgements = []
    for errors_dir in (d for pattern in FME_ERROR_DIRS for d in _glob(pf_dir, pattern)):
        for name in (*FATAL_FME_ERRORS, *FME_ERRORS):
            value = _nonzero(os.path.join(errors_dir, name))
            if value is not None:
                judge = fatal if name in FATAL_FME_ERRORS else unhealthy
                judgements.append(judge(f"FME {name} 0x{value:x}"))
    return worst(*judgements)


def port_health(function_dir: str) -> Health:
    """The AFU errors of the ports a PCI function (PF or VF) holds."""
    judgements = []
    for path in (p for pattern in PORT_ERROR_FILES for p in _glob(function_dir, pattern)):
        value = _nonzero(path)
        if value is not None:
            port = os.path.basename(os.path.dirname(os.path.dirname(path)))
            judgements.append(unhealthy(f"{port} errors 0x{value:x}"))
    return worst(*judgements)


def binding_health(function: pci.PCIFunction, role: str) -> Health:
    """Unhealthy when no kernel driver holds ``function``, whose driver ``role`` needs."""
    if function.driver:
        return OK
    return unhealthy(f"{function.address}: no kernel driver bound ({role})")


def nvme_state_health(state: str | None) -> Health:
    """An NVMe controller's ``state`` file (None: the file is not there: no judgement)."""
    if state is None or state.strip().lower() == NVME_LIVE:
        return OK
    text = state.strip().lower()
    judge = fatal if text in NVME_FATAL_STATES else unhealthy
    return judge(f"controller state {text}")
