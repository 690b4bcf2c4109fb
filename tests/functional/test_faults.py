"""Faults on a multi-process deployment, and what the services do about each.

One deployment for the module (tests/functional/fault_cloud.py): cyborg-api, two
cyborg-conductors and cyborg-agents on several hosts as processes, over a RabbitMQ
node and on a MariaDB server of the module's own, with the real Placement behind a
proxy. The tests, in this order, cut Placement off, SIGKILL a conductor during a
report, pull an agent host's network link, restart the broker under load, stop the
database for 30 seconds and last SIGTERM every service under load; each but the last
leaves the deployment as it found it, with the agents it started still reporting.
doc/source/admin/faults.rst lists these faults and what the services do.

Needs rabbitmq-server, mariadbd and mariadb-install-db, ``ip netns`` and root; a
missing one fails the tests with how to install it.
"""

import dataclasses
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cyborg.api import errors
from cyborg.clients import placement as placement_client
from tests import placement_service, tcp_proxy
from tests.functional import (
    fault_api,
    fault_cloud,
    netns,
    private_mariadb,
    private_rabbit,
    services,
)
from tests.functional.fault_cloud import GRACE, gpus, host_state, in_placement
from tests.functional.test_agents_and_conductors import (
    assert_no_duplicates,
    converged,
    device_uuids,
)

AUDIT = 5  # [placement] audit_interval: drift is repaired within seconds


@dataclasses.dataclass
class Faults:
    deployment: services.Deployment
    proxy: tcp_proxy.TCPProxy  # between the conductors and Placement
    placement: placement_client.PlacementClient  # the test's own, straight to it
    rabbit: private_rabbit.PrivateRabbit
    mariadb: private_mariadb.PrivateMariaDB
    inventories: dict[str, Any] = dataclasses.field(default_factory=dict)  # running agents

    def start_agents(self, inventories: dict[str, Any]) -> None:
        for host, devices in inventories.items():
            self.deployment.start_agent(host, devices)
        self.inventories.update(inventories)
        self.wait_converged("first reports")

    def wait_converged(self, what: str, seconds: float = 90) -> None:
        self.deployment.wait_for(
            lambda: converged(self.deployment, self.inventories), seconds, what
        )

    def wait_in_placement(self, hosts: list[str], what: str, seconds: float = 90) -> None:
        self.deployment.wait_for(
            lambda: all(in_placement(self.deployment, self.placement, h) for h in hosts),
            seconds,
            what,
        )


def _started(start: Any, failure: type[Exception]) -> Any:
    try:
        start()
    except failure as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faults]:
    rabbit = private_rabbit.PrivateRabbit(str(tmp_path_factory.mktemp("rabbitmq")))
    mariadb = private_mariadb.PrivateMariaDB(str(tmp_path_factory.mktemp("mariadb")))
    placement = placement_service.PlacementService(str(tmp_path_factory.mktemp("placement")))
    try:
        _started(rabbit.start, private_rabbit.RabbitUnavailable)
        _started(mariadb.install, private_mariadb.MariaDBUnavailable)
        _started(mariadb.start, private_mariadb.MariaDBUnavailable)
        _started(placement.start, placement_service.PlacementUnavailable)
        client = fault_cloud.placement_client_for(
            tmp_path_factory.mktemp("client"), placement.endpoint
        )
        with fault_cloud.cloud(rabbit, mariadb, placement, audit_interval=AUDIT) as (
            deployment,
            proxy,
        ):
            assert proxy is not None
            body = {"name": fault_api.PROFILE, "groups": [{"resources:PGPU": "1"}]}
            assert (
                fault_api.api(deployment, "POST", "/device_profiles", json=body).status_code == 201
            )
            yield Faults(deployment, proxy, client, rabbit, mariadb)
    finally:
        placement.stop()
        mariadb.stop()
        rabbit.stop()


def _all_reserved(faults: Faults, host: str) -> bool:
    """Every device provider of ``host`` is wholly reserved in Placement (a stale host)."""
    root = faults.placement.find_provider(host)
    assert root is not None
    children = [p for p in faults.placement.get_tree(root.uuid) if p.uuid != root.uuid]
    return bool(children) and all(
        all(
            i["reserved"] == i["total"]
            for i in faults.placement.get_inventories(p.uuid)[1].values()
        )
        for p in children
    )


