"""The jobs' queue: a job queued within its project's limit, or cancelled by its owner."""

from oslo_utils import uuidutils

from cyborg.common import deadline, exception
from cyborg.common.context import RequestContext
from cyborg.db import api as db_api
from cyborg.objects import graph as graph_obj
from cyborg.objects import job as job_obj

# The name of the queued-job count in QuotaExceeded's details.
QUEUED_JOBS = "queued_jobs"


def enforce_queued_limit(limit: int, project_id: str | None, usage: int) -> None:
    """QuotaExceeded (403) when one more queued job would exceed ``limit`` (-1: none)."""
    if limit < 0 or usage + 1 <= limit:
        return
    details = f"{QUEUED_JOBS} limit {limit}, usage {usage}, requested 1"
    raise exception.QuotaExceeded(project=project_id, details=details)


@db_api.context_manager.writer
def create_job(
    context: RequestContext,
    new: job_obj.NewJob,
    *,
    queued_limit: int,
    visible_to_project: str | None,
) -> str:
    """Queue a job; 404 for a graph the caller cannot see, 403 over the project's
    limit of queued jobs. Returns its uuid."""
    if new.graph_uuid is not None:
        graph_obj.get_by_uuid(context, new.graph_uuid, project_id=visible_to_project)
    enforce_queued_limit(
        queued_limit, new.project_id, job_obj.count_queued(context, new.project_id)
    )
    uuid = uuidutils.generate_uuid()
    deadline.note_result(context, uuid)  # stored with the insert, for a lost reply
    job_obj.create(context, new, uuid)
    return uuid


def cancel_job(context: RequestContext, uuid: str, *, project_id: str | None) -> None:
    """Queued or allocated -> cancelled (404 unseen, 409 in any other state)."""
    job_obj.cancel(context, uuid, project_id=project_id)
