"""cyborg-dbsync: create and upgrade the database schema.

cyborg-dbsync [--config-file cyborg.conf] upgrade [--revision REV]
cyborg-dbsync version
cyborg-dbsync stamp --revision REV
cyborg-dbsync revision -m MESSAGE [--autogenerate]   (developers)
"""

import argparse
import sys
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from oslo_config import cfg
from oslo_db.sqlalchemy import engines

import cyborg.conf
from cyborg.common import progress
from cyborg.db import api as db_api
from cyborg.db import migration

Handler = Callable[[cfg.ConfigOpts, sa.Engine], int]


def _upgrade(conf: cfg.ConfigOpts, engine: sa.Engine) -> int:
    before = migration.current_revision(engine)
    # On stderr: a line per revision applied (a bar on a terminal).
    with progress.Progress("cyborg-dbsync upgrade", line_every=1) as reporter:
        migration.upgrade(engine, conf.command.revision, reporter)
    after = migration.current_revision(engine)
    print(f"Database schema: {before or 'empty'} -> {after}")
    return 0


def _version(conf: cfg.ConfigOpts, engine: sa.Engine) -> int:
    current = migration.current_revision(engine)
    head = migration.head_revision()
    print(current or "None")
    if current != head:
        print(f"(this code's head is {head}; run `cyborg-dbsync upgrade`)", file=sys.stderr)
    return 0


def _stamp(conf: cfg.ConfigOpts, engine: sa.Engine) -> int:
    migration.stamp(engine, conf.command.revision)
    print(f"Database stamped at {migration.current_revision(engine)}")
    return 0


def _revision(conf: cfg.ConfigOpts, engine: sa.Engine) -> int:
    path = migration.revision(engine, conf.command.message, conf.command.autogenerate)
    print(f"Wrote {path}")
    return 0


def _add_command_parsers(subparsers: argparse._SubParsersAction) -> None:
    upgrade = subparsers.add_parser("upgrade", help="Upgrade the schema (to head by default).")
    upgrade.add_argument("--revision", default="head", help="Target revision (default: head).")
    upgrade.set_defaults(func=_upgrade)

    version = subparsers.add_parser("version", help="Print the schema's current revision.")
    version.set_defaults(func=_version)

    stamp = subparsers.add_parser(
        "stamp", help="Record a revision as current without running migrations."
    )
    stamp.add_argument("--revision", default="head", help="Revision to record (default: head).")
    stamp.set_defaults(func=_stamp)

    revision = subparsers.add_parser(
        "revision", help="Create a new migration script (for developers)."
    )
    revision.add_argument("-m", "--message", required=True, help="What the migration does.")
    revision.add_argument(
        "--autogenerate", action="store_true", help="Draft it from the models' differences."
    )
    revision.set_defaults(func=_revision)


COMMAND_OPT = cfg.SubCommandOpt(
    "command",
    title="Commands",
    help="Available commands",
    handler=_add_command_parsers,
)


def main(argv: Sequence[str] | None = None, conf: cfg.ConfigOpts | None = None) -> int:
    conf = conf if conf is not None else cyborg.conf.CONF
    conf.register_cli_opt(COMMAND_OPT)
    cyborg.conf.parse_args(list(argv if argv is not None else sys.argv), conf=conf)
    engine = engines.create_engine(
        db_api.connection_url(conf.database.connection),
        sqlite_fk=True,
        mysql_sql_mode=conf.database.mysql_sql_mode,
    )
    try:
        handler: Handler = conf.command.func
        return handler(conf, engine)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