# -- (c) Placement unreachable during binds and reports ---------------------------------


def test_placement_unreachable_fails_binds_cleanly_and_drift_is_repaired(faults: Faults) -> None:
    deployment, proxy, client = faults.deployment, faults.proxy, faults.placement
    first, second = "placement-1.example.com", "placement-2.example.com"
    faults.start_agents({first: gpus("0000:3b:00.0"), second: gpus("0000:3b:00.0")})
    faults.wait_in_placement([first, second], "published")
    arq = fault_api.create_arq(deployment)

    proxy.cut()
    try:
        # A bind needs a claim: it fails at once, with nothing claimed or held.
        answer = fault_api.bind(deployment, arq, first)
        assert answer.status_code == 503, answer.text
        message = fault_api.fault(answer)
        assert message.startswith("Placement"), message
        assert str(proxy.port) not in message and "127.0.0.1" not in message, message
        assert fault_api.arq_state(deployment, arq) == "BindFailed"
        assert deployment.query("SELECT COUNT(*) FROM attach_handles WHERE in_use = 1") == [(0,)]
        # A report is stored; its Placement sync waits for Placement.
        faults.inventories[first] = gpus("0000:3b:00.0", "0000:5e:00.0")
        deployment.write_inventory(first, faults.inventories[first])
        faults.wait_converged("a report while Placement is away")
        assert not in_placement(deployment, client, first)
        # Drift made behind Cyborg's back while it cannot look.
        (device_rp,) = deployment.query(
            "SELECT dp.rp_uuid FROM deployables dp JOIN devices d ON d.id = dp.device_id "
            "WHERE d.hostname = :host",
            host=second,
        )[0]
        generation, inventories = client.get_inventories(device_rp)
        inventories["PGPU"] = {**inventories["PGPU"], "total": 4, "max_unit": 4}
        client.set_inventories(device_rp, inventories, generation)
    finally:
        proxy.restore()

    # The next report syncs the first host; the audit repairs the second.
    faults.wait_in_placement([first, second], "Placement in step again")
    # The failed bind, retried once Placement is back, binds.
    assert fault_api.unbind(deployment, arq).status_code == 202
    deployment.wait_for(lambda: fault_api.arq_state(deployment, arq) == "Unbound", 60, "unbound")
    answer = fault_api.bind(deployment, arq, first)
    assert answer.status_code == 202, answer.text
    deployment.wait_for(lambda: fault_api.arq_state(deployment, arq) == "Bound", 60, "bound")
    assert_no_duplicates(deployment)


# -- (d) a conductor killed with SIGKILL during a report --------------------------------


def test_a_conductor_killed_during_a_report_leaves_it_to_the_other(faults: Faults) -> None:
    deployment, proxy = faults.deployment, faults.proxy
    host = "report-1.example.com"
    agent = f"agent-{host}"
    faults.start_agents({host: gpus("0000:3b:00.0")})
    faults.wait_in_placement([host], "published")
    assert deployment.stop("conductor-2") == 0  # the first conductor takes every report

    proxy.hold()  # Placement hangs: the report's sync waits, holding the host's row
    try:
        mark = len(deployment.log(agent))
        faults.inventories[host] = gpus("0000:3b:00.0", "0000:3c:00.0", "0000:3d:00.0")
        deployment.write_inventory(host, faults.inventories[host])
        deployment.wait_for(
            lambda: proxy.stalled > 0 and "did not answer" in deployment.log(agent)[mark:],
            60,
            "a report waiting on Placement",
        )
        deployment.start_conductor("conductor-2")
        deployment.kill("conductor")
    finally:
        proxy.release()

    # The agent reports again; the other conductor stores and publishes it, once.
    faults.wait_converged("the other conductor to take the report")
    faults.wait_in_placement([host], "published by the other conductor")
    assert f"Inventory of {host} stored" in deployment.log("conductor-2")
    assert_no_duplicates(deployment)
    deployment.start_conductor("conductor")


# -- (e) an agent host cut off ----------------------------------------------------------


