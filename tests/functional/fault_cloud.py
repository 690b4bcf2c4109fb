"""The deployment the fault tests break: servers of the test's own, and how to look.

A private RabbitMQ node and a private MariaDB server (the tests stop them), the real
Placement behind a loopback proxy the tests cut or hold, and a ``services.Deployment``
on them: cyborg-api, two conductors and agents on several hosts (fake driver). Short
intervals, so a fault is noticed in seconds: agents report every second, conductors
run their periodic work every second, mark a host stale after 4 silent seconds and
give up on a call after 5.
"""

import contextlib
import pathlib
import secrets
from collections.abc import Iterator
from typing import Any

from cyborg.clients import placement as placement_client
from tests import placement_service, tcp_proxy
from tests.functional import private_mariadb, private_rabbit, services
from tests.functional.test_agents_and_conductors import FAST
from tests.placement.conftest import make_conf

GRACE = 3  # [DEFAULT] graceful_shutdown_timeout of every service
ADMIN = {"X-User-Id": "admin", "X-Project-Id": "admin", "X-Roles": "admin,member,reader"}


def conf(placement: tcp_proxy.TCPProxy | None, audit_interval: int) -> str:
    text = FAST + f"[DEFAULT]\ngraceful_shutdown_timeout = {GRACE}\n"
    if placement is not None:
        text += (
            "[placement]\nauth_type = admin_token\n"
            f"token = {placement_service.ADMIN_TOKEN}\n"
            f"endpoint_override = http://127.0.0.1:{placement.port}\n"
            "create_compute_node_provider = true\n"
            f"audit_interval = {audit_interval}\n"
        )
    return text


@contextlib.contextmanager
def cloud(
    rabbit: private_rabbit.PrivateRabbit,
    mariadb: private_mariadb.PrivateMariaDB,
    placement: placement_service.PlacementService | None = None,
    *,
    audit_interval: int = 0,
) -> Iterator[tuple[services.Deployment, tcp_proxy.TCPProxy | None]]:
    """API, conductor and conductor-2 on a new database of ``mariadb`` and on
    ``rabbit``; with ``placement``, reached through a proxy."""
    proxy = None
    if placement is not None:
        host, port = placement.endpoint.removeprefix("http://").split(":")
        proxy = tcp_proxy.TCPProxy(host, int(port))
    url = mariadb.create_database(f"cyborg_faults_{secrets.token_hex(4)}")
    try:
        with services.deployment(
            seeded=False,
            extra_conf=conf(proxy, audit_interval),
            rabbit_url=rabbit.url(),
            database_url=url,
        ) as deployment:
            deployment.start_conductor("conductor-2")
            yield deployment, proxy
    finally:
        if proxy is not None:
            proxy.close()


def gpus(*addresses: str) -> list[dict[str, Any]]:
    return [{"type": "GPU", "address": a, "model": "A100", "deployables": [{}]} for a in addresses]


def placement_client_for(
    tmp_path: pathlib.Path, endpoint: str
) -> placement_client.PlacementClient:
    """The test's own look at Placement, straight (not through the proxy)."""
    return placement_client.from_conf(make_conf(tmp_path, endpoint))


def in_placement(
    deployment: services.Deployment, client: placement_client.PlacementClient, host: str
) -> bool:
    """Placement holds exactly the host's stored deployables, each with its total."""
    stored = set(
        deployment.query(
            "SELECT dp.rp_uuid, dp.num_accelerators FROM deployables dp "
            "JOIN devices d ON d.id = dp.device_id WHERE d.hostname = :host",
            host=host,
        )
    )
    root = client.find_provider(host)
    if root is None:
        return not stored
    published = set()
    for provider in client.get_tree(root.uuid):
        if provider.uuid != root.uuid:
            _, inventories = client.get_inventories(provider.uuid)
            totals = sum(int(inventory["total"]) for inventory in inventories.values())
            published.add((provider.uuid, totals))
    return published == stored


def host_state(deployment: services.Deployment, host: str) -> str | None:
    rows = deployment.query("SELECT state FROM hosts WHERE hostname = :host", host=host)
    return str(rows[0][0]) if rows else None
