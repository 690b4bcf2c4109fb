"""A small Kubernetes API client: the resource.k8s.io/v1 calls the agent makes.

ResourceSlices: list (by node and driver, as field selectors), create, update
(optimistic, with the object's resourceVersion), delete and watch; ResourceClaims:
get. Every call has a bounded timeout (``[kubernetes] api_timeout``: the connect and
each read), and every failure is an ``ApiError`` with the HTTP status and the
Status reason the server answered (status 0: no answer at all). Messages name the
call and what the server said, never a header: no token reaches a log.
"""

import contextlib
import json
import socket
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

import requests

from cyborg.kubernetes import kubeconfig as configs
from cyborg.kubernetes.kubeconfig import ClusterConfig, ConfigError

GROUP_PATH = "/apis/resource.k8s.io/v1"
SLICES = f"{GROUP_PATH}/resourceslices"


class ApiError(Exception):
    """A call the API server refused or did not answer (status 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{message} (HTTP {status} {reason})" if status else message)
        self.status = status
        self.reason = reason
        self.message = message


class Unavailable(ApiError):
    """No answer: refused, timed out, TLS failed, or a 5xx/429 answer."""


class Conflict(ApiError):
    """409: a stale resourceVersion (reason Conflict) or a name taken (AlreadyExists)."""


class NotFound(ApiError):
    """404."""


class Expired(ApiError):
    """410: a watch's resourceVersion is too old; list again."""


_BY_STATUS: dict[int, type[ApiError]] = {409: Conflict, 404: NotFound, 410: Expired}


def error_from(status: int, body: Any, call: str) -> ApiError:
    """The typed error of an answer: a Status body's reason and message where there
    is one, else the HTTP status alone."""
    reason, message = "", ""
    if isinstance(body, Mapping) and body.get("kind") == "Status":
        reason, message = str(body.get("reason") or ""), str(body.get("message") or "")
        status = int(body.get("code") or status)
    kind = _BY_STATUS.get(status, Unavailable if status >= 500 or status == 429 else ApiError)
    return kind(status, reason or "Unknown", f"{call}: {message or 'no details'}")


class SliceList(NamedTuple):
    items: list[dict[str, Any]]
    resource_version: str  # the list's: a watch starts from here


