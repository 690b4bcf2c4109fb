"""Load the drivers named in ``[agent] enabled_drivers`` through stevedore."""

from collections.abc import Sequence
from typing import Any

from stevedore import driver as stevedore_driver
from stevedore import exception as stevedore_exc

from cyborg.common import exception
from cyborg.drivers.base import Driver

NAMESPACE = "cyborg.accelerator.driver"


class UnknownDriver(exception.CyborgException):
    msg_fmt = "Unknown driver %(name)s in [agent] enabled_drivers; known drivers: %(known)s"


def known() -> list[str]:
    from importlib import metadata

    return sorted(ep.name for ep in metadata.entry_points(group=NAMESPACE))


def load(conf: Any, names: Sequence[str], root: str, hostname: str) -> list[Driver]:
    """Instantiate each named driver; an unknown name stops the agent at start."""
    drivers: list[Driver] = []
    for name in names:
        try:
            manager: Any = stevedore_driver.DriverManager(
                NAMESPACE,
                name,
                invoke_on_load=True,
                invoke_args=(conf,),
                invoke_kwds={"root": root, "hostname": hostname},
            )
        except stevedore_exc.NoMatches as err:
            raise UnknownDriver(name=name, known=", ".join(known())) from err
        drivers.append(manager.driver)
    return drivers


class FirstThatFinds(Driver):
    """Several drivers; when none finds anything, the fallbacks' inventory instead.

    The all-in-one runs every driver and, on a machine without accelerators, its
    simulated host (the fake driver's devices and a simulated FPGA).
    """

    name = "first_that_finds"

    def __init__(self, drivers: Sequence[Driver], fallback: Driver | Sequence[Driver]) -> None:
        fallbacks = [fallback] if isinstance(fallback, Driver) else list(fallback)
        super().__init__(fallbacks[0].conf, fallbacks[0].root, fallbacks[0].hostname)
        self.drivers = list(drivers)
        self.fallbacks = fallbacks

    def in_use(self) -> list[Driver]:
        """The drivers whose devices discover() reports now."""
        if any(driver.discover() for driver in self.drivers):
            return self.drivers
        return self.fallbacks

    def discover(self) -> list[Any]:
        found = [device for driver in self.drivers for device in driver.discover()]
        return found or [device for driver in self.fallbacks for device in driver.discover()]
