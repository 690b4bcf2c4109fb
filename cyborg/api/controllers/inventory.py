"""/v2/devices, /v2/deployables and /v2/attributes: the hardware inventory."""

from typing import Any

import pecan
from pecan import rest

from cyborg.api import authz, microversion, pagination, request_state, validation
from cyborg.api.controllers import expose
from cyborg.api.request_state import ENV_EMPTY_200
from cyborg.api.schemas import inventory as schema
from cyborg.api.views import attribute as attribute_view
from cyborg.api.views import deployable as deployable_view
from cyborg.api.views import device as device_view
from cyborg.common import constants, exception
from cyborg.objects import attribute as attribute_obj
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import device as device_obj
from cyborg.objects import device_holder
from cyborg.objects import pagination as paging
from cyborg.policies import attribute as attribute_policies
from cyborg.policies import deployable as deployable_policies
from cyborg.policies import device as device_policies
from cyborg.policies import enforcer


def _list_request(query_schema: dict[str, Any]) -> tuple[dict[str, str], paging.PageRequest]:
    query = request_state.query()
    validation.validate(query_schema, query, "query")
    return query, pagination.page_request(query, request_state.conf().api.max_limit)


class DevicesController(rest.RestController):
    _custom_actions = {"enable": ["POST"], "disable": ["POST"]}

    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        authz.authorize(device_policies.GET_ALL)
        query, page = _list_request(schema.DEVICES_QUERY)
        devices = device_obj.get_all(
            request_state.context(),
            device_type=query.get("type"),
            vendor=query.get("vendor"),
            hostname=query.get("hostname"),
            page=page,
        )
        base, version = request_state.base_url(), request_state.version()
        rendered = [device_view.show(d, base, version) for d in devices]
        return pagination.listing("devices", base, query, page, devices, rendered)

    @pecan.expose("json")
    def get_one(self, uuid: str) -> dict[str, Any]:
        authz.authorize(device_policies.GET_ONE)
        device = device_obj.get_by_uuid(request_state.context(), uuid)
        return device_view.show(device, request_state.base_url(), request_state.version())

    def _set_status(self, uuid: str, status: str) -> str:
        device_obj.get_by_uuid(request_state.context(), uuid)  # 404 before any side effect
        request_state.conductor().set_device_status(
            request_state.context(), uuid=uuid, status=status
        )
        pecan.request.environ[ENV_EMPTY_200] = True  # upstream: 200 with no body
        pecan.response.status = 200
        return ""

    @expose.without_body
    def enable(self, uuid: str) -> str:
        authz.authorize(device_policies.ENABLE)
        return self._set_status(uuid, constants.DeviceStatus.ENABLED.value)

    @expose.without_body
    def disable(self, uuid: str) -> str:
        authz.authorize(device_policies.DISABLE)
        return self._set_status(uuid, constants.DeviceStatus.MAINTAINING.value)


def _deployables(deployables: list[deployable_obj.Deployable]) -> list[dict[str, Any]]:
    """The deployables as shown at the request's version (holders from DEVICE_HOLDERS)."""
    base = request_state.base_url()
    if not request_state.version().at_least(microversion.DEVICE_HOLDERS):
        return [deployable_view.show(d, base) for d in deployables]
    context = request_state.context()
    detailed = enforcer.check(request_state.conf(), context, deployable_policies.GET_HOLDERS)
    held = device_holder.by_deployable(context, [d.id for d in deployables])
    return [
        deployable_view.show(
            d, base, [deployable_view.holder(h, detailed) for h in held.get(d.id, [])]
        )
        for d in deployables
    ]


class DeployablesController(rest.RestController):
    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        authz.authorize(deployable_policies.GET_ALL)
        query, page = _list_request(schema.DEPLOYABLES_QUERY)
        deployables = deployable_obj.get_all(
            request_state.context(), hostname=query.get("hostname"), page=page
        )
        base = request_state.base_url()
        return pagination.listing(
            "deployables",
            base,
            query,
            page,
            deployables,
            _deployables(deployables),
        )

    @pecan.expose("json")
    def get_one(self, uuid: str) -> dict[str, Any]:
        authz.authorize(deployable_policies.GET_ONE)
        deployable = deployable_obj.get_by_uuid(request_state.context(), uuid)
        return _deployables([deployable])[0]

    @pecan.expose("json")
    def patch(
        self, uuid: str | None = None, action: str | None = None, *repeated: str
    ) -> dict[str, Any]:
        """PATCH .../{uuid}/program; openstacksdk sends .../{uuid}/program/{uuid}."""
        if uuid is None or action != "program" or (repeated and list(repeated) != [uuid]):
            raise exception.NotFound()
        authz.authorize(deployable_policies.PROGRAM)
        context = request_state.context()
        deployable_obj.get_by_uuid(context, uuid)  # 404 before any side effect
        body = request_state.json_body()
        validation.validate(schema.PROGRAM, body)
        # Synchronous, as upstream: the conductor asks the agent of the device's host,
        # which downloads the image and runs the vendor tool.
        request_state.conductor().program_deployable(
            context, deployable_uuid=uuid, image_uuid=body[0]["value"][0]["image_uuid"]
        )
        deployable = deployable_obj.get_by_uuid(context, uuid)
        return _deployables([deployable])[0]


class AttributesController(rest.RestController):
    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        authz.authorize(attribute_policies.GET_ALL)
        query, page = _list_request(schema.ATTRIBUTES_QUERY)
        deployable_id = query.get("deployable_id")
        attributes = attribute_obj.get_all(
            request_state.context(),
            deployable_id=int(deployable_id) if deployable_id else None,
            key=query.get("key"),
            page=page,
        )
        base = request_state.base_url()
        return pagination.listing(
            "attributes",
            base,
            query,
            page,
            attributes,
            [attribute_view.show(a, base) for a in attributes],
        )

    @pecan.expose("json")
    def get_one(self, uuid: str) -> dict[str, Any]:
        authz.authorize(attribute_policies.GET_ONE)
        attribute = attribute_obj.get_by_uuid(request_state.context(), uuid)
        return attribute_view.show(attribute, request_state.base_url())

    @pecan.expose("json")
    def post(self) -> dict[str, Any]:
        authz.authorize(attribute_policies.CREATE)
        body = request_state.json_body()
        validation.validate(schema.CREATE_ATTRIBUTE, body)
        values = body.get("attribute", body)
        deployable_id = int(values["deployable_id"])
        deployables = deployable_obj.get_all(request_state.context(), ids=[deployable_id])
        if not deployables:
            raise exception.DeployableNotFound(uuid=f"id={values['deployable_id']}")
        uuid = request_state.conductor().create_attribute(
            request_state.context(),
            deployable_uuid=deployables[0].uuid,
            key=values["key"],
            value=values["value"],
        )
        attribute = attribute_obj.get_by_uuid(request_state.context(), uuid)
        base = request_state.base_url()
        pecan.response.status = 201
        pecan.response.location = f"{base}/v2/attributes/{uuid}"
        return attribute_view.show(attribute, base)

    @expose.without_body
    def delete(self, uuid: str | None = None) -> None:
        if uuid is None:
            raise exception.MethodNotAllowed(method="DELETE", path="/v2/attributes")
        authz.authorize(attribute_policies.DELETE)
        attribute_obj.get_by_uuid(request_state.context(), uuid)
        request_state.conductor().delete_attribute(request_state.context(), uuid=uuid)
        pecan.response.status = 204
