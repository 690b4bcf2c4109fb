"""/v2/jobs (microversion 2.9): queue a cluster-scheduling job, list, show, cancel."""

import dataclasses
from typing import Any

import pecan
from pecan import rest

from cyborg.api import authz, microversion, pagination, request_state, validation
from cyborg.api.controllers import expose
from cyborg.api.controllers.graphs import missing_before
from cyborg.api.schemas import job as schema
from cyborg.api.views import job as view
from cyborg.common import exception
from cyborg.objects import job as job_obj
from cyborg.policies import job as policies


def require_version() -> None:
    """Below microversion.JOBS (2.9) jobs do not exist."""
    if not request_state.version().at_least(microversion.JOBS):
        raise missing_before(microversion.JOBS, "jobs need")


def new_job(body: dict[str, Any], project_id: str | None) -> job_obj.NewJob:
    """The job a validated body asks for; 400 naming the field for what the schema
    cannot say (one of graph_uuid and job_type; devices min <= max)."""
    if ("graph_uuid" in body) == ("job_type" in body):
        raise exception.Invalid(
            reason="body: name what the job runs with exactly one of 'graph_uuid' "
            "(a graph of the project) and 'job_type'"
        )
    devices = body["devices"]
    top = devices.get("max", devices["min"])
    if top < devices["min"]:
        raise exception.Invalid(
            reason=f"body at 'devices/max': {top} is less than devices/min ({devices['min']})"
        )
    throughputs = body.get("throughputs")
    return job_obj.NewJob(
        name=body.get("name"),
        project_id=project_id,
        graph_uuid=body.get("graph_uuid"),
        job_type=body.get("job_type"),
        throughputs=None if throughputs is None else {k: float(v) for k, v in throughputs.items()},
        min_devices=devices["min"],
        max_devices=top,
        priority=body.get("priority", 0),
        weight=float(body.get("weight", 1.0)),
    )


def _project_filter(query: dict[str, str]) -> str | None:
    """Whose jobs a list shows: an administrator's ``project_id`` filter (else all
    projects'), or the caller's own project; another project's filter is 403."""
    owner = authz.owner_filter()
    wanted = query.get("project_id")
    if owner is None:
        return wanted
    if wanted is not None and wanted != owner:
        raise exception.Forbidden(reason="only administrators list other projects' jobs")
    return owner


class JobsController(rest.RestController):
    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        require_version()
        authz.authorize(policies.GET_ALL)
        query = request_state.query()
        validation.validate(schema.LIST_QUERY, query, "query")
        page = pagination.page_request(query, request_state.conf().api.max_limit)
        jobs = job_obj.get_page(
            request_state.context(),
            project_id=_project_filter(query),
            state=query.get("state"),
            page=page,
        )
        base = request_state.base_url()
        return pagination.listing(
            "jobs", base, query, page, jobs, [view.show(j, base) for j in jobs]
        )

    @pecan.expose("json")
    def get_one(self, uuid: str) -> dict[str, Any]:
        require_version()
        authz.authorize(policies.GET)
        job = job_obj.get_by_uuid(request_state.context(), uuid, project_id=authz.owner_filter())
        return view.show(job, request_state.base_url())

    @pecan.expose("json")
    def post(self) -> dict[str, Any]:
        require_version()
        authz.authorize(policies.CREATE)
        body = request_state.json_body()
        validation.validate(schema.CREATE, body)
        ctx = request_state.context()
        new = new_job(body, ctx.project_id)
        uuid = request_state.conductor().create_job(
            ctx, job=dataclasses.asdict(new), visible_to_project=authz.owner_filter()
        )
        job = job_obj.get_by_uuid(ctx, uuid)
        base = request_state.base_url()
        pecan.response.status = 201
        pecan.response.location = f"{base}/v2/jobs/{uuid}"
        return view.show(job, base)

    @expose.without_body
    def delete(self, uuid: str) -> None:
        """Cancel: a queued or allocated job becomes cancelled (204); 409 otherwise."""
        require_version()
        authz.authorize(policies.DELETE)
        request_state.conductor().cancel_job(
            request_state.context(), uuid=uuid, project_id=authz.owner_filter()
        )
        pecan.response.status = 204
