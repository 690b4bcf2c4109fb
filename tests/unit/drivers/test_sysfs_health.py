"""FPGA and NVMe health from recorded sysfs trees, and its recovery."""

import os
import pathlib
import shutil

import pytest

from cyborg.drivers.intel_fpga import IntelFPGADriver
from cyborg.drivers.nvme_ssd import NVMeSSDDriver

HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"
CARD = "sys/devices/pci0000:5d/0000:5d:00.0"
FME_ERRORS = f"{CARD}/0000:5e:00.0/fpga_region/region0/dfl-fme.0/errors"
PORT1_ERRORS = f"{CARD}/0000:5e:00.2/fpga_region/region3/dfl-port.1/errors/errors"
NVME0 = "sys/devices/pci0000:3a/0000:3a:02.0/0000:3b:00.0/nvme/nvme0"


@pytest.fixture
def fpga(tmp_path: pathlib.Path) -> pathlib.Path:
    shutil.copytree(HOSTS / "intel-pac-a10", tmp_path / "h", symlinks=True)
    return tmp_path / "h"


@pytest.fixture
def nvme(tmp_path: pathlib.Path) -> pathlib.Path:
    shutil.copytree(HOSTS / "nvme-2disks", tmp_path / "h", symlinks=True)
    return tmp_path / "h"


def fpga_health(root: pathlib.Path) -> dict[str, str]:
    (device,) = IntelFPGADriver(None, root=str(root), hostname="h").discover()
    return {k: v for k, v in device.deployables[0].attributes if k.startswith("health")}


def nvme_health(root: pathlib.Path) -> dict[str, dict[str, str]]:
    return {
        d.name.removeprefix("h_"): {k: v for k, v in d.attributes if k.startswith("health")}
        for device in NVMeSSDDriver(None, root=str(root), hostname="h").discover()
        for d in device.deployables
    }


def test_a_card_with_clear_error_registers_is_healthy(fpga: pathlib.Path) -> None:
    assert fpga_health(fpga) == {}


def test_fatal_fme_errors_beat_port_errors_and_clearing_them_recovers(fpga: pathlib.Path) -> None:
    (fpga / FME_ERRORS / "catfatal_errors").write_text("0x4\n")
    (fpga / PORT1_ERRORS).write_text("0x100\n")
    assert fpga_health(fpga) == {
        "health": "fatal",
        "health_reason": "FME catfatal_errors 0x4; dfl-port.1 errors 0x100",
    }
    (fpga / FME_ERRORS / "catfatal_errors").write_text("0x0\n")
    assert fpga_health(fpga) == {"health": "unhealthy", "health_reason": "dfl-port.1 errors 0x100"}
    (fpga / PORT1_ERRORS).write_text("0x0\n")  # the port was reset
    assert fpga_health(fpga) == {}


def test_non_fatal_fme_errors_make_the_card_unhealthy(fpga: pathlib.Path) -> None:
    (fpga / FME_ERRORS / "pcie0_errors").write_text("0x10\n")
    assert fpga_health(fpga) == {"health": "unhealthy", "health_reason": "FME pcie0_errors 0x10"}


def test_a_pf_no_driver_holds_is_unhealthy(fpga: pathlib.Path) -> None:
    (fpga / CARD / "0000:5e:00.0/driver").unlink()
    assert fpga_health(fpga) == {
        "health": "unhealthy",
        "health_reason": "0000:5e:00.0: no kernel driver bound (dfl-pci or intel-fpga-pci)",
    }


def test_garbage_in_error_registers_is_no_error(fpga: pathlib.Path) -> None:
    (fpga / FME_ERRORS / "catfatal_errors").write_text("not a number\n")
    assert fpga_health(fpga) == {}


def test_live_nvme_controllers_are_healthy(nvme: pathlib.Path) -> None:
    assert nvme_health(nvme) == {"0000:3b:00.0": {}, "0000:5e:00.0": {}}


@pytest.mark.parametrize(
    ("state", "health"),
    [("resetting", "unhealthy"), ("connecting", "unhealthy"), ("dead", "fatal")],
)
def test_an_nvme_controller_that_is_not_live(nvme: pathlib.Path, state: str, health: str) -> None:
    (nvme / NVME0 / "state").write_text(f"{state}\n")
    assert nvme_health(nvme)["0000:3b:00.0"] == {
        "health": health,
        "health_reason": f"controller state {state}",
    }
    (nvme / NVME0 / "state").write_text("live\n")
    assert nvme_health(nvme)["0000:3b:00.0"] == {}


def test_an_nvme_bound_to_nvme_without_a_controller_is_unhealthy(nvme: pathlib.Path) -> None:
    os.unlink(nvme / "sys/class/nvme/nvme0")
    assert nvme_health(nvme)["0000:3b:00.0"] == {
        "health": "unhealthy",
        "health_reason": "bound to nvme without a controller in /sys/class/nvme",
    }
