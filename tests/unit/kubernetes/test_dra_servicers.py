"""What the DRA plugin's gRPC services answer (cyborg.kubernetes.dra.servicers), called
directly: the registration info, and a claim's failure that never leaves the call."""

import pathlib

from cyborg.kubernetes.dra import servicers
from cyborg.kubernetes.dra.checkpoint import Checkpoint, PreparedClaim
from cyborg.kubernetes.dra.claims import NoClaimSource
from cyborg.kubernetes.dra.driver_devices import DriverDevices
from cyborg.kubernetes.dra.ownership import ClaimRef, LocalOwner
from cyborg.kubernetes.dra.preparer import Preparer, PrepareSettings
from cyborg.kubernetes.stubs import dra, registration

GPU = "gpu.cyborg.openstack.org"


class BrokenPreparer(Preparer):
    """A preparer with a bug: what reaches the kubelet is the claim's error."""

    def prepare(self, ref: ClaimRef) -> PreparedClaim:
        raise KeyError("a bug")


def _servicer(tmp_path: pathlib.Path, kind: type[Preparer] = Preparer) -> servicers.DRAServicer:
    checkpoint = Checkpoint(str(tmp_path / "checkpoint.json"), GPU)
    preparer = kind(PrepareSettings(GPU, "node-1", str(tmp_path / "cdi")), DriverDevices(),
                    NoClaimSource(), LocalOwner(GPU, checkpoint), checkpoint)  # fmt: skip
    return servicers.DRAServicer(GPU, preparer)


def _prepare(servicer: servicers.DRAServicer, *claims: tuple[str, str, str]) -> dict[str, str]:
    request = dra.NodePrepareResourcesRequest(
        claims=[dra.Claim(namespace=n, name=m, uid=u) for n, m, u in claims]
    )
    answer = servicer.NodePrepareResources(request, None)
    return {uid: a.error for uid, a in answer.claims.items()}


def test_get_info_names_the_driver_endpoint_and_both_services() -> None:
    info = servicers.RegistrationServicer(GPU, "/p/gpu/dra.sock").GetInfo(
        registration.InfoRequest(), None
    )
    assert (info.type, info.name, info.endpoint) == ("DRAPlugin", GPU, "/p/gpu/dra.sock")
    assert list(info.supported_versions) == ["v1.DRAPlugin", "v1beta1.DRAPlugin"]


def test_notify_registration_status_tracks_the_kubelets_answer() -> None:
    servicer = servicers.RegistrationServicer(GPU, "/p/gpu/dra.sock")
    servicer.NotifyRegistrationStatus(
        registration.RegistrationStatus(plugin_registered=True), None
    )
    assert servicer.registered.is_set()
    refused = registration.RegistrationStatus(plugin_registered=False, error="bad name")
    servicer.NotifyRegistrationStatus(refused, None)
    assert not servicer.registered.is_set()


def test_a_bug_fails_only_the_claim_and_without_a_client_claims_fail(
    tmp_path: pathlib.Path,
) -> None:
    errors = _prepare(_servicer(tmp_path, BrokenPreparer), ("ns", "c", "u1"))
    assert errors == {"u1": "internal error: KeyError('a bug')"}
    errors = _prepare(_servicer(tmp_path), ("ns", "c", "u1"), ("ns", "nouid", ""))
    assert "no Kubernetes API client configured to read ResourceClaim ns/c" in errors["u1"]
    assert errors[""] == "claim ns/nouid has no uid"


def test_unprepare_of_unknown_claims_succeeds(tmp_path: pathlib.Path) -> None:
    request = dra.NodeUnprepareResourcesRequest(claims=[dra.Claim(namespace="n", name="c",
                                                                  uid="u1")])  # fmt: skip
    answer = _servicer(tmp_path).NodeUnprepareResources(request, None)
    assert {u: a.error for u, a in answer.claims.items()} == {"u1": ""}
