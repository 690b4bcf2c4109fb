"""What the fault tests send to the API and the conductors, and the load they make.

The API runs without authentication (identity from headers, as Placement's noauth2);
every request here is an administrator's unless it names another project.
"""

import json
import threading
import time
import uuid
from typing import Any

import requests
from oslo_config import cfg

import cyborg.conf
from cyborg.common import context as cyborg_context
from cyborg.common import rpc
from cyborg.conductor import rpcapi
from tests.functional import client_threads, services
from tests.functional.fault_cloud import ADMIN

PROFILE = "gpu"  # the device profile the fault tests' ARQs come from
# Binds without Nova; a bind needs a service token (Nova's, or here an operator's).
STANDALONE = {"OpenStack-API-Version": "accelerator 2.4", "X-Service-Roles": "service"}


def api(deployment: services.Deployment, method: str, path: str, **kwargs: Any) -> Any:
    """A request to the API (or to the one at ``endpoint=``)."""
    headers = {**ADMIN, **kwargs.pop("headers", {})}
    endpoint = kwargs.pop("endpoint", deployment.endpoint)
    return requests.request(method, endpoint + path, headers=headers, timeout=120, **kwargs)


def fault(response: Any) -> str:
    return str(json.loads(response.json()["error_message"])["faultstring"])


def create_arq(deployment: services.Deployment, project: str = "admin") -> str:
    created = api(
        deployment,
        "POST",
        "/accelerator_requests",
        json={"device_profile_name": PROFILE},
        headers={"X-Project-Id": project},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["arqs"][0]["uuid"])


def bind(deployment: services.Deployment, arq: str, host: str) -> Any:
    """Bind without Nova: the conductor picks the device and claims it in Placement."""
    patch = {
        arq: [
            {"path": "/hostname", "op": "add", "value": host},
            {"path": "/instance_uuid", "op": "add", "value": str(uuid.uuid4())},
        ]
    }
    return api(deployment, "PATCH", "/accelerator_requests", json=patch, headers=STANDALONE)


def unbind(deployment: services.Deployment, arq: str) -> Any:
    patch = {
        arq: [{"path": "/hostname", "op": "remove"}, {"path": "/instance_uuid", "op": "remove"}]
    }
    return api(deployment, "PATCH", "/accelerator_requests", json=patch, headers=STANDALONE)


def arq_state(deployment: services.Deployment, arq: str) -> str:
    return str(api(deployment, "GET", f"/accelerator_requests/{arq}").json()["state"])


class Load(client_threads.ClientThreads):
    """Threads creating ARQs through the API, one project per request, until stopped;
    what each request was answered is kept, to check against what was stored."""

    def __init__(
        self, deployment: services.Deployment, threads: int = 3, endpoint: str = ""
    ) -> None:
        super().__init__(threads)
        self.deployment = deployment
        self.endpoint = endpoint or deployment.endpoint
        self.answers: dict[str, tuple[int, list[str]]] = {}  # project -> status, ARQs
        self._lock = threading.Lock()

    def _run(self) -> None:
        while not self._stop.is_set():
            project = f"load-{uuid.uuid4().hex}"
            try:
                response = api(
                    self.deployment,
                    "POST",
                    "/accelerator_requests",
                    json={"device_profile_name": PROFILE},
                    headers={"X-Project-Id": project},
                    endpoint=self.endpoint,
                )
                answer = (
                    response.status_code,
                    [a["uuid"] for a in response.json().get("arqs", [])],
                )
            except (requests.RequestException, ValueError):  # the API itself stopping
                answer = (0, [])
            with self._lock:
                self.answers[project] = answer
            time.sleep(0.05)

    def count(self, status: int) -> int:
        with self._lock:
            return sum(1 for code, _ in self.answers.values() if code == status)

    def check_stored(self) -> None:
        """A 201's ARQs were stored once each, a 503's not at all; no request stored more
        than one's worth."""
        by_project: dict[str, list[str]] = {}
        for project, arq in self.deployment.query(
            "SELECT project_id, uuid FROM extended_accelerator_requests "
            "WHERE project_id LIKE 'load-%'"
        ):
            by_project.setdefault(project, []).append(arq)
        refused_but_stored = 0
        for project, (status, arqs) in self.answers.items():
            stored = sorted(by_project.get(project, []))
            if status == 201:
                assert stored == sorted(arqs), (project, stored, arqs)
            elif status == 503:
                # A 503 is true: nothing was made, and nothing will be (broker-outages).
                assert stored == [], (project, status, stored)
            else:
                assert len(stored) <= 1, (project, status, stored)
                refused_but_stored += len(stored)
        answered = sorted({status for status, _ in self.answers.values()})
        counts = {status: self.count(status) for status in answered}
        print(f"answers {counts}; refused but stored: {refused_but_stored}")


def conductor_hosts(deployment: services.Deployment) -> dict[str, str]:
    """Each conductor's ``[DEFAULT] host``, the name of its own RPC queue."""
    hosts = {}
    for name in ("conductor", "conductor-2"):
        line = deployment.log(name).split(" listening on topic ")[-1].splitlines()[0]
        hosts[name] = line.split(" as ")[-1].strip()
    return hosts


def call_each_conductor(deployment: services.Deployment, tag: str) -> None:
    """A write sent to one named conductor at a time: each consumes its own queue."""
    conf = cfg.ConfigOpts()
    cyborg.conf.parse_args(
        ["test", "--config-file", deployment.conf_path], conf=conf, default_config_files=[]
    )
    try:
        for name, host in conductor_hosts(deployment).items():
            client = rpc.get_client(
                conf, conf.conductor.topic, rpcapi.ConductorAPI.RPC_API_VERSION, server=host
            )
            client.call(
                cyborg_context.get_admin_context(),
                "create_device_profile",
                name=f"{tag}-{name}",
                groups=[{"resources:PGPU": "1"}],
            )
    finally:
        rpc.cleanup(conf)


def reachable(endpoint: str) -> bool:
    try:
        return requests.get(endpoint, timeout=5).status_code == 200
    except requests.RequestException:
        return False
