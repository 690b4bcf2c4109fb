"""The small-request path: request overhead and the ARQ cycle, profiled on demand.

  python bench/request_path.py [--rounds 5] [--gets 100] [--cycles 20] [--clients 16]
      [--concurrent-cycles 10] [--workers 2] [--server cyborg-api|gthread|sync]
      [--profile DIR] [--json FILE]

The deployment is real: cyborg-api (``--workers`` processes), one cyborg-conductor and
one cyborg-agent (the fake driver, one FPGA of 16 accelerators: one device in
``GET /v2/devices``) over the machine's RabbitMQ, MariaDB, the real Placement, and
tests/fake_nova.py for the accelerator-request-bound events. ``--server`` serves the
API with ``cyborg-api`` itself (gunicorn, cyborg's gthread worker with 8 threads) or
with the gunicorn command line (``gthread``: the same worker class and threads;
``sync``: one request per process at a time). A bare WSGI app
(bench/request_path_apps.py:hello) runs under the same server and worker model.

Interleaved rounds, each: ``--gets`` GETs of the bare app and of ``/v2/devices``,
then ``--cycles`` sequential ARQ cycles (create → bind Nova-style → poll until Bound
→ unbind → delete; the poll is part of the cycle), then ``--clients`` clients doing
``--concurrent-cycles`` cycles each. Prints medians and p90, throughput, ratios to
upstream Cyborg 17.0.0's figures of issue #20 (measured on this machine, same
MariaDB, RabbitMQ, Placement, gunicorn with 2 workers) and the targets.

``--profile DIR`` runs the API (one worker) and the conductor under yappi (CPU clock;
``CYBORG_BENCH_CLOCK=wall`` for wall time) and writes ``api.pstat`` and
``conductor.pstat``; read them with ``python -m pstats``.
"""

import argparse
import concurrent.futures
import contextlib
import dataclasses
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import requests

from bench import soak_cloud
from tests import fake_nova, placement_service, service_process
from tests.functional import services

HOST = "bench-compute-1"
PROFILE = "bench-fpga"
HEADERS = {
    "X-User-Id": "bench-user",
    "X-Project-Id": "bench-project",
    "X-Roles": "admin,member,reader",
    "X-Service-Roles": "service",  # binds and unbinds are Nova's, with its service token
}
INVENTORY = [
    {
        "type": "FPGA",
        "address": "0000:5e:00.0",
        "deployables": [
            {"resource_class": "FPGA", "num_accelerators": 16, "traits": ["CUSTOM_FAKE_DEVICE"]}
        ],
    }
]
# Upstream Cyborg 17.0.0 on this machine (issue #20): median ms, cycles per second.
UPSTREAM = {"get_device": 22.2, "cycle": 366.0, "concurrent_cycles_per_s": 3.0}
PHASES = ("create", "bind", "show until Bound", "unbind", "delete")
TARGETS = {"get_device": 3.0, "get_vs_bare": 2.5, "cycle": 5.0, "concurrent": 10.0}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def summary(seconds: list[float]) -> dict[str, float]:
    return {
        "n": len(seconds),
        "median_ms": round(statistics.median(seconds) * 1000, 2),
        "p90_ms": round(percentile(seconds, 90) * 1000, 2),
    }


# -- servers --------------------------------------------------------------------------


