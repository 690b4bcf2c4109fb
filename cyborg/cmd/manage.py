"""cyborg-manage: operator commands.

cyborg-manage [--config-file cyborg.conf] placement sync [--host HOST]
    Resync Placement with the stored inventory (every host, or one): the drift repair
    the conductors run every ``[placement] audit_interval`` seconds. Exits 1 when a
    host is not in step, 2 when Placement is not configured. Progress (hosts synced)
    goes to stderr: a bar on a terminal, a line every 10% of the hosts otherwise.
"""

import argparse
import sys
from collections.abc import Sequence

from oslo_config import cfg

import cyborg.conf
from cyborg.common import context as cyborg_context
from cyborg.common import exception, progress
from cyborg.conductor.placement import provider_sync
from cyborg.db import api as db_api


def _placement_sync(conf: cfg.ConfigOpts) -> int:
    try:
        sync = provider_sync.PlacementSync.from_conf(conf)
    except exception.CyborgException as err:
        print(err.message, file=sys.stderr)
        return 2
    if sync is None:
        print(exception.PlacementNotConfigured().message, file=sys.stderr)
        return 2
    db_api.configure(conf)
    # On stderr: every 10% of the hosts (a bar on a terminal); the results on stdout.
    with progress.Progress("cyborg-manage placement sync") as reporter:
        results = sync.audit(cyborg_context.get_admin_context(), conf.command.hostname, reporter)
    for result in results:
        print(result.summary())
        for problem in result.problems:
            print(f"  {problem}")
    if not results:
        print("No hosts: nothing to sync.")
    return 0 if all(r.in_step for r in results) else 1


def _add_command_parsers(subparsers: argparse._SubParsersAction) -> None:
    placement = subparsers.add_parser(
        "placement", help="Resource providers of the devices in Placement."
    )
    actions = placement.add_subparsers(title="placement commands", dest="action")
    actions.required = True
    sync = actions.add_parser(
        "sync",
        help="Resync Placement with the stored inventory (drift repair).",
        description="Drift repair: read every provider of the hosts' devices in Placement "
        "again and repair what differs from the database: missing or extra providers, "
        "inventories, traits. Providers of removed devices are deleted once nothing is "
        "allocated on them. Other providers under the compute nodes are never touched.",
    )
    sync.add_argument("--host", dest="hostname", help="Only this host (its devices' hostname).")
    sync.set_defaults(func=_placement_sync)


COMMAND_OPT = cfg.SubCommandOpt(
    "command",
    title="Commands",
    help="Available commands",
    handler=_add_command_parsers,
)


def main(argv: Sequence[str] | None = None, conf: cfg.ConfigOpts | None = None) -> int:
    conf = conf if conf is not None else cyborg.conf.CONF
    conf.register_cli_opt(COMMAND_OPT)
    cyborg.conf.parse_args(
        list(argv if argv is not None else sys.argv),
        conf=conf,
        description="Cyborg operator commands (Placement resync).",
    )
    return int(conf.command.func(conf))


if __name__ == "__main__":
    sys.exit(main())
