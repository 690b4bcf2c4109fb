"""Agents at scale: a fleet of simulated agents against real conductor processes.

  python bench/fleet.py [--hosts 300,1000] [--devices 8] [--report-interval 20]
      [--intervals 3] [--placement-workers 2] [--floor-concurrency 1,2,4,8,16]
      [--audit-interval 240] [--binds 5] [--json out.json]

Per fleet size, on the machine's MariaDB and RabbitMQ and a real Placement (gunicorn,
its own MariaDB database, an access log counting its requests):

* the Placement floor: the fewest requests that create the fleet's providers,
  inventories and traits (per host: POST the compute node; per device: POST the
  provider, PUT its inventories, PUT its traits), sent straight to Placement at each
  ``--floor-concurrency`` and the best time kept;
* convergence: ``cyborg-conductor`` processes (tests/functional/services.py) and N
  agents (the real ResourceTracker with the fake driver over the real RPC client,
  one thread each) reporting at once, until the database holds every deployable and
  Placement every provider with its inventory and traits;
* one changed device (a new trait), reflected in the database and Placement after one
  report;
* steady state over ``--intervals`` report intervals: Placement requests per minute,
  database writes (hosts whose liveness row moved: the only write an unchanged report
  can make) and conductor CPU per report;
* bind-to-event: ARQs bound through the conductor, the time until the recording Nova
  stand-in (tests/fake_nova.py) gets accelerator-request-bound, idle and while the
  conductor's Placement audit runs.

Each figure is printed with its target and ratio; ``--json`` keeps them. The classes
here (Fleet, PlacementFloor, Counting; one agent is bench/simulated_host.py) take any
RPC API and Placement endpoint, so a side-by-side harness can drive another
deployment with them.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import requests
from oslo_config import cfg

import cyborg.conf
from bench.simulated_host import SimulatedHost
from cyborg.common import context as cyborg_context
from cyborg.conductor import rpcapi
from tests import db_backends, fake_nova
from tests.functional import services
from tests.placement_service import ADMIN_TOKEN, PlacementService

TARGET_FLOOR = 1.3  # convergence within 1.3x of the Placement floor
TARGET_AUDIT = 2.0  # bind-to-event during an audit within 2x of idle
CHANGED_TRAIT = "CUSTOM_FLEET_CHANGED"


def _mark(label: str) -> None:
    print(f"# {time.strftime('%H:%M:%S')} {label}", flush=True)


# -- counting ---------------------------------------------------------------------------


class Counting:
    """Placement's access log from an offset: requests by method since ``start()``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0

    def _size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def start(self) -> None:
        self.offset = self._size()

    def take(self) -> dict[str, int]:
        """{method: count} of the requests logged since ``start()``."""
        counts: dict[str, int] = {}
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            for line in log:
                parts = line.split(b'"')
                if len(parts) > 1 and parts[1]:
                    method = parts[1].split()[0].decode()
                    counts[method] = counts.get(method, 0) + 1
        return counts


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (Linux /proc)."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            pids += [int(p) for p in children.read().split()]
    except OSError:
        pass
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


# -- the Placement floor ----------------------------------------------------------------


class PlacementFloor:
    """The fewest requests that create a fleet, sent straight to Placement."""

    def __init__(self, endpoint: str, devices: int) -> None:
        self.endpoint = endpoint
        self.devices = devices
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["X-Auth-Token"] = ADMIN_TOKEN
        return session

    def _send(self, method: str, path: str, version: str, body: Any, ok: int) -> Any:
        response = self._session().request(
            method,
            self.endpoint + path,
            json=body,
            headers={"OpenStack-API-Version": f"placement {version}"},
            timeout=120,
        )
        if response.status_code != ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def host(self, hostname: str) -> int:
        """Create one host's compute node and device providers; the requests sent."""
        root = str(uuid.uuid4())
        self._send("POST", "/resource_providers", "1.20", {"uuid": root, "name": hostname}, 200)
        for n in range(self.devices):
            rp = str(uuid.uuid4())
            body = {"uuid": rp, "name": f"{hostname}_GPU{n}", "parent_provider_uuid": root}
            self._send("POST", "/resource_providers", "1.20", body, 200)
            inventory = {"PGPU": {"total": 1, "reserved": 0, "max_unit": 1}}
            gen = self._send(
                "PUT",
                f"/resource_providers/{rp}/inventories",
                "1.26",
                {"resource_provider_generation": 0, "inventories": inventory},
                200,
            )["resource_provider_generation"]
            self._send(
                "PUT",
                f"/resource_providers/{rp}/traits",
                "1.6",
                {"resource_provider_generation": gen, "traits": ["OWNER_CYBORG"]},
                200,
            )
        return 1 + 3 * self.devices

    def run(self, hosts: int, concurrency: int) -> tuple[float, int]:
        """(seconds, requests) to create ``hosts`` hosts, ``concurrency`` requests at once."""
        prefix = f"floor-{uuid.uuid4().hex[:6]}"
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            sent = sum(pool.map(self.host, [f"{prefix}-{n:05d}" for n in range(hosts)]))
        return time.perf_counter() - start, sent


