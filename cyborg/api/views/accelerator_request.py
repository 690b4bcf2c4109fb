"""Accelerator request → API dict."""

from typing import Any

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.common import constants
from cyborg.objects.accelerator_request import AcceleratorRequest


def show(arq: AcceleratorRequest, base: str) -> dict[str, Any]:
    # Attach-handle details are shown only once bound (Nova reads them then).
    bound = arq.state == constants.ARQState.BOUND and arq.attach_handle_type is not None
    return {
        "uuid": arq.uuid,
        "state": arq.state,
        "device_profile_name": arq.device_profile_name,
        "device_profile_group_id": arq.device_profile_group_id,
        "hostname": arq.hostname,
        "device_rp_uuid": arq.device_rp_uuid,
        "instance_uuid": arq.instance_uuid,
        "project_id": arq.project_id,
        "attach_handle_type": arq.attach_handle_type if bound else "",
        "attach_handle_uuid": arq.attach_handle_uuid if bound else None,
        "attach_handle_info": (arq.attach_handle_info or {}) if bound else {},
        "created_at": timestamp(arq.created_at),
        "updated_at": timestamp(arq.updated_at),
        "links": links.self_link(base, "accelerator_requests", arq.uuid),
    }
