"""/v2/plans (microversion 2.5): show, claim, report a measured step; from 2.7 the
list and the plan's picture (``Accept: image/svg+xml``)."""

from typing import Any

import pecan
import webob
from pecan import rest

from cyborg.api import authz, microversion, pagination, request_state, validation
from cyborg.api.controllers import expose
from cyborg.api.controllers.graphs import missing_before, plan_pictures, require_version
from cyborg.api.schemas import plan as schema
from cyborg.api.views import accelerator_request as arq_view
from cyborg.api.views import plan as view
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import graph as graph_obj
from cyborg.objects import plan as plan_obj
from cyborg.policies import plan as policies


def _wants_picture() -> bool:
    """pecan picked the answer's type from Accept (406 for one it cannot serve)."""
    return bool(pecan.request.pecan.get("content_type") == view.SVG)


class PlansController(rest.RestController):
    _custom_actions = {"claim": ["POST"], "measurements": ["POST"]}

    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        """GET /v2/plans (2.7): the project's plans, of one graph with ``graph_uuid``."""
        require_version()
        if not plan_pictures():
            raise missing_before(microversion.PLAN_PICTURES, "the list of plans needs")
        authz.authorize(policies.GET_ALL)
        query = request_state.query()
        validation.validate(schema.LIST_QUERY_2_7, query, "query")
        page = pagination.page_request(query, request_state.conf().api.max_limit)
        plans = plan_obj.get_page(
            request_state.context(),
            project_id=authz.owner_filter(),
            graph_uuid=query.get("graph_uuid"),
            page=page,
        )
        base = request_state.base_url()
        return pagination.listing(
            "plans", base, query, page, plans, [view.summary(p, base, True) for p in plans]
        )

    # JSON by default (the outer expose); the picture when Accept asks for SVG.
    @pecan.expose("json")
    @pecan.expose(content_type=view.SVG)
    def get_one(self, uuid: str) -> dict[str, Any] | webob.Response:
        require_version()
        picture = _wants_picture()
        if picture:
            microversion.require(
                request_state.version(), microversion.PLAN_PICTURES, "A plan's picture"
            )
        authz.authorize(policies.GET)
        ctx = request_state.context()
        plan = plan_obj.get_by_uuid(ctx, uuid, project_id=authz.owner_filter())
        if not picture:
            return view.show(plan, request_state.base_url(), plan_pictures())
        graph = graph_obj.get_by_uuid(ctx, plan.graph_uuid)
        response = pecan.response
        response.content_type = view.SVG
        response.text = view.svg(plan, graph)
        return response

    @pecan.expose("json")
    def claim(self, uuid: str) -> dict[str, Any]:
        """Bind the ARQs of a device profile to each device of the plan (Placement claims)."""
        require_version()
        authz.authorize(policies.CLAIM)
        body = request_state.json_body() if pecan.request.body else {}
        validation.validate(schema.CLAIM, body)
        ctx = request_state.context()
        owner = authz.owner_filter()
        plan_obj.get_by_uuid(ctx, uuid, project_id=owner)  # 404 before any side effect
        arqs = request_state.conductor().claim_plan(
            ctx,
            plan_uuid=uuid,
            device_profile_name=body.get("device_profile_name"),
            consumer_uuid=body.get("consumer_uuid"),
            project_id=ctx.project_id,
            visible_to_project=owner,
        )
        plan = plan_obj.get_by_uuid(ctx, uuid)
        base = request_state.base_url()
        order = {arq_uuid: index for index, arq_uuid in enumerate(arqs)}
        bound = sorted(arq_obj.get_all(ctx, uuids=arqs), key=lambda a: order[a.uuid])
        return {
            **view.show(plan, base, plan_pictures()),
            "arqs": arqs,
            # Where each device is: host, provider, attach handle.
            "accelerator_requests": [arq_view.show(arq, base) for arq in bound],
        }

    @expose.without_body
    def measurements(self, uuid: str) -> str:
        """A measured step time of the plan (and optionally each device's busy time):
        202, the factors are updated."""
        require_version()
        authz.authorize(policies.MEASURE)
        body = request_state.json_body()
        validation.validate(schema.MEASURE, body)
        ctx = request_state.context()
        request_state.conductor().report_measurement(
            ctx,
            plan_uuid=uuid,
            step_time_ms=float(body["step_time_ms"]),
            project_id=authz.owner_filter(),
            device_times_ms=body.get("device_times_ms"),
        )
        pecan.response.status = 202
        return ""
