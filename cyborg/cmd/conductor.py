"""cyborg-conductor: the RPC service that owns the database and Placement sync."""

import sys
import time
from collections.abc import Sequence
from typing import Any

from oslo_log import log

from cyborg.cmd import service
from cyborg.common import context as cyborg_context
from cyborg.conductor import report_flow, server
from cyborg.db import api as db_api

LOG = log.getLogger(__name__)

DESCRIPTION = (
    "Run the Cyborg conductor: the oslo.messaging RPC server (topic cyborg-conductor, "
    "exchange cyborg) that is the only writer to the database, applies agent reports, "
    "keeps Placement in step and binds accelerator requests."
)


def _check_hosts(conf: Any, context: Any) -> None:
    """Mark hosts whose agents went silent as stale (several conductors may all do it)."""
    try:
        report_flow.mark_silent_hosts_stale(conf, context)
    except Exception:
        LOG.exception("Checking for silent hosts failed; trying again later")


def main(argv: Sequence[str] | None = None) -> int:
    conf = service.prepare("cyborg-conductor", DESCRIPTION, argv)
    db_api.configure(conf)
    stop = service.stop_on_signals("cyborg-conductor")
    rpc_server = server.start(conf)
    LOG.info("cyborg-conductor listening on topic %s as %s", conf.conductor.topic, conf.host)
    # A timed wait: the main thread must wake up for the signal handler to run.
    context = cyborg_context.get_admin_context()
    next_check = time.monotonic()
    while not stop.wait(1):
        if time.monotonic() >= next_check:
            next_check = time.monotonic() + conf.periodic_interval
            _check_hosts(conf, context)
    server.stop(conf, rpc_server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
