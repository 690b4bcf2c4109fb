"""Kubernetes' published schemas and CEL, for the stand-ins and manifest checks.

``validate`` checks an object against the strict OpenAPI-derived JSON schemas of
every Kubernetes release Cyborg supports (1.34 to 1.37, as the kubernetes-validate
package ships them): strict means an unknown field is an error, as the API server's
strict field validation makes it. ``cel_matches`` evaluates a device selector's CEL
expression against one device of a ResourceSlice, the way the scheduler does.
"""

from collections.abc import Iterable, Mapping
from typing import Any

import celpy
import kubernetes_validate

#: The releases whose resource.k8s.io/v1 Cyborg targets (v1 is GA from 1.34).
VERSIONS = ("1.34.0", "1.35.0", "1.36.0", "1.37.0")


class Invalid(Exception):
    """An object the API server of some supported release would refuse."""


def validate(document: Mapping[str, Any], versions: Iterable[str] = VERSIONS) -> None:
    """Raise Invalid unless every release in ``versions`` accepts ``document``."""
    for version in versions:
        try:
            kubernetes_validate.validate(dict(document), version, strict=True)
        except kubernetes_validate.ValidationError as err:
            kind = document.get("kind", "?")
            name = document.get("metadata", {}).get("name", "?")
            raise Invalid(f"{kind} {name} is invalid in Kubernetes {version}: {err.message} "
                          f"at {'/'.join(map(str, err.path))}") from err  # fmt: skip


def _cel_device(driver: str, device: Mapping[str, Any]) -> dict[str, Any]:
    """The ``device`` variable CEL sees: attributes and capacity by qualified domain,
    each value as its typed field says (a quantity stays its string)."""
    attributes: dict[str, dict[str, Any]] = {}
    for name, value in device.get("attributes", {}).items():
        domain, _, short = name.rpartition("/")
        (typed,) = value.values()  # one of int, bool, string, version
        attributes.setdefault(domain or driver, {})[short] = typed
    capacity: dict[str, dict[str, Any]] = {}
    for name, value in device.get("capacity", {}).items():
        domain, _, short = name.rpartition("/")
        capacity.setdefault(domain or driver, {})[short] = value["value"]
    return {"driver": driver, "attributes": attributes, "capacity": capacity,
            "allowMultipleAllocations": bool(device.get("allowMultipleAllocations"))}  # fmt: skip


def cel_matches(expression: str, driver: str, device: Mapping[str, Any]) -> bool:
    """Whether a selector's CEL ``expression`` selects ``device`` of ``driver``'s
    slice. Quantities compare as strings here: cel-python has no quantity()."""
    environment = celpy.Environment()
    program = environment.program(environment.compile(expression))
    activation = {"device": celpy.json_to_cel(_cel_device(driver, device))}
    result = program.evaluate(activation)
    if isinstance(result, Exception):
        raise result
    return bool(result)
