"""Cyborg's configuration: one module per option group.

Library code should take a ``cfg.ConfigOpts`` argument; ``CONF`` is for the entry
points in cyborg.cmd and cyborg.wsgi.

Each module's ``GROUP`` object carries the group's help for the sample only: modules
register their options by group *name*. oslo.config keeps a shallow copy of a
registered ``OptGroup``, so every ConfigOpts registered with the same object would share
one table of overrides and defaults, and a value set on one would show in the others.
"""

from oslo_config import cfg
from oslo_log import log

from cyborg import version
from cyborg.conf import opts

CONF = cfg.CONF


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register every static group of ours on ``conf``; calling it again is harmless."""
    for module in opts.MODULES:
        module.register_opts(conf)


def parse_args(
    argv: list[str],
    conf: cfg.ConfigOpts = CONF,
    default_config_files: list[str] | None = None,
    description: str | None = None,
) -> None:
    """Parse the command line and config files of a Cyborg service into ``conf``.

    ``argv`` is the full ``sys.argv``: its first item, the program name, is skipped.
    ``description`` is what ``--help`` prints above the options.
    """
    register_opts(conf)
    # oslo.log registers CLI options, which may not be registered twice on a parsed conf.
    if "log_config_append" not in conf:
        log.register_options(conf)
    opts.set_lib_defaults(conf)
    conf(
        argv[1:],
        project="cyborg",
        version=version.version_string(),
        default_config_files=default_config_files,
        description=description,
    )


register_opts(CONF)
