"""How long list calls of the data-access layer take, and how many statements they cost.

  python bench/bench_db_lists.py [--backends sqlite,mysql,postgresql] [--sizes 10,100,1000]
      [--repeat 20]

Each backend gets a throw-away database (as in the tests). For each size it seeds that
many devices (each with a deployable, three attributes and an attach handle) and as
many bound accelerator requests, then times the list calls. Prints one row per
(backend, call, size): median and p95 milliseconds, and SQL statements per call.
"""

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from oslo_db.sqlalchemy import enginefacade, orm

from cyborg.common import context as cyborg_context
from cyborg.db import api as db_api
from cyborg.db import migration, models
from cyborg.objects import accelerator_request, deployable, device
from tests import db_backends
from tests.db import seed


def _calls(ctx: Any) -> dict[str, Callable[[], list[Any]]]:
    return {
        "devices": lambda: device.get_all(ctx),
        "deployables+attributes": lambda: deployable.get_all(ctx),
        "arqs+handles": lambda: accelerator_request.get_all(ctx, project_id="p1"),
    }


def _measure(
    engine: sa.Engine, call: Callable[[], list[Any]], repeat: int
) -> tuple[list[float], int]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    call()  # warm caches and the connection pool
    sa.event.listen(engine, "before_cursor_execute", record)
    call()
    sa.event.remove(engine, "before_cursor_execute", record)
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
    return timings, len([s for s in statements if not s.startswith("BEGIN")])


def run_backend(backend: str, sizes: list[int], repeat: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = db_backends.create_database(backend, directory)
        engine = db_backends.make_engine(url)
        try:
            migration.upgrade(engine)
            maker = orm.get_maker(engine=engine, expire_on_commit=False)
            factory = enginefacade._TestTransactionFactory(engine, maker, apply_global=False)
            reset = db_api.context_manager.patch_factory(factory)
            ctx = cyborg_context.get_admin_context()
            for size in sizes:
                with engine.begin() as connection:
                    for table in db_backends.iter_tables_for_cleanup(models.Base.metadata):
                        connection.execute(table.delete())
                seed.devices(engine, size)
                seed.bound_arqs(engine, size)
                for name, call in _calls(ctx).items():
                    timings, count = _measure(engine, call, repeat)
                    p95 = (
                        statistics.quantiles(timings, n=20)[-1] if len(timings) > 1 else timings[0]
                    )
                    print(
                        f"{backend:<11} {name:<24} {size:>6} {statistics.median(timings):>9.2f}"
                        f" {p95:>9.2f} {count:>5}"
                    )
            reset()
        finally:
            engine.dispose()
            db_backends.drop_database(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(db_backends.ALL_BACKENDS))
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("PYTEST_XDIST_WORKER", "bench")
    print(f"{'backend':<11} {'call':<24} {'rows':>6} {'median ms':>9} {'p95 ms':>9} {'stmts':>5}")
    for backend in args.backends.split(","):
        run_backend(backend, [int(s) for s in args.sizes.split(",")], args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
