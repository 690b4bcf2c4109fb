"""A soak of a real multi-process deployment under mixed load (``tox -e soak``).

  python bench/soak.py [--duration 600] [--clients 6] [--swarm-hosts 12] [--settle 60]
      [--rss-interval 60]

The deployment is bench/soak_cloud.py's: cyborg-api under gunicorn (two workers), two
cyborg-conductors, two cyborg-agents and a swarm of reporting hosts on the fake
driver, MariaDB, RabbitMQ and the real Placement. ``--clients`` threads
(bench/soak_clients.py) mix, for ``--duration`` seconds: reads of every list and get
endpoint; ARQ cycles (create from a device profile, bind Nova-style with the device's
provider or standalone at 2.4 with the host only, wait for Bound, unbind, delete);
device profile create/show/delete; agent inventory reports with changes over RPC.

Then, once the ARQs have had ``--settle`` seconds to leave their intermediate states,
it prints requests and p50/p99 latency per kind, the 5xx and unanswered requests,
lost ARQs (created and answered, then missing without a delete), stuck ARQs (still
BindStarted or Deleting, or still there after their delete was answered), what is
left held (attach handles in use, Placement usage of the soak's project, device
profiles the soak deleted), and the RSS of each process at the start and the end,
and every ``--rss-interval`` seconds in between.
Exits 1 on any 5xx, unanswered request, lost or stuck ARQ or leftover; latency and
RSS are figures to read, never a reason to fail.
"""

import argparse
import dataclasses
import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import pytest
import requests

from bench import soak_clients, soak_cloud, soak_record, soak_rss
from cyborg.common import concurrency
from tests import placement_service

INTERMEDIATE = ("BindStarted", "Deleting")


@dataclasses.dataclass
class Result:
    duration: float
    clients: int
    recorder: soak_record.Recorder
    ledger: soak_record.Ledger
    lost: dict[str, str]
    stuck: dict[str, str]
    leftovers: list[str]
    rss_start: soak_rss.Snapshot
    rss_end: soak_rss.Snapshot
    rss_samples: list[soak_rss.Snapshot]
    rss_interval: float

    def failures(self) -> list[str]:
        """Why the soak failed; empty when it passed."""
        found = []
        if self.recorder.server_error_count:
            found.append(f"{self.recorder.server_error_count} answers were 5xx")
        if self.recorder.transport_error_count:
            found.append(f"{self.recorder.transport_error_count} requests got no answer")
        if self.recorder.unexpected_count:
            found.append(f"{self.recorder.unexpected_count} answers were not the expected ones")
        if self.ledger.bind_failed:
            found.append(f"{len(self.ledger.bind_failed)} binds ended BindFailed")
        if self.lost:
            found.append(f"{len(self.lost)} ARQs lost")
        if self.stuck:
            found.append(f"{len(self.stuck)} ARQs stuck")
        found += self.leftovers
        return found


def _arqs(cloud: soak_cloud.Cloud) -> dict[str, str]:
    rows = cloud.deployment.query("SELECT uuid, state FROM extended_accelerator_requests")
    return {str(uuid): str(state) for uuid, state in rows}


def _settle(cloud: soak_cloud.Cloud, seconds: float) -> dict[str, str]:
    """The ARQs once none is in an intermediate state, or after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        arqs = _arqs(cloud)
        if time.monotonic() > deadline or not any(s in INTERMEDIATE for s in arqs.values()):
            return arqs
        time.sleep(1)


def _judge_arqs(
    arqs: dict[str, str], ledger: soak_record.Ledger
) -> tuple[dict[str, str], dict[str, str]]:
    """(lost, stuck) ARQs, from what the database holds after the settle period."""
    lost = dict(ledger.lost)
    lost.update({u: "missing from the database" for u in ledger.alive if u not in arqs})
    stuck = {u: s for u, s in arqs.items() if s in INTERMEDIATE}
    stuck.update({u: f"{s} after its delete was answered"
                  for u, s in arqs.items() if u in ledger.deleted})  # fmt: skip
    stuck.update({u: f"{s}, never deleted" for u, s in arqs.items()
                  if u in ledger.alive and u not in stuck})  # fmt: skip
    return lost, stuck


def _leftovers(cloud: soak_cloud.Cloud) -> list[str]:
    """What the soak's deleted ARQs and profiles should have let go of, still held."""
    found = []
    (in_use,) = cloud.deployment.query("SELECT COUNT(*) FROM attach_handles WHERE in_use = 1")[0]
    if in_use:
        found.append(f"{in_use} attach handles still in use")
    usages = requests.get(
        f"{cloud.placement.endpoint}/usages",
        params={"project_id": soak_clients.PROJECT},
        headers={
            "X-Auth-Token": placement_service.ADMIN_TOKEN,
            "OpenStack-API-Version": "placement 1.9",
        },
        timeout=60,
    )
    usages.raise_for_status()
    held = {rc: n for rc, n in usages.json()["usages"].items() if n}
    if held:
        found.append(f"Placement still holds {held} for {soak_clients.PROJECT}")
    profiles = cloud.deployment.query("SELECT name FROM device_profiles")
    extra = sorted(str(n) for (n,) in profiles if n not in soak_clients.PROFILES)
    if extra:
        found.append(f"{len(extra)} deleted device profiles still there: {extra[:5]}")
    return found


