"""Options of the [database] group: oslo.db's options plus our own."""

import copy

from oslo_config import cfg
from oslo_db import options as db_options

GROUP = cfg.OptGroup(
    "database",
    title="Database options",
    help="Where the conductor and the API keep their data. Only these two services "
    "use the database; agents never connect to it.",
)

# Relative to [DEFAULT] state_path so that a fresh all-in-one works without a DB server.
DEFAULT_CONNECTION = "sqlite:///$state_path/cyborg.sqlite"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "mysql_engine",
        default="InnoDB",
        help="Storage engine of the tables created on MySQL or MariaDB. Keep InnoDB: "
        "Cyborg relies on transactions and foreign keys.",
    ),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    # By name, so each ConfigOpts gets its own group (see cyborg.conf).
    db_options.set_defaults(conf, connection=DEFAULT_CONNECTION)
    conf.register_opts(OPTS, group=GROUP.name)


def list_opts() -> dict[str | cfg.OptGroup, list[cfg.Opt]]:
    # Copies, so that showing our connection default in the sample does not change the
    # defaults oslo.db's own listing reports.
    listed: list[cfg.Opt] = []
    for _group, opts in db_options.list_opts():
        listed.extend(copy.deepcopy(opts))
    cfg.set_defaults(listed, connection=DEFAULT_CONNECTION)
    return {GROUP: listed + OPTS}
