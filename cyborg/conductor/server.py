"""Start and stop a conductor: its RPC server and its periodic tasks (the service,
the all-in-one and tests)."""

import dataclasses

import oslo_messaging
from oslo_config import cfg

from cyborg.agent import rpcapi as agent_rpcapi
from cyborg.common import rpc
from cyborg.conductor import manager, periodic


@dataclasses.dataclass
class Conductor:
    rpc_server: oslo_messaging.MessageHandlingServer
    tasks: periodic.PeriodicTasks | None


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
    return Conductor(server, tasks)


def stop(conf: cfg.ConfigOpts, conductor: Conductor) -> None:
    """Stop taking messages, let the calls in progress answer, close the transport."""
    conductor.rpc_server.stop()
    conductor.rpc_server.wait()
    if conductor.tasks is not None:
        conductor.tasks.stop()
    rpc.cleanup(conf)
