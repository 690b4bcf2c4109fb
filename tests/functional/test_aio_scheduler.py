"""The graph-aware scheduler's story on cyborg-aio, through the REST API (2.5).

One all-in-one whose fake driver simulates a host with two NVLinked H100s, two T4s
(all four with the trait a device profile selects) and an A100 without it. Upload an
ONNX model, plan it (the latency plan takes both H100s, the throughput one pipelines
over every selected GPU), claim the best plan (ARQs bound to the planned devices, one
PGPU each in the embedded Placement), claim it again (409), report measured times
(the next plans show learned factors) and release the consumer (Placement's
allocations gone, the H100s planned again).
"""

import base64
import json
import os
import pathlib
import time
from collections.abc import Iterator
from typing import Any

import onnx
import pytest
import requests

from tests.functional import services
from tests.functional.test_aio import _start, _stop, _wait_ready

HOST = "aio-sched-host"
TRAIT = "CUSTOM_DL_TRAINING"
H100, T4, A100 = "H100-SXM5-80GB", "T4", "A100-SXM4-80GB"
ONNX_MODEL = os.path.join(
    os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_inception_v1.onnx"
)
CYBORG_HEADERS = {
    "OpenStack-API-Version": "accelerator 2.5",
    "Content-Type": "application/json",
}
PLACEMENT_HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.38"}
TIMEOUT = 30


def _gpu(address: str, name: str, model: str, traits: list[str], **attributes: str) -> Any:
    deployable: dict[str, Any] = {"name": name, "resource_class": "PGPU", "traits": traits}
    if attributes:
        deployable["attributes"] = attributes
    return {
        "type": "GPU",
        "address": address,
        "vendor": "10de",
        "model": model,
        "deployables": [deployable],
    }


# The fake driver's inventory file (cyborg.drivers.fake_inventory).
INVENTORY = [
    _gpu("0000:3b:00.0", "h100-0", H100, [TRAIT], peer_links="h100-1"),
    _gpu("0000:3c:00.0", "h100-1", H100, [TRAIT], peer_links="h100-0"),
    _gpu("0000:5e:00.0", "t4-0", T4, [TRAIT]),
    _gpu("0000:5f:00.0", "t4-1", T4, [TRAIT]),
    _gpu("0000:86:00.0", "a100-0", A100, []),  # no trait: the profile never selects it
]
SELECTED = {"h100-0", "h100-1", "t4-0", "t4-1"}


def _poll(seconds: float) -> Iterator[None]:
    """Yield every half second until ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield
        time.sleep(0.5)


class API:
    """The aio's Cyborg API and its embedded Placement, on one port, as admin."""

    def __init__(self, port: int) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.session = requests.Session()

    def call(self, method: str, path: str, status: int, body: Any = None) -> Any:
        response = self.session.request(
            method, self.root + path, json=body, headers=CYBORG_HEADERS, timeout=TIMEOUT
        )
        assert response.status_code == status, f"{method} {path}: {response.text[:2000]}"
        return response.json() if response.content else None

    def placement(self, path: str) -> Any:
        response = self.session.get(
            f"{self.root}/placement{path}", headers=PLACEMENT_HEADERS, timeout=TIMEOUT
        )
        assert response.status_code == 200, f"GET /placement{path}: {response.text[:2000]}"
        return response.json()


