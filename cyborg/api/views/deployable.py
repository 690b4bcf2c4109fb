"""Deployable → API dict."""

from typing import Any

from oslo_serialization import jsonutils

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects import device_holder
from cyborg.objects.deployable import Deployable
from cyborg.objects.device_holder import Holder


def show(
    deployable: Deployable, base: str, holders: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """``holders`` (from microversion DEVICE_HOLDERS, rendered by ``holder``) are left
    out when None."""
    # Upstream returns the attributes as a JSON *string* of single-key objects.
    attributes_list = jsonutils.dumps([{a.key: a.value} for a in deployable.attributes])
    body = {
        "uuid": deployable.uuid,
        "parent_id": deployable.parent_id,
        "root_id": deployable.root_id,
        "name": deployable.name,
        "num_accelerators": deployable.num_accelerators,
        "device_id": deployable.device_id,
        "attributes_list": attributes_list,
        "rp_uuid": deployable.rp_uuid,
        "driver_name": deployable.driver_name,
        "bitstream_id": deployable.bitstream_id,
        "created_at": timestamp(deployable.created_at),
        "updated_at": timestamp(deployable.updated_at),
        "links": links.with_bookmark(base, "deployables", deployable.uuid),
    }
    if holders is not None:
        body["holders"] = holders
    return body


def holder(held: Holder, detailed: bool) -> dict[str, Any]:
    """A VM's or a pod's hold on one device; who exactly only when ``detailed``
    (policy cyborg:deployable:get_holders, administrators by default)."""
    if not detailed:
        return {"type": held.type}
    if held.type == device_holder.POD:
        return {
            "type": held.type,
            "claim_uid": held.claim_uid,
            "namespace": held.namespace,
            "name": held.name,
        }
    return {"type": held.type, "instance_uuid": held.instance_uuid}
