"""cyborg-agent: discovers this host's accelerators and reports them to the conductor."""

import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Sequence

import oslo_messaging
from oslo_config import cfg
from oslo_log import log

from cyborg.agent import captures, manager, privileged_warmup
from cyborg.agent import drivers as agent_drivers
from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.cmd import kubernetes_node, service
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
    conductor = rpcapi.ConductorAPI(conf)
    tracker = ResourceTracker(
        hostname,
        loaded,
        conductor,
        before_discovery=functools.partial(
            captures.capture,
            conf.agent.sysfs_root,
            conf.agent.enabled_drivers,
            conf.gpu_devices.xid_source,
            conf.gpu_devices.xid_window,
        ),
    )
    target = oslo_messaging.Target(topic=conf.agent.topic, server=hostname)
    agent_manager = manager.AgentManager(tracker, conf)
    try:
        node = kubernetes_node.start(conf, tracker, loaded, agent_manager.programmer, conductor)
    except kubernetes_node.StartFailed as err:
        print(f"cyborg-agent: {err}", file=sys.stderr)
        return 2
    server = rpc.get_server(conf, target, [agent_manager])
    stop = service.stop_on_signals("cyborg-agent", conf.graceful_shutdown_timeout)
    server.start()
    privileged_warmup.start_in_background(conf)
    LOG.info(
        "cyborg-agent running as %s with drivers %s",
        hostname,
        ", ".join(conf.agent.enabled_drivers),
    )
    # Reports run beside the main thread: one waiting on a conductor that is gone
    # (up to rpc_response_timeout, twice) must not hold up a shutdown.
    reports = threading.Thread(
        target=_report_until, args=(tracker, conf, stop), name="agent-reports", daemon=True
    )
    reports.start()
    while not stop.wait(1):  # a timed wait: the main thread must wake for signals
        pass
    deadline = time.monotonic() + conf.graceful_shutdown_timeout
    node.stop(max(0.0, deadline - time.monotonic()) / 2)
    calls = rpc.stop_server(server, conf.graceful_shutdown_timeout)
    reports.join(max(0.0, deadline - time.monotonic()))
    report = not reports.is_alive()
    closed = calls and report and rpc.cleanup_within(conf, deadline - time.monotonic())
    if not closed:
        # A call (an FPGA programming) or a report outlived the grace period: leave
        # without it (the conductor stores the next report the agent sends).
        unfinished = [w for w, done in (("calls", calls), ("a report", report)) if not done]
        LOG.warning(
            "cyborg-agent stopping after %ss with %s unfinished",
            conf.graceful_shutdown_timeout,
            " and ".join(unfinished) or "the broker connections' closing",
        )
        logging.shutdown()
        os._exit(0)
    return 0


def _report_until(tracker: ResourceTracker, conf: cfg.ConfigOpts, stop: threading.Event) -> None:
    """Report every ``[agent] report_interval`` seconds until ``stop`` is set."""
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


if __name__ == "__main__":
    sys.exit(main())
