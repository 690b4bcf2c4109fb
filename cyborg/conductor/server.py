"""Start and stop the conductor's RPC server (the service, the all-in-one and tests)."""

import oslo_messaging
from oslo_config import cfg

from cyborg.common import rpc
from cyborg.conductor import manager


def start(conf: cfg.ConfigOpts) -> oslo_messaging.MessageHandlingServer:
    """Serve ConductorManager on ``[conductor] topic`` as server ``[DEFAULT] host``."""
    target = oslo_messaging.Target(topic=conf.conductor.topic, server=conf.host)
    server = rpc.get_server(conf, target, [manager.ConductorManager(conf)])
    server.start()
    return server


def stop(conf: cfg.ConfigOpts, server: oslo_messaging.MessageHandlingServer) -> None:
    """Stop taking messages, let the calls in progress answer, close the transport."""
    server.stop()
    server.wait()
    rpc.cleanup(conf)
