"""NVIDIA GPU health on recorded outputs (tests/fixtures/nvidia-health over the T4 host)."""

import os
import pathlib
import shutil
import xml.etree.ElementTree as ET

import pytest
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers import nvidia_gpu, nvidia_health
from cyborg.drivers.health import FATAL, HEALTHY, UNHEALTHY

FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "fixtures"
HEALTH = FIXTURES / "nvidia-health"
T4 = FIXTURES / "hosts" / "nvidia-t4-vgpu"
A100 = FIXTURES / "hosts" / "nvidia-a100-mig"
XID_79_AT = 1764770400.000131  # kernel-xid.log: 0000:d8:00 fell off the bus
XID_63_AT = 1764770700.250833  # kernel-xid.log: 0000:3b:00 has a row remap pending


@pytest.fixture
def conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    return conf


def health(
    conf: cfg.ConfigOpts,
    xml: str = "healthy.xml",
    stderr: str = "",
    xid_log: str = "",
    now: float = XID_63_AT + 3600,
    root: pathlib.Path = T4,
) -> dict[str, dict[str, str]]:
    """{deployable name: its health attributes} as the driver reports them."""
    driver = nvidia_gpu.NvidiaGPUDriver(
        conf,
        root=str(root),
        hostname="compute-1",
        smi_xml=(HEALTH / xml).read_text(),
        smi_stderr=stderr,
        xid_log=xid_log,
        clock=lambda: now,
    )
    return {
        d.name.removeprefix("compute-1_"): {
            k: v for k, v in d.attributes if k in ("health", "health_reason")
        }
        for device in driver.discover()
        for d in device.deployables
    }


def fixture(name: str) -> str:
    return (HEALTH / name).read_text()


def test_healthy_gpus_report_no_health_attributes(conf: cfg.ConfigOpts) -> None:
    assert health(conf) == {"0000:3b:00.0": {}, "0000:d8:00.0": {}}


def test_uncorrectable_ecc_and_pending_retirement_make_the_gpu_fatal(
    conf: cfg.ConfigOpts,
) -> None:
    found = health(conf, "ecc-failing.xml")
    assert found["0000:3b:00.0"] == {}
    assert found["0000:d8:00.0"] == {
        "health": FATAL,
        "health_reason": "2 uncorrectable ECC errors since the last reset; "
        "page retirement pending, reset the GPU",
    }


def test_a_reset_gpu_is_healthy_at_the_next_report(conf: cfg.ConfigOpts) -> None:
    # Aggregate counts stay after the reset; only the volatile ones say "broken now".
    assert health(conf, "ecc-after-reset.xml") == {"0000:3b:00.0": {}, "0000:d8:00.0": {}}


def test_a_gpu_nvidia_smi_cannot_open_is_fatal(conf: cfg.ConfigOpts) -> None:
    found = health(conf, "lost.xml", stderr=fixture("lost.stderr"))
    assert found["0000:3b:00.0"] == {}
    assert found["0000:d8:00.0"]["health"] == FATAL
    assert (
        "Unable to determine the device handle for GPU0000:D8:00.0"
        in (found["0000:d8:00.0"]["health_reason"])
    )


def test_a_gpu_bound_to_nvidia_but_absent_from_nvidia_smi_is_lost(conf: cfg.ConfigOpts) -> None:
    found = health(conf, "lost.xml")
    assert found["0000:d8:00.0"] == {
        "health": FATAL,
        "health_reason": "GPU lost: bound to nvidia but absent from nvidia-smi",
    }


def test_a_gpu_passed_through_to_a_vm_is_not_nvidia_smis_to_show(
    conf: cfg.ConfigOpts, tmp_path: pathlib.Path
) -> None:
    shutil.copytree(T4, tmp_path / "host", symlinks=True)
    driver_link = tmp_path / "host/sys/devices/pci0000:d7/0000:d7:00.0/0000:d8:00.0/driver"
    driver_link.unlink()
    os.symlink("../../../../bus/pci/drivers/vfio-pci", driver_link)
    assert health(conf, "lost.xml", root=tmp_path / "host")["0000:d8:00.0"] == {}


