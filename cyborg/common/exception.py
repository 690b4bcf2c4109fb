"""Exceptions that carry the HTTP status the API answers them with.

Every exception a user can cause has a 4xx code and a message that says what to fix;
messages never include SQL, file paths or tracebacks.
"""

from typing import Any


class CyborgException(Exception):
    """Base class: ``msg_fmt`` is formatted with the keyword arguments."""

    msg_fmt = "An unknown error occurred."
    code = 500
    # What the API answers instead of the message, when the message names what only
    # operators should see (a service's URL, a library's error); the log keeps it.
    public_msg: str | None = None

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                # A wrong format must not hide the original error behind a new one.
                message = self.msg_fmt
        self.message = message
        super().__init__(message)


class Invalid(CyborgException):
    msg_fmt = "Invalid request: %(reason)s"
    code = 400


class InvalidParameterValue(Invalid):
    msg_fmt = "Invalid value for %(name)s: %(reason)s"


class MarkerNotFound(Invalid):
    msg_fmt = "Marker %(marker)s was not found; use the uuid of an item from the previous page."


class InvalidSortKey(Invalid):
    msg_fmt = "Cannot sort by %(key)s; valid sort keys are: %(allowed)s."


class Forbidden(CyborgException):
    msg_fmt = "Forbidden: %(reason)s"
    code = 403


class PolicyNotAuthorized(Forbidden):
    msg_fmt = "Access was denied to the following resource: %(action)s"


class ServiceTokenRequired(Forbidden):
    msg_fmt = "This operation requires a service token. Use the Compute API."


class NotFound(CyborgException):
    msg_fmt = "Resource could not be found."
    code = 404


class DeviceNotFound(NotFound):
    msg_fmt = "Device %(uuid)s could not be found."


class DeployableNotFound(NotFound):
    msg_fmt = "Deployable %(uuid)s could not be found."


class AttributeNotFound(NotFound):
    msg_fmt = "Attribute %(uuid)s could not be found."


class ControlpathNotFound(NotFound):
    msg_fmt = "Control path %(uuid)s could not be found."


class AttachHandleNotFound(NotFound):
    msg_fmt = "Attach handle %(uuid)s could not be found."


class DeviceProfileNotFound(NotFound):
    msg_fmt = "Device profile %(name)s could not be found."


class ARQNotFound(NotFound):
    msg_fmt = "Accelerator request %(uuid)s could not be found."


class GraphNotFound(NotFound):
    msg_fmt = "Graph %(uuid)s could not be found."


class PlanNotFound(NotFound):
    msg_fmt = "Plan %(uuid)s could not be found."


class JobNotFound(NotFound):
    msg_fmt = "Job %(uuid)s could not be found."


class GraphInvalid(Invalid):
    msg_fmt = "Invalid graph: %(reason)s"


class MethodNotAllowed(CyborgException):
    msg_fmt = "%(method)s is not allowed on %(path)s."
    code = 405


class UnsupportedMediaType(CyborgException):
    msg_fmt = "The request body must be JSON (Content-Type: application/json), not %(type)s."
    code = 415


class RequestBodyIncomplete(Invalid):
    msg_fmt = "Invalid request: the body was cut off or malformed; send it again."


class RequestTimeout(CyborgException):
    msg_fmt = "The request body was not received in time; send it again."
    code = 408


class RequestBodyTooLarge(CyborgException):
    msg_fmt = "The request body is larger than the %(limit)d bytes this API accepts."
    code = 413


class Conflict(CyborgException):
    msg_fmt = "Conflict: %(reason)s"
    code = 409


class DuplicateEntry(Conflict):
    msg_fmt = "A %(resource)s with the same %(columns)s already exists."


class DeviceProfileNameConflict(Conflict):
    msg_fmt = "A device profile named %(name)s already exists."


class AttributeOwnedByDriver(Conflict):
    msg_fmt = (
        "Attribute %(key)s of deployable %(deployable)s is reported by the device's "
        "driver: the host's reports own it, so the API can neither change nor delete it."
    )


