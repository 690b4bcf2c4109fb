"""cyborg-agent: discovers this host's accelerators and reports them to the conductor."""

import functools
import logging
import os
import sys
from collections.abc import Sequence

import oslo_messaging
from oslo_log import log

from cyborg.agent import captures, manager
from cyborg.agent import drivers as agent_drivers
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.cmd import service
from cyborg.common import context as cyborg_context
from cyborg.common import rpc
from cyborg.conductor import rpcapi
from cyborg.conf import gpu_devices

LOG = log.getLogger(__name__)

DESCRIPTION = (
    "Run the Cyborg agent on a compute host: load the drivers in [agent] enabled_drivers, "
    "discover accelerators every [agent] report_interval seconds and report them to the "
    "conductor over RPC, as host [agent] resource_provider_name."
)


def main(argv: Sequence[str] | None = None) -> int:
    conf = service.prepare("cyborg-agent", DESCRIPTION, argv)
    hostname = conf.agent.resource_provider_name
    gpu_devices.register_dynamic_opts(conf)  # [vgpu_<type>] groups of enabled types
    try:
        loaded = agent_drivers.load(
            conf, conf.agent.enabled_drivers, conf.agent.sysfs_root, hostname
        )
    except agent_drivers.UnknownDriver as err:
        print(f"cyborg-agent: {err.message}", file=sys.stderr)
        return 2
    tracker = ResourceTracker(
        hostname,
        loaded,
        rpcapi.ConductorAPI(conf),
        before_discovery=functools.partial(
            captures.capture, conf.agent.sysfs_root, conf.agent.enabled_drivers
        ),
    )
    target = oslo_messaging.Target(topic=manager.TOPIC, server=hostname)
    server = rpc.get_server(conf, target, [manager.AgentManager(tracker, conf)])
    stop = service.stop_on_signals("cyborg-agent")
    server.start()
    LOG.info(
        "cyborg-agent running as %s with drivers %s",
        hostname,
        ", ".join(conf.agent.enabled_drivers),
    )
    context = cyborg_context.get_admin_context()
    while not stop.is_set():
        try:
            tracker.report(context)
        except oslo_messaging.MessagingTimeout:
            LOG.warning(
                "The conductor did not answer; reporting again in %ss", conf.agent.report_interval
            )
        except Exception:
            LOG.exception("Report failed; trying again in %ss", conf.agent.report_interval)
        stop.wait(conf.agent.report_interval)
    if not rpc.stop_server(server, conf.graceful_shutdown_timeout):
        # A call (an FPGA programming) outlived the grace period: leave without it.
        LOG.warning(
            "cyborg-agent stopping with calls still running after %ss",
            conf.graceful_shutdown_timeout,
        )
        logging.shutdown()
        os._exit(0)
    rpc.cleanup(conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
