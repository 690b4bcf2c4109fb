"""/v2/accelerator_requests: create from a profile, list, show, bind/unbind, delete."""

from typing import Any

import pecan
from pecan import rest

from cyborg.api import arq_patch, authz, pagination, request_state, validation
from cyborg.api.controllers import expose
from cyborg.api.schemas import accelerator_request as schema
from cyborg.api.views import accelerator_request as view
from cyborg.common import constants, exception
from cyborg.objects import accelerator_request as arq_obj
from cyborg.policies import accelerator_request as policies


class ARQsLocked(exception.CyborgException):
    code = 423
    msg_fmt = "Accelerator requests of instance %(instance)s are still being bound."


def _uuids(value: str) -> list[str]:
    """The ARQs of ``arqs=u1,u2``; one that is no uuid is 404 (no such ARQ), as upstream."""
    uuids = [u.strip() for u in value.split(",") if u.strip()]
    if not uuids:
        raise exception.Invalid(reason="arqs= needs at least one ARQ uuid")
    return uuids


class AcceleratorRequestsController(rest.RestController):
    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        authz.authorize(policies.GET_ALL)
        query = request_state.query()
        validation.validate(schema.LIST_QUERY, query, "query")
        if "bind_state" in query and "instance" not in query:
            raise exception.Invalid(reason="bind_state=resolved needs instance=<uuid>")
        page = pagination.page_request(query, request_state.conf().api.max_limit)
        arqs = arq_obj.get_all(
            request_state.context(),
            project_id=authz.owner_filter(),
            instance_uuid=query.get("instance"),
            page=page,
        )
        if "bind_state" in query and any(
            arq.state not in constants.ARQ_RESOLVED_STATES for arq in arqs
        ):
            raise ARQsLocked(instance=query["instance"])
        base = request_state.base_url()
        body = pagination.listing(
            "accelerator_requests", base, query, page, arqs, [view.show(a, base) for a in arqs]
        )
        # Upstream names this collection "arqs" in the body (the URL says accelerator_requests).
        body["arqs"] = body.pop("accelerator_requests")
        return body

    @pecan.expose("json")
    def get_one(self, uuid: str) -> dict[str, Any]:
        authz.authorize(policies.GET_ONE)
        arq = arq_obj.get_by_uuid(request_state.context(), uuid, project_id=authz.owner_filter())
        return view.show(arq, request_state.base_url())

    @pecan.expose("json")
    def post(self) -> dict[str, Any]:
        authz.authorize(policies.CREATE)
        body = request_state.json_body()
        validation.validate(schema.CREATE, body)
        if not body["device_profile_name"]:
            raise exception.DeviceProfileNotFound(name="''")
        ctx = request_state.context()
        uuids = request_state.conductor().create_arqs(
            ctx,
            device_profile_name=body["device_profile_name"],
            project_id=ctx.project_id,
            visible_to_project=authz.owner_filter(),
        )
        arqs = arq_obj.get_all(ctx, uuids=uuids)
        pecan.response.status = 201
        base = request_state.base_url()
        return {"arqs": [view.show(arq, base) for arq in arqs]}

    @expose.without_body
    def patch(self, uuid: str | None = None) -> str:
        """Bind (``add``) or unbind (``remove``) ARQs; Nova patches the collection."""
        authz.authorize(policies.UPDATE)
        authz.require_service_token()
        body = request_state.json_body()
        validation.validate(schema.PATCH, body)
        if uuid is not None and set(body) != {uuid}:
            raise exception.Invalid(reason=f"the body of PATCH .../{uuid} must patch {uuid} only")
        bindings, unbinds = arq_patch.parse(body, request_state.version(), authz.is_admin())
        ctx = request_state.context()
        owner = authz.owner_filter()
        conductor = request_state.conductor()
        if unbinds:
            conductor.unbind_arqs(ctx, uuids=unbinds, project_id=owner)
        if bindings:
            conductor.bind_arqs(ctx, bindings=bindings, project_id=owner)
        pecan.response.status = 202
        return ""

    @expose.without_body
    def delete(self, uuid: str | None = None, **_: Any) -> None:
        authz.authorize(policies.DELETE)
        query = request_state.query()
        validation.validate(schema.DELETE_QUERY, query, "query")
        if uuid is not None:  # DELETE .../{uuid}, as the CLI sends it
            if query:
                raise exception.Invalid(reason="DELETE of one ARQ takes no query parameters")
            query = {"arqs": uuid}
        if ("arqs" in query) == ("instance" in query):
            raise exception.Invalid(
                reason="give exactly one of arqs=<uuid,...> or instance=<uuid>"
            )
        ctx = request_state.context()
        owner = authz.owner_filter()
        # Nova's bound ARQs need a service token; the project's own (unbound, or bound
        # by Cyborg for a claimed plan or a standalone bind) do not.
        if "instance" in query:
            arqs = arq_obj.get_all(ctx, instance_uuid=query["instance"], project_id=owner)
            if any(arq.bound_by_nova for arq in arqs):
                authz.require_service_token()
            request_state.conductor().delete_arqs(
                ctx, instance_uuid=query["instance"], project_id=owner
            )
        else:
            uuids = _uuids(query["arqs"])
            arqs = arq_obj.get_all(ctx, uuids=uuids, project_id=owner)
            if any(arq.bound_by_nova for arq in arqs):
                authz.require_service_token()
            request_state.conductor().delete_arqs(ctx, uuids=uuids, project_id=owner)
        pecan.response.status = 204