# -- the fleet --------------------------------------------------------------------------


class Fleet:
    """``hosts`` agents over ``conductor`` (an RPC API of the deployment to drive)."""

    def __init__(
        self, conductor: rpcapi.ConductorAPI, hosts: int, devices: int, prefix: str = "fleet"
    ) -> None:
        self.context = cyborg_context.get_admin_context()
        self.agents = [
            SimulatedHost(f"{prefix}-{n:05d}", devices, conductor) for n in range(hosts)
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.failures = 0

    def _one(self, agent: SimulatedHost) -> None:
        try:
            agent.report(self.context)
        except Exception:  # a timed-out report: the agent tries again next interval
            self.failures += 1

    def start_reporting(self, interval: float, *, at_once: bool = False) -> None:
        """Each agent reports every ``interval`` seconds, spread over the interval
        (``at_once``: all start together, as a fleet that boots)."""
        self._stop.clear()
        for n, agent in enumerate(self.agents):
            offset = 0.0 if at_once else interval * n / len(self.agents)
            thread = threading.Thread(target=self._loop, args=(agent, interval, offset))
            thread.start()
            self._threads.append(thread)

    def _loop(self, agent: SimulatedHost, interval: float, offset: float) -> None:
        if self._stop.wait(offset):
            return
        while not self._stop.is_set():
            self._one(agent)
            self._stop.wait(interval)

    def stop_reporting(self) -> int:
        """Stop the loops; the reports they made."""
        self._stop.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
        return sum(a.reports for a in self.agents)


def _wait(predicate: Callable[[], Any], seconds: float, what: str, poll: float = 0.2) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > seconds:
            raise RuntimeError(f"{what}: not within {seconds}s")
        time.sleep(poll)
    return time.perf_counter() - start


def _placement_get(endpoint: str, path: str, version: str = "1.18") -> Any:
    response = requests.get(
        endpoint + path,
        headers={"X-Auth-Token": ADMIN_TOKEN, "OpenStack-API-Version": f"placement {version}"},
        timeout=120,
    )
    response.raise_for_status()
    return response.json()


def _converged(deployment: services.Deployment, endpoint: str, hosts: int, devices: int) -> bool:
    stored = deployment.query(
        "SELECT COUNT(*) FROM hosts WHERE hostname LIKE :p AND inventory_fingerprint IS NOT NULL",
        p="fleet-%",
    )[0][0]
    if stored < hosts:
        return False
    providers = _placement_get(endpoint, "/resource_providers?required=OWNER_CYBORG")
    return len(providers["resource_providers"]) >= hosts * devices


def _bind_to_event(
    api: rpcapi.ConductorAPI, context: Any, nova: fake_nova.FakeNova, rp_uuid: str, host: str
) -> float:
    (arq,) = api.create_arqs(context, device_profile_name="fleet", project_id="p")
    instance = str(uuid.uuid4())
    nova.instances.add(instance)
    binding = {"hostname": host, "device_rp_uuid": rp_uuid, "instance_uuid": instance}
    start = time.perf_counter()  # the bind's request, as Nova sends it
    api.bind_arqs(context, bindings={arq: binding})
    _wait(
        lambda: any(e.get("server_uuid") == instance for e in nova.events(None)),
        300,
        "the bound event",
        poll=0.002,
    )
    seconds = time.perf_counter() - start
    api.delete_arqs(context, uuids=[arq])
    return seconds


# -- one run ----------------------------------------------------------------------------


def _figure(name: str, value: float, unit: str, target: str = "", ratio: str = "") -> dict:
    row = {"figure": name, "value": round(value, 3), "unit": unit, "target": target}
    row["ratio"] = ratio
    print(f"{name:<52} {value:>10.2f} {unit:<10} {ratio:<10} {target}", flush=True)
    return row


def run(args: argparse.Namespace, hosts: int) -> list[dict]:
    figures: list[dict] = []
    with tempfile.TemporaryDirectory() as directory, fake_nova.running() as nova:
        placement_db = db_backends.create_database("mysql", directory)
        placement = PlacementService(
            os.path.join(directory, "placement"),
            placement_db,
            workers=args.placement_workers,
            access_log=True,
        )
        placement.start()
        counting = Counting(placement.access_log_path)
        try:
            figures += _run(args, hosts, placement.endpoint, counting, nova, directory)
        finally:
            placement.stop()
            db_backends.drop_database(placement_db)
    return figures


def _run(
    args: argparse.Namespace,
    hosts: int,
    endpoint: str,
    counting: Counting,
    nova: fake_nova.FakeNova,
    directory: str,
) -> Iterator[dict]:
    devices = args.devices
    _mark(f"{hosts} hosts x {devices} devices: the Placement floor")
    floor = PlacementFloor(endpoint, devices)
    floor.run(4, 4)  # warm: every gunicorn worker has loaded Placement before timing
    best, best_concurrency, floor_requests = float("inf"), 0, 0
    for concurrency in [int(c) for c in args.floor_concurrency.split(",")]:
        seconds, floor_requests = floor.run(hosts, concurrency)
        print(f"#   floor at concurrency {concurrency}: {seconds:.1f}s", flush=True)
        if seconds < best:
            best, best_concurrency = seconds, concurrency
    yield _figure(
        f"Placement floor, {hosts} hosts ({floor_requests} requests)",
        best,
        "s",
        f"at concurrency {best_concurrency}",
    )

    conductor_conf = (
        "[placement]\nauth_type = admin_token\n"
        f"token = {ADMIN_TOKEN}\nendpoint_override = {endpoint}\n"
        f"create_compute_node_provider = true\naudit_interval = {args.audit_interval}\n"
        f"concurrency = {args.concurrency or best_concurrency}\n"
        f"[nova]\nauth_type = none\nendpoint_override = {nova.endpoint}\n"
        f"[conductor]\nworkers = {args.conductor_workers}\nhost_stale_after = 600\n"
        "[DEFAULT]\nexecutor_thread_pool_size = 64\n"
    )
    with services.deployment("mysql", seeded=False, api=False, conductor=False) as deployed:
        started = time.monotonic()
        deployed.start_conductor(extra_conf=conductor_conf)
        pid = deployed.processes["conductor"].pid
        conf = cfg.ConfigOpts()
        cyborg.conf.register_opts(conf)
        conf(["--config-file", deployed.conf_path], project="cyborg", default_config_files=[])
        api = rpcapi.ConductorAPI(conf)
        fleet = Fleet(api, hosts, devices)

        _mark("convergence")
        counting.start()
        cpu = cpu_seconds(pid)
        fleet.start_reporting(args.report_interval, at_once=True)
        converged = _wait(
            lambda: _converged(deployed, endpoint, hosts, devices), 1800, "convergence", poll=0.5
        )
        fleet.stop_reporting()
        cpu = cpu_seconds(pid) - cpu
        sent = counting.take()
        total = sum(sent.values())
        yield _figure(
            f"converged, {hosts} hosts (DB + Placement)",
            converged,
            "s",
            f"<= {TARGET_FLOOR}x floor",
            f"{converged / best:.2f}x",
        )
        yield _figure("Placement requests per new host", total / hosts, "requests",
                      f"floor {floor_requests / hosts:.0f}",
                      " ".join(f"{m}={n}" for m, n in sorted(sent.items())))  # fmt: skip
        yield _figure("reports timed out while converging", fleet.failures, "reports", "0")
        yield _figure("conductor CPU per first report", cpu / hosts * 1000, "ms")

        _mark("one changed device")
        changed = fleet.agents[0]
        changed.add_trait(CHANGED_TRAIT)
        counting.start()
        changed.report(fleet.context)
        rp = _placement_get(endpoint, f"/resource_providers?required={CHANGED_TRAIT}")[
            "resource_providers"
        ]
        in_db = deployed.query(
            "SELECT COUNT(*) FROM attributes WHERE `key` LIKE :k AND value = :t",
            k="trait%",
            t=CHANGED_TRAIT,
        )[0][0]
        yield _figure("changed device in DB and Placement after 1 report",
                      float(bool(rp) and in_db > 0), "yes=1", "1",
                      f"{sum(counting.take().values())} requests")  # fmt: skip

        _mark(f"steady state, {args.intervals} intervals of {args.report_interval}s")
        fleet.stop_reporting()
        for agent in fleet.agents:
            agent.reports = 0
        window_start = deployed.query("SELECT NOW()")[0][0]
        counting.start()
        cpu = cpu_seconds(pid)
        wall = time.perf_counter()
        fleet.start_reporting(args.report_interval)
        time.sleep(args.intervals * args.report_interval)
        reports_made = fleet.stop_reporting()
        wall = time.perf_counter() - wall
        cpu = cpu_seconds(pid) - cpu
        sent = counting.take()
        writes = deployed.query(
            "SELECT COUNT(*) FROM hosts WHERE last_seen_at >= :t", t=window_start
        )[0][0]
        yield _figure("steady state: Placement requests per minute",
                      sum(sent.values()) * 60 / wall, "req/min", "0 from reports")  # fmt: skip
        yield _figure(f"steady state: DB rows written in {reports_made} reports", writes,
                      "rows", "0 per report (liveness: 1 statement a round)")  # fmt: skip
        yield _figure("conductor CPU per unchanged report", cpu / max(1, reports_made) * 1000,
                      "ms")  # fmt: skip

        _mark("bind-to-event, idle")
        api.create_device_profile(fleet.context, name="fleet", groups=[{"resources:PGPU": "1"}])
        rp_uuid = deployed.query(
            "SELECT rp_uuid FROM deployables WHERE name LIKE :p LIMIT 1",
            p=f"{fleet.agents[1].name}%",
        )[0][0]
        idle = [
            _bind_to_event(api, fleet.context, nova, rp_uuid, fleet.agents[1].name)
            for _ in range(args.binds)
        ]
        idle_median = statistics.median(idle)
        yield _figure("bind-to-event, idle (median)", idle_median * 1000, "ms")

        audit_at = started + args.audit_interval
        if time.monotonic() > audit_at + args.audit_interval / 2:
            print("#   the audit already ran: raise --audit-interval", flush=True)
            return
        _mark("bind-to-event during the audit")
        fleet.start_reporting(args.report_interval)  # reports go on during the audit
        log = lambda: deployed.log("conductor")  # noqa: E731
        _wait(lambda: "audit of" in log() and "started" in log(), 3 * args.audit_interval,
              "the audit")  # fmt: skip
        counting.start()
        during = [
            _bind_to_event(api, fleet.context, nova, rp_uuid, fleet.agents[1].name)
            for _ in range(args.binds)
        ]
        _wait(lambda: "finished" in log(), 3 * args.audit_interval, "the audit")
        audit_sent = sum(counting.take().values())
        fleet.stop_reporting()
        during_median = statistics.median(during)
        ratio = f"{during_median / idle_median:.2f}x"
        yield _figure("bind-to-event during the audit (median)", during_median * 1000, "ms",
                      f"<= {TARGET_AUDIT}x idle", ratio)  # fmt: skip
        yield _figure("Placement requests during audit + reports", audit_sent, "requests",
                      f"{hosts} hosts")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", default="300")
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--report-interval", type=float, default=20)
    parser.add_argument("--intervals", type=int, default=3)
    parser.add_argument("--placement-workers", type=int, default=2)
    parser.add_argument("--conductor-workers", type=int, default=1)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="[placement] concurrency (0: the floor's best)"
    )
    parser.add_argument("--floor-concurrency", default="2,4,8,16")
    parser.add_argument("--audit-interval", type=int, default=240)
    parser.add_argument("--binds", type=int, default=5)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    print(f"# load average (1, 5, 15 min): {os.getloadavg()}", flush=True)
    print(f"{'figure':<52} {'value':>10} {'unit':<10} {'ratio':<10} target")
    figures = []
    for hosts in [int(h) for h in args.hosts.split(",")]:
        figures += list(run(args, hosts))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"loadavg": os.getloadavg(), "figures": figures}, out)


if __name__ == "__main__":
    main()
