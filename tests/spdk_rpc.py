"""A stand-in SPDK application: a real unix-socket JSON-RPC 2.0 server that answers
each method with recorded response bytes (tests/fixtures/spdk)."""

import contextlib
import json
import pathlib
import socketserver
import threading
from collections.abc import Iterator

from cyborg.drivers import spdk

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures" / "spdk"
SUBSYSTEMS = (FIXTURES / "nvmf_get_subsystems.json").read_bytes()
BDEVS = (FIXTURES / "bdev_get_bdevs.json").read_bytes()
CONTROLLERS = (FIXTURES / "vhost_get_controllers.json").read_bytes()
NOT_FOUND = (FIXTURES / "error_method_not_found.json").read_bytes()
RECORDED = {
    "nvmf_get_subsystems": SUBSYSTEMS,
    "bdev_get_bdevs": BDEVS,
    "vhost_get_controllers": CONTROLLERS,
}


class _Handler(socketserver.BaseRequestHandler):
    """Reads JSON-RPC requests and answers each with the recorded bytes for its method."""

    server: "FakeSPDK"

    def handle(self) -> None:
        decoder = json.JSONDecoder()
        buffer = ""
        while True:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            buffer += chunk.decode()
            try:
                request, end = decoder.raw_decode(buffer)
            except ValueError:
                continue
            buffer = buffer[end:].lstrip()
            self.server.methods.append(request["method"])
            reply = self.server.responses.get(request["method"], NOT_FOUND)
            for start in range(0, len(reply), 100):  # in pieces, as a real socket may
                self.request.sendall(reply[start : start + 100])
            if self.server.close_after_reply:
                return


class FakeSPDK(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, responses: dict[str, bytes], close_after_reply: bool) -> None:
        self.responses = responses
        self.close_after_reply = close_after_reply
        self.methods: list[str] = []
        super().__init__(path, _Handler)


@contextlib.contextmanager
def serving(
    root: pathlib.Path,
    responses: dict[str, bytes] | None = None,
    close_after_reply: bool = False,
) -> Iterator[FakeSPDK]:
    (root / "var" / "tmp").mkdir(parents=True, exist_ok=True)
    server = FakeSPDK(
        str(root / spdk.DEFAULT_SOCKET),
        RECORDED if responses is None else responses,
        close_after_reply,
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