class KubernetesClient:
    def __init__(self, config: ClusterConfig, timeout: float = 10.0) -> None:
        self.config = config
        self.timeout = timeout
        self._session = requests.Session()
        # Per request, not on the session: requests lets REQUESTS_CA_BUNDLE override a
        # session's verify, and the cluster's CA must win over the environment's.
        self._verify: str | bool = (config.ca_file or True) if config.verify else False
        self._cert: tuple[str, str] | None = None
        if config.cert_file and config.key_file:
            self._cert = (config.cert_file, config.key_file)
        self._session.headers.update({"Accept": "application/json", "User-Agent": "cyborg-agent"})
        self._streams: set[requests.Response] = set()  # open watches, closed by close()

    def close(self) -> None:
        """Close the connections, open watches too (their iterators then raise)."""
        for response in list(self._streams):
            # Shut the socket first: the watch thread is blocked reading it, and
            # closing the response alone waits for that read (up to the watch's read
            # timeout, minutes) on the reader's lock.
            _shut_socket(response)
            response.close()
        self._session.close()
        self.config.close()

    # --- one call ----------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        try:
            token = self.config.bearer_token()
        except ConfigError as err:
            raise ApiError(0, "Unauthorized", str(err)) from None
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _send(
        self, method: str, path: str, *, params: Mapping[str, str] | None = None,
        body: Any = None, stream: bool = False, read_timeout: float | None = None,
    ) -> requests.Response:  # fmt: skip
        call = f"{method} {path}"
        try:
            response = self._session.request(
                method,
                self.config.server + path,
                params=params,
                data=None if body is None else json.dumps(body),
                headers={
                    **self._headers(),
                    **({"Content-Type": "application/json"} if body else {}),
                },
                timeout=(self.timeout, read_timeout or self.timeout),
                stream=stream,
                verify=self._verify,
                cert=self._cert,
            )
        except requests.RequestException as err:
            # The exception's text may hold the URL, never a header: still, name only its kind.
            raise Unavailable(0, "", f"{call}: no answer ({type(err).__name__})") from None
        if response.status_code >= 400:
            try:
                answer = response.json()
            except ValueError:
                answer = None
            response.close()
            raise error_from(response.status_code, answer, call)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, **kwargs)
        try:
            answer = response.json()
        except ValueError:
            raise ApiError(response.status_code, "BadResponse",
                           f"{method} {path}: the answer is not JSON") from None  # fmt: skip
        if not isinstance(answer, dict):
            raise ApiError(response.status_code, "BadResponse", f"{method} {path}: not an object")
        return answer

    # --- ResourceSlices ------------------------------------------------------------------
    @staticmethod
    def _selectors(node: str, driver: str | None, labels: str | None) -> dict[str, str]:
        fields = f"spec.nodeName={node}" + (f",spec.driver={driver}" if driver else "")
        params = {"fieldSelector": fields}
        if labels:
            params["labelSelector"] = labels
        return params

    def list_resource_slices(
        self, node: str, driver: str | None, label_selector: str | None = None
    ) -> SliceList:
        answer = self._json("GET", SLICES, params=self._selectors(node, driver, label_selector))
        items = answer.get("items") or []
        version = str((answer.get("metadata") or {}).get("resourceVersion") or "")
        return SliceList([i for i in items if isinstance(i, dict)], version)

    def create_resource_slice(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._json("POST", SLICES, body=dict(body))

    def update_resource_slice(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT with the body's metadata.resourceVersion: Conflict when it is stale."""
        name = quote(body["metadata"]["name"], safe="")
        return self._json("PUT", f"{SLICES}/{name}", body=dict(body))

    def delete_resource_slice(self, name: str, resource_version: str | None = None) -> None:
        """Delete; with ``resource_version``, only that version (else Conflict)."""
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if resource_version:
            options["preconditions"] = {"resourceVersion": resource_version}
        self._send("DELETE", f"{SLICES}/{quote(name, safe='')}", body=options).close()

    def watch_resource_slices(
        self, node: str, driver: str | None, resource_version: str, timeout_seconds: int = 60
    ) -> Iterator[dict[str, Any]]:
        """The events after ``resource_version`` ({"type": ADDED|MODIFIED|DELETED|BOOKMARK,
        "object": ...}) until the server ends the watch (after ``timeout_seconds``).
        An ERROR event is raised as its ApiError (Expired: list again)."""
        params = {
            **self._selectors(node, driver, None),
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        response = self._send("GET", SLICES, params=params, stream=True,
                              read_timeout=timeout_seconds + self.timeout)  # fmt: skip
        self._streams.add(response)
        try:
            for line in response.iter_lines():
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise ApiError(200, "BadResponse", "watch: an event is not JSON") from None
                if event.get("type") == "ERROR":
                    raise error_from(0, event.get("object"), f"watch {SLICES}")
                yield event
        except (requests.RequestException, AttributeError, OSError) as err:
            # A response closed under it (close()) may also fail inside urllib3.
            raise Unavailable(0, "", f"watch {SLICES}: broken ({type(err).__name__})") from None
        finally:
            self._streams.discard(response)
            response.close()

    # --- ResourceClaims ------------------------------------------------------------------
    def get_resource_claim(self, namespace: str, name: str) -> dict[str, Any]:
        path = f"{GROUP_PATH}/namespaces/{quote(namespace, safe='')}/resourceclaims/"
        return self._json("GET", path + quote(name, safe=""))


class ApiClaimSource:
    """The ResourceClaims the DRA plugin reads, from the API server: ``get(ns, name)``."""

    def __init__(self, client: KubernetesClient) -> None:
        self.client = client

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.client.get_resource_claim(namespace, name)


def connect(kubeconfig: str | None, timeout: float) -> KubernetesClient:
    """A client from the kubeconfig file, else the pod's service account; raises
    ConfigError."""
    config = configs.from_kubeconfig(kubeconfig) if kubeconfig else configs.in_cluster()
    return KubernetesClient(config, timeout)


def _shut_socket(response: requests.Response) -> None:
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
