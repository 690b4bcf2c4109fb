"""vGPU mdevs for the conductor's binds: the agent side of ``create_vgpu_mdev`` and
``remove_vgpu_mdev`` (cyborg.agent.manager).

The conductor names an mdev by its attach handle, as the nvidia_gpu driver reports it:
the PCI function (``pci_addr``, "0000:3b:00.0"), the vGPU type (``asked_type``,
"nvidia-223") and the handle's uuid (``ah_uuid``), which becomes the mdev's uuid. The
sysfs writes run as root in the privsep daemon (cyborg.agent.privileged); failures
reach the conductor as cyborg.common.exception classes whose message the conductor
keeps as the bind's failure reason.
"""

from collections.abc import Callable

from oslo_log import log

from cyborg.agent import mdev
from cyborg.common import exception

LOG = log.getLogger(__name__)

# (parent, mdev type, uuid) -> True when it changed something (privileged.create_mdev).
MdevOperation = Callable[[str, str, str], bool]


# oslo.privsep (which imports eventlet) is loaded when an mdev is first made or
# removed, not when the agent starts.
def _create_privileged(parent: str, mdev_type: str, uuid: str) -> bool:
    from cyborg.agent import privileged

    return privileged.create_mdev(parent, mdev_type, uuid)


def _remove_privileged(parent: str, mdev_type: str, uuid: str) -> bool:
    from cyborg.agent import privileged

    return privileged.remove_mdev(parent, mdev_type, uuid)


class Mdevs:
    """Everything the two RPC methods need, so that tests can give their own operations."""

    def __init__(
        self,
        hostname: str,
        create: MdevOperation | None = None,
        remove: MdevOperation | None = None,
    ) -> None:
        self.hostname = hostname
        self._create = create or _create_privileged
        self._remove = remove or _remove_privileged

    def create(self, pci_addr: str, asked_type: str, ah_uuid: str) -> None:
        """Create the mdev (nothing to do when it exists)."""
        self._run("Creating", self._create, pci_addr, asked_type, ah_uuid)

    def remove(self, pci_addr: str, asked_type: str, ah_uuid: str) -> None:
        """Remove the mdev (nothing to do when it is gone)."""
        self._run("Removing", self._remove, pci_addr, asked_type, ah_uuid)

    def _run(
        self, action: str, operation: MdevOperation, pci_addr: str, asked_type: str, uuid: str
    ) -> None:
        try:
            mdev.validate(pci_addr, asked_type, uuid)
        except ValueError as err:
            raise exception.InvalidParameterValue(name="mdev", reason=str(err)) from err

        def failed(reason: str) -> exception.VGPUMdevError:
            return exception.VGPUMdevError(
                action=action, uuid=uuid, address=pci_addr, host=self.hostname, reason=reason
            )

        try:
            changed = operation(pci_addr, asked_type, uuid)
        except (ValueError, mdev.MdevError) as err:
            LOG.error(
                "%s vGPU mdev %s (%s on %s) failed: %s", action, uuid, asked_type, pci_addr, err
            )
            raise failed(str(err)) from err
        except Exception as err:
            LOG.exception("The privileged helper failed %s vGPU mdev %s", action.lower(), uuid)
            raise failed("the privileged helper failed; see the agent's log") from err
        LOG.info(
            "%s vGPU mdev %s (%s on %s): %s",
            action,
            uuid,
            asked_type,
            pci_addr,
            "done" if changed else "nothing to do",
        )
