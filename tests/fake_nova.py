"""A stand-in for Nova's os-server-external-events API that records what it receives.

Nova itself cannot run here; this is the part of it Cyborg calls. It answers
``POST /v2.1/os-server-external-events`` the way Nova does: 200 when it knows every
instance named, 207 when it knows some (each event then carries its own ``code``),
404 when it knows none. ``answers`` queues status codes to answer instead (e.g. 503
while "Nova is down").
"""

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests import http_stub


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeNova:
    def __init__(self) -> None:
        self.instances: set[str] = set()  # servers Nova knows; others get code 404
        self.answers: list[int] = []  # forced status codes, used first
        self.received: list[Received] = []  # every request, answered or not
        self._lock = threading.Lock()
        self.server = http_stub.server(self._http)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}/v2.1"

    def events(self, status: int | None = 200) -> list[dict[str, Any]]:
        """Events of the requests answered ``status`` (None: all), in arrival order."""
        with self._lock:
            return [
                event
                for r in self.received
                if status is None or r.body.get("_answered") == status
                for event in r.body.get("events", [])
            ]

    def wait_for_events(self, count: int, seconds: float = 20) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            taken = self.events()
            if len(taken) >= count:
                return taken
            time.sleep(0.1)
        raise AssertionError(f"Nova got {self.events(None)} within {seconds}s, wanted {count}")

    def _answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        body = json.loads(raw or b"{}")
        with self._lock:
            status = self.answers.pop(0) if self.answers else None
            if status is None:
                if path != "/v2.1/os-server-external-events":
                    status = 404
                else:
                    for event in body.get("events", []):
                        known = event.get("server_uuid") in self.instances
                        event["code"] = 200 if known else 404
                    codes = {e["code"] for e in body.get("events", [])}
                    status = 200 if codes == {200} else 207 if 200 in codes else 404
            body["_answered"] = status
            self.received.append(Received(path, headers, body))
        return status, json.dumps({"events": body.get("events", [])}).encode()

    def _http(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if method != "POST":
            return 405, {"Content-Type": "text/plain"}, b"POST only"
        status, body = self._answer(path, headers, raw)
        return status, {"Content-Type": "application/json"}, body


@contextlib.contextmanager
def running() -> Iterator[FakeNova]:
    nova = FakeNova()
    with http_stub.serving(nova.server):
        yield nova
