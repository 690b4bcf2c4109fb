"""Agent reports and binds through a real conductor over RabbitMQ, on each database.

  python bench/bench_reports.py [--backends sqlite,mysql,postgresql] [--hosts 50]
      [--devices 8] [--repeat 50]

An in-process conductor RPC server (threading executor) on the machine's RabbitMQ,
with its own exchange and topic, stores into a throw-away database per backend. The
agents are ResourceTrackers with the fake driver calling it over RabbitMQ, one thread
per host. Prints, per backend: the first report of a host, an unchanged report (its
round trip, and the SQL it costs), a report with one device changed, all hosts
converging at once, and a bind (create + bind of one ARQ, through RPC).
"""

import argparse
import functools
import math
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import oslo_messaging
import sqlalchemy as sa
from oslo_config import cfg
from oslo_db.sqlalchemy import enginefacade, orm

import cyborg.conf
from bench.simulated_host import SimulatedHost
from cyborg.common import context as cyborg_context
from cyborg.conductor import rpcapi
from cyborg.conductor import server as conductor_server
from cyborg.db import api as db_api
from cyborg.db import migration
from cyborg.objects import deployable as deployable_obj
from tests import db_backends

RABBIT = os.environ.get("CYBORG_TEST_RABBIT_URL", "rabbit://guest:guest@127.0.0.1:5672/")


def _conf() -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()
    cyborg.conf.register_opts(conf)
    conf([], project="cyborg", default_config_files=[])
    run = uuid.uuid4().hex[:8]
    oslo_messaging.TransportURL.parse(conf)  # registers [DEFAULT] transport_url
    conf.set_override("transport_url", RABBIT)
    conf.set_override("control_exchange", f"cyborg-bench-{run}")
    conf.set_override("topic", f"cyborg-conductor-bench-{run}", group="conductor")
    conf.set_override("topic", f"cyborg-agent-bench-{run}", group="agent")
    conf.set_override("host", f"bench-{run}")
    return conf


def _ms(func: Callable[[], Any], repeat: int) -> list[float]:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        timings.append((time.perf_counter() - start) * 1000)
    return timings


def _row(backend: str, what: str, timings: list[float], sql: str = "") -> None:
    p95 = sorted(timings)[math.ceil(len(timings) * 0.95) - 1]  # nearest rank
    print(f"{backend:<11} {what:<36} {statistics.median(timings):>9.1f} {p95:>9.1f}  {sql}")


def run(backend: str, hosts: int, devices: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = db_backends.create_database(backend, directory)
        engine = db_backends.make_engine(url)
        migration.upgrade(engine)
        maker = orm.get_maker(engine=engine, expire_on_commit=False)
        reset = db_api.context_manager.patch_factory(
            enginefacade._TestTransactionFactory(engine, maker, apply_global=False)
        )
        conf = _conf()
        conductor = conductor_server.start(conf, background=False)
        api = rpcapi.ConductorAPI(conf)
        context = cyborg_context.get_admin_context()
        statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        try:
            first = SimulatedHost("bench-first", devices, api)
            report = functools.partial(first.tracker.report, context)
            _row(backend, f"first report ({devices} devices)", _ms(report, 1))
            statements.clear()
            unchanged = _ms(report, repeat)
            per_call = [s for s in statements if not s.startswith("BEGIN")]
            writes = sum(s.split()[0] in ("INSERT", "UPDATE", "DELETE") for s in per_call)
            _row(backend, "unchanged report", unchanged,
                 f"{len(per_call) / repeat:.0f} SQL, {writes} writes in {repeat}")  # fmt: skip
            changes = iter(range(10**6))

            def change() -> None:
                first.change_one(next(changes))
                report()

            _row(backend, "one device changed", _ms(change, min(repeat, 20)))
            many = [SimulatedHost(f"bench-{n:03d}", devices, api) for n in range(hosts)]
            start = time.perf_counter()
            threads = [threading.Thread(target=h.tracker.report, args=(context,)) for h in many]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            _row(
                backend,
                f"{hosts} hosts x {devices} at once",
                [(time.perf_counter() - start) * 1000],
            )

            deployable = next(
                d for d in deployable_obj.get_all(context) if d.name.startswith("bench-first")
            )
            api.create_device_profile(context, name="bench", groups=[{"resources:PGPU": "1"}])

            def bind() -> None:
                (arq,) = api.create_arqs(context, device_profile_name="bench", project_id="p")
                binding = {
                    "hostname": "bench-first",
                    "device_rp_uuid": str(deployable.rp_uuid),
                    "instance_uuid": str(uuid.uuid4()),
                }
                api.bind_arqs(context, bindings={arq: binding})
                api.delete_arqs(context, uuids=[arq])

            _row(backend, "create + bind + delete one ARQ", _ms(bind, min(repeat, 20)))
        finally:
            conductor_server.stop(conf, conductor)
            reset()
            engine.dispose()
            db_backends.drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,mysql,postgresql")
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    print(f"{'backend':<11} {'what':<36} {'p50 ms':>9} {'p95 ms':>9}")
    for backend in args.backends.split(","):
        run(backend, args.hosts, args.devices, args.repeat)


if __name__ == "__main__":
    main()
