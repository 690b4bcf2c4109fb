"""The cloud of tests/functional/test_access.py and the personas that call it.

A real Keystone (test_deployment's service users and projects ``demo``, project A, and
``alt``, project B; more users with the reader and manager roles on A, and system-scoped
role assignments), the real Placement, cyborg-api under gunicorn with keystonemiddleware
twice (``enforce_new_defaults`` on, and off: the deprecated rules honoured), a real
cyborg-conductor and cyborg-agent (fake driver) on MariaDB and RabbitMQ, and the
recording fake Nova. The services log at DEBUG, as do the libraries that carry tokens,
passwords and URLs, and reach MariaDB as a user with a password.
"""

import concurrent.futures
import dataclasses
import hashlib
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import requests
import sqlalchemy as sa
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests import db_backends, fake_nova, keystone_service, placement_service
from tests.functional import access_table, services, test_deployment

HOST = "compute-a"
TRAIT = "CUSTOM_ACCESS_GPU"
GROUPS = [{"resources:PGPU": "1", f"trait:{TRAIT}": "required"}]
PROFILE = "access-gpu"
GPU_MODEL = "A100-SXM4-80GB"
GPUS = 4
VERSION = {"OpenStack-API-Version": "accelerator 2.5", "Content-Type": "application/json"}
TIMEOUT = 60
# The services' own database user: a password the logs must never show.
DB_USER, DB_PASSWORD = "cyborg_access", "db-secret-9d2f"  # the user: a prefix, see below
BAD_TOKEN = "gAAAAABunknown-token-" + "A" * 80
LOG_LEVELS = "default_log_levels = " + ",".join(
    f"{logger}=DEBUG"
    for logger in (
        "amqp", "kombu", "oslo.messaging", "oslo_messaging", "keystonemiddleware",
        "keystoneauth", "urllib3", "requests", "oslo_policy", "oslo_db", "openstack",
    )
)  # fmt: skip
FERNET = re.compile(r"gAAAAA[0-9A-Za-z_=-]{40,}")
# The fields naming a project's objects, and their paths; profiles and inventory are global.
OWNED_KEYS = frozenset({"uuid", "instance_uuid", "graph_uuid", "consumer_uuid", "project_id"})
OWNED_PATHS = ("/v2/accelerator_requests", "/v2/graphs", "/v2/plans", "/v2/jobs")
# Jobs exist from microversion 2.9 (JOBS).
JOBS_VERSION = {"OpenStack-API-Version": "accelerator 2.9"}


def _inventory() -> list[dict[str, Any]]:
    gpus = [
        {
            "type": "GPU",
            "address": f"0000:3{index}:00.0",
            "vendor": "10de",
            "model": GPU_MODEL,
            "deployables": [{"name": f"gpu-{index}", "resource_class": "PGPU", "traits": [TRAIT]}],
        }
        for index in range(GPUS)
    ]
    return [*gpus, {"type": "FPGA", "address": "0000:5e:00.0"}]


# -- the cloud ------------------------------------------------------------------------


@dataclasses.dataclass
class Request:
    method: str
    path: str  # from the API root: /v2/...
    body: Any = None
    # An object (its URL) the request acts on: read by the admin before and after a
    # refused request, which must leave it as it was.
    target: str | None = None
    # A value the answer holds when a persona of project A is allowed (its object shows).
    shows: str | None = None
    # Run after the request (releasing what an allowed one took).
    after: Callable[[requests.Response], None] | None = None
    # Headers over the defaults (an operation of a later microversion).
    headers: dict[str, str] | None = None


