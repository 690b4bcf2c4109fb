"""One round over the jobs' queue: proposed devices for queued jobs (nothing bound).

Every ``[scheduler] job_round_interval`` seconds the conductor's periodic task takes
the head of the queue (``[scheduler] jobs_per_round`` jobs, in queue order: priority
descending, then created_at) and the free devices: the schedulable deployables
(cyborg.objects.schedulable) that no bound ARQ or pod holds (an attach handle in use)
and that no allocated job's proposal names. The jobs of the highest priority are
scheduled first with the cluster scheduler (cyborg.scheduler.cluster: the
``[scheduler] job_policy`` LP, then whole gangs, elastic jobs grown onto what is
left), then the next priority on the devices still free, and so on. Each job placed
becomes ``allocated`` with its proposal; a job that fits nowhere stays queued.

Throughputs: a job's own ``throughputs``, else those another job of its job type
gave; a job with none is taken to run equally fast on every model (the round cannot
tell the models apart for it).
"""

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from oslo_log import log

from cyborg.common.context import RequestContext
from cyborg.conductor.plans import device_scope
from cyborg.objects import device_holder as holder_obj
from cyborg.objects import job as job_obj
from cyborg.objects import schedulable as schedulable_obj
from cyborg.objects.schedulable import Schedulable
from cyborg.scheduler.cluster.estimates import ThroughputTable
from cyborg.scheduler.cluster.fleet import Fleet
from cyborg.scheduler.cluster.jobs import Job
from cyborg.scheduler.cluster.policies import PolicyError
from cyborg.scheduler.cluster.rounds import Placement, Scheduler
from cyborg.scheduler.devices import Device

LOG = log.getLogger(__name__)

#: The throughput of a job nothing is known of, on every model.
UNKNOWN_THROUGHPUT = 1.0


def _numa(row: Schedulable) -> int | None:
    try:
        return int(row.attributes["numa_node"])
    except (KeyError, ValueError):
        return None


def fleet_of(rows: Sequence[Schedulable]) -> Fleet:
    """One device per free deployable: its uuid, scheduler model, host, NUMA node."""
    return Fleet(
        tuple(
            Device(
                id=row.deployable_uuid,
                model=device_scope.scheduler_model(row),
                host=row.hostname,
                memory_mb=0.0,
                peak_tflops={"fp32": 0.0},
                memory_bandwidth_gbps=0.0,
                numa_node=_numa(row),
            )
            for row in rows
        )
    )


def throughput_table(jobs: Sequence[job_obj.Job], models: Sequence[str]) -> ThroughputTable:
    """Keyed by job uuid: each job's rates (its own, its type's, or the same everywhere)."""
    by_type: dict[str, Mapping[str, float]] = {}
    for job in jobs:
        if job.job_type is not None and job.throughputs and job.job_type not in by_type:
            by_type[job.job_type] = job.throughputs
    table = ThroughputTable()
    for job in jobs:
        rates = job.throughputs or (by_type.get(job.job_type or "") or None)
        for model in models:
            rate = UNKNOWN_THROUGHPUT if rates is None else rates.get(model, 0.0)
            table.set_prior(job.uuid, model, rate)
    return table


def _library_job(job: job_obj.Job) -> Job:
    return Job(
        id=job.uuid,
        job_type=job.uuid,
        work=1.0,
        devices=job.min_devices,
        max_devices=job.max_devices if job.max_devices > job.min_devices else None,
        weight=job.weight,
        project=job.project_id or "",
    )


def allocation_of(placement: Placement, rows: Mapping[str, Schedulable], policy: str) -> dict:
    return {
        "policy": policy,
        "model": placement.model,
        "count": len(placement.device_ids),
        "locality": placement.locality,
        "estimated_throughput": placement.steps_per_s,
        "devices": [
            {
                "deployable_uuid": uuid,
                "deployable_name": rows[uuid].deployable_name,
                "hostname": rows[uuid].hostname,
                "rp_uuid": rows[uuid].rp_uuid,
            }
            for uuid in placement.device_ids
        ],
    }


def _runnable(job: job_obj.Job, fleet: Fleet, table: ThroughputTable) -> bool:
    """Some model of ``fleet`` has a gang's worth of devices and a known rate for it."""
    return any(
        fleet.count(model) >= job.min_devices and table.get(job.uuid, model) > 0
        for model in fleet.models
    )


def plan_round(
    queue: Sequence[job_obj.Job], free: Sequence[Schedulable], policy: str
) -> dict[str, dict[str, Any]]:
    """{job uuid: its allocation} of the jobs placed this round (pure: no database).
    ``queue`` in queue order; priorities are scheduled one after the other."""
    rows = {row.deployable_uuid: row for row in free}
    fleet = fleet_of(free)
    table = throughput_table(queue, fleet.models)
    allocations: dict[str, dict[str, Any]] = {}
    for _, tier in itertools.groupby(queue, key=lambda job: job.priority):
        jobs = [job for job in tier if _runnable(job, fleet, table)]
        if not jobs:
            continue
        try:
            plan = Scheduler(table, policy).schedule([_library_job(j) for j in jobs], fleet)
        except PolicyError as err:  # the LP gave up: these jobs wait for the next round
            LOG.warning("Job round: %d jobs of one priority left queued: %s", len(jobs), err)
            continue
        for uuid, placement in plan.placements.items():
            allocations[uuid] = allocation_of(placement, rows, policy)
        fleet = fleet.without(d for p in plan.placements.values() for d in p.device_ids)
    return allocations


def run_round(context: RequestContext, *, policy: str, limit: int) -> int:
    """Allocate the head of the queue on the free devices; returns the jobs allocated."""
    queue = job_obj.queue(context, limit=limit)
    if not queue:
        return 0
    taken = holder_obj.held_deployable_uuids(context) | job_obj.allocated_device_uuids(context)
    free = [row for row in schedulable_obj.get_all(context) if row.deployable_uuid not in taken]
    allocated = 0
    for uuid, allocation in plan_round(queue, free, policy).items():
        if job_obj.set_allocated(context, uuid, allocation):  # False: cancelled meanwhile
            allocated += 1
    if allocated:
        LOG.info("Job round: %d of %d queued jobs allocated", allocated, len(queue))
    return allocated
