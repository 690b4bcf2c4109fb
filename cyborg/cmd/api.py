"""cyborg-api: the REST API (v2, compatible with upstream Cyborg) under a WSGI server."""

import sys
from collections.abc import Sequence

from cyborg.cmd import service

DESCRIPTION = (
    "Run the Cyborg REST API (v2) on [api] host_ip and [api] port with [api] api_workers "
    "worker processes. In production prefer serving cyborg.wsgi.api:application from "
    "your own WSGI server (uwsgi, gunicorn, mod_wsgi)."
)


def main(argv: Sequence[str] | None = None) -> int:
    service.prepare("cyborg-api", DESCRIPTION, argv)
    print("cyborg-api: the REST API is not in this release yet.", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
