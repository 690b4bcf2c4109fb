"""Many agents in one process: each reports its own simulated host over RabbitMQ.

The functional tests run a few of these to put dozens of hosts in front of the
conductors without paying for dozens of interpreters. Each simulated agent is the
real ResourceTracker with the fake driver, calling the real conductor RPC API;
only the agents' own RPC servers (conductor-to-agent calls) are left out.

    python -m tests.functional.agent_swarm --config-file SWARM.conf

``[swarm] hosts`` names the hosts, ``[swarm] devices`` the GPUs each one has, and
``[swarm] inventory_dir`` may hold ``<host>.json`` files (the fake driver's
format) that replace a host's generated inventory while the swarm runs.
"""

import os
import sys
import threading
from collections.abc import Sequence

import oslo_messaging
from oslo_config import cfg
from oslo_log import log

from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.cmd import service
from cyborg.common import context as cyborg_context
from cyborg.common import inventory
from cyborg.conductor import rpcapi
from cyborg.drivers import fake, fake_inventory
from cyborg.drivers.base import Driver

LOG = log.getLogger("agent-swarm")

OPTS = [
    cfg.ListOpt("hosts", default=[]),
    cfg.IntOpt("devices", default=8),
    cfg.StrOpt("inventory_dir"),
]


def generated(hostname: str, count: int) -> list[dict[str, object]]:
    """``count`` GPUs of 16 GiB on buses 0x10.., in the fake driver's file format."""
    return [
        {
            "type": "GPU",
            "address": f"0000:{0x10 + n:02x}:00.0",
            "model": "SwarmGPU",
            "deployables": [{"attributes": {"memory_mb": "16384", "numa_node": str(n % 2)}}],
        }
        for n in range(count)
    ]


class SwarmHost(Driver):
    """The fake driver on a generated inventory, or on ``<dir>/<host>.json`` if present."""

    name = "fake_driver"

    def __init__(self, hostname: str, count: int, directory: str | None) -> None:
        super().__init__(None, "/", hostname)
        self.path = os.path.join(directory, f"{hostname}.json") if directory else None
        self.default = fake_inventory.parse(generated(hostname, count), fake.safe_name(hostname))

    def discover(self) -> list[inventory.DeviceReport]:
        if self.path and os.path.exists(self.path):
            return fake_inventory.load(self.path, fake.safe_name(self.hostname))
        return list(self.default)


def run_agent(
    tracker: ResourceTracker, interval: int, stop: threading.Event
) -> None:  # pragma: no cover - runs in the swarm's subprocess
    context = cyborg_context.get_admin_context()
    while not stop.is_set():
        try:
            tracker.report(context)
        except oslo_messaging.MessagingTimeout:
            LOG.warning("%s: the conductor did not answer", tracker.hostname)
        except Exception:
            LOG.exception("%s: report failed", tracker.hostname)
        stop.wait(interval)


def main(argv: Sequence[str] | None = None) -> int:
    conf = cfg.ConfigOpts()
    conf.register_opts(OPTS, group="swarm")
    service.prepare("agent-swarm", __doc__ or "", argv, conf=conf)
    conductor = rpcapi.ConductorAPI(conf)
    stop = service.stop_on_signals("agent-swarm")
    threads = [
        threading.Thread(
            target=run_agent,
            args=(
                ResourceTracker(
                    host,
                    [SwarmHost(host, conf.swarm.devices, conf.swarm.inventory_dir)],
                    conductor,
                ),
                conf.agent.report_interval,
                stop,
            ),
            name=host,
        )
        for host in conf.swarm.hosts
    ]
    for thread in threads:
        thread.start()
    LOG.info("agent-swarm running %d agents", len(threads))
    while not stop.wait(1):
        pass
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
