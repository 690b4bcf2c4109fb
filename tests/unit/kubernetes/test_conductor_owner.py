"""The agent's DeviceOwner over the conductor's RPC API: what it sends, and the words
the kubelet gets for each refusal."""

import dataclasses
from collections.abc import Sequence
from typing import Any

import oslo_messaging
import pytest

from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.kubernetes import conductor_owner
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra.ownership import GpuPartition
from cyborg.kubernetes.ownership_errors import DeviceRefused

HOST = "compute-1"
GPU = PluginDevice("0000:3b:00.0", "cyborg.openstack.org/gpu", "GPU", "compute-1_GPU0")
GPU2 = PluginDevice("0000:5e:00.0", "cyborg.openstack.org/gpu", "GPU", "compute-1_GPU1")


@dataclasses.dataclass(frozen=True)
class Claim:
    namespace: str = "ml"
    name: str = "trainer-gpu"
    uid: str = "4a3b2c1d-0e9f-4a8b-9c7d-6e5f4a3b2c1d"


class Conductor:
    """Records the calls; raises ``error`` when set."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, method: str, context: RequestContext, **kwargs: Any) -> Any:
        assert isinstance(context, RequestContext)
        self.calls.append((method, kwargs))
        if self.error is not None:
            raise self.error
        return {"compute-1_GPU0": "instance"} if method == "device_holders" else None

    def claim_devices_for_pod(
        self,
        context: RequestContext,
        *,
        hostname: str,
        claim_uid: str,
        namespace: str,
        name: str,
        pci_addresses: Sequence[str],
        **partitions: Any,
    ) -> None:
        self._answer(
            "claim",
            context,
            hostname=hostname,
            claim_uid=claim_uid,
            namespace=namespace,
            name=name,
            pci_addresses=list(pci_addresses),
            **partitions,
        )

    def release_pod_claim(self, context: RequestContext, *, hostname: str, claim_uid: str) -> None:
        self._answer("release", context, hostname=hostname, claim_uid=claim_uid)

    def device_holders(self, context: RequestContext, *, hostname: str) -> dict[str, str]:
        return dict(self._answer("device_holders", context, hostname=hostname))


def test_a_claim_sends_the_claim_and_the_pci_addresses() -> None:
    conductor = Conductor()
    owner = conductor_owner.ConductorDeviceOwner(conductor, HOST)
    owner.claim(Claim(), [GPU, GPU2])
    owner.release(Claim().uid)
    assert owner.holders() == {"compute-1_GPU0": "instance"}
    assert conductor.calls == [
        (
            "claim",
            {
                "hostname": HOST,
                "claim_uid": Claim().uid,
                "namespace": "ml",
                "name": "trainer-gpu",
                "pci_addresses": ["0000:3b:00.0", "0000:5e:00.0"],
            },
        ),
        ("release", {"hostname": HOST, "claim_uid": Claim().uid}),
        ("device_holders", {"hostname": HOST}),
    ]


@pytest.mark.parametrize(
    ("error", "starts"),
    [
        (
            exception.DeviceHeldByInstance(host=HOST, address=GPU.id, instance="i-1"),
            "held by a VM: Device 0000:3b:00.0 on host compute-1 is held by a VM (instance i-1)",
        ),
        (
            exception.DeviceHeldByPod(host=HOST, address=GPU.id, claim_uid="c", pod="ml/x"),
            "held by another pod: ",
        ),
        (
            exception.NoFreeAccelerator(host=HOST, reason="Placement has no free unit"),
            "no free unit in Placement: No free accelerator on host compute-1",
        ),
        (exception.PodDeviceNotFound(host=HOST, address=GPU.id), "unknown to Cyborg"),
        (
            exception.Conflict(
                reason="claim_devices_for_pod needs cyborg-conductor with RPC API 1.6, ..."
            ),
            "the conductor is too old for pods' devices",
        ),
        (
            exception.Conflict(
                reason="claim_devices_for_pod needs cyborg-conductor with RPC API 1.7, ..."
            ),
            "the conductor is too old for MIG partitions that claims share",
        ),
        (
            exception.MigPartitionHeldByPod(
                host=HOST, address=GPU.id, profile="1g.10gb", start=3, claim_uid="c", pod="ml/x"
            ),
            "held by another pod: MIG partition 1g.10gb at 3 of GPU 0000:3b:00.0",
        ),
        (oslo_messaging.MessagingTimeout("no reply in 60s"), "conductor did not answer: "),
        (exception.ConductorUnavailable(), "conductor did not answer: "),
        (
            oslo_messaging.MessageDeliveryFailure("broker down"),
            "conductor did not answer (the message broker is unreachable)",
        ),
        (exception.Invalid(reason="namespace 'X' is not one"), "Invalid request: namespace"),
    ],
)
def test_each_refusal_has_words_the_kubelet_shows(error: Exception, starts: str) -> None:
    owner = conductor_owner.ConductorDeviceOwner(Conductor(error), HOST)
    for call in (lambda: owner.claim(Claim(), [GPU]), lambda: owner.release(Claim().uid)):
        with pytest.raises(DeviceRefused) as refused:
            call()
        assert refused.value.reason.startswith(starts), refused.value.reason
        assert str(refused.value) == refused.value.reason
        assert refused.value.__cause__ is error


def test_an_unexpected_error_is_a_refusal_with_its_message() -> None:
    owner = conductor_owner.ConductorDeviceOwner(Conductor(RuntimeError("boom")), HOST)
    with pytest.raises(DeviceRefused, match=r"^boom$"):
        owner.claim(Claim(), [GPU])


def test_partitions_go_as_themselves_sorted_and_only_when_there_are_some() -> None:
    """RPC 1.7's ``partitions`` is sent only for a claim with MIG partitions, so that a
    claim of whole devices still works against a 1.6 conductor."""
    conductor = Conductor()
    owner = conductor_owner.ConductorDeviceOwner(conductor, HOST)
    owner.claim(
        Claim(), [GPU2], [GpuPartition(GPU, "3g.40gb", 4), GpuPartition(GPU, "1g.10gb", 0)]
    )
    owner.claim(Claim(), [GPU2])
    (_, with_partitions), (_, without) = conductor.calls
    assert with_partitions["pci_addresses"] == [GPU2.id]
    assert with_partitions["partitions"] == [
        {"pci_address": GPU.id, "profile": "1g.10gb", "start": 0},
        {"pci_address": GPU.id, "profile": "3g.40gb", "start": 4},
    ]
    assert "partitions" not in without
