"""Which devices of a ResourceClaim a DRA plugin prepares (cyborg.kubernetes.dra.claims)."""

import copy
from collections.abc import Callable
from typing import Any

import pytest

from cyborg.kubernetes.dra import claims
from cyborg.kubernetes.dra.ownership import ClaimRef
from tests.kubernetes.claims import allocated_claim

GPU = "gpu.cyborg.openstack.org"
REF = ClaimRef("ns", "train", "uid-1")


def _claim(*devices: str, pool: str = "node-1") -> dict[str, Any]:
    return allocated_claim("ns", "train", "uid-1", GPU, pool, devices)


def test_devices_of_this_driver_and_pool_in_allocation_order() -> None:
    claim = _claim("pci-b", "pci-a")
    claim["status"]["allocation"]["devices"]["results"].append(
        {"request": "gpu-0", "driver": "nic.example.com", "pool": "node-1", "device": "eth0"}
    )
    assert claims.allocated_devices(claim, REF, GPU, "node-1") == (
        claims.AllocatedDevice("pci-b", "node-1", ("gpu-0",)),
        claims.AllocatedDevice("pci-a", "node-1", ("gpu-1",)),
    )


def test_a_device_serving_two_requests_is_listed_once_with_both() -> None:
    claim = _claim("pci-a", "pci-a")  # e.g. admin access, or shared devices
    (device,) = claims.allocated_devices(claim, REF, GPU, "node-1")
    assert device.request_names == ("gpu-0", "gpu-1")


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda c: c["metadata"].update(uid="uid-2"), "has uid uid-2, not uid-1"),
        (lambda c: c.pop("status"), "is not allocated"),
        (lambda c: c["status"].pop("allocation"), "is not allocated"),
        (lambda c: c["status"]["allocation"]["devices"].update(results=[]), "no device of"),
        (lambda c: c["status"]["allocation"]["devices"].update(results="x"), "malformed"),
        (lambda c: c["status"]["allocation"]["devices"]["results"][0].pop("device"),
         "a result without device"),
        (lambda c: c["status"]["allocation"]["devices"]["results"][0].update(pool="node-9"),
         "in pool node-9, not in this node's pool node-1"),
    ],
)  # fmt: skip
def test_claims_that_cannot_be_prepared_here_say_why(
    change: Callable[[dict[str, Any]], object], reason: str
) -> None:
    claim = copy.deepcopy(_claim("pci-a"))
    change(claim)
    with pytest.raises(claims.ClaimUnusable, match=reason):
        claims.allocated_devices(claim, REF, GPU, "node-1")


def test_without_an_api_client_every_claim_is_not_found() -> None:
    with pytest.raises(claims.ClaimNotFound, match="no Kubernetes API client"):
        claims.NoClaimSource().get("ns", "train")
