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
