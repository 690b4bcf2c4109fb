"""FPGA programming on cyborg-aio (issue #16.1): the agent serves its RPC topic.

The all-in-one's simulated host holds a simulated Intel PAC (cyborg.drivers.simulated_pac)
and offers two bitstreams in its embedded Image API. Programming one through the API
runs the Intel driver's fpgaconf command on the simulated card, which loads the
bitstream's AFU into the card's sysfs: the deployable's function trait moves, in the
database and Placement, and the agent's next report agrees. A bind of a device profile
that asks for the other bitstream programs it first and ends Bound. Before the agent
served RPC, both waited for the RPC timeout (100 s) and failed (503, BindFailed).
"""

import json
import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cyborg.cmd import aio_fpga
from cyborg.drivers import simulated_pac
from tests.functional import services
from tests.functional.test_aio import _start, _stop, _wait_ready

HOST = "aio-fpga-host"
DEPLOYABLE = f"{HOST}_{simulated_pac.ADDRESS}"
NLB0, NLB3 = aio_fpga.BITSTREAMS
PLACEMENT_HEADERS = {"x-auth-token": "admin", "openstack-api-version": "placement 1.39"}
TIMEOUT = 30
# Longer than the conductor's wait for an agent that does not answer (100 s): a bind that
# waited for it would end BindFailed inside this deadline, never Bound.
BIND_DEADLINE = 300


def _trait(bitstream: aio_fpga.Bitstream) -> str:
    return "CUSTOM_FPGA_FUNCTION_ID_INTEL_" + bitstream.afu_uuid.replace("-", "").upper()


class AIO:
    def __init__(self, port: int, state: pathlib.Path) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.state = state

    def call(self, method: str, path: str, status: int, body: Any = None) -> Any:
        response = requests.request(method, self.root + path, json=body, timeout=TIMEOUT * 4)
        assert response.status_code == status, f"{method} {path}: {response.text[:2000]}"
        return response.json() if response.content else None

    def traits(self, rp_uuid: str) -> set[str]:
        response = requests.get(
            f"{self.root}/placement/resource_providers/{rp_uuid}/traits",
            headers=PLACEMENT_HEADERS,
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return set(response.json()["traits"])

    def afu_id(self) -> str:
        card = simulated_pac.function_dir(str(self.state / "simulated-fpga"))
        return (pathlib.Path(card) / simulated_pac.PORT_AFU_ID).read_text().strip()


@pytest.fixture
def aio(tmp_path: pathlib.Path) -> Iterator[AIO]:
    config = tmp_path / "cyborg.conf"
    config.write_text(
        f"[agent]\nresource_provider_name = {HOST}\nreport_interval = 2\n"
        # An empty tree: no real driver finds the machine's own accelerators.
        f"sysfs_root = {tmp_path / 'sysfs'}\n"
    )
    (tmp_path / "sysfs").mkdir()
    port, log_path = services.free_port(), str(tmp_path / "aio.log")
    state = tmp_path / "state"
    process = _start(str(state), port, log_path, "--config-file", str(config))
    try:
        _wait_ready(log_path, process)
        yield AIO(port, state)
    finally:
        _stop(process)


def _wait(what: str, check: Any, seconds: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + seconds
    value = None
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"{what}: last {value!r}", pytrace=False)


def _deployable(aio: AIO) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for deployable in aio.call("GET", "/v2/deployables", 200)["deployables"]:
            if deployable["name"] == DEPLOYABLE and deployable["rp_uuid"]:
                return deployable
        return None

    return _wait("the simulated FPGA in the inventory and Placement", found)


def _attributes(deployable: dict[str, Any]) -> dict[str, str]:
    return {k: v for item in json.loads(deployable["attributes_list"]) for k, v in item.items()}


def _program(aio: AIO, uuid: str, bitstream: aio_fpga.Bitstream, status: int) -> Any:
    body = [{"op": "replace", "path": "/program", "value": [{"image_uuid": bitstream.image_uuid}]}]
    return aio.call("PATCH", f"/v2/deployables/{uuid}/program", status, body)


def _bind(aio: AIO, rp_uuid: str) -> dict[str, Any]:
    """An ARQ of a profile that asks for nlb0, bound to the card as Nova would; once it
    has left BindStarted."""
    group = {"resources:FPGA": "1", "accel:bitstream_id": NLB0.image_uuid}
    aio.call("POST", "/v2/device_profiles", 201, [{"name": "nlb0", "groups": [group]}])
    (arq,) = aio.call("POST", "/v2/accelerator_requests", 201, {"device_profile_name": "nlb0"})[
        "arqs"
    ]
    patch = {
        arq["uuid"]: [
            {"path": "/hostname", "op": "add", "value": HOST},
            {"path": "/device_rp_uuid", "op": "add", "value": rp_uuid},
            {
                "path": "/instance_uuid",
                "op": "add",
                "value": "7a3c9e2b-1d4f-4b6a-8c5e-2f9d0b1a3c4e",
            },
        ]
    }
    aio.call("PATCH", "/v2/accelerator_requests", 202, patch)

    def settled() -> dict[str, Any] | None:
        shown: dict[str, Any] = aio.call("GET", f"/v2/accelerator_requests/{arq['uuid']}", 200)
        return None if shown["state"] == "BindStarted" else shown

    return _wait("the bind", settled, BIND_DEADLINE)


def test_program_and_bind_on_the_simulated_fpga(aio: AIO) -> None:
    deployable = _deployable(aio)
    uuid, rp_uuid = deployable["uuid"], deployable["rp_uuid"]
    assert _attributes(deployable)["function_id"] == NLB0.afu_uuid.replace("-", "").upper()
    assert _trait(NLB0) in aio.traits(rp_uuid)

    programmed = _program(aio, uuid, NLB3, 200)
    assert programmed["bitstream_id"] == NLB3.image_uuid
    # The simulated fpgaconf loaded nlb3's AFU; the conductor moved the trait at once.
    assert aio.afu_id() == NLB3.afu_uuid.replace("-", "")
    traits = aio.traits(rp_uuid)
    assert _trait(NLB3) in traits and _trait(NLB0) not in traits
    assert "CUSTOM_FPGA_INTEL_PAC_ARRIA10" in traits  # the other traits are kept
    # And in the database, where the agent's reports (one follows the programming) agree.
    reported = _attributes(aio.call("GET", f"/v2/deployables/{uuid}", 200))
    assert reported["function_id"] == NLB3.afu_uuid.replace("-", "").upper()

    # An image the embedded Image API does not have: a 400 that says so, nothing moves.
    body: Any = [
        {
            "op": "replace",
            "path": "/program",
            "value": [{"image_uuid": "0f0e0d0c-0b0a-4908-8706-050403020100"}],
        }
    ]
    refused = requests.patch(f"{aio.root}/v2/deployables/{uuid}/program", json=body, timeout=120)
    assert refused.status_code == 400 and "was not found" in refused.text, refused.text
    assert aio.afu_id() == NLB3.afu_uuid.replace("-", "")

    bound = _bind(aio, rp_uuid)
    assert bound["state"] == "Bound", bound
    assert aio.afu_id() == NLB0.afu_uuid.replace("-", "")
    assert aio.call("GET", f"/v2/deployables/{uuid}", 200)["bitstream_id"] == NLB0.image_uuid
    traits = aio.traits(rp_uuid)
    assert _trait(NLB0) in traits and _trait(NLB3) not in traits
    # Bound: reprogramming would change the function under the instance.
    _program(aio, uuid, NLB3, 409)
