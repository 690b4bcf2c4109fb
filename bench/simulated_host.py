"""One simulated agent for the benchmarks: the fake driver on a generated inventory.

bench/bench_reports.py and bench/fleet.py drive many of these against a real
conductor; each one's ResourceTracker reports over RPC like cyborg-agent does.
"""

from typing import Any

from cyborg.agent.resource_tracker import ResourceTracker
from cyborg.conductor import rpcapi
from cyborg.drivers import fake, fake_inventory
from tests.functional import agent_swarm


class SimulatedHost:
    """``devices`` generated devices on host ``name``, reporting through ``conductor``."""

    def __init__(self, name: str, devices: int, conductor: rpcapi.ConductorAPI) -> None:
        self.name = name
        self.spec = agent_swarm.generated(name, devices)
        self.driver = fake.FakeDriver(None, hostname=name, inventory=self._reports())
        self.tracker = ResourceTracker(name, [self.driver], conductor)
        self.reports = 0  # how many reports report() sent

    def _reports(self) -> list[Any]:
        return fake_inventory.parse(self.spec, fake.safe_name(self.name))

    def _first_deployable(self) -> dict[str, Any]:
        return self.spec[0]["deployables"][0]  # type: ignore[index]

    def change_one(self, value: int) -> None:
        """Change one device's attribute: the next report carries a changed inventory."""
        self._first_deployable()["attributes"]["memory_mb"] = str(value)
        self.driver.inventory = self._reports()

    def add_trait(self, trait: str) -> None:
        """Give the first deployable ``trait``: its provider's traits change."""
        self._first_deployable()["traits"] = [trait]
        self.driver.inventory = self._reports()

    def report(self, context: Any) -> Any:
        answer = self.tracker.report(context)
        self.reports += 1
        return answer
