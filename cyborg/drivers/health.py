"""A device's health as drivers judge it, and how it becomes deployable attributes.

Every driver that can tell a broken device from a working one (NVIDIA, Intel and
Xilinx FPGAs, NVMe) builds a ``Health`` from what it reads and puts
``health_attributes()`` into each of the device's deployables. A healthy device
reports no health attribute at all ("absent = healthy", the shared vocabulary of
cyborg.common.inventory): a recovered device's next report drops the attributes, and
the conductor frees its Placement inventory again. Drivers judge from what they read
at each discovery only, so a condition that is gone is gone at the next report.
"""

import dataclasses

from cyborg.common.inventory import (
    ATTR_HEALTH,
    ATTR_HEALTH_REASON,
    FATAL,
    HEALTHY,
    UNHEALTHY,
)

_RANK = {HEALTHY: 0, UNHEALTHY: 1, FATAL: 2}
# Placement and the API keep attribute values short; a reason is a hint, not a log.
REASON_LIMIT = 200


@dataclasses.dataclass(frozen=True)
class Health:
    state: str = HEALTHY  # HEALTHY, UNHEALTHY or FATAL
    reasons: tuple[str, ...] = ()  # why not healthy, worst first

    @property
    def healthy(self) -> bool:
        return self.state == HEALTHY

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)[:REASON_LIMIT]


OK = Health()


def unhealthy(reason: str) -> Health:
    return Health(UNHEALTHY, (reason,))


def fatal(reason: str) -> Health:
    return Health(FATAL, (reason,))


def worst(*healths: Health) -> Health:
    """The worst state of all, with the reasons of every judgement that is not healthy
    (those of the worst state first)."""
    bad = sorted((h for h in healths if not h.healthy), key=lambda h: -_RANK[h.state])
    if not bad:
        return OK
    return Health(bad[0].state, tuple(r for h in bad for r in h.reasons))


def health_attributes(health: Health) -> dict[str, str | None]:
    """ATTR_HEALTH and ATTR_HEALTH_REASON for a deployable; None values (left out of
    the report by cyborg.drivers.pci.attributes) when healthy."""
    if health.healthy:
        return {ATTR_HEALTH: None, ATTR_HEALTH_REASON: None}
    return {ATTR_HEALTH: health.state, ATTR_HEALTH_REASON: health.reason or health.state}
