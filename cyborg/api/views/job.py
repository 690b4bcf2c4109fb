"""Job -> API dict."""

from typing import Any

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects.job import Job


def show(job: Job, base: str) -> dict[str, Any]:
    return {
        "uuid": job.uuid,
        "name": job.name,
        "project_id": job.project_id,
        "graph_uuid": job.graph_uuid,
        "job_type": job.job_type,
        "throughputs": job.throughputs,
        "devices": {"min": job.min_devices, "max": job.max_devices},
        "priority": job.priority,
        "weight": job.weight,
        "state": job.state,
        "allocation": job.allocation,
        "created_at": timestamp(job.created_at),
        "updated_at": timestamp(job.updated_at),
        "links": links.self_link(base, "jobs", job.uuid),
    }
