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
    NVMF = "NVMF"  # an SPDK NVMe-oF subsystem: connect parameters (cyborg.drivers.spdk)
    VHOST_USER = "VHOST_USER"  # an SPDK vhost-user controller: its unix socket


# Handles whose bind has the agent make something on the host first (an mdev, an SPDK
# target), so that they stay in use after their ARQ lets go of them until the agent
# has removed it (cyborg.objects.attach_handle).
AGENT_MADE_TYPES = frozenset(
    {AttachType.MDEV.value, AttachType.NVMF.value, AttachType.VHOST_USER.value}
)
SPDK_TARGET_TYPES = frozenset({AttachType.NVMF.value, AttachType.VHOST_USER.value})

# The resource classes of SPDK targets (cyborg.drivers.spdk).
SPDK_RESOURCE_CLASSES = frozenset({"CUSTOM_NVME_OF", "CUSTOM_VHOST_BLK", "CUSTOM_VHOST_SCSI"})


class AttributeSource(enum.StrEnum):
    """Who owns an attribute row: the host's reports or the API's callers."""

    DRIVER = "driver"  # replaced by every report of the host
    OPERATOR = "operator"  # created through the API; reports never touch it
    # Stored before owners were recorded: the host's next report sorts it (a key the
    # driver reports becomes the driver's, any other the operator's).
    UNKNOWN = "unknown"


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


class JobState(enum.StrEnum):
    """A cluster-scheduling job (API microversion 2.9).

    queued: waiting in the scheduler's queue; allocated: the scheduler proposed devices
    for it (nothing is bound yet); running: its devices are bound and it runs;
    finished: it ended; cancelled: its owner cancelled it (DELETE) while it waited.
    """

    QUEUED = "queued"
    ALLOCATED = "allocated"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"


# Jobs their owner may still cancel (nothing of theirs runs yet).
JOB_CANCELLABLE_STATES = frozenset({JobState.QUEUED, JobState.ALLOCATED})


class NovaEventStatus(enum.StrEnum):
    """Status of an accelerator-request-bound event sent to Nova."""

    COMPLETED = "completed"
    FAILED = "failed"


# States in which binding has finished, one way or the other (Nova waits for these).
ARQ_RESOLVED_STATES = frozenset({ARQState.BOUND, ARQState.BIND_FAILED, ARQState.DELETING})


def values(enum_cls: type[enum.StrEnum]) -> list[str]:
    """The string values of an enum, in declaration order (for DB enums and schemas)."""
    return [member.value for member in enum_cls]
