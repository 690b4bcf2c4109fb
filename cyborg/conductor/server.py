"""Start and stop a conductor: its RPC server and its periodic tasks (the service,
the all-in-one and tests)."""

import dataclasses
import time

import oslo_messaging
from oslo_config import cfg
from oslo_log import log

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import rpc
from cyborg.conductor import liveness, manager, periodic

LOG = log.getLogger(__name__)


@dataclasses.dataclass
class Conductor:
    rpc_server: oslo_messaging.MessageHandlingServer
    tasks: periodic.PeriodicTasks | None
    endpoint: manager.ConductorManager
    heartbeat: liveness.Heartbeat | None = None


def start(conf: cfg.ConfigOpts, *, background: bool = True) -> Conductor:
    """Serve ConductorManager on ``[conductor] topic`` as server ``[DEFAULT] host``.

    ``background`` also runs the periodic tasks, which deliver Nova's events and take
    over the binds of conductors that stopped, and the heartbeat by which the others
    know this one is alive (tests of one call leave them out: Nova is then not told,
    and the binds name no conductor).
    """
    heartbeat = liveness.Heartbeat(conf) if background else None
    if heartbeat is not None:
        heartbeat.start()
    endpoint = manager.ConductorManager(
        conf,
        agent=agent_rpcapi.AgentAPI(conf),
        tell_nova=background,
        conductor=None if heartbeat is None else heartbeat.uuid,
        batch_liveness=background,
    )
    tasks = (
        periodic.PeriodicTasks(
            conf, endpoint.binder, endpoint.placement, endpoint.nova, endpoint.seen
        )
        if background
        else None
    )
    target = oslo_messaging.Target(topic=conf.conductor.topic, server=conf.host)
    server = rpc.get_server(conf, target, [endpoint])
    server.start()
    if tasks is not None:
        tasks.start()
    return Conductor(server, tasks, endpoint, heartbeat)


def stop(conf: cfg.ConfigOpts, conductor: Conductor) -> bool:
    """Stop taking messages and let the work in progress finish, for at most
    ``[DEFAULT] graceful_shutdown_timeout`` seconds; close the transport.

    False when work was still running at the deadline: the caller should exit anyway
    (cyborg.cmd.conductor does). What is left is in a state another conductor resumes:
    a bind stays BindStarted, a deletion Deleting. The heartbeat stops last, saying
    this conductor has stopped: the others take its binds over at once.
    """
    deadline = time.monotonic() + conf.graceful_shutdown_timeout
    if conductor.tasks is not None:
        conductor.tasks.request_stop()  # its round ends while the calls finish
    calls = rpc.stop_server(conductor.rpc_server, conf.graceful_shutdown_timeout)
    binds = conductor.endpoint.stop_background(deadline - time.monotonic())
    tasks = conductor.tasks is None or conductor.tasks.stop(deadline - time.monotonic())
    if conductor.heartbeat is not None:
        conductor.heartbeat.stop()
    if not (calls and binds and tasks):
        LOG.warning(
            "Stopping after %ss with work still running (%s); another conductor "
            "finishes or fails it",
            conf.graceful_shutdown_timeout,
            ", ".join(
                what
                for what, finished in (
                    ("RPC calls", calls),
                    ("binds", binds),
                    ("periodic tasks", tasks),
                )
                if not finished
            ),
        )
        return False
    # Past the deadline the caller exits without closing the broker connections.
    return rpc.cleanup_within(conf, deadline - time.monotonic())