def _gunicorn(
    directory: str, name: str, app: str, server: str, workers: int, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """``app`` under the gunicorn command line with ``server``'s worker model."""
    port = services.free_port()
    command = [os.path.join(services.BIN, "gunicorn"), "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--keep-alive", "5", "--no-control-socket"]
    if server == "sync":
        command += ["--worker-class", "sync"]
    else:  # cyborg-api's own worker model (cyborg/cmd/api.py)
        command += ["--worker-class", "cyborg.wsgi.gunicorn_worker.ThreadWorker"]
        command += ["--threads", "8"]
    with open(os.path.join(directory, f"{name}.out"), "ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own gunicorn
            [*command, app],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=services.REPOSITORY,
            env={**os.environ, **env},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not service_process.answers(url + "/") and time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited: {service_process.tail(output.name)}")
        time.sleep(0.2)
    return process, url


@dataclasses.dataclass
class Cloud:
    deployment: services.Deployment
    api: str  # the API's root URL
    bare: str  # the bare app's root URL
    device_rp: str
    nova: fake_nova.FakeNova | None = None  # told of every instance a cycle binds


@contextlib.contextmanager
def running(directory: str, server: str, workers: int, profile: str) -> Iterator[Cloud]:
    placement = placement_service.PlacementService(os.path.join(directory, "placement"))
    placement.start()
    started: list[subprocess.Popen[bytes]] = []
    try:
        with fake_nova.running() as nova:
            conf = soak_cloud.services_conf(
                placement.endpoint, nova.endpoint, 1 if profile else workers
            )
            with services.deployment(
                "mysql", seeded=False, api=False, conductor=False, extra_conf=conf
            ) as deployment:
                cloud = _start(deployment, directory, server, workers, profile, started)
                yield dataclasses.replace(cloud, nova=nova)
    finally:
        for process in started:
            service_process.stop(process)
        placement.stop()


def _start(
    deployment: services.Deployment,
    directory: str,
    server: str,
    workers: int,
    profile: str,
    started: list[subprocess.Popen[bytes]],
) -> Cloud:
    if profile:
        os.environ["CYBORG_BENCH_PROFILE"] = os.path.join(profile, "conductor.pstat")
        deployment._spawn(  # the conductor under yappi
            "conductor",
            [sys.executable, os.path.join(services.REPOSITORY, "bench/request_path_conductor.py")],
            "[DEFAULT]\nhost = bench-conductor\n",
        )
    else:
        deployment.start_conductor()
    deployment.wait_for(
        lambda: "listening on topic" in deployment.log("conductor"), 60, "cyborg-conductor"
    )
    deployment.start_agent(HOST, INVENTORY)
    deployment.wait_for(
        lambda: deployment.query("SELECT rp_uuid FROM deployables WHERE rp_uuid IS NOT NULL"),
        120,
        "the FPGA's provider in Placement",
    )
    ((device_rp,),) = deployment.query("SELECT rp_uuid FROM deployables")
    model = "gthread" if server == "cyborg-api" else server
    bare_workers = 1 if profile else workers
    bare, bare_url = _gunicorn(
        directory, "bare", "bench.request_path_apps:hello", model, bare_workers, {}
    )
    started.append(bare)
    if server == "cyborg-api" and not profile:
        deployment.start("api", "api")
        url = f"http://127.0.0.1:{_port(deployment)}"
        deployment.wait_for(lambda: service_process.answers(url + "/"), 60, "cyborg-api")
    else:
        env = {"CYBORG_CONFIG_FILES": deployment.conf_path}
        app = "cyborg.wsgi.api:application"
        if profile:
            app = "bench.request_path_apps:profiled"
            env["CYBORG_BENCH_PROFILED"] = "1"
        api, url = _gunicorn(directory, "api", app, model, bare_workers, env)
        started.append(api)
    return Cloud(deployment, url, bare_url, device_rp)


def _port(deployment: services.Deployment) -> int:
    for line in pathlib.Path(deployment.conf_path).read_text().splitlines():
        if line.startswith("port = "):
            return int(line.split("=")[1])
    raise SystemExit("no [api] port in the deployment's configuration")


# -- the measured operations ----------------------------------------------------------


def timed(session: requests.Session, method: str, url: str, expect: int, **kw: Any) -> float:
    start = time.perf_counter()
    response = session.request(method, url, timeout=60, **kw)
    elapsed = time.perf_counter() - start
    if response.status_code != expect:
        raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:300]}")
    return elapsed


def arq_cycle(
    session: requests.Session, cloud: Cloud, phases: dict[str, list[float]] | None = None
) -> float:
    """create → bind → until Bound → unbind → delete, in seconds (each in ``phases``)."""
    api = cloud.api + "/v2/accelerator_requests"
    marks = [time.perf_counter()]
    created = session.post(api, json={"device_profile_name": PROFILE}, headers=HEADERS, timeout=60)
    if created.status_code != 201:
        raise SystemExit(f"create: {created.status_code} {created.text[:300]}")
    marks.append(time.perf_counter())
    arq = created.json()["arqs"][0]["uuid"]
    instance = str(uuid.uuid4())
    if cloud.nova is not None:
        cloud.nova.instances.add(instance)
    values = {"hostname": HOST, "device_rp_uuid": cloud.device_rp, "instance_uuid": instance}
    bind = {arq: [{"path": f"/{k}", "op": "add", "value": v} for k, v in values.items()]}
    timed(session, "PATCH", api, 202, json=bind, headers=HEADERS)
    marks.append(time.perf_counter())
    deadline = time.monotonic() + 60
    while session.get(f"{api}/{arq}", headers=HEADERS, timeout=60).json()["state"] != "Bound":
        if time.monotonic() > deadline:
            raise SystemExit(f"ARQ {arq} not Bound within 60 s")
    marks.append(time.perf_counter())
    unbind = {arq: [{"path": f"/{k}", "op": "remove"} for k in values]}
    timed(session, "PATCH", api, 202, json=unbind, headers=HEADERS)
    marks.append(time.perf_counter())
    timed(session, "DELETE", f"{api}?arqs={arq}", 204, headers=HEADERS)
    marks.append(time.perf_counter())
    if phases is not None:
        for name, start, end in zip(PHASES, marks, marks[1:], strict=False):
            phases.setdefault(name, []).append(end - start)
    return marks[-1] - marks[0]


def concurrent_cycles(cloud: Cloud, clients: int, each: int) -> tuple[float, list[float]]:
    """Cycles per second with ``clients`` clients doing ``each`` cycles, and their times."""

    def client() -> list[float]:
        with requests.Session() as session:
            return [arq_cycle(session, cloud) for _ in range(each)]

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        results = [f.result() for f in [pool.submit(client) for _ in range(clients)]]
    elapsed = time.perf_counter() - start
    return clients * each / elapsed, [t for r in results for t in r]