@dataclasses.dataclass
class Cloud:
    keystone: keystone_service.KeystoneService
    deployment: services.Deployment
    nova: fake_nova.FakeNova
    apis: dict[str, str]  # "new" / "legacy" -> API root URL
    headers: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)  # persona
    secrets: set[str] = dataclasses.field(default_factory=set)  # tokens and passwords
    project_a: str = ""
    # Values of project A's objects (uuids, names, its project id) that no outsider sees.
    a_values: set[str] = dataclasses.field(default_factory=set)
    ids: dict[str, Any] = dataclasses.field(default_factory=dict)
    serial: Iterator[int] = dataclasses.field(default_factory=itertools.count)
    api: str = "new"  # which API the matrix calls now
    # Request ids of the answers to unknown tokens, which keystonemiddleware logs.
    refused_tokens: list[str] = dataclasses.field(default_factory=list)

    def call(self, persona: str, request: Request, api: str | None = None) -> requests.Response:
        root = self.apis[api or self.api]
        return requests.request(
            request.method,
            root + request.path,
            headers={**VERSION, **(request.headers or {}), **self.headers[persona]},
            data=None if request.body is None else json.dumps(request.body),
            timeout=TIMEOUT,
        )

    def ok(
        self,
        persona: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """A request of the setup, which must succeed; its JSON answer (None if empty)."""
        response = self.call(persona, Request(method, path, body, headers=headers))
        assert response.ok, f"{method} {path} as {persona}: {response.status_code} {response.text}"
        answer = response.json() if response.content else None
        if persona in access_table.INSIDERS - {"ad"} and path.startswith(OWNED_PATHS):
            self.a_values.update(owned_values(answer))
        return answer

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(self.serial)}"

    # Project A's objects, made afresh for requests that change or remove them.
    def new_arq(self) -> str:
        (arq,) = self.ok(
            "mb", "POST", "/v2/accelerator_requests", {"device_profile_name": PROFILE}
        )["arqs"]
        return str(arq["uuid"])

    def new_plan(self) -> str:
        body = {"count": 1, "max_devices": 1, "device_profile_name": PROFILE}
        (plan,) = self.ok("mb", "POST", f"/v2/graphs/{self.ids['graph']}/plans", body)["plans"]
        return str(plan["uuid"])

    def new_job(self) -> str:
        body = {"graph_uuid": self.ids["graph"], "devices": {"min": 1}}
        return str(self.ok("mb", "POST", "/v2/jobs", body, JOBS_VERSION)["uuid"])

    def new_profile(self) -> str:
        name = self.unique("access-doomed")
        self.ok("ad", "POST", "/v2/device_profiles", [{"name": name, "groups": GROUPS}])
        return name

    def new_attribute(self) -> str:
        body = {"deployable_id": self.ids["deployable_id"], "key": self.unique("k"), "value": "v"}
        return str(self.ok("ad", "POST", "/v2/attributes", body)["uuid"])


def owned_values(answer: Any) -> Iterator[str]:
    """Identifying values of the project-owned objects (ARQs, graphs, plans) in ``answer``."""
    if isinstance(answer, list):
        for item in answer:
            yield from owned_values(item)
    elif isinstance(answer, dict):
        for key, value in answer.items():
            if key in OWNED_KEYS and isinstance(value, str) and value:
                yield value
            elif key == "arqs" and isinstance(value, list):
                yield from (v for v in value if isinstance(v, str))
            # A plan's request and result name global devices and profiles.
            if key not in ("request", "result", "links"):
                yield from owned_values(value)


def _token(auth: v3.Password) -> str:
    return str(ks_session.Session(auth=auth).get_token())


def _password(keystone: keystone_service.KeystoneService, user: str, **scope: Any) -> v3.Password:
    password = keystone_service.ADMIN_PASSWORD if user == "admin" else test_deployment.PASSWORD
    return v3.Password(
        auth_url=keystone.auth_url,
        username=user,
        password=password,
        user_domain_name="Default",
        **scope,
    )


def _project(name: str) -> dict[str, str]:
    return {"project_name": name, "project_domain_name": "Default"}


