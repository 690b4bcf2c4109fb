"""One request per operation of the OpenAPI document, for tests/functional/test_access.py.

``OPERATIONS[operationId](cloud, persona)`` builds the request a persona makes; one
that changes or removes an object acts on a new object of project A, and what an
allowed one takes (a claimed device, a bound attach handle) is given back after it.
"""

import uuid
from collections.abc import Callable

import requests

from cyborg.api import microversion, openapi
from tests.functional.access_cloud import (
    GROUPS,
    HOST,
    JOBS_VERSION,
    PROFILE,
    TIMEOUT,
    Cloud,
    Request,
    graph,
)


def _release_claim(cloud: Cloud) -> Callable[[requests.Response], None]:
    """Delete a claimed plan's ARQs, which frees its devices in Placement."""

    def release(response: requests.Response) -> None:
        if response.status_code != 200:
            return
        consumer = response.json()["consumer_uuid"]
        path = f"/v2/accelerator_requests?instance={consumer}"

        def settled() -> bool:
            arqs = cloud.ok("ad", "GET", path)["arqs"]
            return all(arq["state"] in ("Bound", "BindFailed") for arq in arqs)

        cloud.deployment.wait_for(settled, TIMEOUT, "the claimed ARQs bound")
        cloud.ok("ad", "DELETE", path)

    return release


def nova_binding(cloud: Cloud) -> list[dict[str, str]]:
    """What Nova sends to bind an ARQ: the host, a GPU and a new instance of the fake Nova."""
    instance = str(uuid.uuid4())
    cloud.nova.instances.add(instance)
    return [
        {"path": "/hostname", "op": "add", "value": HOST},
        {"path": "/device_rp_uuid", "op": "add", "value": cloud.ids["gpu_rp"]},
        {"path": "/instance_uuid", "op": "add", "value": instance},
    ]


def arq_url(arq: str) -> str:
    return f"/v2/accelerator_requests/{arq}"


def _release_bind(cloud: Cloud, arq: str) -> Callable[[requests.Response], None]:
    """Delete a bound ARQ as Nova does, which frees its device's attach handle."""

    def release(response: requests.Response) -> None:
        if response.status_code != 202:
            return

        def settled() -> bool:
            state = cloud.ok("ad", "GET", arq_url(arq))["state"]
            return state in ("Bound", "BindFailed")

        cloud.deployment.wait_for(settled, TIMEOUT, f"ARQ {arq} bound")
        deleted = cloud.call("nA", Request("DELETE", arq_url(arq)))
        assert deleted.status_code == 204, deleted.text

    return release


def _bind_collection(cloud: Cloud, persona: str) -> Request:
    arq = cloud.new_arq()
    body = {arq: nova_binding(cloud)}
    return Request(
        "PATCH", "/v2/accelerator_requests", body, arq_url(arq), after=_release_bind(cloud, arq)
    )


def _bind_one(cloud: Cloud, persona: str) -> Request:
    arq = cloud.new_arq()
    body = {arq: nova_binding(cloud)}
    return Request("PATCH", arq_url(arq), body, arq_url(arq), after=_release_bind(cloud, arq))


def _delete_arqs(cloud: Cloud, persona: str) -> Request:
    arq = cloud.new_arq()
    return Request("DELETE", f"/v2/accelerator_requests?arqs={arq}", target=arq_url(arq))


def _delete_arq(cloud: Cloud, persona: str) -> Request:
    arq = cloud.new_arq()
    return Request("DELETE", arq_url(arq), target=arq_url(arq))


def _claim(cloud: Cloud, persona: str) -> Request:
    plan = cloud.new_plan()
    return Request(
        "POST", f"/v2/plans/{plan}/claim", {}, f"/v2/plans/{plan}", after=_release_claim(cloud)
    )


def _cancel_job(cloud: Cloud, persona: str) -> Request:
    job = cloud.new_job()
    path = f"/v2/jobs/{job}"
    return Request("DELETE", path, target=path, headers=JOBS_VERSION)


def _profile_by_query(cloud: Cloud, persona: str) -> Request:
    name = cloud.new_profile()
    return Request(
        "DELETE", f"/v2/device_profiles?value={name}", target=f"/v2/device_profiles/{name}"
    )


def _profile_by_name(cloud: Cloud, persona: str) -> Request:
    name = cloud.new_profile()
    return Request("DELETE", f"/v2/device_profiles/{name}", target=f"/v2/device_profiles/{name}")


def _delete_attribute(cloud: Cloud, persona: str) -> Request:
    attribute = cloud.new_attribute()
    path = f"/v2/attributes/{attribute}"
    return Request("DELETE", path, target=path)