def measure(cloud: Cloud, args: argparse.Namespace) -> dict[str, Any]:
    session = requests.Session()
    body = [
        {
            "name": PROFILE,
            "groups": [{"resources:FPGA": "1", "trait:CUSTOM_FAKE_DEVICE": "required"}],
        }
    ]
    timed(session, "POST", cloud.api + "/v2/device_profiles", 201, json=body, headers=HEADERS)
    devices = session.get(cloud.api + "/v2/devices", headers=HEADERS, timeout=60).json()
    assert len(devices["devices"]) == 1, devices
    for _ in range(20):  # warm up every worker's pools and RPC connections
        session.get(cloud.bare + "/", timeout=60)
        session.get(cloud.api + "/v2/devices", headers=HEADERS, timeout=60)
    arq_cycle(session, cloud)
    bare: list[float] = []
    gets: list[float] = []
    cycles: list[float] = []
    rates: list[float] = []
    under_load: list[float] = []
    phases: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for _ in range(args.gets):
            bare.append(timed(session, "GET", cloud.bare + "/", 200))
            gets.append(timed(session, "GET", cloud.api + "/v2/devices", 200, headers=HEADERS))
        cycles += [arq_cycle(session, cloud, phases) for _ in range(args.cycles)]
        if args.clients:
            rate, times = concurrent_cycles(cloud, args.clients, args.concurrent_cycles)
            rates.append(rate)
            under_load += times
    return {
        "bare": summary(bare),
        "get_device": summary(gets),
        "cycle": summary(cycles),
        "phases": {name: summary(times) for name, times in phases.items()},
        "concurrent": {
            "clients": args.clients,
            "cycles_per_s": round(statistics.median(rates), 2) if rates else None,
            **(summary(under_load) if under_load else {}),
        },
    }


# -- the report -----------------------------------------------------------------------


def report(result: dict[str, Any]) -> list[str]:
    get, bare, cycle = result["get_device"], result["bare"], result["cycle"]
    rate = result["concurrent"]["cycles_per_s"]
    rows = [
        ("bare WSGI app, GET /", bare["median_ms"], bare["p90_ms"], "", ""),
        (
            "GET /v2/devices, 1 device",
            get["median_ms"],
            get["p90_ms"],
            f"{UPSTREAM['get_device'] / get['median_ms']:.1f}x upstream, "
            f"{get['median_ms'] / bare['median_ms']:.1f}x bare",
            f">= {TARGETS['get_device']}x upstream, <= {TARGETS['get_vs_bare']}x bare",
        ),
        (
            "ARQ cycle, sequential",
            cycle["median_ms"],
            cycle["p90_ms"],
            f"{UPSTREAM['cycle'] / cycle['median_ms']:.1f}x upstream",
            f">= {TARGETS['cycle']}x upstream",
        ),
    ]
    if rate:
        concurrent = result["concurrent"]
        rows.append(
            (
                f"ARQ cycle, {concurrent['clients']} clients ({rate} cycles/s)",
                concurrent["median_ms"],
                concurrent["p90_ms"],
                f"{rate / UPSTREAM['concurrent_cycles_per_s']:.1f}x upstream",
                f">= {TARGETS['concurrent']}x upstream",
            )
        )
    rows += [
        (f"  of which {n}", p["median_ms"], p["p90_ms"], "", "")
        for n, p in result["phases"].items()
    ]
    lines = [f"{'figure':44} {'median ms':>10} {'p90 ms':>8}  ratio | target"]
    lines += [f"{r[0]:44} {r[1]:>10} {r[2]:>8}  {r[3]} | {r[4]}" for r in rows]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gets", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--concurrent-cycles", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--server", choices=("cyborg-api", "gthread", "sync"), default="cyborg-api"
    )
    parser.add_argument("--profile", default="", help="a folder for api.pstat, conductor.pstat")
    parser.add_argument("--json", default="")
    parser.add_argument(
        "--code", default=services.REPOSITORY, help="the tree whose cyborg the services run"
    )
    args = parser.parse_args()
    # The services import cyborg from --code (this tree by default), not from wherever
    # the virtualenv's editable install points.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [os.path.abspath(args.code), services.REPOSITORY, os.environ.get("PYTHONPATH", "")]
    )
    if args.profile:
        args.profile = os.path.abspath(args.profile)
        os.makedirs(args.profile, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as directory,
        running(directory, args.server, args.workers, args.profile) as cloud,
    ):
        result = measure(cloud, args)
        if args.profile:
            target = os.path.join(args.profile, "api.pstat")
            requests.get(f"{cloud.api}/__profile__?path={target}", timeout=60)
    result |= {
        "server": args.server,
        "workers": args.workers,
        "code": os.path.abspath(args.code),
        "uptime": os.getloadavg(),
    }
    print(f"{args.code}: server {args.server}, {args.workers} workers, load {os.getloadavg()}")
    print("\n".join(report(result)))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
