"""cyborg-plan's Kubernetes output: its options, reading a plan, rendering claims."""

import argparse
from typing import Any

from cyborg.kubernetes import claims
from cyborg.scheduler import json_input
from cyborg.scheduler.device_json import DEVICES_SCHEMA

OUTPUTS = ("plan", "resourceclaim", "resourceclaimtemplate")
#: A plan as ``cyborg-plan`` prints it, or a stored plan as the API shows it: only
#: what a claim reads is checked.
_DEVICES = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "required": ["id", "model", "host"],
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "model": {"type": "string", "minLength": 1},
            "host": {"type": "string", "minLength": 1},
            "device_type": {"type": "string", "minLength": 1},
            "numa_node": {"type": ["integer", "null"], "minimum": 0},
            "deployable_name": {"type": "string"},
        },
    },
}
PLAN_SCHEMA = {
    "type": "object",
    "oneOf": [
        {"required": ["devices"], "properties": {"devices": _DEVICES}},
        {
            "required": ["uuid", "result"],
            "properties": {
                "uuid": {"type": "string", "minLength": 1},
                "result": {
                    "type": "object",
                    "required": ["devices"],
                    "properties": {"devices": _DEVICES},
                },
            },
        },
    ],
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Kubernetes claims")
    group.add_argument("--output", choices=OUTPUTS, default="plan")
    group.add_argument(
        "--format", choices=("json", "yaml"), help="json for a plan, yaml for claims by default"
    )
    group.add_argument(
        "--plan", metavar="FILE", help="render this plan (stored, or cyborg-plan's JSON)"
    )
    group.add_argument("--claim-name", metavar="NAME", help="the claims' name (the graph's)")
    group.add_argument("--namespace", metavar="NS")
    group.add_argument(
        "--domain", default="cyborg.openstack.org", help="[kubernetes] resource_domain"
    )
    group.add_argument(
        "--pin", action="store_true", help="select the planned devices themselves, not their model"
    )
    group.add_argument(
        "--alternative",
        action="append",
        default=[],
        metavar="MODEL=OTHER[,OTHER]",
        help="a model's replacements, best first (a prioritized list); repeatable",
    )
    group.add_argument(
        "--no-prioritized-list",
        dest="prioritized",
        action="store_false",
        help="alternatives as one request for any of the models (no firstAvailable)",
    )
    group.add_argument(
        "--no-locality",
        dest="locality",
        action="store_false",
        help="no matchAttribute constraints on PCIe root and NUMA node",
    )


def read_plan(path: str) -> dict[str, Any]:
    """A plan document from ``path``, checked enough to build claims."""
    document = json_input.read_json(path, "plan")
    json_input.validate(document, PLAN_SCHEMA, f"plan {path}")
    return dict(document)


def alternatives(values: list[str]) -> dict[str, list[str]]:
    """``MODEL=OTHER,OTHER`` arguments as {model: [others]}."""
    found: dict[str, list[str]] = {}
    for value in values:
        model, sep, others = value.partition("=")
        listed = [m.strip() for m in others.split(",") if m.strip()]
        if not sep or not model.strip() or not listed:
            raise json_input.InputFormatError(
                f"--alternative {value!r}: give MODEL=OTHER[,OTHER...]"
            )
        found.setdefault(model.strip(), []).extend(listed)
    return found


def _entries(path: str | None) -> list[dict[str, Any]]:
    if path is None:
        return []
    document = json_input.read_json(path, "devices")
    json_input.validate(document, DEVICES_SCHEMA, f"devices {path}")
    return list(document["devices"])


def render(plan: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The claims of ``plan``: one object, or a v1 List of one per host."""
    stored = "result" in plan and "uuid" in plan
    result = plan["result"] if stored else plan
    devices = claims.planned_devices(
        result, _entries(args.devices), alternatives(args.alternative)
    )
    options = claims.ClaimOptions(
        domain=args.domain,
        pin=args.pin,
        prioritized=args.prioritized,
        locality=args.locality,
        template=args.output == "resourceclaimtemplate",
        namespace=args.namespace,
        plan_uuid=plan["uuid"] if stored else None,
    )
    name = args.claim_name or result.get("graph") or "cyborg-plan"
    found = claims.claims(name, devices, options)
    if len(found) == 1:
        return found[0]
    return {"apiVersion": "v1", "kind": "List", "items": found}