def _disable(cloud: Cloud, persona: str) -> Request:
    device = f"/v2/devices/{cloud.ids['device']}"

    def enable_again(response: requests.Response) -> None:
        cloud.ok("ad", "POST", f"{device}/enable")

    return Request("POST", f"{device}/disable", target=device, after=enable_again)


def _program(cloud: Cloud, persona: str) -> Request:
    body = [{"op": "replace", "path": "/program", "value": [{"image_uuid": str(uuid.uuid4())}]}]
    path = f"/v2/deployables/{cloud.ids['deployable']}"
    return Request("PATCH", f"{path}/program", body, path)


def _get(path: str, shows: str | None = None) -> Callable[[Cloud, str], Request]:
    """A GET of ``path`` (``{name}`` filled from the cloud's ids)."""

    def build(cloud: Cloud, persona: str) -> Request:
        filled = path.format(**cloud.ids)
        return Request("GET", filled, shows=None if shows is None else cloud.ids[shows])

    return build


# The list of plans exists from 2.7; the other operations are called at 2.5.
PLANS_LIST_VERSION = microversion.header_value(microversion.PLAN_PICTURES)

OPERATIONS: dict[str, Callable[[Cloud, str], Request]] = {
    "list_graphs": _get("/v2/graphs", shows="graph"),
    "create_graph": lambda c, p: Request("POST", "/v2/graphs", graph(c.unique(f"graph-{p}"))),
    "show_graph": _get("/v2/graphs/{graph}", shows="graph"),
    "create_plans": lambda c, p: Request(
        "POST", f"/v2/graphs/{c.ids['graph']}/plans", {"count": 1, "max_devices": 1}
    ),
    "list_plans": lambda c, p: Request(
        "GET",
        "/v2/plans",
        shows=c.ids["plan"],
        headers={"OpenStack-API-Version": PLANS_LIST_VERSION},
    ),
    "show_plan": _get("/v2/plans/{plan}", shows="plan"),
    "claim_plan": _claim,
    "measure_plan": lambda c, p: Request(
        "POST", f"/v2/plans/{c.ids['plan']}/measurements", {"step_time_ms": 10.0}
    ),
    "list_jobs": lambda c, p: Request("GET", "/v2/jobs", shows=c.ids["job"], headers=JOBS_VERSION),
    "create_job": lambda c, p: Request(
        "POST",
        "/v2/jobs",
        {"job_type": c.unique(f"type-{p}"), "devices": {"min": 1, "max": 2}},
        headers=JOBS_VERSION,
    ),
    "show_job": lambda c, p: Request(
        "GET", f"/v2/jobs/{c.ids['job']}", shows=c.ids["job"], headers=JOBS_VERSION
    ),
    "cancel_job": _cancel_job,
    "list_devices": _get("/v2/devices"),
    "show_device": _get("/v2/devices/{device}"),
    "enable_device": lambda c, p: Request(
        "POST", f"/v2/devices/{c.ids['device']}/enable", target=f"/v2/devices/{c.ids['device']}"
    ),
    "disable_device": _disable,
    "list_deployables": _get("/v2/deployables"),
    "show_deployable": _get("/v2/deployables/{deployable}"),
    "program_deployable": _program,
    "list_attributes": _get("/v2/attributes"),
    "create_attribute": lambda c, p: Request(
        "POST",
        "/v2/attributes",
        {"deployable_id": c.ids["deployable_id"], "key": c.unique(f"k-{p}"), "value": "v"},
    ),
    "show_attribute": _get("/v2/attributes/{attribute}"),
    "delete_attribute": _delete_attribute,
    "list_device_profiles": _get("/v2/device_profiles"),
    "create_device_profile": lambda c, p: Request(
        "POST", "/v2/device_profiles", [{"name": c.unique(f"profile-{p}"), "groups": GROUPS}]
    ),
    "delete_device_profiles_by_query": _profile_by_query,
    "show_device_profile": _get(f"/v2/device_profiles/{PROFILE}"),
    "delete_device_profiles": _profile_by_name,
    "list_accelerator_requests": _get("/v2/accelerator_requests", shows="arq"),
    "create_accelerator_requests": lambda c, p: Request(
        "POST", "/v2/accelerator_requests", {"device_profile_name": PROFILE}
    ),
    "bind_or_unbind_accelerator_requests": _bind_collection,
    "delete_accelerator_requests": _delete_arqs,
    "show_accelerator_request": _get("/v2/accelerator_requests/{arq}", shows="arq"),
    "bind_or_unbind_accelerator_request": _bind_one,
    "delete_accelerator_request": _delete_arq,
}


def document_operations() -> list[str]:
    """The operationIds of the OpenAPI document, in its order."""
    return [
        operation["operationId"]
        for path in openapi.document()["paths"].values()
        for operation in path.values()
    ]
