"""cyborg-agent: discovers this host's accelerators and reports them to the conductor."""

import sys
from collections.abc import Sequence

from cyborg.cmd import service

DESCRIPTION = (
    "Run the Cyborg agent on a compute host: load the drivers in [agent] enabled_drivers, "
    "discover accelerators every [agent] report_interval seconds and report them to the "
    "conductor over RPC."
)


def main(argv: Sequence[str] | None = None) -> int:
    service.prepare("cyborg-agent", DESCRIPTION, argv)
    print("cyborg-agent: the agent service is not in this release yet.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
