"""An API-server stand-in: the resource.k8s.io/v1 calls Cyborg's agent makes, over HTTP.

No Kubernetes control plane runs on these machines, so this serves what the agent's
client (cyborg.kubernetes.apiclient) calls, on 127.0.0.1, the way kube-apiserver
answers them: ResourceSlices create, update, delete, list and watch (field selectors
spec.nodeName, spec.driver, spec.pool.name, metadata.name; equality label
selectors; a watch is a chunked stream of JSON events), ResourceClaims get (tests
``add_claim`` them). Objects carry a resourceVersion from one counter; a stale one, a
taken name or a failed delete precondition is a 409, a missing object a 404, every
error a Status body. A request without the bearer token is a 401.

Every object received is validated as the API servers of 1.34 to 1.37 would: the
published schemas (tests.kubernetes.schemas), the rules their validation code adds
(tests.kubernetes.slice_rules) and the immutable fields; a refusal is a 422 and is
recorded in ``refused``, which tests assert is empty. With ``tls`` it serves HTTPS
and takes a client certificate its CA signed in place of the token. ``stop`` and
``start`` on the same port are an API server going down and coming back with its
storage; ``compact`` is etcd compaction.
"""

import contextlib
import dataclasses
import datetime
import http.server
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tests.kubernetes import schemas, waiting
from tests.kubernetes.slice_rules import slice_problems
from tests.kubernetes.waiting import DEADLINE

GROUP = "/apis/resource.k8s.io/v1"
SLICES = f"{GROUP}/resourceslices"
_SLICE = re.compile(rf"^{GROUP}/resourceslices/([^/]+)$")
_CLAIM = re.compile(rf"^{GROUP}/namespaces/([^/]+)/resourceclaims/([^/]+)$")
_FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "metadata.name": lambda o: o["metadata"]["name"],
    "spec.nodeName": lambda o: o["spec"].get("nodeName"),
    "spec.driver": lambda o: o["spec"].get("driver"),
    "spec.pool.name": lambda o: o["spec"]["pool"]["name"],
}
_IMMUTABLE = ("driver", "nodeName")


