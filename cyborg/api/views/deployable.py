"""Deployable → API dict."""

from typing import Any

from oslo_serialization import jsonutils

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects.deployable import Deployable


def show(deployable: Deployable, base: str) -> dict[str, Any]:
    # Upstream returns the attributes as a JSON *string* of single-key objects.
    attributes_list = jsonutils.dumps([{a.key: a.value} for a in deployable.attributes])
    return {
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
