"""Read a bind/unbind JSON-patch body into what the conductor needs."""

import re
from typing import Any

from cyborg.api import microversion
from cyborg.api.schemas import accelerator_request as schema
from cyborg.api.schemas import common
from cyborg.common import exception


def parse(
    body: dict[str, list[dict[str, Any]]], version: microversion.Version, is_admin: bool
) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Split a validated patch into (bindings by ARQ uuid, uuids to unbind)."""
    bindings: dict[str, dict[str, str]] = {}
    unbinds: list[str] = []
    for uuid, operations in body.items():
        ops = {op["op"] for op in operations}
        if len(ops) != 1:
            raise exception.Invalid(
                reason=f"the patch of {uuid} mixes 'add' and 'remove'; use one kind per ARQ"
            )
        paths = [op["path"] for op in operations]
        if len(set(paths)) != len(paths):
            raise exception.Invalid(reason=f"the patch of {uuid} names a path twice")
        if schema.PROJECT_PATH in paths:
            microversion.require(
                version, microversion.PROJECT_ID_IN_BIND, "Setting project_id in a bind"
            )
            if not is_admin:
                raise exception.PolicyNotAuthorized(action="setting project_id of an ARQ")
        if ops == {"remove"}:
            unbinds.append(uuid)
            continue
        values = {op["path"].lstrip("/"): op.get("value") for op in operations}
        required: tuple[str, ...] = schema.BIND_PATHS
        if version.at_least(microversion.STANDALONE_BIND):
            required = schema.STANDALONE_BIND_PATHS
        absent = [p for p in required if not values.get(p.lstrip("/"))]
        if absent or any(value is None for value in values.values()):
            missing = ", ".join(absent) or "a value"
            if absent == ["/device_rp_uuid"]:
                missing += (
                    f" (from microversion {microversion.STANDALONE_BIND} Cyborg can pick"
                    " the device itself)"
                )
            raise exception.Invalid(reason=f"Fields absent in patch of {uuid}: {missing}")
        for key in ("device_rp_uuid", "instance_uuid"):
            if key in values and not re.fullmatch(common.CANONICAL_UUID_PATTERN, str(values[key])):
                raise exception.InvalidParameterValue(
                    name=f"/{key} of {uuid}",
                    reason="not a UUID in its canonical form (8-4-4-4-12 hexadecimal digits)",
                )
        bindings[uuid] = {key: str(value) for key, value in values.items()}
    return bindings, unbinds
