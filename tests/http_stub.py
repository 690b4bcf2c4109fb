"""A real HTTP server on a loopback port, in a thread, for the tests' stand-ins of
services that cannot run here (Nova, Glance): each gives one function that answers."""

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

# (method, path with query, headers, body) -> (status, headers, body)
Answer = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


def server(answer: Answer) -> http.server.ThreadingHTTPServer:
    """A server bound to a free port (not serving yet: see ``serving``)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, headers, body = answer(
                self.command, self.path, dict(self.headers.items()), raw
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _reply

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@contextlib.contextmanager
def serving(httpd: http.server.HTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
