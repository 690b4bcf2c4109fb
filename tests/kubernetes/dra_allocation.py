"""Sample ResourceSlices of Cyborg's drivers, and what the scheduler may allocate.

``slice_device`` builds a device as the slice builder publishes it, with the names of
cyborg.kubernetes.dra_names. ``allocations`` is the structured-parameters allocator's
rule, by brute force on a few devices: each request's devices pass its class's and
its own CEL selectors (evaluated by cel-python, schemas.cel_matches), no device twice,
every matchAttribute constraint holds, and of a prioritized list the first
subrequests that can be satisfied win.
"""

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cyborg.kubernetes import dra_names
from tests.kubernetes import schemas

DOMAIN = "cyborg.openstack.org"
Device = tuple[str, dict[str, Any]]  # (driver, device of its slice)
Allocation = frozenset[tuple[str, str]]  # {(request or request/subrequest, device name)}


def slice_device(
    pci_address: str,
    model: str,
    *,
    device_type: str = "GPU",
    numa_node: int | None = 0,
    pcie_root: str | None = None,
    uuid: str | None = None,
    deployable: str | None = None,
    memory: str = "80Gi",
) -> Device:
    attributes: dict[str, dict[str, Any]] = {
        dra_names.PCI_BUS_ID: {"string": pci_address},
        dra_names.PCIE_ROOT: {"string": pcie_root or dra_names.pcie_root(pci_address)},
        dra_names.MODEL: {"string": model},
        dra_names.DEVICE_TYPE: {"string": device_type},
        dra_names.VENDOR: {"string": "10de" if device_type == "GPU" else "8086"},
        dra_names.DEPLOYABLE: {"string": deployable or f"node1_{pci_address}"},
        dra_names.DRIVER_VERSION: {"version": "550.54.15"},
    }
    if numa_node is not None:
        attributes[dra_names.NUMA_NODE] = {"int": numa_node}
    if uuid is not None:
        attributes[dra_names.UUID] = {"string": uuid}
    device = {
        "name": dra_names.device_name(pci_address),
        "attributes": attributes,
        "capacity": {dra_names.MEMORY: {"value": memory}},
    }
    return dra_names.driver_name(DOMAIN, device_type), device


def resource_slices(node: str, devices: Sequence[Device]) -> list[dict[str, Any]]:
    """The devices as the ResourceSlices of one node, one per driver."""
    by_driver: dict[str, list[dict[str, Any]]] = {}
    for driver, device in devices:
        by_driver.setdefault(driver, []).append(device)
    return [
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": f"{node}-{driver}"},
            "spec": {
                "driver": driver,
                "nodeName": node,
                "pool": {"name": node, "generation": 1, "resourceSliceCount": 1},
                "devices": listed,
            },
        }
        for driver, listed in by_driver.items()
    ]


def _selected(selectors: Sequence[Mapping[str, Any]], device: Device) -> bool:
    return all(schemas.cel_matches(s["cel"]["expression"], *device) for s in selectors)


def _candidates(
    request: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]], devices: Sequence[Device]
) -> list[Device]:
    device_class = classes[request["deviceClassName"]]
    selectors = [*device_class["spec"].get("selectors", []), *request.get("selectors", [])]
    return [device for device in devices if _selected(selectors, device)]


def _attribute(device: Device, qualified: str) -> Any:
    driver, body = device
    domain, _, short = qualified.rpartition("/")
    value = body["attributes"].get(short if domain == driver else qualified)
    return None if value is None else next(iter(value.values()))


def _constraints_hold(
    chosen: Mapping[str, Sequence[Device]], constraints: Sequence[Mapping[str, Any]]
) -> bool:
    for constraint in constraints:
        names = constraint.get("requests")
        picked = [
            device
            for key, found in chosen.items()
            if names is None or key in names or key.split("/")[0] in names
            for device in found
        ]
        values = [_attribute(device, constraint["matchAttribute"]) for device in picked]
        if None in values or len(set(values)) > 1:
            return False
    return True


def _assignments(
    wanted: Sequence[tuple[str, list[Device], int]], taken: frozenset[str]
) -> Iterator[dict[str, list[Device]]]:
    if not wanted:
        yield {}
        return
    (key, candidates, count), rest = wanted[0], wanted[1:]
    free = [d for d in candidates if f"{d[0]}/{d[1]['name']}" not in taken]
    for combo in itertools.combinations(free, count):
        ids = frozenset(f"{d[0]}/{d[1]['name']}" for d in combo)
        for others in _assignments(rest, taken | ids):
            yield {key: list(combo), **others}


def allocations(
    claim_spec: Mapping[str, Any],
    classes: Mapping[str, Mapping[str, Any]],
    devices: Sequence[Device],
) -> set[Allocation]:
    """Every allocation of a claim's ``spec`` the allocator may pick among ``devices``."""
    spec = claim_spec["devices"]
    options = []  # per request: its (key, exact request) choices, best first
    for request in spec["requests"]:
        if "exactly" in request:
            options.append([(request["name"], request["exactly"])])
        else:
            options.append(
                [(f"{request['name']}/{sub['name']}", sub) for sub in request["firstAvailable"]]
            )
    for choice in itertools.product(*options):  # lexicographic: the preferred first
        wanted = [(key, _candidates(exact, classes, devices), exact.get("count", 1))
                  for key, exact in choice]  # fmt: skip
        found = {
            frozenset((key, d[1]["name"]) for key, listed in assignment.items() for d in listed)
            for assignment in _assignments(wanted, frozenset())
            if _constraints_hold(assignment, spec.get("constraints", []))
        }
        if found:
            return found
    return set()
