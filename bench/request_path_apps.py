"""WSGI apps for bench/request_path.py, served by gunicorn in its worker processes.

``hello``: the bare application the request overhead is measured against (a fixed
JSON body the size of a one-device list, no middleware).

``profiled``: cyborg-api's ``cyborg.wsgi.api:application`` with yappi running in the
worker (CPU clock, every thread); ``GET /__profile__?path=FILE`` writes the statistics
so far to FILE (pstats format) and clears them. Only bench/request_path.py serves it.
"""

import json
import os
from collections.abc import Callable, Iterable
from typing import Any

BODY = json.dumps({"devices": [{"uuid": "0" * 36, "type": "GPU", "vendor": "10de"}] * 1}).encode()


def hello(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))]
    )
    return [BODY]


def _profiled() -> Callable[..., Iterable[bytes]]:
    import yappi

    from cyborg.wsgi import api

    yappi.set_clock_type(os.environ.get("CYBORG_BENCH_CLOCK", "cpu"))
    yappi.start(builtins=False, profile_threads=True)

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == "/__profile__":
            target = environ.get("QUERY_STRING", "").removeprefix("path=")
            yappi.get_func_stats().save(target, type="pstat")
            yappi.clear_stats()
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        return api.application(environ, start_response)

    return application


profiled = _profiled() if os.environ.get("CYBORG_BENCH_PROFILED") else None