class InUse(Conflict):
    msg_fmt = "%(resource)s %(uuid)s is in use: %(reason)s"


class JobStateConflict(Conflict):
    msg_fmt = "Job %(uuid)s is %(state)s; only a queued or allocated job can be cancelled."


class PlanAlreadyClaimed(Conflict):
    msg_fmt = "Plan %(uuid)s is already claimed (by %(consumer)s)."


class NoFeasiblePlan(Conflict):
    msg_fmt = "No plan: %(reason)s"


class NoFreeAttachHandle(Conflict):
    msg_fmt = "Deployable %(deployable)s has no free attach handle."


class DeviceRemovedDuringBind(Conflict):
    msg_fmt = "The device of resource provider %(rp_uuid)s was removed during the bind."


class DeployableUnhealthy(Conflict):
    msg_fmt = (
        "The device of resource provider %(rp_uuid)s is %(health)s (%(reason)s): "
        "nothing is bound to it until its driver reports it healthy."
    )


class NovaCannotAttach(Invalid):
    # Nova's libvirt driver attaches PCI (and MDEV) handles only and boots an instance
    # without the others: failing the bind makes that boot fail instead. Under 255
    # characters with a provider uuid, so the ARQ's bind_failure_reason keeps it whole.
    msg_fmt = (
        "Nova cannot attach the %(types)s handles of resource provider %(rp_uuid)s "
        "(NVMe-oF subsystems, vhost-user controllers): bind them without Nova, "
        "as a standalone bind."
    )


class ARQStateConflict(Conflict):
    msg_fmt = (
        "Accelerator request %(uuid)s is in state %(actual)s; "
        "this operation needs one of: %(expected)s."
    )


class DeployableNotProgrammable(Conflict):
    msg_fmt = "Deployable %(uuid)s cannot be programmed: %(reason)s"


class FPGAProgramError(Conflict):
    """The programming tool failed (upstream's name); the message has its exit status."""

    msg_fmt = "Programming the FPGA at %(address)s on host %(host)s failed: %(reason)s"


class VGPUMdevError(Conflict):
    """Creating or removing a vGPU mediated device on the agent failed."""

    msg_fmt = "%(action)s vGPU mdev %(uuid)s on %(address)s of host %(host)s failed: %(reason)s"


class SPDKTargetError(Conflict):
    """Creating or removing the SPDK target of an attach handle on the agent failed."""

    msg_fmt = "%(action)s SPDK target %(target)s on host %(host)s failed: %(reason)s"


class ImageNotFound(Invalid):
    msg_fmt = "Image %(uuid)s was not found in the Image service (Glance)."


class ImageDownloadFailed(CyborgException):
    msg_fmt = "Could not download image %(uuid)s from the Image service (Glance): %(reason)s"
    code = 502


class ImageLookupFailed(CyborgException):
    msg_fmt = "Could not search the Image service (Glance): %(reason)s"
    code = 502


class AgentUnavailable(CyborgException):
    msg_fmt = "The cyborg-agent of host %(host)s did not answer in time; try again later."
    code = 503


class DeadlineExpired(CyborgException):
    """A conductor call that arrived, or would have committed, after its caller stopped
    waiting (cyborg.common.deadline): nothing was changed. No one reads the answer."""

    msg_fmt = "The caller of %(method)s stopped waiting; nothing was changed."
    code = 503


class ConductorUnavailable(CyborgException):
    """The conductor did not answer, and the call's deadline guarantees it changed
    nothing and never will (cyborg.conductor.call_recovery)."""

    msg_fmt = "The conductor did not answer in time and nothing was changed; try again later."
    code = 503


class ConductorCallPending(CyborgException):
    """The conductor accepted the call but its answer was lost: the work is done or
    will be finished; the resource itself tells its state."""

    msg_fmt = (
        "The request was accepted but its answer was lost; the work is done or in "
        "progress. Read the resource for its result instead of repeating the request."
    )
    code = 202


