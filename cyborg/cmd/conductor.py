"""cyborg-conductor: the RPC service that owns the database and Placement sync."""

import sys
from collections.abc import Sequence

from cyborg.cmd import service

DESCRIPTION = (
    "Run the Cyborg conductor: the oslo.messaging RPC server (topic cyborg-conductor, "
    "exchange cyborg) that is the only writer to the database, applies agent reports, "
    "keeps Placement in step and binds accelerator requests."
)


def main(argv: Sequence[str] | None = None) -> int:
    service.prepare("cyborg-conductor", DESCRIPTION, argv)
    print("cyborg-conductor: the RPC service is not in this release yet.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
