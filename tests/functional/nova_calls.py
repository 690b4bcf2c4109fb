"""The REST calls Nova makes to Cyborg while it builds an instance (clients.md), for
functional tests against a real cyborg-api."""

from typing import Any

import requests

from tests.functional import services


def get_arq(deployment: services.Deployment, uuid: str) -> dict[str, Any]:
    response = requests.get(f"{deployment.endpoint}/accelerator_requests/{uuid}", timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def create_and_bind(
    deployment: services.Deployment,
    profile: str,
    hostname: str,
    rp_uuid: str,
    instance: str,
    token: str | None = None,
) -> str:
    """Create the profile's one ARQ and bind it (answered at once: 202); its uuid."""
    created = requests.post(
        f"{deployment.endpoint}/accelerator_requests",
        json={"device_profile_name": profile},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    (arq,) = created.json()["arqs"]
    patch = {
        arq["uuid"]: [
            {"path": "/hostname", "op": "add", "value": hostname},
            {"path": "/device_rp_uuid", "op": "add", "value": rp_uuid},
            {"path": "/instance_uuid", "op": "add", "value": instance},
        ]
    }
    response = requests.patch(
        f"{deployment.endpoint}/accelerator_requests",
        json=patch,
        headers={"X-Auth-Token": token} if token else {},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    return str(arq["uuid"])
