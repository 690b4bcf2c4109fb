"""The opaque configuration a ResourceClaim (or its DeviceClass) gives Cyborg's DRA drivers.

Each driver accepts one kind, of apiVersion ``<driver>/v1alpha1``::

    opaque:
      driver: gpu.cyborg.openstack.org
      parameters:
        apiVersion: gpu.cyborg.openstack.org/v1alpha1
        kind: GPUConfig
        env:
          NCCL_P2P_LEVEL: NVL

===========  ================  =======================================================
driver       kind              fields
===========  ================  =======================================================
``gpu``      ``GPUConfig``     ``env``
``nvme``     ``NVMeConfig``    ``env``; ``namespaces``: the namespace ids whose block
                               devices (``/dev/nvmeXnY``) the container gets (default:
                               all of the controller's)
``fpga``     ``FPGAConfig``    ``bitstream`` (cyborg.kubernetes.fpga_bitstreams)
others       ``DeviceConfig``  ``env``
===========  ================  =======================================================

``env`` is extra environment for the containers given the device, in the device's
CDI edits. Anything else for our driver (another apiVersion or kind, an unknown
field, a bad value) fails the claim's prepare with the reason: a typo must not start
a pod without what it asked for. A configuration for another driver is not ours and
is skipped, as the DRA API says.

The allocation carries the class's configurations, then the claim's, each for some
of the claim's requests (all when it names none); for each device they are applied
in that order: ``env`` is merged (a later value wins), ``namespaces`` replaced.
"""

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

VERSION = "v1alpha1"
FPGA_KIND = "FPGAConfig"
#: The kind each driver (by the first label of its name) accepts.
KINDS: Mapping[str, str] = {"gpu": "GPUConfig", "nvme": "NVMeConfig", "fpga": FPGA_KIND}
OTHER_KIND = "DeviceConfig"
_FIELDS: Mapping[str, frozenset[str]] = {
    "GPUConfig": frozenset({"env"}),
    "NVMeConfig": frozenset({"env", "namespaces"}),
    OTHER_KIND: frozenset({"env"}),
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_PREFIX = "CYBORG_"  # the plugin's own variables (CYBORG_PCI_<address>)
MAX_ENV = 64
MAX_ENV_VALUE = 4096
_NVME_NAMESPACE = re.compile(r"^/dev/nvme\d+n(\d+)$")


class InvalidConfig(Exception):
    """A configuration for our driver that it cannot follow (the prepare fails)."""


@dataclasses.dataclass(frozen=True)
class DeviceConfig:
    env: tuple[tuple[str, str], ...] = ()
    namespaces: tuple[int, ...] | None = None  # NVMe: None is all of them

    def then(self, later: "DeviceConfig") -> "DeviceConfig":
        """This configuration with ``later`` applied after it."""
        env = dict(self.env)
        env.update(later.env)
        namespaces = later.namespaces if later.namespaces is not None else self.namespaces
        return DeviceConfig(tuple(env.items()), namespaces)


def api_version(driver: str) -> str:
    return f"{driver}/{VERSION}"


def kind_of(driver: str) -> str:
    return KINDS.get(driver.split(".", 1)[0], OTHER_KIND)


def ordered(claim: Mapping[str, Any], driver: str) -> list[Mapping[str, Any]]:
    """The allocation's configurations for ``driver``: the class's, then the claim's."""
    allocation = (claim.get("status") or {}).get("allocation") or {}
    configs = [
        c
        for c in (allocation.get("devices") or {}).get("config") or []
        if isinstance(c, Mapping) and (c.get("opaque") or {}).get("driver") == driver
    ]
    return sorted(configs, key=lambda c: 0 if c.get("source") == "FromClass" else 1)


def applies(config_requests: Sequence[str], request: str) -> bool:
    """A configuration for request ``r`` covers its subrequests ``r/<sub>`` too."""
    return not config_requests or any(
        request == name or request.startswith(name + "/") for name in config_requests
    )


def parse(driver: str, parameters: Any) -> DeviceConfig:
    """One configuration of ``driver``; the FPGA driver's bitstream is parsed by
    cyborg.kubernetes.fpga_bitstreams and is no DeviceConfig field."""
    if not isinstance(parameters, Mapping):
        raise InvalidConfig("the opaque parameters are not an object")
    kind = kind_of(driver)
    if (parameters.get("apiVersion"), parameters.get("kind")) != (api_version(driver), kind):
        raise InvalidConfig(f"{driver} takes apiVersion {api_version(driver)}, kind {kind}; "
                            f"not {parameters.get('apiVersion')}, "
                            f"{parameters.get('kind')}")  # fmt: skip
    if kind == FPGA_KIND:
        return DeviceConfig()
    unknown = sorted(set(parameters) - {"apiVersion", "kind"} - _FIELDS[kind])
    if unknown:
        raise InvalidConfig(f"unknown {kind} fields: {', '.join(unknown)}")
    namespaces = None
    if "namespaces" in parameters:
        namespaces = _namespaces(parameters["namespaces"])
    return DeviceConfig(_env(parameters.get("env", {})), namespaces)


def _env(env: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(env, Mapping):
        raise InvalidConfig("env must be an object of variable names and string values")
    if len(env) > MAX_ENV:
        raise InvalidConfig(f"env has {len(env)} variables; at most {MAX_ENV}")
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise InvalidConfig(f"env: {name!r} is not a variable name")
        if name.upper().startswith(_RESERVED_PREFIX):
            raise InvalidConfig(f"env: {name} is reserved (names starting {_RESERVED_PREFIX})")
        if not isinstance(value, str) or len(value) > MAX_ENV_VALUE or "\0" in value:
            raise InvalidConfig(f"env: the value of {name} must be a string of at most "
                                f"{MAX_ENV_VALUE} characters")  # fmt: skip
    return tuple(sorted(env.items()))


def _namespaces(value: Any) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value)
        or len(set(value)) != len(value)
    ):
        raise InvalidConfig("namespaces must be a list of distinct namespace ids (1, 2, ...)")
    return tuple(value)


