"""The agent's RPC endpoint, on topic ``cyborg-agent`` as server ``<its hostname>``.

That name is the host identity its devices and Placement provider carry, so the
conductor reaches the agent of a device by the device's hostname.
"""

from typing import Any

import oslo_messaging

from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.common import inventory
from cyborg.common.context import RequestContext

TOPIC = "cyborg-agent"


class AgentManager:
    """Version history: 1.0 - get_inventory, report_now."""

    target = oslo_messaging.Target(version="1.0")

    def __init__(self, tracker: ResourceTracker) -> None:
        self.tracker = tracker

    def get_inventory(self, context: RequestContext) -> list[dict[str, Any]]:
        """What the drivers see now (for operators and debugging)."""
        return inventory.to_primitive(self.tracker.discover() or [])

    def report_now(self, context: RequestContext) -> dict[str, Any] | None:
        """Discover and report at once instead of waiting for the next cycle."""
        return self.tracker.report(context)
