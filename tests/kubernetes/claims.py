"""ResourceClaims as the API server holds them once the scheduler allocated them.

``allocated_claim`` builds a resource.k8s.io/v1 ResourceClaim with one request per
device (``gpu-0``, ``gpu-1``, ...) and the allocation results the scheduler writes,
and checks it against the strict schemas of every supported release
(tests.kubernetes.schemas), so the plugin is only ever tested on real objects.
``Claims`` is the ClaimSource a test hands the plugin.
"""

import copy
import threading
from collections.abc import Sequence
from typing import Any

from cyborg.kubernetes.dra.claims import ClaimNotFound
from tests.kubernetes import schemas


def allocated_claim(
    namespace: str,
    name: str,
    uid: str,
    driver: str,
    node: str,
    device_names: Sequence[str],
    device_class: str = "gpu.cyborg.openstack.org",
) -> dict[str, Any]:
    requests = [f"gpu-{i}" for i in range(len(device_names))]
    claim = {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"namespace": namespace, "name": name, "uid": uid},
        "spec": {
            "devices": {
                "requests": [
                    {"name": r, "exactly": {"deviceClassName": device_class, "count": 1}}
                    for r in requests
                ]
            }
        },
        "status": {
            "allocation": {
                "devices": {
                    "results": [
                        {"request": r, "driver": driver, "pool": node, "device": d}
                        for r, d in zip(requests, device_names, strict=True)
                    ]
                },
                "nodeSelector": {
                    "nodeSelectorTerms": [
                        {"matchFields": [
                            {"key": "metadata.name", "operator": "In", "values": [node]}
                        ]}
                    ]
                },
            },
            "reservedFor": [{"resource": "pods", "name": f"{name}-pod", "uid": f"{uid}-pod"}],
        },
    }  # fmt: skip
    schemas.validate(claim)
    return claim


class Claims:
    """A ClaimSource over a dictionary; ``failure`` makes every read fail (an API outage)."""

    def __init__(self, *claims: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.reads = 0
        self.failure: Exception | None = None
        for claim in claims:
            self.put(claim)

    def put(self, claim: dict[str, Any]) -> None:
        schemas.validate(claim)
        metadata = claim["metadata"]
        with self._lock:
            self._claims[metadata["namespace"], metadata["name"]] = copy.deepcopy(claim)

    def delete(self, namespace: str, name: str) -> None:
        with self._lock:
            self._claims.pop((namespace, name), None)

    def get(self, namespace: str, name: str) -> dict[str, Any]:
        with self._lock:
            self.reads += 1
            if self.failure is not None:
                raise self.failure
            claim = self._claims.get((namespace, name))
        if claim is None:
            raise ClaimNotFound(f"resourceclaims {namespace}/{name} not found")
        return copy.deepcopy(claim)
