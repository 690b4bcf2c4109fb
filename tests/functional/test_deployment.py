"""The multi-node deployment of doc/source/admin/deployment.rst, as real processes.

A real Keystone (tests/keystone_service.py: users cyborg, placement and nova in project
service, demo and alt users in projects of their own, every service in the catalog),
the real Placement checking tokens with it, cyborg-api under gunicorn with
keystonemiddleware, cyborg-conductor reaching Placement and Nova through the catalog as
the cyborg service user, two cyborg-agents (fake driver, hosts compute-1 and
compute-2), MariaDB and RabbitMQ. Only Nova is the recording stand-in of
tests/fake_nova.py; its calls to Cyborg are made here as nova/accelerator/cyborg.py
makes them: the user's token plus Nova's service token, through openstacksdk's
accelerator proxy (version discovery on the catalog URL, no microversion).
"""

import concurrent.futures
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
import requests
from keystoneauth1 import service_token
from keystoneauth1 import session as ks_session

from tests import fake_nova, keystone_service, placement_service
from tests.functional import services

HOSTS = ("compute-1", "compute-2")
PASSWORD = "user-secret-5c1e"  # every user's but the admin's; distinct, for log checks
SERVICE_USERS = {"cyborg": ["admin", "service"], "placement": ["service"], "nova": ["service"]}
GROUPS = [{"resources:PGPU": "1", "trait:CUSTOM_FAKE_GPU": "required"}]
PLACEMENT = {"service_type": "placement", "interface": "public"}
PLACEMENT_VERSION = "1.39"


@dataclasses.dataclass
class Cloud:
    keystone: keystone_service.KeystoneService
    deployment: services.Deployment
    nova: fake_nova.FakeNova

    sessions: dict[str, ks_session.Session] = dataclasses.field(default_factory=dict)

    def session(self, user: str) -> ks_session.Session:
        """``user``'s session in its own project (the admin's: admin)."""
        if user == "admin":
            return self.keystone.admin_session()
        if user not in self.sessions:
            project = "service" if user in SERVICE_USERS else user
            self.sessions[user] = self.keystone.session(user, PASSWORD, project)
        return self.sessions[user]

    def nova_session(self, user: str) -> ks_session.Session:
        """What Nova calls Cyborg with: ``user``'s token plus its own service token."""
        user_auth, nova_auth = self.session(user).auth, self.session("nova").auth
        assert user_auth is not None and nova_auth is not None
        auth = service_token.ServiceTokenAuthWrapper(user_auth=user_auth, service_auth=nova_auth)
        return ks_session.Session(auth=auth)

    def placement(self, path: str) -> Any:
        """GET ``path`` from Placement as the admin; None if it answers an error."""
        response = self.session("admin").get(
            path, endpoint_filter=PLACEMENT, microversion=PLACEMENT_VERSION, raise_exc=False
        )
        return response.json() if response.ok else None

    def cli(self, user: str, *args: str) -> Any:
        """``openstack accelerator ...`` (python-cyborgclient) as ``user``, from the catalog."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        project = "admin" if user == "admin" else user
        env.update(
            OS_AUTH_URL=self.keystone.auth_url,
            OS_IDENTITY_API_VERSION="3",
            OS_USERNAME=user,
            OS_PASSWORD=keystone_service.ADMIN_PASSWORD if user == "admin" else PASSWORD,
            OS_PROJECT_NAME=project,
            OS_USER_DOMAIN_NAME="Default",
            OS_PROJECT_DOMAIN_NAME="Default",
            OS_REGION_NAME=keystone_service.REGION,
        )
        openstack_cli = os.path.join(os.path.dirname(sys.executable), "openstack")
        result = subprocess.run(
            [openstack_cli, "accelerator", *args, "-f", "json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, f"{' '.join(args)} as {user}:\n{result.stderr[-2000:]}"
        return json.loads(result.stdout)


def authtoken(keystone: keystone_service.KeystoneService, user: str) -> dict[str, str]:
    """``[keystone_authtoken]`` of a service, as etc/cyborg/deploy/ writes it."""
    return {
        "www_authenticate_uri": keystone.endpoint,
        "auth_url": keystone.endpoint,
        "auth_type": "password",
        "username": user,
        "password": PASSWORD,
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def cyborg_conf(keystone: keystone_service.KeystoneService) -> str:
    """etc/cyborg/deploy/cyborg-{api,conductor}.conf.example, with this cloud's values."""
    user = authtoken(keystone, "cyborg")
    del user["www_authenticate_uri"]
    credentials = "".join(f"{k} = {v}\n" for k, v in user.items())
    catalog = f"region_name = {keystone_service.REGION}\nvalid_interfaces = internal,public\n"
    api = authtoken(keystone, "cyborg")
    api.update(service_token_roles="service", service_token_roles_required="true")
    return (
        "[DEFAULT]\nauth_strategy = keystone\n"
        "periodic_interval = 1\n"  # a Nova event that failed is sent again within the test
        "[keystone_authtoken]\n" + "".join(f"{k} = {v}\n" for k, v in api.items())
        + "[placement]\ncreate_compute_node_provider = true\n" + credentials + catalog
        + "[nova]\n" + credentials + catalog
        + "[service_user]\nsend_service_user_token = true\n" + credentials
    )  # fmt: skip


