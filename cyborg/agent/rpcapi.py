"""Client side of the agent's RPC API: how the conductor reaches the agent of a host.

Each agent listens on topic ``[agent] topic`` (``cyborg-agent``) as server
``<[agent] resource_provider_name>``, the hostname its devices carry, so a call goes to
``server=device.hostname``.
"""

from typing import Any

from oslo_config import cfg

from cyborg.common import exception, rpc
from cyborg.common.context import RequestContext

# How much longer than [agent] program_timeout the conductor waits for the agent.
PROGRAM_MARGIN = 10
# Seconds the conductor waits for an SPDK target to be created or removed: at most
# eight JSON-RPC calls of SPDK_CALL_TIMEOUT each (cyborg.drivers.spdk_exports).
SPDK_CALL_TIMEOUT = 3
SPDK_TIMEOUT = 8 * SPDK_CALL_TIMEOUT + 6


class AgentAPI:
    """Calls to cyborg-agent; see cyborg.agent.manager.AgentManager for the versions.

    Errors arrive as the cyborg.common.exception class the agent raised; an agent that
    does not answer raises oslo_messaging.MessagingTimeout.
    """

    RPC_API_VERSION = "1.3"

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.conf = conf
        self._client = rpc.get_client(
            conf, conf.agent.topic, self.RPC_API_VERSION, version_cap=conf.upgrade_levels.agent
        )

    def _call(
        self,
        context: RequestContext,
        hostname: str,
        version: str,
        method: str,
        timeout: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call ``method`` on ``hostname``'s agent at ``version``; 409 when
        ``[upgrade_levels] agent`` caps below it (the agents are older), before anything
        is sent, or when the agent that took it is older."""
        if not self._client.can_send_version(version):
            raise exception.Conflict(
                reason=f"this needs cyborg-agent with RPC API {version}, and "
                f"[upgrade_levels] agent is {self.conf.upgrade_levels.agent}; upgrade "
                "the agents first"
            )
        client = self._client.prepare(server=hostname, version=version, timeout=timeout)
        upgrade = "upgrade the agents first ([upgrade_levels] agent caps what is sent)"
        with rpc.older_peers_refuse(method, version, "cyborg-agent", upgrade):
            return client.call(context, method, **kwargs)

    def get_inventory(self, context: RequestContext, hostname: str) -> list[dict[str, Any]]:
        """What the host's drivers see now."""
        return list(self._call(context, hostname, "1.0", "get_inventory"))

    def report_now(self, context: RequestContext, hostname: str) -> dict[str, Any] | None:
        """Make the host's agent discover and report at once."""
        result: dict[str, Any] | None = self._call(context, hostname, "1.0", "report_now")
        return result

    def fpga_program(
        self,
        context: RequestContext,
        hostname: str,
        *,
        controlpath_id: dict[str, Any],
        bitstream_uuid: str,
        driver_name: str | None,
    ) -> bool:
        """Program the FPGA at ``controlpath_id`` (``{"cpid_type", "cpid_info"}``).

        Waits ``[agent] program_timeout`` plus PROGRAM_MARGIN seconds.
        """
        timeout = self.conf.agent.program_timeout + PROGRAM_MARGIN
        return bool(
            self._call(
                context,
                hostname,
                "1.1",
                "fpga_program",
                timeout,
                controlpath_id=controlpath_id,
                bitstream_uuid=bitstream_uuid,
                driver_name=driver_name,
            )
        )

    def create_vgpu_mdev(
        self,
        context: RequestContext,
        hostname: str,
        *,
        pci_addr: str,
        asked_type: str,
        ah_uuid: str,
    ) -> None:
        """Create mdev ``ah_uuid`` of ``asked_type`` on ``pci_addr`` (idempotent)."""
        self._call(
            context,
            hostname,
            "1.2",
            "create_vgpu_mdev",
            self.conf.agent.mdev_timeout,
            pci_addr=pci_addr,
            asked_type=asked_type,
            ah_uuid=ah_uuid,
        )

    def remove_vgpu_mdev(
        self,
        context: RequestContext,
        hostname: str,
        *,
        pci_addr: str,
        asked_type: str,
        ah_uuid: str,
    ) -> None:
        """Remove mdev ``ah_uuid`` of ``asked_type`` from ``pci_addr`` (idempotent)."""
        self._call(
            context,
            hostname,
            "1.2",
            "remove_vgpu_mdev",
            self.conf.agent.mdev_timeout,
            pci_addr=pci_addr,
            asked_type=asked_type,
            ah_uuid=ah_uuid,
        )

    def create_spdk_target(
        self, context: RequestContext, hostname: str, *, attach_type: str, attach_info: str
    ) -> None:
        """Create the SPDK target of an NVMF / VHOST_USER handle (idempotent)."""
        self._spdk(context, hostname, "create_spdk_target", attach_type, attach_info)

    def remove_spdk_target(
        self, context: RequestContext, hostname: str, *, attach_type: str, attach_info: str
    ) -> None:
        """Remove the SPDK target of an NVMF / VHOST_USER handle (idempotent)."""
        self._spdk(context, hostname, "remove_spdk_target", attach_type, attach_info)

    def _spdk(
        self, context: RequestContext, hostname: str, method: str, attach_type: str, info: str
    ) -> None:
        self._call(
            context,
            hostname,
            "1.3",
            method,
            SPDK_TIMEOUT,
            attach_type=attach_type,
            attach_info=info,
        )