def test_a_lost_gpu_that_answers_again_is_healthy(conf: cfg.ConfigOpts) -> None:
    assert health(conf, "lost.xml", stderr=fixture("lost.stderr"))["0000:d8:00.0"]
    assert health(conf, "healthy.xml", stderr="")["0000:d8:00.0"] == {}


def test_nvidia_smi_failing_for_every_gpu_makes_those_of_nvidia_unhealthy(
    conf: cfg.ConfigOpts, tmp_path: pathlib.Path
) -> None:
    stderr = (
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
        "Make sure that the latest NVIDIA driver is installed and running.\n"
    )
    shutil.copytree(T4, tmp_path / "host", symlinks=True)
    driver_link = tmp_path / "host/sys/devices/pci0000:d7/0000:d7:00.0/0000:d8:00.0/driver"
    driver_link.unlink()
    os.symlink("../../../../bus/pci/drivers/vfio-pci", driver_link)
    found = health(conf, stderr=stderr, root=tmp_path / "host")
    assert found["0000:3b:00.0"]["health"] == UNHEALTHY
    assert found["0000:3b:00.0"]["health_reason"].startswith("nvidia-smi: NVIDIA-SMI has failed")
    assert found["0000:d8:00.0"] == {}  # a VM's: not nvidia-smi's to show


def test_fatal_and_unhealthy_xids_count_within_the_window(conf: cfg.ConfigOpts) -> None:
    found = health(conf, xid_log=fixture("kernel-xid.log"), now=XID_63_AT + 60)
    assert found == {
        "0000:3b:00.0": {
            "health": UNHEALTHY,
            "health_reason": "XID 63: row remapping pending, reset the GPU",
        },
        "0000:d8:00.0": {"health": FATAL, "health_reason": "XID 79: GPU has fallen off the bus"},
    }


def test_xids_age_out_after_the_window(conf: cfg.ConfigOpts) -> None:
    log = fixture("kernel-xid.log")
    found = health(conf, xid_log=log, now=XID_79_AT + 601)
    assert found["0000:d8:00.0"] == {}
    assert found["0000:3b:00.0"]["health"] == UNHEALTHY  # 63 is 300 s younger
    assert health(conf, xid_log=log, now=XID_63_AT + 601) == {
        "0000:3b:00.0": {},
        "0000:d8:00.0": {},
    }
    conf.set_override("xid_window", 30, "gpu_devices")
    assert health(conf, xid_log=log, now=XID_63_AT + 60)["0000:3b:00.0"] == {}


def test_application_xids_never_count(conf: cfg.ConfigOpts) -> None:
    # XIDs 13, 43 and 31 of kernel-xid.log, a minute after they were logged (79 and 63
    # come later than a window ahead: not yet).
    assert health(conf, xid_log=fixture("kernel-xid.log"), now=1764767460.0) == {
        "0000:3b:00.0": {},
        "0000:d8:00.0": {},
    }


def test_a_mig_instance_with_its_own_ecc_errors_is_fatal_alone(conf: cfg.ConfigOpts) -> None:
    xml = (A100 / "var/lib/cyborg/nvidia-smi-q-x.xml").read_text()
    zero, one = "<sram_uncorrectable>0</", "<sram_uncorrectable>1</"
    bad = xml.replace(zero, one, 1)  # the first MIG instance's volatile count
    driver = nvidia_gpu.NvidiaGPUDriver(conf, root=str(A100), hostname="h", smi_xml=bad)
    migs = driver.discover()[0].deployables
    states = [dict(d.attributes).get("health", HEALTHY) for d in migs]
    assert states == [FATAL, HEALTHY, HEALTHY]
    assert dict(migs[0].attributes)["health_reason"] == (
        "1 uncorrectable ECC errors in the MIG instance"
    )


def gpu(inner: str) -> ET.Element:
    return ET.fromstring(f'<gpu id="00000000:3B:00.0">{inner}</gpu>')


