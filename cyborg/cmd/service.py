"""What every console script does first: parse config and set up logging."""

import faulthandler
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from oslo_config import cfg
from oslo_log import log

import cyborg.conf
from cyborg import version


def prepare(
    name: str,
    description: str,
    argv: Sequence[str] | None = None,
    conf: cfg.ConfigOpts | None = None,
) -> cfg.ConfigOpts:
    """Parse ``argv`` (``--help`` shows ``description``) and start logging as ``name``."""
    conf = conf if conf is not None else cyborg.conf.CONF
    cyborg.conf.parse_args(
        [name, *(argv if argv is not None else sys.argv[1:])],
        conf=conf,
        description=description,
    )
    log.setup(conf, "cyborg")
    log.getLogger(name).info("%s %s starting", name, version.version_string())
    return conf


#: How long past its grace period a stopping service may take before it is cut short.
STOP_MARGIN = 5.0


def stop_on_signals(name: str, grace: float | None = None) -> threading.Event:
    """An event set by SIGTERM or SIGINT; wait on it with a timeout so signals get in.

    With ``grace`` (``[DEFAULT] graceful_shutdown_timeout``), the first signal also
    starts a watchdog: a service still running ``grace`` + STOP_MARGIN seconds later
    writes every thread's stack to stderr and exits, whatever it was waiting on (a
    thread the interpreter joins at exit, a lock a library never lets go), so a
    SIGTERM is always followed by an exit in bounded time, as oslo.service does."""
    stop = threading.Event()
    logger = log.getLogger(name)

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("%s got %s, stopping", name, signal.Signals(signum).name)
        if grace is not None and not stop.is_set():
            _start_watchdog(name, grace + STOP_MARGIN)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)
    return stop


def _start_watchdog(name: str, seconds: float) -> None:
    def cut_short() -> None:
        log.getLogger(name).error(
            "%s still running %.0fs after the stop signal; exiting without the rest "
            "(the thread stacks are on stderr)",
            name,
            seconds,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(seconds, cut_short)
    timer.name = "stop-watchdog"
    timer.daemon = True
    timer.start()