@pytest.fixture
def api(tmp_path: pathlib.Path) -> Iterator[API]:
    """cyborg-aio with the inventory above in a config file, until the test ends."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps(INVENTORY))
    config = tmp_path / "cyborg.conf"
    config.write_text(
        f"[agent]\nresource_provider_name = {HOST}\n"
        # An empty tree: no real driver finds the machine's own accelerators.
        f"sysfs_root = {tmp_path / 'sysfs'}\n"
        f"[fake_driver]\ninventory_file = {inventory}\n"
    )
    (tmp_path / "sysfs").mkdir()
    port, log_path = services.free_port(), str(tmp_path / "aio.log")
    process = _start(str(tmp_path / "state"), port, log_path, "--config-file", str(config))
    try:
        _wait_ready(log_path, process)
        yield API(port)
    finally:
        _stop(process)


def _wait_for_deployables(api: API) -> dict[str, dict[str, Any]]:
    """The reported deployables by name, once each has its provider in Placement."""
    found: dict[str, dict[str, Any]] = {}
    for _ in _poll(TIMEOUT):
        found = {d["name"]: d for d in api.call("GET", "/v2/deployables", 200)["deployables"]}
        if set(found) == SELECTED | {"a100-0"} and all(d["rp_uuid"] for d in found.values()):
            providers = api.placement("/resource_providers")["resource_providers"]
            if {d["rp_uuid"] for d in found.values()} <= {p["uuid"] for p in providers}:
                return found
    pytest.fail(f"the aio's agent and Placement sync gave {found}", pytrace=False)


def _check_inventory(api: API, deployables: dict[str, dict[str, Any]]) -> None:
    """The devices as the inventory file says; a PGPU provider each, with its traits."""
    devices = api.call("GET", "/v2/devices", 200)["devices"]
    assert sorted((d["model"], d["hostname"]) for d in devices) == sorted(
        (device["model"], HOST) for device in INVENTORY
    )
    for name, deployable in deployables.items():
        rp = deployable["rp_uuid"]
        inventories = api.placement(f"/resource_providers/{rp}/inventories")["inventories"]
        assert {rc: i["total"] for rc, i in inventories.items()} == {"PGPU": 1}
        traits = api.placement(f"/resource_providers/{rp}/traits")["traits"]
        assert (TRAIT in traits) == (name in SELECTED), (name, traits)


def _upload_graph(api: API) -> str:
    with open(ONNX_MODEL, "rb") as handle:
        body = {"name": "inception", "onnx": base64.b64encode(handle.read()).decode()}
    graph = api.call("POST", "/v2/graphs", 201, body)
    assert (graph["name"], graph["format"]) == ("inception", "onnx")
    assert graph["nodes"] > 100 and graph["gflops"] > 0 and graph["param_bytes"] > 0
    assert graph["analysis"]["edges"] > 0 and "Conv" in graph["analysis"]["op_types"]
    assert 0 < graph["analysis"]["critical_path_gflops"] <= graph["gflops"]
    return str(graph["uuid"])


def _plan(api: API, graph: str, **body: Any) -> list[dict[str, Any]]:
    body = {"device_profile_name": "dl-gpu", **body}
    plans: list[dict[str, Any]] = api.call("POST", f"/v2/graphs/{graph}/plans", 201, body)["plans"]
    assert [p["rank"] for p in plans] == list(range(1, len(plans) + 1))
    for plan in plans:
        assert (plan["state"], plan["graph_uuid"]) == ("proposed", graph)
        assert plan["request"]["device_profile_name"] == "dl-gpu"
        assert plan["result"]["devices_used"] == len(plan["result"]["devices"])
    return plans


def _names(plan: dict[str, Any], deployables: dict[str, dict[str, Any]]) -> list[str]:
    by_uuid = {d["uuid"]: name for name, d in deployables.items()}
    for device in plan["result"]["devices"]:
        deployable = deployables[by_uuid[device["id"]]]
        assert device["deployable_uuid"] == deployable["uuid"]
        assert device["rp_uuid"] == deployable["rp_uuid"]
        assert device["host"] == HOST
    return sorted(by_uuid[device["id"]] for device in plan["result"]["devices"])


def _plan_for_latency_and_throughput(
    api: API, graph: str, deployables: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The best latency plan: both H100s, then one H100 alone; throughput pipelines."""
    constraints = {"hosts": [HOST], "device_models": [H100, T4, A100], "single_host": True}
    best, second = _plan(api, graph, objective="latency", count=2, constraints=constraints)
    assert best["request"]["constraints"] == constraints
    assert best["result"]["estimated_step_s"] <= second["result"]["estimated_step_s"]
    assert _names(best, deployables) == ["h100-0", "h100-1"]
    assert _names(second, deployables) in (["h100-0"], ["h100-1"])
    assert (best["result"]["learned_factors"], best["result"]["skipped"]) == ({}, {})
    (pipelined,) = _plan(api, graph, objective="throughput")
    assert pipelined["objective"] == "throughput"
    assert set(_names(pipelined, deployables)) <= SELECTED
    assert pipelined["result"]["devices_used"] >= 2
    assert pipelined["result"]["estimated_stage_s"] <= best["result"]["estimated_stage_s"]
    return best


