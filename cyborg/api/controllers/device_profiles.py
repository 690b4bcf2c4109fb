"""/v2/device_profiles: list, show (by uuid, or name from 2.2), create, delete."""

from typing import Any

import pecan
from oslo_serialization import jsonutils
from oslo_utils import uuidutils
from pecan import rest

from cyborg.api import authz, microversion, pagination, request_state, validation
from cyborg.api.controllers import expose
from cyborg.api.schemas import device_profile as schema
from cyborg.api.views import device_profile as view
from cyborg.common import exception, profile_rules
from cyborg.objects import device_profile as device_profile_obj
from cyborg.policies import device_profile as policies

# profile_json is a TEXT column: 64 KiB on MySQL.
MAX_GROUPS_JSON = 60000


def _names(value: str) -> list[str]:
    """The names of ``a,b``, maybe none: a filter naming none lists none (200, as upstream)."""
    return [name.strip() for name in value.split(",") if name.strip()]


class DeviceProfilesController(rest.RestController):
    @pecan.expose("json")
    def get_all(self, **_: Any) -> dict[str, Any]:
        authz.authorize(policies.GET_ALL)
        query = request_state.query()
        validation.validate(schema.LIST_QUERY, query, "query")
        page = pagination.page_request(query, request_state.conf().api.max_limit)
        profiles = device_profile_obj.get_all(
            request_state.context(),
            names=_names(query["name"]) if "name" in query else None,
            visible_to_project=authz.owner_filter(),
            page=page,
        )
        base = request_state.base_url()
        return pagination.listing(
            "device_profiles", base, query, page, profiles, [view.show(p, base) for p in profiles]
        )

    @pecan.expose("json")
    def get_one(self, uuid_or_name: str) -> dict[str, Any]:
        authz.authorize(policies.GET_ONE)
        ctx = request_state.context()
        owner = authz.owner_filter()
        if uuidutils.is_uuid_like(uuid_or_name):
            profile = device_profile_obj.get_by_uuid(ctx, uuid_or_name, visible_to_project=owner)
        else:
            microversion.require(
                request_state.version(),
                microversion.PROFILE_BY_NAME,
                "Showing a device profile by name",
            )
            profile = device_profile_obj.get_by_name(ctx, uuid_or_name, visible_to_project=owner)
        return {"device_profile": view.show(profile, request_state.base_url())}

    @pecan.expose("json")
    def post(self) -> dict[str, Any]:
        authz.authorize(policies.CREATE)
        body = request_state.json_body()
        if isinstance(body, list):
            body = [
                {**p, "groups": [profile_rules.normalized(g) for g in p.get("groups") or []]}
                if isinstance(p, dict) and isinstance(p.get("groups"), list)
                else p
                for p in body
            ]
        validation.validate(schema.CREATE, body)
        profile = body[0] if isinstance(body, list) else body
        if len(jsonutils.dumps(profile["groups"])) > MAX_GROUPS_JSON:
            raise exception.Invalid(
                reason=f"the groups take more than {MAX_GROUPS_JSON} bytes as JSON; split them"
            )
        limits = request_state.conf().api
        profile_rules.check_size(
            profile["groups"],
            max_units_per_group=limits.max_units_per_group,
            max_arqs=limits.max_arqs_per_request,
        )
        # Administrators' profiles are shared by every project; others' stay their own.
        project_id = None if authz.is_admin() else request_state.context().project_id
        uuid = request_state.conductor().create_device_profile(
            request_state.context(),
            name=profile["name"],
            groups=profile["groups"],
            description=profile.get("description"),
            uuid=profile.get("uuid"),
            project_id=project_id,
        )
        created = device_profile_obj.get_by_uuid(request_state.context(), uuid)
        base = request_state.base_url()
        pecan.response.status = 201
        pecan.response.location = f"{base}/v2/device_profiles/{created.uuid}"
        return view.show(created, base)

    @expose.without_body
    def delete(self, uuid_or_names: str | None = None, **_: Any) -> None:
        authz.authorize(policies.DELETE)
        query = request_state.query()
        validation.validate(schema.DELETE_QUERY, query, "query")
        target = uuid_or_names or query.get("value")
        if not target:
            raise exception.Invalid(
                reason="name the profiles to delete: /v2/device_profiles/{uuid or names}"
            )
        owner = authz.owner_filter()
        conductor = request_state.conductor()
        if uuidutils.is_uuid_like(target):
            conductor.delete_device_profiles(
                request_state.context(), uuids=[target], project_id=owner
            )
        else:
            names = _names(target)
            if not names:
                raise exception.Invalid(reason="at least one device profile name is required")
            conductor.delete_device_profiles(
                request_state.context(), names=names, project_id=owner
            )
        pecan.response.status = 204
