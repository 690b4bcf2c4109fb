"""Conductors and agents as separate processes over real RabbitMQ, on MariaDB.

Agents run the fake driver on an inventory file the test rewrites, so devices are
added, changed and removed while the processes run; the database is read behind
the services' back to check what they stored.
"""

import json
import os
import time
from typing import Any

from cyborg.drivers import fake, fake_inventory
from tests.functional import agent_swarm, services

# Short timeouts so that a missing conductor costs seconds, not the default minute.
FAST = (
    "[DEFAULT]\nrpc_response_timeout = 5\nperiodic_interval = 1\n"
    "[conductor]\nhost_stale_after = 4\n"
)

SNAPSHOT = """
    SELECT c.cpid_info, dp.name, dp.num_accelerators, d.model,
           (SELECT COUNT(*) FROM attach_handles ah WHERE ah.deployable_id = dp.id),
           (SELECT COUNT(*) FROM attributes a WHERE a.deployable_id = dp.id)
    FROM devices d
    JOIN controlpath_ids c ON c.device_id = d.id
    JOIN deployables dp ON dp.device_id = d.id
    WHERE d.hostname = :host ORDER BY c.cpid_info, dp.name
"""


def expected(hostname: str, devices: list[dict[str, Any]] | None) -> list[tuple[Any, ...]]:
    """What the conductor should store for an inventory file (None: the default host)."""
    reports = (
        fake.default_inventory(hostname)
        if devices is None
        else fake_inventory.parse(devices, fake.safe_name(hostname))
    )
    rows = [
        (
            device.controlpath,
            deployable.name,
            deployable.num_accelerators,
            device.model,
            len(deployable.attach_handles),
            # rc, one per trait and the extra attributes
            1 + len(deployable.traits) + len(deployable.attributes),
        )
        for device in reports
        for deployable in device.deployables
    ]
    return sorted(rows)


def converged(deployment: services.Deployment, inventories: dict[str, Any]) -> bool:
    return all(
        deployment.query(SNAPSHOT, host=host) == expected(host, devices)
        for host, devices in inventories.items()
    )


def device_uuids(deployment: services.Deployment, hostname: str) -> list[tuple[str, str]]:
    return deployment.query(
        "SELECT d.uuid, dp.uuid FROM devices d JOIN deployables dp ON dp.device_id = d.id "
        "WHERE d.hostname = :host ORDER BY d.uuid, dp.uuid",
        host=hostname,
    )


def assert_no_duplicates(deployment: services.Deployment) -> None:
    """Every natural key appears once, whatever restarts and races happened."""
    for table, key in [
        ("hosts", "hostname"),
        ("controlpath_ids", "hostname, cpid_info"),
        ("deployables", "device_id, name"),
        ("attach_handles", "deployable_id, attach_info"),
        ("attributes", "deployable_id, attributes.key"),  # qualified: KEY is reserved
    ]:
        duplicated = deployment.query(
            f"SELECT {key}, COUNT(*) FROM {table} GROUP BY {key} HAVING COUNT(*) > 1"
        )
        assert duplicated == [], f"{table} has duplicates: {duplicated[:5]}"


def gpu(address: str, **deployable: Any) -> dict[str, Any]:
    return {"type": "GPU", "address": address, "model": "A100", "deployables": [deployable]}