def register_personas(cloud: Cloud) -> None:
    """Users and tokens of every persona; project A is ``demo``, project B ``alt``."""
    keystone = cloud.keystone
    for role in ("reader", "manager"):
        keystone.create_user(f"demo-{role}", test_deployment.PASSWORD, "demo", [role])
    auditor = keystone.create_user("auditor", test_deployment.PASSWORD, "demo", [])
    keystone.grant_system_role(auditor, "reader")
    tokens = {
        "rd": _token(_password(keystone, "demo-reader", **_project("demo"))),
        "mb": _token(_password(keystone, "demo", **_project("demo"))),
        "mg": _token(_password(keystone, "demo-manager", **_project("demo"))),
        "ad": _token(_password(keystone, "admin", **_project("admin"))),
        "sv": _token(_password(keystone, "nova", **_project("service"))),
        "B": _token(_password(keystone, "alt", **_project("alt"))),
        "sA": _token(_password(keystone, "admin", system_scope="all")),
        "sR": _token(_password(keystone, "auditor", system_scope="all")),
    }
    cloud.headers = {persona: {"X-Auth-Token": token} for persona, token in tokens.items()}
    nova = {"X-Service-Token": tokens["sv"]}
    cloud.headers["nA"] = {**cloud.headers["mb"], **nova}
    cloud.headers["nB"] = {**cloud.headers["B"], **nova}
    cloud.headers["-"] = {}
    cloud.headers["x"] = {"X-Auth-Token": BAD_TOKEN}
    cloud.secrets.update(tokens.values())
    cloud.secrets.update(
        {test_deployment.PASSWORD, keystone_service.ADMIN_PASSWORD, DB_PASSWORD, BAD_TOKEN}
    )
    projects = keystone.admin_session().get(f"{keystone.auth_url}/projects?name=demo").json()
    cloud.project_a = str(projects["projects"][0]["id"])
    cloud.a_values.add(cloud.project_a)


def _user_of(database: str | None) -> str:
    """A user per test database: MariaDB users are server-wide, and two suites at once
    must not grant, or drop, each other's (at most 32 characters)."""
    return f"{DB_USER}_{hashlib.sha1((database or '').encode()).hexdigest()[:12]}"


def _database_user(url: str) -> str:
    """The services' URL of the test database: its own user, with a password."""
    parsed = sa.engine.make_url(url)
    user = _user_of(parsed.database)
    admin = db_backends.make_engine(parsed.set(database="").render_as_string(False))
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP USER IF EXISTS '{user}'@'%'"))
            connection.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{DB_PASSWORD}'"))
            connection.execute(sa.text(f"GRANT ALL ON `{parsed.database}`.* TO '{user}'@'%'"))
    finally:
        admin.dispose()
    return parsed.set(username=user, password=DB_PASSWORD).render_as_string(False)


def _drop_database_user(url: str) -> None:
    parsed = sa.engine.make_url(url)
    admin = db_backends.make_engine(parsed.set(database="").render_as_string(False))
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP USER IF EXISTS '{_user_of(parsed.database)}'@'%'"))
    finally:
        admin.dispose()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _start_legacy_api(deployment: services.Deployment) -> str:
    port = services.free_port()
    deployment.start(
        "api-legacy",
        "api",
        f"[api]\nport = {port}\n[oslo_policy]\nenforce_new_defaults = false\n",
    )
    root = f"http://127.0.0.1:{port}"
    deployment.wait_for(lambda: _answers(root + "/v2"), TIMEOUT, "cyborg-api (legacy rules)")
    return root


def _start_keystone(keystone: keystone_service.KeystoneService) -> None:
    """test_deployment's Keystone and users, with a deadline for a busy machine."""
    keystone.start(timeout=180)
    test_deployment.register_users(keystone)


