"""The all-in-one's simulated host, reported when no driver finds hardware.

Upstream's fake FPGA board (cyborg.drivers.fake), two GPUs of a model in the
scheduler's catalog, NVLinked to each other, so that the graph-aware scheduler plans
on them out of the box (their figures are the catalog's), and a programmable
simulated FPGA (cyborg.drivers.simulated_pac, bitstreams in cyborg.cmd.aio_fpga).
``[fake_driver] inventory_file`` describes the whole simulated host instead.
"""

import os
from typing import Any

from oslo_config import cfg

from cyborg.cmd import aio_fpga
from cyborg.drivers import fake, fake_inventory, simulated_pac
from cyborg.drivers.base import DeviceReport, Driver

#: A catalog model (cyborg.scheduler.catalog): the planner knows its figures.
GPU_MODEL = "A100-SXM4-80GB"
GPU_MEMORY_MB = 80 * 1024
GPU_ADDRESSES = fake.GPU_ADDRESSES
GPU_TRAIT = "CUSTOM_FAKE_GPU"


def gpu_name(safe_host: str, index: int) -> str:
    return f"{safe_host}_GPU{index}"


def gpus(hostname: str) -> list[DeviceReport]:
    """The two GPUs, in the fake driver's inventory format (cyborg.drivers.fake_inventory)."""
    safe = fake.safe_name(hostname)
    devices: list[dict[str, Any]] = []
    for index, address in enumerate(GPU_ADDRESSES):
        peers = [gpu_name(safe, other) for other in range(len(GPU_ADDRESSES)) if other != index]
        attributes = {
            "memory_mb": str(GPU_MEMORY_MB),
            "numa_node": "0",
            "peer_links": ",".join(peers),  # NVLink, the catalog's bandwidth
        }
        devices.append(
            {
                "type": "GPU",
                "address": address,
                "vendor": "10de",
                "model": GPU_MODEL,
                "deployables": [
                    {
                        "name": gpu_name(safe, index),
                        "resource_class": "PGPU",
                        "traits": [GPU_TRAIT],
                        "attributes": attributes,
                    }
                ],
            }
        )
    return fake_inventory.parse(devices, safe, "the all-in-one's simulated host")


def simulated_host(conf: cfg.ConfigOpts, root: str, hostname: str) -> list[Driver]:
    """The drivers of the simulated host; the card's sysfs lives in the state directory."""
    if conf.fake_driver.inventory_file:
        return [fake.FakeDriver(conf, root, hostname)]
    inventory = [fake.fake_fpga(hostname), *gpus(hostname)]
    card = os.path.join(conf.state_path, "simulated-fpga")
    simulated_pac.build_tree(card, aio_fpga.INITIAL.afu_uuid)
    return [
        fake.FakeDriver(conf, root, hostname, inventory=inventory),
        simulated_pac.SimulatedPACDriver(conf, card, hostname),
    ]
