"""``/`` and ``/v2``: the version documents keystoneauth discovers the API with."""

from typing import Any

import pecan

from cyborg.api import openapi, request_state
from cyborg.api.controllers import v2

DESCRIPTION = (
    "Cyborg is the OpenStack project for lifecycle management of hardware accelerators, "
    "such as GPUs, FPGAs, AI chips, security accelerators, etc."
)


class RootController:
    v2 = v2.V2Controller()

    @pecan.expose("json")
    def index(self) -> dict[str, Any]:
        version = v2.v2_document(request_state.base_url(), "v2", trailing_slash=False)
        return {
            "name": "OpenStack Cyborg API",
            "description": DESCRIPTION,
            "versions": [version],
            "default_version": version,
        }

    @pecan.expose("json", route="openapi.json")
    def openapi_document(self) -> dict[str, Any]:
        return openapi.document()
