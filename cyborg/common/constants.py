"""Enumerations shared by the database, the API and the conductor.

Values are upstream Cyborg's strings: clients and Nova compare them verbatim.
"""

import enum


class DeviceType(enum.StrEnum):
    GPU = "GPU"
    FPGA = "FPGA"
    AICHIP = "AICHIP"
    QAT = "QAT"
    NIC = "NIC"
    SSD = "SSD"


class DeviceStatus(enum.StrEnum):
    ENABLED = "enabled"
    MAINTAINING = "maintaining"


class ControlpathType(enum.StrEnum):
    PCI = "PCI"
    NVMF = "NVMF"  # an SPDK NVMe-oF subsystem, by NQN
    VHOST = "VHOST"  # an SPDK vhost controller, by name


class AttachType(enum.StrEnum):
    PCI = "PCI"
    MDEV = "MDEV"
    TEST_PCI = "TEST_PCI"


class HostState(enum.StrEnum):
    UP = "up"
    STALE = "stale"


class ARQState(enum.StrEnum):
    INITIAL = "Initial"
    BIND_STARTED = "BindStarted"
    BOUND = "Bound"
    BIND_FAILED = "BindFailed"
    UNBOUND = "Unbound"
    UNBIND_FAILED = "UnbindFailed"
    DELETING = "Deleting"


class PlanState(enum.StrEnum):
    """A scheduler plan: proposed by create_plans, claimed for a consumer."""

    PROPOSED = "proposed"
    CLAIMED = "claimed"


class NovaEventStatus(enum.StrEnum):
    """Status of an accelerator-request-bound event sent to Nova."""

    COMPLETED = "completed"
    FAILED = "failed"


# States in which binding has finished, one way or the other (Nova waits for these).
ARQ_RESOLVED_STATES = frozenset({ARQState.BOUND, ARQState.BIND_FAILED, ARQState.DELETING})


def values(enum_cls: type[enum.StrEnum]) -> list[str]:
    """The string values of an enum, in declaration order (for DB enums and schemas)."""
    return [member.value for member in enum_cls]
