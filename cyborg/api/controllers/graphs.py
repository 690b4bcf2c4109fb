"""/v2/graphs (microversion 2.5): upload, list, show; plan a graph."""

from typing import Any

import pecan
from pecan import rest

from cyborg.api import authz, microversion, pagination, request_state, validation
from cyborg.api.schemas import graph as schema
from cyborg.api.schemas import plan as plan_schema
from cyborg.api.views import graph as view
from cyborg.api.views import plan as plan_view
from cyborg.common import exception
from cyborg.objects import graph as graph_obj
from cyborg.objects import plan as plan_obj
from cyborg.policies import graph as policies
from cyborg.policies import plan as plan_policies


def missing_before(needed: microversion.Version, what: str) -> exception.NotFound:
    """The 404 of a resource asked for below the version that added it."""
    return exception.NotFound(
        message=f"The resource could not be found ({what} API microversion {needed}: "
        f"{microversion.header_line(needed)})."
    )


def require_version() -> None:
    """Below microversion.SCHEDULER (2.5) the scheduler's resources do not exist."""
    if not request_state.version().at_least(microversion.SCHEDULER):
        raise missing_before(microversion.SCHEDULER, "the scheduler's resources need")


def plan_pictures() -> bool:
    """From microversion.PLAN_PICTURES (2.7) a plan links to its picture."""
    return request_state.version().at_least(microversion.PLAN_PICTURES)


class GraphsController(rest.RestController):
    _custom_actions = {"plans": ["POST"]}

    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        require_version()
        authz.authorize(policies.GET_ALL)
        query = request_state.query()
        validation.validate(schema.LIST_QUERY, query, "query")
        page = pagination.page_request(query, request_state.conf().api.max_limit)
        graphs = graph_obj.get_all(
            request_state.context(), project_id=authz.owner_filter(), page=page
        )
        base = request_state.base_url()
        return pagination.listing(
            "graphs", base, query, page, graphs, [view.summary(g, base) for g in graphs]
        )

    @pecan.expose("json")
    def get_one(self, uuid: str) -> dict[str, Any]:
        require_version()
        authz.authorize(policies.GET_ONE)
        graph = graph_obj.get_by_uuid(
            request_state.context(), uuid, project_id=authz.owner_filter()
        )
        return view.show(graph, request_state.base_url())

    @pecan.expose("json")
    def post(self) -> dict[str, Any]:
        require_version()
        authz.authorize(policies.CREATE)
        body = request_state.json_body()
        colocation = request_state.version().at_least(microversion.COLOCATION)
        validation.validate(schema.create_schema(body, colocation), body)
        ctx = request_state.context()
        onnx_b64 = body.pop("onnx", None)
        uuid = request_state.conductor().create_graph(
            ctx,
            name=body.get("name"),
            document=None if onnx_b64 is not None else body,
            onnx_b64=onnx_b64,
            project_id=ctx.project_id,
        )
        graph = graph_obj.get_by_uuid(ctx, uuid)
        base = request_state.base_url()
        pecan.response.status = 201
        pecan.response.location = f"{base}/v2/graphs/{uuid}"
        return view.show(graph, base)

    @pecan.expose("json")
    def plans(self, uuid: str) -> dict[str, Any]:
        """POST /v2/graphs/{uuid}/plans: ranked plans on the free devices."""
        require_version()
        authz.authorize(plan_policies.CREATE)
        body = request_state.json_body() if pecan.request.body else {}
        validation.validate(plan_schema.CREATE, body)
        ctx = request_state.context()
        uuids = request_state.conductor().create_plans(
            ctx,
            graph_uuid=uuid,
            objective=body.get("objective", "latency"),
            max_devices=body.get("max_devices"),
            count=body.get("count", 1),
            project_id=authz.owner_filter(),
            device_profile_name=body.get("device_profile_name"),
            constraints=body.get("constraints"),
        )
        base = request_state.base_url()
        pecan.response.status = 201
        made = plan_obj.get_all(ctx, uuids=uuids)
        return {"plans": [plan_view.show(p, base, plan_pictures()) for p in made]}
