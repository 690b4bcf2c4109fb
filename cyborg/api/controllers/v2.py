"""/v2: the version document and the resource collections."""

from typing import Any

import pecan

from cyborg.api import microversion, request_state
from cyborg.api.controllers import (
    accelerator_requests,
    device_profiles,
    graphs,
    inventory,
    jobs,
    plans,
)


def v2_document(base: str, version_id: str, trailing_slash: bool) -> dict[str, Any]:
    """The version object of ``/`` (id ``v2``) and ``/v2`` (id ``v2.0``), as upstream."""
    href = f"{base}/v2/" if trailing_slash else f"{base}/v2"
    return {
        "id": version_id,
        "status": "CURRENT",
        "min_version": str(microversion.MIN_VERSION),
        "max_version": str(microversion.MAX_VERSION),
        "links": [{"href": href, "rel": "self"}],
    }


class V2Controller:
    accelerator_requests = accelerator_requests.AcceleratorRequestsController()
    device_profiles = device_profiles.DeviceProfilesController()
    devices = inventory.DevicesController()
    deployables = inventory.DeployablesController()
    attributes = inventory.AttributesController()
    graphs = graphs.GraphsController()
    plans = plans.PlansController()
    jobs = jobs.JobsController()

    @pecan.expose("json")
    def index(self) -> dict[str, Any]:
        return v2_document(request_state.base_url(), "v2.0", trailing_slash=True)