def by_request(
    claim: Mapping[str, Any], driver: str, requests: Iterable[str]
) -> dict[str, DeviceConfig]:
    """{request: its configuration} for the allocated ``requests`` some config covers;
    raises InvalidConfig for the first configuration of ours that is wrong."""
    configs = [(c.get("requests") or [], parse(driver, c["opaque"].get("parameters")))
               for c in ordered(claim, driver)]  # fmt: skip
    found: dict[str, DeviceConfig] = {}
    for request in requests:
        for names, config in configs:
            if applies(names, request):
                found[request] = found.get(request, DeviceConfig()).then(config)
    return found


@dataclasses.dataclass(frozen=True)
class Edits:
    """What a configuration changes in a device's CDI edits."""

    nodes: tuple[str, ...]
    env: tuple[str, ...]  # NAME=value


def apply(config: DeviceConfig, device_id: str, nodes: Sequence[str]) -> Edits:
    """The device's nodes and extra environment under ``config``; InvalidConfig when
    it names NVMe namespaces the device does not have."""
    env = tuple(f"{name}={value}" for name, value in config.env)
    if config.namespaces is None:
        return Edits(tuple(nodes), env)
    found = {int(m.group(1)): n for n in nodes if (m := _NVME_NAMESPACE.match(n))}
    missing = sorted(set(config.namespaces) - set(found))
    if missing:
        have = ", ".join(str(n) for n in sorted(found)) or "none"
        raise InvalidConfig(f"device {device_id} has no NVMe namespace "
                            f"{', '.join(map(str, missing))} (it has: {have})")  # fmt: skip
    wanted = {found[n] for n in config.namespaces}
    kept = tuple(n for n in nodes if not _NVME_NAMESPACE.match(n) or n in wanted)
    return Edits(kept, env)