class ConductorAnswer(CyborgException):
    """A conductor's answer whose reply was lost, read back from the call's record."""

    msg_fmt = "%(message)s"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        self.code = int(kwargs.pop("status", self.code))
        super().__init__(message, **kwargs)


class PlacementError(CyborgException):
    """Placement could not be reached or answered with an error we cannot act on.

    The message is for users: Placement's URL and its error (which may be a database
    driver's) are logged where this is raised (cyborg.clients.placement), never
    answered."""

    msg_fmt = "The Placement service could not complete a request; try again later."
    code = 503
    public_msg: str | None = "Placement is unavailable or failed the request; try again later."


class PlacementNotConfigured(PlacementError):
    msg_fmt = (
        "Placement is not configured: set [placement] auth_type (admin_token with token "
        "and endpoint_override, or password with the cyborg service user's credentials)."
    )
    public_msg = None  # says which options to set, nothing more


class ResourceProviderNotFound(NotFound):
    msg_fmt = "Resource provider %(uuid)s could not be found in Placement."


class ResourceProviderInUse(Conflict):
    msg_fmt = "Resource provider %(uuid)s is in use in Placement: %(reason)s"


class ResourceProviderConflict(Conflict):
    msg_fmt = "Placement refused resource provider %(name)s (%(uuid)s): %(reason)s"


class ResourceProviderGenerationConflict(Conflict):
    msg_fmt = (
        "Resource provider %(uuid)s kept changing in Placement while %(action)s; "
        "gave up after %(attempts)d attempts."
    )


class NoFreeAccelerator(Conflict):
    msg_fmt = "No free accelerator on host %(host)s: %(reason)s"


class ConsumerAllocationConflict(Conflict):
    msg_fmt = (
        "The allocations of consumer %(consumer)s kept changing in Placement; "
        "gave up after %(attempts)d attempts."
    )


class QuotaExceeded(Forbidden):
    """Over a per-project limit of the standalone binding path (cyborg.conductor.binding.quota)."""

    msg_fmt = "Quota exceeded for project %(project)s: %(details)s"


class QuotaLimitsUnavailable(CyborgException):
    msg_fmt = "The quota limits could not be read: %(reason)s"
    code = 503
    public_msg = "The quota limits could not be read; try again later."


# --- Devices handed to Kubernetes pods (cyborg.conductor.pods) --------------------------


class PodDeviceNotFound(NotFound):
    msg_fmt = "Host %(host)s has no PCI device %(address)s that a pod may claim."


class DeviceHeldByInstance(Conflict):
    """A VM holds the device (an ARQ is bound to it): pods are refused it."""

    msg_fmt = "Device %(address)s on host %(host)s is held by a VM (instance %(instance)s)."


class DeviceHeldByPod(Conflict):
    msg_fmt = (
        "Device %(address)s on host %(host)s is held by pod claim %(claim_uid)s "
        "(ResourceClaim %(pod)s)."
    )


class MigPartitionHeldByPod(DeviceHeldByPod):
    """Another claim holds this very MIG partition (same GPU, profile and start)."""

    msg_fmt = (
        "MIG partition %(profile)s at %(start)s of GPU %(address)s on host %(host)s is "
        "held by pod claim %(claim_uid)s (ResourceClaim %(pod)s)."
    )


class GpuHeldByMigPartitions(DeviceHeldByPod):
    """Pods' MIG partitions share the GPU: it cannot go to one claim whole."""

    msg_fmt = (
        "GPU %(address)s on host %(host)s is shared by MIG partitions of pod claims; "
        "it cannot be claimed whole."
    )


class DeviceTaken(Conflict):
    """The attach handle was taken between the look and the claim: a race lost."""

    msg_fmt = "Device %(address)s on host %(host)s was taken meanwhile."


class PodClaimConflict(Conflict):
    msg_fmt = "Pod claim %(claim_uid)s: %(reason)s"
