"""Start and stop a conductor: its RPC server and its periodic tasks (the service,
the all-in-one and tests)."""

import dataclasses
import time

import oslo_messaging
from oslo_config import cfg
from oslo_log import log

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import rpc
from cyborg.conductor import manager, periodic

LOG = log.getLogger(__name__)


@dataclasses.dataclass
class Conductor:
    rpc_server: oslo_messaging.MessageHandlingServer
    tasks: periodic.PeriodicTasks | None
    endpoint: manager.ConductorManager


def start(conf: cfg.ConfigOpts, *, background: bool = True) -> Conductor:
    """Serve ConductorManager on ``[conductor] topic`` as server ``[DEFAULT] host``.

    ``background`` also runs the periodic tasks, which deliver Nova's events (tests
    of one call leave them out, and Nova is then not told).
    """
    endpoint = manager.ConductorManager(
        conf, agent=agent_rpcapi.AgentAPI(conf), tell_nova=background
    )
    tasks = (
        periodic.PeriodicTasks(conf, endpoint.binder, endpoint.placement, endpoint.nova)
        if background
        else None
    )
    target = oslo_messaging.Target(topic=conf.conductor.topic, server=conf.host)
    server = rpc.get_server(conf, target, [endpoint])
    server.start()
    if tasks is not None:
        tasks.start()
    return Conductor(server, tasks, endpoint)


def stop(conf: cfg.ConfigOpts, conductor: Conductor) -> bool:
    """Stop taking messages and let the work in progress finish, for at most
    ``[DEFAULT] graceful_shutdown_timeout`` seconds; close the transport.

    False when work was still running at the deadline: the caller should exit anyway
    (cyborg.cmd.conductor does). What is left is in a state another conductor resumes:
    a bind stays BindStarted, a deletion Deleting.
    """
    deadline = time.monotonic() + conf.graceful_shutdown_timeout
    calls = rpc.stop_server(conductor.rpc_server, conf.graceful_shutdown_timeout)
    binds = conductor.endpoint.stop_background(deadline - time.monotonic())
    if conductor.tasks is not None:
        conductor.tasks.stop()
    if not (calls and binds):
        LOG.warning(
            "Stopping after %ss with work still running (%s); another conductor "
            "finishes or fails it",
            conf.graceful_shutdown_timeout,
            ", ".join(
                what for what, finished in (("RPC calls", calls), ("binds", binds)) if not finished
            ),
        )
        return False
    rpc.cleanup(conf)
    return True