def test_a_cut_off_agent_host_goes_stale_keeps_its_devices_and_comes_back(faults: Faults) -> None:
    deployment = faults.deployment
    namespace = netns.Namespace()
    host = "edge-1.example.com"
    agent = f"agent-{host}"
    try:
        try:
            namespace.create()
        except netns.NetnsUnavailable as err:
            pytest.fail(str(err), pytrace=False)
        # Over the veth link, to the broker's address on it; a dead link is noticed
        # by missing heartbeats within seconds.
        deployment.start_agent(
            host,
            gpus("0000:3b:00.0", "0000:3c:00.0"),
            extra_conf=f"[DEFAULT]\ntransport_url = {faults.rabbit.url(namespace.host_address)}\n"
            "[oslo_messaging_rabbit]\nheartbeat_timeout_threshold = 4\n",
            prefix=namespace.prefix(),
        )
        faults.inventories[host] = gpus("0000:3b:00.0", "0000:3c:00.0")
        faults.wait_converged("the cut-off host's first report")
        faults.wait_in_placement([host], "published")
        assert host_state(deployment, host) == "up"
        identities = device_uuids(deployment, host)

        namespace.cut()
        try:
            deployment.wait_for(lambda: host_state(deployment, host) == "stale", 60, "stale")
            # Kept, reserved so that nothing new lands there.
            assert device_uuids(deployment, host) == identities
            deployment.wait_for(lambda: _all_reserved(faults, host), 60, "reserved")
        finally:
            namespace.restore()

        deployment.wait_for(lambda: host_state(deployment, host) == "up", 90, "up again")
        assert device_uuids(deployment, host) == identities
        deployment.wait_for(lambda: not _all_reserved(faults, host), 60, "freed in Placement")
        faults.wait_in_placement([host], "in step")
    finally:
        if agent in deployment.processes:
            deployment.stop(agent)
        faults.inventories.pop(host, None)
        namespace.delete()


# -- (a) RabbitMQ restarted under load ---------------------------------------------------


def test_a_rabbitmq_restart_under_load_is_survived_without_duplicates(faults: Faults) -> None:
    deployment = faults.deployment
    faults.start_agents({f"rabbit-{n}.example.com": gpus("0000:3b:00.0") for n in range(2)})
    with fault_api.Load(deployment) as load:
        deployment.wait_for(lambda: load.count(201) >= 5, 60, "ARQs made under load")
        faults.rabbit.restart()
        # Every agent reconnects: the change each host makes now is stored.
        for n, host in enumerate(sorted(faults.inventories)):
            faults.inventories[host] = [
                *faults.inventories[host],
                *gpus(f"0000:{0xD0 + n:02x}:00.0"),
            ]
            deployment.write_inventory(host, faults.inventories[host])
        faults.wait_converged("every agent to report after the restart", 120)
        # The API's RPC client reconnects too: ARQs are made again.
        made = load.count(201)
        deployment.wait_for(lambda: load.count(201) >= made + 5, 120, "ARQs after the restart")
    # Each conductor reconnected its own queue: a call to it by name is answered.
    fault_api.call_each_conductor(deployment, "after-restart")
    load.check_stored()
    assert_no_duplicates(deployment)


# -- (b) the database stopped for 30 s ---------------------------------------------------

OUTAGE = 30  # seconds, as the issue asks


