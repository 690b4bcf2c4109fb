"""Each driver of ours loads by name through stevedore, as the agent loads it."""

import pathlib

import pytest
import stevedore.driver
from oslo_config import cfg

import cyborg.conf
from cyborg.drivers import fake, generic_pci, nvidia_gpu, nvme_ssd

HOSTS = pathlib.Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


@pytest.mark.parametrize(
    ("name", "cls", "host", "found"),
    [
        ("fake_driver", fake.FakeDriver, "mixed-pci", 3),
        ("nvidia_gpu_driver", nvidia_gpu.NvidiaGPUDriver, "nvidia-a100-mig", 2),
        ("nvme_ssd_driver", nvme_ssd.NVMeSSDDriver, "nvme-2disks", 2),
        ("pci_driver", generic_pci.GenericPCIDriver, "mixed-pci", 1),
    ],
)
def test_driver_loads_through_stevedore(name: str, cls: type, host: str, found: int) -> None:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("passthrough_whitelist", ['{"vendor_id": "19e5"}'], "pci")
    manager = stevedore.driver.DriverManager(
        "cyborg.accelerator.driver",
        name,
        invoke_on_load=True,
        invoke_args=(conf,),
        invoke_kwds={"root": str(HOSTS / host), "hostname": "compute-1"},
    )
    driver = manager.driver
    assert type(driver) is cls and driver.name == name
    assert (driver.conf, driver.root, driver.hostname) == (conf, str(HOSTS / host), "compute-1")
    assert len(driver.discover()) == found
