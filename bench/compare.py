"""Ours and upstream Cyborg 17.0.0 side by side, in one run (``tox -e bench``).

  python bench/compare.py [--rounds 3] [--gets 20] [--cycles 10] [--clients 16]
      [--client-cycles 3] [--big-cycles 2] [--json FILE] [--upstream-venv DIR]
      [--skip-upstream | --upstream-optional]

Both sides run at once on the same MariaDB server, RabbitMQ node, Placement and
Nova stand-in (bench/compare_cloud.py, bench/compare_upstream.py). The table fills
in three steps: with only the agents' one device (GET of one device, sequential and
16-client ARQ cycles), with 1,000 devices and 1,000 ARQs seeded (GETs of both
lists), with 10,000 ARQs (a walk of all of them, and cycles). In each step the
rounds alternate which side goes first, figure by figure. Printed: median, p90 and
p99 of each side, the ratio ours/upstream of the medians, the speed-up and the
issue's goal; the resident memory of every process, idle and after the load; the
machine's ``uptime`` before and after. The same goes to a JSON file.

Upstream's virtualenv is built on the first run (pip, from PyPI). If it cannot be,
the run stops and says so; ``--upstream-optional`` then goes on with ours alone,
``--skip-upstream`` never tries: either way each figure is printed without a ratio
and the output says, first and last, that upstream was not measured.
"""

import argparse
import contextlib
import dataclasses
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from bench import (
    compare_cloud,
    compare_load,
    compare_seed,
    compare_stats,
    compare_upstream,
    soak_rss,
)
from bench.compare_stats import Figure
from tests import db_backends, service_process

FIGURES = [
    Figure("devices_1", "GET /v2/devices, 1 device", goal=3),
    Figure("devices_1000", "GET /v2/devices, 1,000 devices", goal=10),
    Figure("arqs_1000", "GET /v2/accelerator_requests, 1,000 ARQs"),
    Figure("walk_10000", "walk 10,000 ARQs"),
    Figure("cycle_small", "ARQ cycle, sequential, small DB", goal=5),
    Figure("cycle_concurrent", "ARQ cycles, concurrent clients", unit="cycles/s", goal=10),
    Figure("cycle_concurrent_each", "  one cycle among concurrent clients"),
    Figure("cycle_10000", "ARQ cycle, 10,000 ARQs in the table"),
]
Samples = dict[str, dict[str, list[float]]]  # figure key -> side name -> samples
Step = Callable[[compare_load.Side, Samples], None]