def _check_claimed(api: API, plan: dict[str, Any], claimed: dict[str, Any]) -> str:
    """The consumer's ARQs bound to the planned devices, one PGPU each in Placement."""
    consumer = str(claimed["consumer_uuid"])
    assert (claimed["uuid"], claimed["state"]) == (plan["uuid"], "claimed")
    planned = sorted(device["rp_uuid"] for device in plan["result"]["devices"])
    assert len(claimed["arqs"]) == len(planned)
    arqs: list[dict[str, Any]] = []
    for _ in _poll(TIMEOUT):
        arqs = api.call("GET", f"/v2/accelerator_requests?instance={consumer}", 200)["arqs"]
        if all(arq["state"] == "Bound" for arq in arqs):
            break
    assert sorted(arq["uuid"] for arq in arqs) == sorted(claimed["arqs"])
    assert [arq["state"] for arq in arqs] == ["Bound"] * len(planned)
    assert {(arq["hostname"], arq["device_profile_name"]) for arq in arqs} == {(HOST, "dl-gpu")}
    assert sorted(arq["device_rp_uuid"] for arq in arqs) == planned
    allocations = api.placement(f"/allocations/{consumer}")
    assert allocations["consumer_type"] == "ACCELERATOR"
    held = {rp: a["resources"] for rp, a in allocations["allocations"].items()}
    assert held == {rp: {"PGPU": 1} for rp in planned}
    return consumer


def _check_second_claim(api: API, plan: dict[str, Any], consumer: str) -> None:
    """409 in upstream's envelope: a JSON string of a WSME fault, no traceback."""
    response = api.session.post(
        f"{api.root}/v2/plans/{plan['uuid']}/claim", headers=CYBORG_HEADERS, timeout=TIMEOUT
    )
    assert response.status_code == 409, response.text[:2000]
    fault = json.loads(response.json()["error_message"])
    assert fault["faultcode"] == "Client"
    assert fault["faultstring"] == f"Plan {plan['uuid']} is already claimed (by {consumer})."
    assert fault["debuginfo"] is None and "Traceback" not in response.text


def _measure(api: API, plan: dict[str, Any]) -> None:
    """Each device twice as slow as its estimate."""
    times = {d["id"]: 2000 * d["compute_s"] for d in plan["result"]["devices"]}
    step = 2000 * plan["result"]["estimated_step_s"]
    body = {"step_time_ms": step, "device_times_ms": times}
    assert api.call("POST", f"/v2/plans/{plan['uuid']}/measurements", 202, body) is None


def test_plan_claim_measure_and_release_on_the_aio(api: API) -> None:
    deployables = _wait_for_deployables(api)
    _check_inventory(api, deployables)
    profile = {"name": "dl-gpu", "groups": [{"resources:PGPU": "1", f"trait:{TRAIT}": "required"}]}
    api.call("POST", "/v2/device_profiles", 201, profile)
    graph = _upload_graph(api)
    best = _plan_for_latency_and_throughput(api, graph, deployables)

    claimed = api.call("POST", f"/v2/plans/{best['uuid']}/claim", 200)
    consumer = _check_claimed(api, best, claimed)
    held = api.placement(f"/allocations/{consumer}")["allocations"]
    _check_second_claim(api, best, consumer)
    assert api.placement(f"/allocations/{consumer}")["allocations"] == held
    assert api.call("GET", f"/v2/plans/{best['uuid']}", 200)["consumer_uuid"] == consumer

    _measure(api, best)
    (meanwhile,) = _plan(api, graph, objective="latency")  # the H100s are taken
    assert set(_names(meanwhile, deployables)) <= {"t4-0", "t4-1"}
    assert meanwhile["result"]["skipped"] == {
        "h100-0": "not free in Placement",
        "h100-1": "not free in Placement",
    }

    api.call("DELETE", f"/v2/accelerator_requests?instance={consumer}", 204)
    assert api.call("GET", f"/v2/accelerator_requests?instance={consumer}", 200)["arqs"] == []
    assert api.placement(f"/allocations/{consumer}")["allocations"] == {}
    (again,) = _plan(api, graph, objective="latency")
    assert {"h100-0", "h100-1"} <= set(_names(again, deployables))  # free again
    assert again["result"]["skipped"] == {}
    learned = again["result"]["learned_factors"]
    assert learned and all(key.endswith(f"@{H100}") for key in learned), learned