def register_users(keystone: keystone_service.KeystoneService) -> None:
    """The Keystone section of deployment.rst, plus Nova's user and two tenants."""
    for project in ("service", "demo", "alt"):
        keystone.create_project(project)
    for user, roles in SERVICE_USERS.items():
        keystone.create_user(user, PASSWORD, "service", roles)
    for user in ("demo", "alt"):
        keystone.create_user(user, PASSWORD, user, ["member"])


def start_keystone(keystone: keystone_service.KeystoneService) -> None:
    keystone.start()
    register_users(keystone)


@pytest.fixture(scope="module")
def cloud() -> Iterator[Cloud]:
    yield from running_cloud()


def running_cloud(extra_conf: str = "") -> Iterator[Cloud]:
    """run_cloud in a directory of its own; a service that cannot start fails the test."""
    problem = ""
    try:
        keystone_service.require_installed()
        with tempfile.TemporaryDirectory() as directory:
            yield from run_cloud(directory, extra_conf)
    except (keystone_service.KeystoneUnavailable, placement_service.PlacementUnavailable) as err:
        problem = str(err)
    if problem:  # outside the except: the message alone, without a chain of tracebacks
        pytest.fail(problem, pytrace=False)


def run_cloud(directory: str, extra_conf: str = "") -> Iterator[Cloud]:
    """The cloud of this module; ``extra_conf`` is appended to the Cyborg services' config."""
    keystone = keystone_service.KeystoneService(os.path.join(directory, "keystone"))
    placement = placement_service.PlacementService(
        os.path.join(directory, "placement"),
        keystone_authtoken=authtoken(keystone, "placement"),
    )
    # Keystone takes the longest: the others start meanwhile and ask it nothing before
    # their first request, which comes once it is up.
    with concurrent.futures.ThreadPoolExecutor(1) as pool, fake_nova.running() as nova:
        keystone_up = pool.submit(start_keystone, keystone)
        try:
            placement.start()
            conf = cyborg_conf(keystone) + extra_conf
            with services.deployment("mysql", seeded=False, extra_conf=conf) as deployment:
                keystone_up.result()
                keystone.create_service("placement", "placement", placement.endpoint)
                keystone.create_service("nova", "compute", nova.endpoint)
                keystone.create_service("cyborg", "accelerator", deployment.endpoint)
                for host in HOSTS:  # the conductor's first calls to Placement
                    deployment.start_agent(host)
                yield Cloud(keystone, deployment, nova)
                # The agents first, together: without a conductor one waits on its report.
                agents = [f"agent-{host}" for host in HOSTS]
                for name in agents:
                    deployment.processes[name].terminate()
                for name in agents:
                    deployment.stop(name)
        finally:
            concurrent.futures.wait([keystone_up])
            placement.stop()
            keystone.stop()


def compute_node(cloud: Cloud, host: str) -> str:
    (provider,) = cloud.placement(f"/resource_providers?name={host}")["resource_providers"]
    return str(provider["uuid"])


def device_providers(cloud: Cloud, host: str) -> list[dict[str, Any]]:
    root = compute_node(cloud, host)
    tree = cloud.placement(f"/resource_providers?in_tree={root}")["resource_providers"]
    return [p for p in tree if p["uuid"] != root]


def in_placement(cloud: Cloud) -> bool:
    """Each compute node, its three devices (an FPGA board and two GPUs) and their traits."""
    providers = cloud.placement("/resource_providers")["resource_providers"]
    # 400 until the devices' trait exists.
    gpus = cloud.placement("/allocation_candidates?resources=PGPU:1&required=CUSTOM_FAKE_GPU")
    requests = gpus["allocation_requests"] if gpus else []
    return len(providers) == 4 * len(HOSTS) and len(requests) == 2 * len(HOSTS)


def test_the_admin_sees_both_hosts_with_the_cli(cloud: Cloud) -> None:
    cloud.deployment.wait_for(lambda: in_placement(cloud), 60, "both hosts in Placement")
    devices = cloud.cli("admin", "device", "list")
    assert sorted(d["hostname"] for d in devices) == sorted(HOSTS * 3)
    profile = cloud.cli("admin", "device", "profile", "create", "gpu", json.dumps(GROUPS))
    assert profile["name"] == "gpu"