class Refused(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip


def _selector(query: Mapping[str, list[str]], key: str) -> dict[str, str]:
    terms = [t for t in (query.get(key) or [""])[0].split(",") if t]
    pairs = [t.split("=", 1) for t in terms]
    if any(len(p) != 2 or p[0].endswith("!") for p in pairs):
        raise Refused(400, "BadRequest", f"unsupported {key} {terms}")
    return {k.rstrip("="): v.lstrip("=") for k, v in pairs}


@dataclasses.dataclass(frozen=True)
class TLS:
    """The server's certificate and key; ``client_ca`` accepts client certificates it
    signed as authenticated (kube-apiserver's x509 authentication)."""

    cert_file: str
    key_file: str
    client_ca: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca:
            context.load_verify_locations(self.client_ca)
            context.verify_mode = ssl.CERT_OPTIONAL
        return context


def _client_cert_user(connection: Any) -> str | None:
    """The common name of a verified client certificate, if the client sent one."""
    if not isinstance(connection, ssl.SSLSocket):
        return None
    cert: Any = connection.getpeercert() or {}
    for entry in cert.get("subject", ()):
        for key, value in entry:
            if key == "commonName":
                return str(value)
    return None


class ApiServerStandIn:
    def __init__(
        self,
        token: str = "test-token",
        tls: "TLS | None" = None,
        versions: tuple[str, ...] = schemas.VERSIONS,
    ) -> None:
        self.token = token
        # The releases whose validation a slice must pass: those it is published to.
        self.versions = versions
        self.tls = tls
        self.client_cert_users: list[str] = []  # CNs of the client certificates accepted
        self.slices: dict[str, dict[str, Any]] = {}
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.events: list[tuple[int, str, dict[str, Any]]] = []  # (rv, type, object)
        self.refused: list[str] = []  # validation failures: a test asserts none
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.unauthorized = 0
        self.connections: set[socket.socket] = set()
        self.fail_updates = 0  # answer the next this many PUTs with a 409
        self.watching = 0  # watch streams open now
        self.compacted_at = 0  # a watch from before this resourceVersion is Expired
        self._watch_epoch = 0
        self.changed = threading.Condition()
        self.port = 0
        self._version = 100
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._running = False

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    # --- the server's life -------------------------------------------------------------
    def start(self) -> None:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.context().wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server, self._running = server, True
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Down: no more connections (the port refuses them); watches end."""
        with self.changed:
            self._running = False
            self.changed.notify_all()
        # The listener first: serve_forever accepts until shutdown() returns, and a
        # connection it accepted then would be answered as if the server were up.
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.changed:
            for connection in self.connections:  # kept-alive ones too: all are gone
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)

    @property
    def running(self) -> bool:
        return self._running

    # --- for tests ---------------------------------------------------------------------
    def add_claim(self, claim: dict[str, Any]) -> None:
        metadata = claim["metadata"]
        schemas.validate(claim)
        with self.changed:
            metadata.setdefault("resourceVersion", self._next_version())
            self.claims[(metadata["namespace"], metadata["name"])] = claim

    def pool(self, node: str, driver: str) -> list[dict[str, Any]]:
        with self.changed:
            found = [
                json.loads(json.dumps(s))
                for s in self.slices.values()
                if s["spec"].get("nodeName") == node and s["spec"]["driver"] == driver
            ]
        return sorted(found, key=lambda s: s["metadata"]["name"])

    def wait_for(self, what: str, predicate: Callable[[], Any], seconds: float = DEADLINE) -> Any:
        """Wait until ``predicate()`` is truthy and return it; fail saying ``what``."""
        return waiting.wait_for(self.changed, "API-server stand-in", what, predicate, seconds)

    def edit(self, name: str, change: Callable[[dict[str, Any]], None]) -> None:
        """Someone else's write to a stored slice (a new resourceVersion)."""
        with self.changed:
            item = self.slices[name]
            change(item)
            self._store(item, "MODIFIED")

    def remove(self, name: str) -> None:
        """Someone else deletes a slice."""
        with self.changed:
            item = self.slices.pop(name)
            self._event("DELETED", item)

    def compact(self) -> None:
        """What etcd compaction does: the events so far are gone, a watch from an
        older resourceVersion gets 410 Expired. Open watches end, as at their
        timeout, so their clients come back with the version they had."""
        with self.changed:
            self.compacted_at = self._version + 1
            self.events.clear()
            self._watch_epoch += 1
            self.changed.notify_all()

    # --- storage (with self.changed held) ----------------------------------------------
    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _event(self, kind: str, item: dict[str, Any]) -> None:
        self.events.append(
            (int(item["metadata"]["resourceVersion"]), kind, json.loads(json.dumps(item)))
        )
        self.changed.notify_all()

    def _store(self, item: dict[str, Any], kind: str) -> dict[str, Any]:
        now = _now()
        for device in item["spec"].get("devices") or ():
            for taint in device.get("taints") or ():
                taint.setdefault("timeAdded", now)  # as kube-apiserver stamps them
        item["metadata"]["resourceVersion"] = self._next_version()
        self.slices[item["metadata"]["name"]] = item
        self._event(kind, item)
        return item

    def _validate(self, item: Any) -> None:
        if not isinstance(item, dict) or item.get("kind") != "ResourceSlice":
            raise Refused(400, "BadRequest", "the body is not a ResourceSlice")
        try:
            schemas.validate(item, self.versions)
        except schemas.Invalid as err:
            self.refused.append(str(err))
            raise Refused(422, "Invalid", str(err)) from None
        problems = slice_problems(item, self.versions)
        if problems:
            message = (
                f"ResourceSlice {item['metadata'].get('name')} is invalid: {'; '.join(problems)}"
            )
            self.refused.append(message)
            raise Refused(422, "Invalid", message)

    # --- the calls ---------------------------------------------------------------------
    def create(self, item: Any) -> tuple[int, dict[str, Any]]:
        self._validate(item)
        metadata = item["metadata"]
        with self.changed:
            if metadata["name"] in self.slices:
                raise Refused(
                    409, "AlreadyExists", f'resourceslices "{metadata["name"]}" already exists'
                )
            if metadata.get("resourceVersion"):
                raise Refused(
                    400, "BadRequest", "resourceVersion should not be set on objects to be created"
                )
            metadata.update(uid=str(uuid.uuid4()), generation=1, creationTimestamp=_now())
            return 201, self._store(item, "ADDED")

    def update(self, name: str, item: Any) -> tuple[int, dict[str, Any]]:
        self._validate(item)
        metadata = item["metadata"]
        with self.changed:
            have = self.slices.get(name)
            if have is None:
                raise Refused(404, "NotFound", f'resourceslices "{name}" not found')
            if metadata.get("name") != name:
                raise Refused(400, "BadRequest", "the name in the body differs from the URL's")
            if (
                self.fail_updates > 0
                or metadata.get("resourceVersion") != have["metadata"]["resourceVersion"]
            ):
                self.fail_updates = max(0, self.fail_updates - 1)
                raise Refused(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on resourceslices "{name}": the object '
                    "has been modified; please apply your changes to the latest version "
                    "and try again",
                )
            for field in _IMMUTABLE:
                if item["spec"].get(field) != have["spec"].get(field):
                    raise Refused(422, "Invalid", f"spec.{field}: field is immutable")
            if item["spec"]["pool"]["name"] != have["spec"]["pool"]["name"]:
                raise Refused(422, "Invalid", "spec.pool.name: field is immutable")
            for key in ("uid", "creationTimestamp"):
                metadata[key] = have["metadata"][key]
            metadata["generation"] = have["metadata"]["generation"] + 1
            return 200, self._store(item, "MODIFIED")

    def delete(self, name: str, options: Any) -> tuple[int, dict[str, Any]]:
        wanted = ((options or {}).get("preconditions") or {}).get("resourceVersion")
        with self.changed:
            have = self.slices.get(name)
            if have is None:
                raise Refused(404, "NotFound", f'resourceslices "{name}" not found')
            if wanted and wanted != have["metadata"]["resourceVersion"]:
                raise Refused(409, "Conflict", f"Precondition failed: ResourceVersion: {wanted}")
            del self.slices[name]
            have["metadata"]["resourceVersion"] = self._next_version()
            self._event("DELETED", have)
            return 200, have

    def list_slices(self, query: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        match = self._matcher(query)
        with self.changed:
            items = [json.loads(json.dumps(s)) for n, s in sorted(self.slices.items()) if match(s)]
            version = str(self._version)
        return 200, {"kind": "ResourceSliceList", "apiVersion": "resource.k8s.io/v1",
                     "metadata": {"resourceVersion": version}, "items": items}  # fmt: skip

    def _matcher(self, query: Mapping[str, list[str]]) -> Callable[[Mapping[str, Any]], bool]:
        fields, labels = _selector(query, "fieldSelector"), _selector(query, "labelSelector")
        unknown = set(fields) - set(_FIELDS)
        if unknown:
            raise Refused(
                400, "BadRequest", f"field label not supported: {','.join(sorted(unknown))}"
            )

        def match(item: Mapping[str, Any]) -> bool:
            item_labels = item["metadata"].get("labels") or {}
            return all(_FIELDS[k](item) == v for k, v in fields.items()) and all(
                item_labels.get(k) == v for k, v in labels.items()
            )

        return match

    def watch(
        self, query: Mapping[str, list[str]], send: Callable[[dict[str, Any]], None]
    ) -> None:
        with self.changed:
            self.watching += 1
            self.changed.notify_all()
        try:
            self._watch(query, send)
        finally:
            with self.changed:
                self.watching -= 1

    def _watch(
        self, query: Mapping[str, list[str]], send: Callable[[dict[str, Any]], None]
    ) -> None:
        match = self._matcher(query)
        since = int((query.get("resourceVersion") or ["0"])[0] or 0)
        timeout = float((query.get("timeoutSeconds") or ["1800"])[0])
        end = time.monotonic() + timeout
        seen = since
        with self.changed:
            epoch = self._watch_epoch
            if since and since < self.compacted_at:
                message = f"too old resource version: {since} ({self.compacted_at})"
                send({"type": "ERROR", "object": status(410, "Expired", message)})
                return
        while True:
            with self.changed:
                while (
                    self._running
                    and epoch == self._watch_epoch
                    and time.monotonic() < end
                    and not any(rv > seen for rv, _, _ in self.events)
                ):
                    self.changed.wait(min(0.2, max(0.0, end - time.monotonic())))
                if not self._running or epoch != self._watch_epoch or time.monotonic() >= end:
                    return
                pending = [e for e in self.events if e[0] > seen]
            for rv, kind, item in pending:
                seen = rv
                if match(item):
                    send({"type": kind, "object": item})

    def get_claim(self, namespace: str, name: str) -> tuple[int, dict[str, Any]]:
        with self.changed:
            claim = self.claims.get((namespace, name))
        if claim is None:
            raise Refused(404, "NotFound", f'resourceclaims.resource.k8s.io "{name}" not found')
        return 200, claim


def _handler(api: ApiServerStandIn) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()
            with api.changed:
                api.connections.add(self.connection)
                if not api.running:  # accepted as the server went down: never answered
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)

        def finish(self) -> None:
            with api.changed:
                api.connections.discard(self.connection)
            super().finish()

        def _answer(self, code: int, body: Mapping[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                raise Refused(400, "BadRequest", "the body is not JSON") from None

        def _stream(self, query: Mapping[str, list[str]]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def send(event: dict[str, Any]) -> None:
                line = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

            try:
                api.watch(query, send)
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass  # the client went away
            self.close_connection = True

        def _route(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            api.requests.append((method, url.path))
            body = self._body()  # read first: the connection stays usable after a refusal
            user = _client_cert_user(self.connection)
            if user:
                api.client_cert_users.append(user)
            elif self.headers.get("Authorization") != f"Bearer {api.token}":
                api.unauthorized += 1
                raise Refused(401, "Unauthorized", "Unauthorized")
            one, claim = _SLICE.match(url.path), _CLAIM.match(url.path)
            if (
                url.path == SLICES
                and method == "GET"
                and query.get("watch", [""])[0] in ("true", "1")
            ):
                return self._stream(query)
            if url.path == SLICES and method == "GET":
                return self._answer(*api.list_slices(query))
            if url.path == SLICES and method == "POST":
                return self._answer(*api.create(body))
            if one and method == "PUT":
                return self._answer(*api.update(urllib.parse.unquote(one.group(1)), body))
            if one and method == "DELETE":
                return self._answer(*api.delete(urllib.parse.unquote(one.group(1)), body))
            if claim and method == "GET":
                namespace, name = (urllib.parse.unquote(g) for g in claim.groups())
                return self._answer(*api.get_claim(namespace, name))
            raise Refused(
                404,
                "NotFound",
                f"the server could not find the requested resource ({method} {url.path})",
            )

        def _serve(self, method: str) -> None:
            try:
                self._route(method)
            except Refused as err:
                self._answer(err.code, status(err.code, err.reason, err.message))

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PUT(self) -> None:
            self._serve("PUT")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    return Handler
