"""What every console script does first: parse config and set up logging."""

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


def stop_on_signals(name: str) -> threading.Event:
    """An event set by SIGTERM or SIGINT; wait on it with a timeout so signals get in."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        log.getLogger(name).info("%s got %s, stopping", name, signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, handler)
    return stop