def run_cloud(directory: str) -> Iterator[Cloud]:
    keystone = keystone_service.KeystoneService(os.path.join(directory, "keystone"))
    placement = placement_service.PlacementService(
        os.path.join(directory, "placement"),
        keystone_authtoken=test_deployment.authtoken(keystone, "placement"),
    )
    # The most verbose logs are the ones checked for secrets: DEBUG for Cyborg and for
    # the libraries that carry tokens, passwords and URLs (oslo.log quiets them).
    conf = test_deployment.cyborg_conf(keystone) + f"[DEFAULT]\ndebug = true\n{LOG_LEVELS}\n"
    database_urls: list[str] = []

    def services_database(url: str) -> str:
        database_urls.append(url)
        return _database_user(url)

    # Keystone takes the longest: the others start meanwhile and ask it nothing before
    # their first request, which comes once it is up.
    with concurrent.futures.ThreadPoolExecutor(1) as pool, fake_nova.running() as nova:
        keystone_up = pool.submit(_start_keystone, keystone)
        try:
            placement.start()
            with services.deployment(
                "mysql", seeded=False, extra_conf=conf, services_database=services_database
            ) as deployment:
                legacy_api = _start_legacy_api(deployment)
                keystone_up.result()
                keystone.create_service("placement", "placement", placement.endpoint)
                keystone.create_service("nova", "compute", nova.endpoint)
                deployment.start_agent(HOST, inventory=_inventory())
                apis = {"new": deployment.endpoint.removesuffix("/v2"), "legacy": legacy_api}
                yield Cloud(keystone, deployment, nova, apis)
                deployment.stop(f"agent-{HOST}")
        finally:
            concurrent.futures.wait([keystone_up])
            placement.stop()
            keystone.stop()
            for url in database_urls:
                _drop_database_user(url)


def prepare(cloud: Cloud) -> None:
    """The objects the matrix acts on: a profile, inventory, project A's ARQ, graph, plan."""
    register_personas(cloud)
    cloud.ok("ad", "POST", "/v2/device_profiles", [{"name": PROFILE, "groups": GROUPS}])

    def inventory() -> Any:
        found = cloud.ok("ad", "GET", "/v2/deployables")["deployables"]
        return found if len(found) == GPUS + 1 and all(d["rp_uuid"] for d in found) else None

    deployables = cloud.deployment.wait_for(inventory, TIMEOUT, "the agent's devices synced")
    devices = cloud.ok("ad", "GET", "/v2/devices")["devices"]
    fpga = next(d for d in devices if d["type"] == "FPGA")
    fpga_deployable = next(d for d in deployables if not d["name"].startswith("gpu-"))
    gpu = next(d for d in deployables if d["name"].startswith("gpu-"))
    # The API shows no deployable's id, which attributes name.
    ((deployable_id,),) = cloud.deployment.query(
        "SELECT id FROM deployables WHERE uuid = :uuid", uuid=gpu["uuid"]
    )
    cloud.ids.update(
        device=fpga["uuid"],
        deployable=fpga_deployable["uuid"],
        deployable_id=deployable_id,
        gpu_rp=gpu["rp_uuid"],
    )
    cloud.ids["attribute"] = cloud.new_attribute()
    cloud.ids["arq"] = cloud.new_arq()
    uploaded = cloud.ok("mb", "POST", "/v2/graphs", graph(cloud.unique("project-a-graph")))
    cloud.a_values.add(uploaded["name"])
    cloud.ids["graph"] = uploaded["uuid"]
    cloud.ids["plan"] = cloud.new_plan()
    cloud.ids["job"] = cloud.new_job()


def graph(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "precision": "fp16",
        "nodes": [
            {"name": "a", "op_type": "MatMul", "flops": 4.0e12, "param_bytes": 1 << 30},
            {"name": "b", "op_type": "Add", "flops": 1e6, "bytes_read": 1e6},
        ],
        "edges": [{"src": "a", "dst": "b", "bytes": 1e6}],
    }


def logs_of(cloud: Cloud) -> dict[str, str]:
    """Every service's log and output: Cyborg's, Keystone's and Placement's."""
    directories = [
        cloud.deployment.directory,
        cloud.keystone.directory,
        os.path.dirname(cloud.keystone.directory) + "/placement",
    ]
    found = {}
    for directory in directories:
        for name in sorted(os.listdir(directory)):
            if name.endswith((".log", ".out")):
                with open(os.path.join(directory, name), errors="replace") as handle:
                    found[name] = handle.read()
    return found
