"""Device profile → API dict."""

from typing import Any

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects.device_profile import DeviceProfile


def show(profile: DeviceProfile, base: str) -> dict[str, Any]:
    return {
        "uuid": profile.uuid,
        "name": profile.name,
        "description": profile.description,
        "groups": profile.groups,
        "created_at": timestamp(profile.created_at),
        "updated_at": timestamp(profile.updated_at),
        "links": links.self_link(base, "device_profiles", profile.uuid),
    }
