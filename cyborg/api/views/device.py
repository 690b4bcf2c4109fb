"""Device → API dict."""

from typing import Any

from cyborg.api import links, microversion
from cyborg.api.views.common import timestamp
from cyborg.objects.device import Device


def show(device: Device, base: str, version: microversion.Version) -> dict[str, Any]:
    body = {
        "uuid": device.uuid,
        "type": device.type,
        "vendor": device.vendor,
        "model": device.model,
        "std_board_info": device.std_board_info,
        "vendor_board_info": device.vendor_board_info,
        "hostname": device.hostname,
        "created_at": timestamp(device.created_at),
        "updated_at": timestamp(device.updated_at),
        "links": links.self_link(base, "devices", device.uuid),
    }
    if version.at_least(microversion.DEVICE_STATUS):
        body["status"] = device.status
    return body