def test_devices_follow_the_agents_through_changes_and_restarts() -> None:
    inventories: dict[str, Any] = {
        "compute-1.example.com": [gpu("0000:3b:00.0"), gpu("0000:3c:00.0")],
        "compute-2.example.com": [
            {"type": "FPGA", "address": "0000:5e:00.0", "deployables": [{"num_accelerators": 4}]}
        ],
        "compute-3.example.com": None,  # the fake driver's default host
    }
    with services.deployment("mysql", seeded=False, api=False, extra_conf=FAST) as deployment:
        for host, devices in inventories.items():
            deployment.start_agent(host, devices)
        deployment.wait_for(lambda: converged(deployment, inventories), 60, "first reports")
        first_uuids = device_uuids(deployment, "compute-1.example.com")

        # Added, changed and removed while everything runs.
        inventories["compute-1.example.com"] = [
            gpu("0000:3b:00.0", traits=["CUSTOM_RENAMED"]),
            gpu("0000:3c:00.0"),
            gpu("0000:3d:00.0", attributes={"memory_mb": "40960"}),
        ]
        inventories["compute-2.example.com"] = []
        for host in ("compute-1.example.com", "compute-2.example.com"):
            deployment.write_inventory(host, inventories[host])
        deployment.wait_for(lambda: converged(deployment, inventories), 30, "changes")
        # Changing a device keeps its identity: Placement providers and ARQs refer to it.
        assert set(first_uuids) <= set(device_uuids(deployment, "compute-1.example.com"))

        # Agent restart: nothing lost, nothing duplicated, same identities.
        before = device_uuids(deployment, "compute-1.example.com")
        assert deployment.stop("agent-compute-1.example.com") == 0
        deployment.start_agent("compute-1.example.com", inventories["compute-1.example.com"])
        deployment.wait_for(
            lambda: (
                "running as compute-1.example.com" in deployment.log("agent-compute-1.example.com")
            ),
            30,
            "restarted agent",
        )
        deployment.wait_for(lambda: converged(deployment, inventories), 30, "agent restart")
        assert device_uuids(deployment, "compute-1.example.com") == before

        # Conductor crash: a change made while no conductor runs is applied after it
        # comes back; the agents keep going through the timeouts.
        deployment.kill("conductor")
        inventories["compute-2.example.com"] = [gpu("0000:af:00.0")]
        deployment.write_inventory("compute-2.example.com", inventories["compute-2.example.com"])
        deployment.start_conductor()
        deployment.wait_for(lambda: converged(deployment, inventories), 60, "conductor restart")
        assert device_uuids(deployment, "compute-1.example.com") == before
        assert_no_duplicates(deployment)


def test_a_silent_agent_is_marked_stale_and_keeps_its_devices() -> None:
    host = "compute-9.example.com"
    with services.deployment("mysql", seeded=False, api=False, extra_conf=FAST) as deployment:
        deployment.start_agent(host)
        inventories = {host: None}
        deployment.wait_for(lambda: converged(deployment, inventories), 60, "first report")
        state = "SELECT state FROM hosts WHERE hostname = :host"
        assert deployment.query(state, host=host) == [("up",)]

        deployment.kill(f"agent-{host}")
        deployment.wait_for(
            lambda: deployment.query(state, host=host) == [("stale",)], 30, "stale"
        )
        assert converged(deployment, inventories)  # stale, never deleted
        assert "has not reported for 4s" in deployment.log("conductor")

        deployment.start_agent(host)
        deployment.wait_for(
            lambda: deployment.query(state, host=host) == [("up",)], 30, "up again"
        )
        assert converged(deployment, inventories)


def test_fifty_agents_with_eight_devices_converge_on_two_conductors() -> None:
    hosts = [f"node-{n:02d}.example.com" for n in range(50)]
    with services.deployment("mysql", seeded=False, api=False, extra_conf=FAST) as deployment:
        deployment.start_conductor("conductor-2")
        swarm_dir = f"{deployment.directory}/swarm"
        for n in range(5):  # ten agents per process
            deployment.start_swarm(f"swarm-{n}", hosts[n * 10 : n * 10 + 10], 8, swarm_dir)
        inventories: dict[str, Any] = {host: agent_swarm.generated(host, 8) for host in hosts}
        started = time.monotonic()
        deployment.wait_for(lambda: converged(deployment, inventories), 180, "50 hosts")
        took = time.monotonic() - started
        assert deployment.query("SELECT COUNT(*) FROM devices") == [(400,)]
        assert deployment.query("SELECT COUNT(*) FROM hosts") == [(50,)]
        assert_no_duplicates(deployment)
        # Both conductors took reports off the shared queue.
        for conductor in ("conductor", "conductor-2"):
            assert "Inventory of node-" in deployment.log(conductor), conductor
        print(f"50 agents x 8 devices converged in {took:.1f}s")

        # One conductor gone: the other carries on with changes.
        deployment.kill("conductor-2")
        os.makedirs(swarm_dir)
        for host in hosts[:5]:
            inventories[host] = [*inventories[host][2:], gpu("0000:e0:00.0")]
            with open(f"{swarm_dir}/{host}.tmp", "w") as handle:
                json.dump(inventories[host], handle)
            os.replace(f"{swarm_dir}/{host}.tmp", f"{swarm_dir}/{host}.json")
        deployment.wait_for(lambda: converged(deployment, inventories), 60, "changes")
        assert deployment.query("SELECT COUNT(*) FROM devices") == [(395,)]
        assert_no_duplicates(deployment)
