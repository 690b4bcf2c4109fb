"""The device plugins' claims (cyborg.kubernetes.device_plugin_claims) when the owner
fails: what stays claimed is released at a later observation, never forgotten.

The real conductor is in tests/functional/test_device_plugin_ownership.py; here the
owner is a small class of the Owner protocol that fails on request.
"""

from collections.abc import Sequence

import pytest

from cyborg.kubernetes import device_plugin_claims
from cyborg.kubernetes.device_plugin_claims import PluginClaimRef, PluginClaims
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.ownership_errors import DeviceRefused

GPU = "cyborg.openstack.org/gpu"
A = PluginDevice("0000:3b:00.0", GPU, "GPU", "dep-a")
B = PluginDevice("0000:5e:00.0", GPU, "GPU", "dep-b")


class FlakyOwner:
    """Holds {uid: (namespace, name)}; refuses ``refuse`` addresses, fails releases
    while ``releases_fail``."""

    def __init__(self) -> None:
        self.held: dict[str, tuple[str, str]] = {}
        self.refuse: set[str] = set()
        self.releases_fail = False

    def claim(self, claim: PluginClaimRef, devices: Sequence[PluginDevice]) -> None:
        if any(d.id in self.refuse for d in devices):
            raise DeviceRefused("held by a VM: vm-1")
        self.held[claim.uid] = (claim.namespace, claim.name)

    def release(self, claim_uid: str) -> None:
        if self.releases_fail:
            raise DeviceRefused("conductor did not answer")
        self.held.pop(claim_uid, None)


def uid(device: PluginDevice) -> str:
    return device_plugin_claims.consumer_uid("node-1", GPU, device.id)


def test_a_failed_give_back_is_released_by_later_observations() -> None:
    owner = FlakyOwner()
    claims = PluginClaims(owner, "node-1", release_after=2)
    owner.refuse, owner.releases_fail = {B.id}, True
    with pytest.raises(DeviceRefused, match=r"^device 0000:5e:00.0: held by a VM"):
        claims.claim(GPU, [A, B])
    assert owner.held == {uid(A): ("cyborg-device-plugin", "gpu-0000-3b-00-0")}
    owner.releases_fail = False
    claims.observe({})
    assert uid(A) in owner.held
    claims.observe({})
    assert owner.held == {}


def test_a_failed_release_is_tried_again_and_a_listed_pod_is_named() -> None:
    owner = FlakyOwner()
    claims = PluginClaims(owner, "node-1", release_after=2)
    claims.claim(GPU, [A])
    claims.observe({(GPU, A.id): ("ml", "trainer")})
    assert owner.held == {uid(A): ("ml", "trainer")}
    owner.releases_fail = True
    for _ in range(3):
        claims.observe({})
    assert uid(A) in owner.held
    owner.releases_fail = False
    claims.observe({})
    assert owner.held == {}


def test_the_consumer_is_one_per_node_resource_and_device() -> None:
    first = device_plugin_claims.consumer_uid("node-1", GPU, A.id)
    assert first == device_plugin_claims.consumer_uid("node-1", GPU, A.id)
    assert first != device_plugin_claims.consumer_uid("node-2", GPU, A.id)
    assert first != device_plugin_claims.consumer_uid("node-1", GPU, B.id)
    with pytest.raises(ValueError, match="at least 2"):
        PluginClaims(FlakyOwner(), "node-1", release_after=1)
