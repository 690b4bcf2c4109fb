"""cyborg-conductor: the RPC service that owns the database and Placement sync."""

import logging
import os
import sys
from collections.abc import Sequence

from oslo_log import log

from cyborg.cmd import service
from cyborg.conductor import server
from cyborg.db import api as db_api

LOG = log.getLogger(__name__)

DESCRIPTION = (
    "Run the Cyborg conductor: the oslo.messaging RPC server (topic cyborg-conductor, "
    "exchange cyborg) that is the only writer to the database, applies agent reports, "
    "keeps Placement in step and binds accelerator requests."
)


def main(argv: Sequence[str] | None = None) -> int:
    conf = service.prepare("cyborg-conductor", DESCRIPTION, argv)
    db_api.configure(conf)
    stop = service.stop_on_signals("cyborg-conductor", conf.graceful_shutdown_timeout)
    conductor = server.start(conf)
    LOG.info("cyborg-conductor listening on topic %s as %s", conf.conductor.topic, conf.host)
    # A timed wait: the main thread must wake up for the signal handler to run.
    while not stop.wait(1):
        pass
    if not server.stop(conf, conductor):
        # Past the grace period: threads still serving calls would keep the process
        # alive, so leave without them (their work is resumed by another conductor).
        logging.shutdown()
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
