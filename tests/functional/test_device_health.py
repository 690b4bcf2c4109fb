"""A device turns unhealthy and recovers, across real processes and the real Placement.

cyborg-conductor and cyborg-agent (the fake driver on an inventory file the test
rewrites, as a vendor driver's health attributes would change) over RabbitMQ, on
SQLite, publishing to a real Placement service: the agent's next report after the
change reserves the GPU's whole inventory, and the report after its recovery frees it,
without restarting anything.
"""

from collections.abc import Iterator
from typing import Any

import pytest

from cyborg.clients import placement as placement_client
from cyborg.common import inventory
from tests import placement_service
from tests.functional import services
from tests.functional.test_agents_and_conductors import FAST
from tests.placement.conftest import make_conf

HOST = "health-1.example.com"
GPU = "0000:3b:00.0"


def gpu(**attributes: str) -> list[dict[str, Any]]:
    deployable = {"resource_class": "PGPU", "attributes": {"memory_mb": "40960", **attributes}}
    return [{"type": "GPU", "address": GPU, "model": "A100", "deployables": [deployable]}]


@pytest.fixture
def cloud(tmp_path) -> Iterator[tuple[services.Deployment, placement_client.PlacementClient]]:  # type: ignore[no-untyped-def]
    placement = placement_service.PlacementService(str(tmp_path / "placement"))
    try:
        placement.start()
    except placement_service.PlacementUnavailable as err:
        pytest.fail(str(err), pytrace=False)
    conf = FAST + (
        "[placement]\nauth_type = admin_token\n"
        f"token = {placement_service.ADMIN_TOKEN}\n"
        f"endpoint_override = {placement.endpoint}\n"
        "create_compute_node_provider = true\n"
    )
    try:
        with services.deployment(seeded=False, api=False, extra_conf=conf) as deployment:
            yield deployment, placement_client.from_conf(make_conf(tmp_path, placement.endpoint))
    finally:
        placement.stop()


def reserved(client: placement_client.PlacementClient) -> tuple[int, int] | None:
    """(total, reserved) of the host's one GPU provider; None until it is published."""
    root = client.find_provider(HOST)
    if root is None:
        return None
    children = [p for p in client.get_tree(root.uuid) if p.uuid != root.uuid]
    if len(children) != 1:
        return None
    _, inventories = client.get_inventories(children[0].uuid)
    pgpu = inventories.get("PGPU")
    return None if pgpu is None else (pgpu["total"], pgpu["reserved"])


def test_an_unhealthy_gpu_is_reserved_in_placement_until_it_recovers(cloud) -> None:  # type: ignore[no-untyped-def]
    deployment, client = cloud
    deployment.start_agent(HOST, gpu())
    deployment.wait_for(lambda: reserved(client) == (1, 0), 60, "the GPU published, free")

    sick = {inventory.ATTR_HEALTH: "fatal", inventory.ATTR_HEALTH_REASON: "XID 79"}
    deployment.write_inventory(HOST, gpu(**sick))
    deployment.wait_for(lambda: reserved(client) == (1, 1), 60, "the fatal GPU reserved")
    stored = deployment.query(
        "SELECT a.value FROM attributes a WHERE a.key = :key", key=inventory.ATTR_HEALTH_REASON
    )
    assert stored == [("XID 79",)]

    deployment.write_inventory(HOST, gpu())  # reset: the driver reports no health again
    deployment.wait_for(lambda: reserved(client) == (1, 0), 60, "the recovered GPU freed")
    assert (
        deployment.query(
            "SELECT a.value FROM attributes a WHERE a.key = :key", key=inventory.ATTR_HEALTH
        )
        == []
    )