def test_placement_has_each_hosts_devices_under_its_compute_node(cloud: Cloud) -> None:
    for host in HOSTS:
        inventories = {}
        for provider in device_providers(cloud, host):
            path = f"/resource_providers/{provider['uuid']}/inventories"
            for resource_class, inventory in cloud.placement(path)["inventories"].items():
                inventories[provider["name"]] = (resource_class, inventory["total"])
        assert sorted(inventories.values()) == [("FPGA", 16), ("PGPU", 1), ("PGPU", 1)]


def candidates(cloud: Cloud) -> dict[str, str]:
    """Device provider -> host, of the candidates for the profile's group (Nova's query)."""
    query = "resources1=PGPU:1&required1=CUSTOM_FAKE_GPU"
    found = cloud.placement(f"/allocation_candidates?{query}")
    roots = {compute_node(cloud, host): host for host in HOSTS}
    summaries = found["provider_summaries"]
    return {
        rp: roots[summaries[rp]["root_provider_uuid"]]
        for request in found["allocation_requests"]
        for rp in request["allocations"]
    }


def test_allocation_candidates_are_the_gpus_of_both_hosts(cloud: Cloud) -> None:
    gpus = {
        p["uuid"] for host in HOSTS for p in device_providers(cloud, host) if "GPU" in p["name"]
    }
    assert set(candidates(cloud)) == gpus
    assert sorted(candidates(cloud).values()) == sorted(HOSTS * 2)


def token_owner(cloud: Cloud, token: str) -> str:
    """The user name Keystone validates ``token`` as."""
    response = cloud.session("admin").get(
        f"{cloud.keystone.auth_url}/auth/tokens", headers={"X-Subject-Token": token}
    )
    return str(response.json()["token"]["user"]["name"])


def test_nova_boots_an_instance_with_the_demo_users_arq(cloud: Cloud) -> None:
    arq = cloud.cli("demo", "arq", "create", "gpu")
    assert arq["state"] == "Initial"
    accelerator = openstack.connection.Connection(
        session=cloud.nova_session("demo"), region_name=keystone_service.REGION
    ).accelerator
    # nova-api: the flavor's profile; the scheduler's pick from the candidates.
    profiles = accelerator.get("/device_profiles?name=gpu").json()["device_profiles"]
    assert [p["groups"] for p in profiles] == [GROUPS]
    device_rp, host = sorted(candidates(cloud).items())[0]
    instance = str(uuid.uuid4())
    cloud.nova.instances.add(instance)
    binding = [
        {"path": "/hostname", "op": "add", "value": host},
        {"path": "/device_rp_uuid", "op": "add", "value": device_rp},
        {"path": "/instance_uuid", "op": "add", "value": instance},
    ]
    response = accelerator.patch("/accelerator_requests", json={arq["uuid"]: binding})
    assert response.status_code == 202, response.text

    (event,) = cloud.nova.wait_for_events(1, seconds=30)
    assert event["name"] == "accelerator-request-bound"
    assert (event["tag"], event["server_uuid"], event["status"]) == (
        arq["uuid"],
        instance,
        "completed",
    )
    assert token_owner(cloud, cloud.nova.received[-1].headers["X-Auth-Token"]) == "cyborg"
    shown = cloud.cli("demo", "arq", "show", arq["uuid"])
    assert (shown["state"], shown["hostname"], shown["device_rp_uuid"]) == (
        "Bound",
        host,
        device_rp,
    )
    alt = cloud.session("alt").get(
        f"/accelerator_requests/{arq['uuid']}",
        endpoint_filter={"service_type": "accelerator"},
        raise_exc=False,
    )
    assert alt.status_code == 404, alt.text

    # nova-compute: the instance's resolved ARQs; then the instance is deleted.
    found = accelerator.get(f"/accelerator_requests?instance={instance}").json()["arqs"]
    assert [(a["state"], a["attach_handle_type"]) for a in found] == [("Bound", "TEST_PCI")]
    assert accelerator.delete(f"/accelerator_requests?instance={instance}").status_code == 204
    assert accelerator.get(f"/accelerator_requests?instance={instance}").json()["arqs"] == []


def test_without_a_token_the_api_points_at_keystone(cloud: Cloud) -> None:
    response = requests.get(cloud.deployment.endpoint + "/devices", timeout=30)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == f'Keystone uri="{cloud.keystone.endpoint}"'


def test_a_user_cannot_bind_without_novas_service_token(cloud: Cloud) -> None:
    demo = cloud.session("demo")
    accelerator = {"service_type": "accelerator"}
    created = demo.post(
        "/accelerator_requests", json={"device_profile_name": "gpu"}, endpoint_filter=accelerator
    )
    (arq,) = created.json()["arqs"]
    binding = [{"path": "/hostname", "op": "add", "value": HOSTS[0]}]
    response = demo.patch(
        "/accelerator_requests",
        json={arq["uuid"]: binding},
        endpoint_filter=accelerator,
        raise_exc=False,
    )
    assert response.status_code == 403
    assert "requires a service token" in response.text
    demo.delete(f"/accelerator_requests/{arq['uuid']}", endpoint_filter=accelerator)
