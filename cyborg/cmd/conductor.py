"""cyborg-conductor: the RPC service that owns the database and Placement sync."""

import signal
import sys
import threading
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import oslo_messaging
from oslo_log import log

from cyborg.cmd import service
from cyborg.common import context as cyborg_context
from cyborg.common import rpc
from cyborg.conductor import manager, report_flow
from cyborg.db import api as db_api

LOG = log.getLogger(__name__)

DESCRIPTION = (
    "Run the Cyborg conductor: the oslo.messaging RPC server (topic cyborg-conductor, "
    "exchange cyborg) that is the only writer to the database, applies agent reports, "
    "keeps Placement in step and binds accelerator requests."
)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        LOG.info("cyborg-conductor got %s, stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)


def _check_hosts(conf: Any, context: Any) -> None:
    """Mark hosts whose agents went silent as stale (several conductors may all do it)."""
    try:
        report_flow.mark_silent_hosts_stale(conf, context)
    except Exception:
        LOG.exception("Checking for silent hosts failed; trying again later")


def main(argv: Sequence[str] | None = None) -> int:
    conf = service.prepare("cyborg-conductor", DESCRIPTION, argv)
    db_api.configure(conf)
    target = oslo_messaging.Target(topic=conf.conductor.topic, server=conf.host)
    server = rpc.get_server(conf, target, [manager.ConductorManager(conf)])
    stop = threading.Event()
    _stop_on_signals(stop)
    server.start()
    LOG.info("cyborg-conductor listening on topic %s as %s", conf.conductor.topic, conf.host)
    # A timed wait: the main thread must wake up for the signal handler to run.
    context = cyborg_context.get_admin_context()
    next_check = time.monotonic()
    while not stop.wait(1):
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + conf.periodic_interval
            _check_hosts(conf, context)
    # Stop taking messages, then let the calls in progress finish and answer.
    server.stop()
    server.wait()
    rpc.cleanup(conf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