def say(message: str) -> None:
    print(f"[compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def uptime() -> str:
    """What ``uptime`` says: how long the machine has been up and its load averages."""
    with open("/proc/uptime") as handle:
        seconds = float(handle.read().split()[0])
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return f"{time.strftime('%H:%M:%S')} up {seconds / 60:.0f} min, load average: {load}"


def _rounds(
    sides: list[compare_load.Side], rounds: int, steps: list[Step], s: Samples, errors: list[str]
) -> None:
    """Each step on every side, the side that goes first alternating round by round.

    A step that got an answer it should not is reported and left out (its figure
    then has fewer samples), with the tail of that side's API log, and the run goes on.
    """
    for number in range(rounds):
        order = sides if number % 2 == 0 else sides[::-1]
        for step in steps:
            for side in order:
                try:
                    step(side, s)
                except compare_load.Unexpected as err:
                    tails = "".join(
                        f"\n--- {log}\n{service_process.tail(log, 30)}" for log in side.logs
                    )
                    errors.append(f"{side.name}, round {number + 1}: {err}")
                    say(f"UNEXPECTED ANSWER, left out: {side.name}: {err}{tails}")
        say(f"round {number + 1}/{rounds} done")


def _record(samples: Samples, key: str, side: compare_load.Side, values: list[float]) -> None:
    samples.setdefault(key, {}).setdefault(side.name, []).extend(values)


def _gets(key: str, path: str, count: int) -> Step:
    def step(side: compare_load.Side, s: Samples) -> None:
        _record(s, key, side, compare_load.timed_get(side.session(), side, path, count))

    return step


def _sequential(key: str, count: int) -> Step:
    def step(side: compare_load.Side, s: Samples) -> None:
        _record(s, key, side, compare_load.cycles(side.session(), side, count))

    return step


def _small_steps(args: argparse.Namespace) -> list[Step]:
    def concurrent(side: compare_load.Side, s: Samples) -> None:
        rate, each = compare_load.concurrent_cycles(side, args.clients, args.client_cycles)
        _record(s, "cycle_concurrent", side, [rate])
        _record(s, "cycle_concurrent_each", side, each)

    return [
        _gets("devices_1", "/v2/devices", args.gets),
        _sequential("cycle_small", args.cycles),
        concurrent,
    ]


def _thousand_steps(args: argparse.Namespace) -> list[Step]:
    return [
        _gets("devices_1000", "/v2/devices", args.big_gets),
        _gets("arqs_1000", "/v2/accelerator_requests", args.big_gets),
    ]


def _big_steps(args: argparse.Namespace) -> list[Step]:
    def walk(side: compare_load.Side, s: Samples) -> None:
        _record(s, "walk_10000", side, [compare_load.walk(side.session(), side, 10000)])

    return [walk, _sequential("cycle_10000", args.big_cycles)]


def _check_count(side: compare_load.Side, path: str, key: str, wanted: int) -> None:
    found = len(
        side.session()
        .get(f"{side.api}{path}", headers=compare_load.HEADERS, timeout=300)
        .json()[key]
    )
    if found != wanted:
        raise compare_load.Unexpected(f"{side.name}: {path} lists {found}, not {wanted}")


@contextlib.contextmanager
def _upstream(
    args: argparse.Namespace, base: compare_cloud.Shared, directory: str
) -> Iterator[Any]:
    """Upstream's stack, or None (with the reason in ``args.upstream_skipped``)."""
    if args.skip_upstream:
        args.upstream_skipped = "--skip-upstream was given"
        yield None
        return
    try:
        compare_upstream.ensure_venv(pathlib.Path(args.upstream_venv), say)
    except compare_upstream.UpstreamUnavailable as err:
        if not args.upstream_optional:
            raise SystemExit(
                f"UPSTREAM CANNOT BE MEASURED: {err}\nRerun with --upstream-optional or "
                "--skip-upstream to measure ours alone (no ratios)."
            ) from err
        args.upstream_skipped = f"its virtualenv could not be built: {err}"
        yield None
        return
    url = db_backends.create_database("mysql", directory)
    stack = compare_upstream.UpstreamStack(
        os.path.join(directory, "upstream"),
        pathlib.Path(args.upstream_venv),
        url,
        base.rabbit.url(),
        base.placement.endpoint,
        base.nova.endpoint,
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        db_backends.drop_database(url)


def _loud(reason: str) -> None:
    bar = "!" * 78
    print(f"{bar}\nUPSTREAM NOT MEASURED ({reason}):\nno ratios, no goals judged.\n{bar}")


@dataclasses.dataclass
class Running:
    """One side once started: its API, its agent's host, its database, its processes."""

    name: str
    api: str
    host: str
    database_url: str
    pids: dict[str, int]
    logs: tuple[str, ...]

    def side(self) -> compare_load.Side:
        provider = compare_cloud.device_provider(self.api, compare_load.HEADERS)
        return compare_load.Side(self.name, self.api, self.host, provider, logs=self.logs)


def _start(
    stack: contextlib.ExitStack, args: argparse.Namespace
) -> tuple[compare_cloud.Shared, list[Running]]:
    directory = stack.enter_context(tempfile.TemporaryDirectory())
    base = stack.enter_context(compare_cloud.shared(directory))
    ours = stack.enter_context(compare_cloud.ours(base))
    running = [Running("ours", ours.api, ours.host, ours.database_url, ours.pids(), ours.logs())]
    upstream = stack.enter_context(_upstream(args, base, directory))
    if upstream is None:
        _loud(args.upstream_skipped)
    else:
        running.append(
            Running(
                "upstream",
                upstream.api,
                upstream.host,
                upstream.database_url,
                upstream.pids(),
                upstream.logs(),
            )
        )
    return base, running


def _load(
    args: argparse.Namespace, running: list[Running], samples: Samples, errors: list[str]
) -> None:
    """The three steps of the table, seeding each side's database in between."""
    sides = [r.side() for r in running]
    for side in sides:
        compare_load.create_profile(side)
        compare_load.timed_get(side.session(), side, "/v2/devices", 5)  # warm both workers
        compare_load.cycles(side.session(), side, 2)
    say("step 1: the agents' one device")
    _rounds(sides, args.rounds, _small_steps(args), samples, errors)
    engines = {r.name: db_backends.make_engine(r.database_url) for r in running}
    try:
        seeders = {n: compare_seed.Seeder(e, compare_load.PROJECT) for n, e in engines.items()}
        say("step 2: seeding 999 devices and 1,000 ARQs")
        for side in sides:
            seeders[side.name].devices(999)
            seeders[side.name].bound_arqs(1000)
            _check_count(side, "/v2/devices", "devices", 1000)
        _rounds(sides, args.rounds, _thousand_steps(args), samples, errors)
        say("step 3: seeding 9,000 more ARQs")
        for side in sides:
            seeders[side.name].bound_arqs(9000)
        _rounds(sides, args.rounds, _big_steps(args), samples, errors)
    finally:
        for engine in engines.values():
            engine.dispose()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    samples: Samples = {}
    errors: list[str] = []
    with contextlib.ExitStack() as stack:
        base, running = _start(stack, args)
        pids = {"placement": base.placement.pid or 0}
        for side in running:
            pids.update(side.pids)
        idle = soak_rss.snapshot(pids)
        _load(args, running, samples, errors)
        after = soak_rss.snapshot(pids)
    return {"samples": samples, "idle": idle, "after": after, "errors": errors}


def _rows(samples: Samples) -> list[compare_stats.Row]:
    def summary(key: str, side: str) -> compare_stats.Summary | None:
        values = samples.get(key, {}).get(side)
        return compare_stats.summarize(values) if values else None

    return [
        compare_stats.Row(f, summary(f.key, "ours"), summary(f.key, "upstream")) for f in FIGURES
    ]


def _memory(snapshot: soak_rss.Snapshot) -> dict[str, int]:
    return {f"{label} ({pid})": kib for pid, (label, kib) in sorted(snapshot.items())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gets", type=int, default=20, help="GETs of one device per round")
    parser.add_argument(
        "--big-gets", type=int, default=5, help="GETs of each 1,000-item list per round"
    )
    parser.add_argument("--cycles", type=int, default=10, help="sequential cycles per round")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-cycles", type=int, default=3, help="cycles per client")
    parser.add_argument(
        "--big-cycles", type=int, default=1, help="cycles per round with 10,000 ARQs in the table"
    )
    parser.add_argument("--json", default="bench-compare.json")
    parser.add_argument("--upstream-venv", default=str(compare_upstream.DEFAULT_VENV))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--skip-upstream", action="store_true")
    which.add_argument("--upstream-optional", action="store_true")
    args = parser.parse_args()
    args.upstream_skipped = None
    os.environ.setdefault("PYTEST_XDIST_WORKER", "bench")
    started = uptime()
    print(f"uptime before: {started}")
    measured = measure(args)
    rows = _rows(measured["samples"])
    print("\n".join(compare_stats.table(rows)))
    print("\n".join(soak_rss.table(measured["idle"], measured["after"])))
    ended = uptime()
    print(f"uptime after: {ended}")
    for error in measured["errors"]:
        print(f"UNEXPECTED ANSWER (its sample left out): {error[:300]}")
    if args.upstream_skipped:
        _loud(args.upstream_skipped)
    options = {k: v for k, v in vars(args).items() if k != "upstream_skipped"}
    doc = compare_stats.document(
        rows,
        uptime_before=started,
        uptime_after=ended,
        options=options,
        upstream_skipped=args.upstream_skipped,
        unexpected_answers=measured["errors"],
        upstream_version="17.0.0",
        memory_kib={"idle": _memory(measured["idle"]), "after_load": _memory(measured["after"])},
    )
    compare_stats.write(args.json, doc)
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