def _create_profiles(cloud: soak_cloud.Cloud) -> None:
    for name, groups in soak_clients.PROFILES.items():
        response = requests.post(
            f"{cloud.deployment.endpoint}/device_profiles",
            json=[{"name": name, "groups": groups}],
            headers=soak_cloud.ADMIN,
            timeout=60,
        )
        response.raise_for_status()


def run(
    duration: float,
    clients: int = 6,
    swarm_hosts: int = 12,
    settle: float = 60,
    directory: str | None = None,
    rss_interval: float = 60,
) -> Result:
    """Deploy, load for ``duration`` seconds, settle, judge; raises if deploying fails."""
    with (
        tempfile.TemporaryDirectory(dir=directory) as tmp,
        soak_cloud.running(tmp, swarm_hosts=swarm_hosts) as cloud,
    ):
        _create_profiles(cloud)
        rss_start = soak_rss.snapshot(cloud.pids())
        sampler = soak_rss.Sampler(cloud.pids, rss_interval)
        sampler.start()
        try:
            recorder, ledger = soak_clients.run(cloud, clients, duration)
        finally:
            sampler.stop()
        arqs = _settle(cloud, settle)
        lost, stuck = _judge_arqs(arqs, ledger)
        leftovers = _leftovers(cloud)
        rss_end = soak_rss.snapshot(cloud.pids())
    return Result(duration, clients, recorder, ledger, lost, stuck, leftovers,
                  rss_start, rss_end, sampler.samples, rss_interval)  # fmt: skip


def report(result: Result) -> str:
    """The figures, as printed."""
    lines = [f"soak: {result.clients} clients for {result.duration:.0f} s", ""]
    lines.append(f"{'kind':<30} {'requests':>9} {'p50 ms':>9} {'p99 ms':>9}")
    for kind, count, p50, p99 in result.recorder.rows():
        lines.append(f"{kind:<30} {count:>9} {p50:>9.1f} {p99:>9.1f}")
    lines.append("")
    cycles = ", ".join(f"{n} {kind}" for kind, n in sorted(result.ledger.cycles.items()))
    lines.append(f"cycles completed: {cycles or 'none'}")
    recorder = result.recorder
    lines.append(f"5xx answers: {recorder.server_error_count}")
    lines += [f"  {s}" for s in recorder.server_errors]
    lines.append(f"requests without an answer: {recorder.transport_error_count}")
    lines += [f"  {s}" for s in recorder.transport_errors]
    lines.append(f"unexpected answers: {recorder.unexpected_count}")
    lines += [f"  {s}" for s in recorder.unexpected]
    lines.append(f"binds that failed: {len(result.ledger.bind_failed)}")
    lines += [f"  {s}" for s in result.ledger.bind_failed[: soak_record.SAMPLES]]
    lines.append(f"lost ARQs: {len(result.lost)}")
    lines += [f"  {u}: {why}" for u, why in list(result.lost.items())[: soak_record.SAMPLES]]
    lines.append(f"stuck ARQs: {len(result.stuck)}")
    lines += [f"  {u}: {why}" for u, why in list(result.stuck.items())[: soak_record.SAMPLES]]
    lines.append(f"left held: {'; '.join(result.leftovers) or 'nothing'}")
    lines += ["", *soak_rss.table(result.rss_start, result.rss_end)]
    trend = soak_rss.trend(result.rss_start, result.rss_samples, result.rss_interval)
    lines += ["", *trend] if trend else []
    failures = result.failures()
    lines += ["", f"FAIL: {'; '.join(failures)}" if failures else "PASS"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=600, help="seconds of load")
    parser.add_argument("--clients", type=int, default=6, help="client threads")
    parser.add_argument("--swarm-hosts", type=int, default=12, help="simulated agents")
    parser.add_argument("--settle", type=float, default=60,
                        help="seconds ARQs get to leave BindStarted/Deleting")  # fmt: skip
    parser.add_argument("--rss-interval", type=float, default=60,
                        help="seconds between RSS samples during the load")  # fmt: skip
    args = parser.parse_args()
    concurrency.use_threading()
    try:
        result = run(args.duration, args.clients, args.swarm_hosts, args.settle,
                     rss_interval=args.rss_interval)  # fmt: skip
    except pytest.fail.Exception as err:  # the deployment's own wait_for failures
        print(f"soak: the deployment failed: {err}", file=sys.stderr)
        return 2
    print(report(result))
    return 1 if result.failures() else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
