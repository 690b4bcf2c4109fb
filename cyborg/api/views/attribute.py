"""Attribute → API dict."""

from typing import Any

from cyborg.api import links
from cyborg.api.views.common import timestamp
from cyborg.objects.attribute import Attribute


def show(attribute: Attribute, base: str) -> dict[str, Any]:
    return {
        "uuid": attribute.uuid,
        "deployable_id": attribute.deployable_id,
        "key": attribute.key,
        "value": attribute.value,
        "created_at": timestamp(attribute.created_at),
        "updated_at": timestamp(attribute.updated_at),
        "links": links.self_link(base, "attributes", attribute.uuid),
    }
