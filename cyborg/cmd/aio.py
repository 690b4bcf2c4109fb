"""cyborg-aio: the embedded all-in-one service on one machine.

Keeps its state (a SQLite database) in ``--state-dir``, which survives restarts,
and uses no-auth on 127.0.0.1.
"""

import os
import sys
from collections.abc import Sequence

import platformdirs
from oslo_config import cfg
from oslo_db.sqlalchemy import engines
from oslo_log import log

from cyborg.cmd import service
from cyborg.db import migration

LOG = log.getLogger(__name__)

DESCRIPTION = (
    "Run the Cyborg all-in-one: API, conductor, agent and an embedded Placement in one "
    "process, with SQLite in a state directory and no authentication on 127.0.0.1. "
    "For trying Cyborg out and for development; use the separate services in production."
)

CLI_OPTS = [
    cfg.StrOpt(
        "state-dir",
        default=platformdirs.user_data_dir("cyborg-aio"),
        sample_default="<user data dir>/cyborg-aio",
        help="Directory for the database and other state; created if missing.",
    ),
    cfg.PortOpt("port", default=6666, help="Port of the API on 127.0.0.1."),
]


def prepare_state(conf: cfg.ConfigOpts) -> str:
    """Create the state directory and bring its SQLite schema to head; return the DB URL."""
    state_dir = os.path.abspath(os.path.expanduser(conf.state_dir))
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    url = f"sqlite:///{os.path.join(state_dir, 'cyborg.sqlite')}"
    conf.set_override("state_path", state_dir)
    conf.set_override("connection", url, group="database")
    conf.set_override("auth_strategy", "noauth")
    engine = engines.create_engine(url, sqlite_fk=True)
    try:
        before = migration.current_revision(engine)
        migration.upgrade(engine)
        LOG.info(
            "Database %s: schema %s",
            url,
            "created" if before is None else f"at {migration.current_revision(engine)}",
        )
    finally:
        engine.dispose()
    return url


def main(argv: Sequence[str] | None = None, conf: cfg.ConfigOpts | None = None) -> int:
    conf = conf if conf is not None else cfg.CONF
    conf.register_cli_opts(CLI_OPTS)
    service.prepare("cyborg-aio", DESCRIPTION, argv, conf)
    prepare_state(conf)
    # The API, conductor, agent and embedded Placement join here as they are built
    # (issues #3, #4, #5 and #7); until then the all-in-one prepares its state only.
    print(f"cyborg-aio: state ready in {conf.state_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