@pytest.mark.parametrize(
    ("inner", "state", "reason"),
    [
        ("<remapped_rows><remapped_row_pending>Yes</remapped_row_pending></remapped_rows>",
         UNHEALTHY, "row remapping pending, reset the GPU"),
        ("<remapped_rows><remapped_row_failure>Yes</remapped_row_failure></remapped_rows>",
         FATAL, "row remapping failed"),
        ("<ecc_errors><aggregate><sram_threshold_exceeded>Yes</sram_threshold_exceeded>"
         "</aggregate></ecc_errors>", UNHEALTHY, "SRAM uncorrectable ECC errors over threshold"),
        ("<ecc_errors><volatile><sram_uncorrectable_parity>1</sram_uncorrectable_parity>"
         "<sram_uncorrectable_secded>2</sram_uncorrectable_secded></volatile></ecc_errors>",
         FATAL, "3 uncorrectable ECC errors since the last reset"),
        ("<ecc_errors><volatile><single_bit><total>9</total></single_bit><double_bit>"
         "<total>1</total></double_bit></volatile></ecc_errors>",
         FATAL, "1 uncorrectable ECC errors since the last reset"),
        ("<gpu_recovery_action>Reset</gpu_recovery_action>", FATAL,
         "nvidia-smi recovery action: Reset"),
        ("<gpu_recovery_action>Drain P2P</gpu_recovery_action>", UNHEALTHY,
         "nvidia-smi recovery action: Drain P2P"),
        ("<fb_memory_usage><total>GPU requires reset</total></fb_memory_usage>", FATAL,
         "GPU lost: GPU requires reset"),
        ("<gpu_recovery_action>None</gpu_recovery_action><ecc_errors><volatile>"
         "<dram_uncorrectable>N/A</dram_uncorrectable></volatile></ecc_errors>"
         "<retired_pages><pending_retirement>N/A</pending_retirement></retired_pages>"
         "<remapped_rows>N/A</remapped_rows>", HEALTHY, ""),
    ],
)  # fmt: skip
def test_smi_health_rules(inner: str, state: str, reason: str) -> None:
    judged = nvidia_health.smi_health(gpu(inner))
    assert (judged.state, judged.reason) == (state, reason)


@pytest.mark.parametrize(
    ("message", "state"),
    [
        ("GPU recovery action changed from 0x0 (None) to 0x1 (GPU Reset Required)", FATAL),
        ("GPU recovery action changed from 0x1 (GPU Reset Required) to 0x0 (None)", HEALTHY),
        ("GPU recovery action changed from 0x0 (None) to 0x3 (Drain P2P)", UNHEALTHY),
    ],
)
def test_xid_154_follows_the_recovery_action(message: str, state: str) -> None:
    event = nvidia_health.XidEvent("0000:3b:00", 154, 0.0, message)
    assert nvidia_health.xid_judgement(event).state == state


def test_xid_lines_in_short_iso_format_and_junk() -> None:
    text = (
        "2026-12-03T16:02:01+0000 compute-1 kernel: NVRM: Xid (PCI:0000:3B:00): 48, pid=1, DBE\n"
        "2026-12-03T16:02:02.5+00:00 compute-1 kernel: NVRM: Xid (0000:d8:00): 95, Uncontained\n"
        "compute-1 kernel: NVRM: Xid (PCI:0000:3b:00): 79, no time: left out\n"
        "1764770400.1 compute-1 kernel: NVRM: Xid (PCI:zz): 79, not an address\n"
        "\x00\xff garbage\n"
    )
    events = nvidia_health.parse_xids(text)
    assert [(e.address, e.xid) for e in events] == [("0000:3b:00", 48), ("0000:d8:00", 95)]
    assert events[1].at - events[0].at == pytest.approx(1.5)


def test_lost_gpu_messages_name_their_address() -> None:
    stderr = (
        "Unable to determine the device handle for GPU0000:08:00.0: Unknown Error\n"
        "Unable to determine the device handle for GPU1: 0000:34:00.0: GPU is lost\n"
        "Unable to determine the device handle for GPU 0: Unknown Error\n"
        "No devices were found\n"
    )
    assert sorted(nvidia_health.lost_gpus(stderr)) == ["0000:08:00.0", "0000:34:00.0"]
