"""A network namespace joined to the root one by a veth pair: a host the test can cut off.

A process run with ``prefix()`` sees only the namespace's loopback and its end of the
pair, addressed from a private /30; the root end has the other address. Services
bound to 127.0.0.1 in the root namespace are out of its reach: what it must talk to
listens on ``host_address`` (or every address). ``cut()`` sets the root end's link
down, as a pulled cable does: packets are dropped, no connection is reset;
``restore()`` sets it up again. Needs root and iproute2.
"""

import ipaddress
import random
import shutil
import subprocess
import uuid

HOW_TO_INSTALL = (
    "the fault tests need `ip netns` (iproute2) and root to make a network namespace "
    "and a veth pair: install iproute2 (`apt-get install iproute2`) and run as root."
)
# A /30 is drawn from here, avoiding those the machine already has.
POOL = ipaddress.IPv4Network("10.213.0.0/16")


class NetnsUnavailable(Exception):
    pass


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")


def _used_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    shown = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True)
    used = []
    for line in shown.stdout.splitlines():
        words = line.split()
        if "inet" in words:
            used.append(ipaddress.ip_interface(words[words.index("inet") + 1]).network)
    return used


def _free_slash30() -> ipaddress.IPv4Network:
    used = _used_networks()
    subnets = list(POOL.subnets(new_prefix=30))
    for subnet in random.sample(subnets, 64):
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise NetnsUnavailable(f"no free /30 in {POOL}")


class Namespace:
    def __init__(self) -> None:
        if shutil.which("ip") is None:
            raise NetnsUnavailable(HOW_TO_INSTALL)
        tag = uuid.uuid4().hex[:6]
        self.name = f"cyborg-{tag}"
        self.root_end = f"cyb{tag}h"  # interface names: 15 characters at most
        self.inner_end = f"cyb{tag}n"
        self.network = _free_slash30()
        host, inner = list(self.network.hosts())
        self.host_address, self.inner_address = str(host), str(inner)
        self._made = False

    def create(self) -> None:
        try:
            _ip("netns", "add", self.name)
        except NetnsUnavailable as err:
            raise NetnsUnavailable(f"{err}; {HOW_TO_INSTALL}") from err
        self._made = True
        _ip("link", "add", self.root_end, "type", "veth", "peer", "name", self.inner_end)
        _ip("link", "set", self.inner_end, "netns", self.name)
        _ip("addr", "add", f"{self.host_address}/30", "dev", self.root_end)
        _ip("link", "set", self.root_end, "up")
        inside = ("-n", self.name)
        _ip(*inside, "addr", "add", f"{self.inner_address}/30", "dev", self.inner_end)
        _ip(*inside, "link", "set", self.inner_end, "up")
        _ip(*inside, "link", "set", "lo", "up")

    def prefix(self) -> list[str]:
        """Put before a command to run it inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def cut(self) -> None:
        _ip("link", "set", self.root_end, "down")

    def restore(self) -> None:
        _ip("link", "set", self.root_end, "up")

    def delete(self) -> None:
        """Remove the namespace and the pair (deleting one end deletes both)."""
        if not self._made:
            return
        subprocess.run(["ip", "link", "del", self.root_end], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        self._made = False