def test_a_database_stopped_for_30s_is_503_and_recovers_without_restarts(faults: Faults) -> None:
    deployment, mariadb = faults.deployment, faults.mariadb
    pids = {name: process.pid for name, process in deployment.processes.items()}
    host = "db-1.example.com"
    faults.start_agents({host: gpus("0000:3b:00.0")})
    pids[f"agent-{host}"] = deployment.processes[f"agent-{host}"].pid
    arq_create = {"device_profile_name": fault_api.PROFILE}
    outage = {"X-Project-Id": "outage"}

    mariadb.stop()
    answers: list[Any] = []
    try:
        faults.inventories[host] = gpus("0000:3b:00.0", "0000:5e:00.0")
        deployment.write_inventory(host, faults.inventories[host])
        stopped = time.monotonic()
        while time.monotonic() - stopped < OUTAGE:
            body = {"name": f"during-outage-{len(answers)}", "groups": [{"resources:PGPU": "1"}]}
            answers.append(fault_api.api(deployment, "POST", "/device_profiles", json=body))
            answers.append(fault_api.api(deployment, "GET", "/device_profiles"))
            answers.append(
                fault_api.api(
                    deployment, "POST", "/accelerator_requests", json=arq_create, headers=outage
                )
            )
            time.sleep(1)
    finally:
        mariadb.start()
    for answer in answers:
        assert answer.status_code == 503, (answer.request.method, answer.request.url, answer.text)
        assert fault_api.fault(answer) == errors.DATABASE_UNAVAILABLE, answer.text

    # Back without restarting anything: reads, writes and reports.
    deployment.wait_for(
        lambda: fault_api.api(deployment, "GET", "/device_profiles").status_code == 200,
        60,
        "reads",
    )
    deployment.wait_for(
        lambda: (
            fault_api.api(
                deployment, "POST", "/accelerator_requests", json=arq_create, headers=outage
            ).status_code
            == 201
        ),
        60,
        "writes",
    )
    faults.wait_converged("reports after the outage")
    faults.wait_in_placement([host], "published after the outage")
    assert {name: process.pid for name, process in deployment.processes.items()} == pids
    # What was answered 503 was not written, nor half of it.
    assert deployment.query(
        "SELECT COUNT(*) FROM device_profiles WHERE name LIKE 'during-outage-%'"
    ) == [(0,)]
    assert deployment.query(
        "SELECT COUNT(*) FROM extended_accelerator_requests WHERE project_id = 'outage'"
    ) == [(1,)]
    assert_no_duplicates(deployment)


# -- (f) SIGTERM on every service under load ---------------------------------------------

MARGIN = 20  # exiting after the grace period, on a loaded machine
SLOW = "[DEFAULT]\nrpc_response_timeout = 600\n"  # calls to a conductor that is gone hang


def test_sigterm_stops_every_service_within_its_grace_period_under_load(faults: Faults) -> None:
    """Each service stops within its grace period, whatever it waits on: conductors'
    periodic tasks and reports waiting on Placement that hangs, an agent's report and
    an API's requests waiting for conductors that are gone (for ten minutes)."""
    deployment, proxy = faults.deployment, faults.proxy
    slow_port = services.free_port()
    deployment.start("api-slow", "api", f"{SLOW}[api]\nport = {slow_port}\n")
    slow_endpoint = f"http://127.0.0.1:{slow_port}/v2"
    deployment.wait_for(
        lambda: fault_api.reachable(slow_endpoint), 60, "the API whose calls wait ten minutes"
    )
    deployment.start_agent("slow-1.example.com", gpus("0000:3b:00.0"), extra_conf=SLOW)
    faults.inventories["slow-1.example.com"] = gpus("0000:3b:00.0")
    faults.wait_converged("the slow agent's report")
    agents = sorted(name for name in deployment.processes if name.startswith("agent-"))
    # Conductors while the APIs and agents call them; agents while they report; the
    # APIs last, their requests waiting on conductors that are gone.
    order = ["conductor-2", "conductor", *agents, "api-slow", "api"]
    took = {}
    proxy.hold()
    try:
        deployment.wait_for(lambda: proxy.stalled > 0, 60, "a conductor waiting on Placement")
        with (
            fault_api.Load(deployment) as load,
            fault_api.Load(deployment, endpoint=slow_endpoint),
        ):
            deployment.wait_for(lambda: load.count(201) + load.count(503) >= 3, 60, "load")
            for name in order:
                took[name] = _terminate(deployment, name)
    finally:
        proxy.release()
    print("seconds to exit on SIGTERM:", {name: round(s, 1) for name, s in took.items()})


def _terminate(deployment: services.Deployment, name: str) -> float:
    """SIGTERM ``name``: it exits with 0 within the grace period (and a margin)."""
    process = deployment.processes.pop(name)
    started = time.monotonic()
    process.terminate()
    try:
        code = process.wait(timeout=GRACE + MARGIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(
            f"{name} did not exit within {GRACE + MARGIN}s of SIGTERM "
            f"(grace period {GRACE}s):\n{deployment.log(name)[-3000:]}",
            pytrace=False,
        )
    assert code == 0, (name, code, deployment.log(name)[-2000:])
    return time.monotonic() - started
