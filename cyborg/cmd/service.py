"""What every console script does first: parse config and set up logging."""

import sys
from collections.abc import Sequence

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
