"""/v2/plans (microversion 2.5): show, claim, report a measured step."""

from typing import Any

import pecan
from pecan import rest

from cyborg.api import authz, request_state, validation
from cyborg.api.controllers import expose
from cyborg.api.controllers.graphs import require_version
from cyborg.api.schemas import plan as schema
from cyborg.api.views import accelerator_request as arq_view
from cyborg.api.views import plan as view
from cyborg.objects import accelerator_request as arq_obj
from cyborg.objects import plan as plan_obj
from cyborg.policies import plan as policies


class PlansController(rest.RestController):
    _custom_actions = {"claim": ["POST"], "measurements": ["POST"]}

    @pecan.expose("json")
    def get_one(self, uuid: str) -> dict[str, Any]:
        require_version()
        authz.authorize(policies.GET)
        plan = plan_obj.get_by_uuid(request_state.context(), uuid, project_id=authz.owner_filter())
        return view.show(plan, request_state.base_url())

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
            **view.show(plan, base),
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
