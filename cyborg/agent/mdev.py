"""Create and remove vGPU mediated devices (mdevs) through the kernel's sysfs interface.

Under the agent's ``[agent] sysfs_root`` (``/`` in production), per the kernel's
vfio-mediated-device.rst::

    sys/class/mdev_bus/<parent>/mdev_supported_types/<type>/create          <- "<uuid>"
    sys/class/mdev_bus/<parent>/mdev_supported_types/<type>/devices/<uuid>  the mdev
    sys/class/mdev_bus/<parent>/mdev_supported_types/<type>/devices/<uuid>/remove <- "1"

``<parent>`` is the PCI function the mdev lives on (the GPU, or one of its VFs),
``<type>`` the vGPU type (``nvidia-223``) and ``<uuid>`` the attach handle's uuid.
These functions run as root in the agent's privsep daemon (cyborg.agent.privileged),
so they write to exactly those two files and nothing else: every argument is checked
against a strict pattern (no ``/``, no ``..``), the file must already exist (sysfs
makes it; nothing is ever created here) and be a regular file, not a symlink, and the
resolved path must stay inside ``<root>/sys``.

Both are idempotent: creating an mdev that exists, or removing one that is gone, does
nothing and succeeds, so the conductor may repeat either after a lost answer.
"""

import errno
import os
import re

from cyborg.drivers import nvidia_gpu

PCI_ADDRESS = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
MDEV_TYPE = re.compile(r"[A-Za-z0-9_-]+")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# What a write that lost a race with another create or remove of the same mdev gets.
_GONE = (errno.ENOENT, errno.ENODEV)


class MdevError(Exception):
    """The kernel refused, or the tree has no such parent or type; the message names no
    file path, so that it may reach users as a bind's failure reason."""


def validate(parent: object, mdev_type: object, uuid: object) -> tuple[str, str, str]:
    """The three names, normalised (lower-case address and uuid); ValueError otherwise."""
    if not isinstance(parent, str) or not PCI_ADDRESS.fullmatch(parent.lower()):
        raise ValueError(f"{parent!r} is not a PCI address like 0000:3b:00.0")
    if not isinstance(mdev_type, str) or not MDEV_TYPE.fullmatch(mdev_type):
        raise ValueError(f"{mdev_type!r} is not an mdev type name like nvidia-223")
    if not isinstance(uuid, str) or not UUID.fullmatch(uuid.lower()):
        raise ValueError(f"{uuid!r} is not a UUID")
    return parent.lower(), mdev_type, uuid.lower()


def _type_dir(root: str, parent: str, mdev_type: str) -> str:
    """``<root>/sys/class/mdev_bus/<parent>/mdev_supported_types/<type>`` (names checked)."""
    return os.path.join(root, nvidia_gpu.MDEV_BUS_DIR, parent, "mdev_supported_types", mdev_type)


def _write(root: str, path: str, text: str) -> None:
    """Write ``text`` to the existing regular file ``path`` inside ``<root>/sys``."""
    inside = os.path.realpath(os.path.join(root, "sys")) + os.sep
    if not os.path.realpath(path).startswith(inside):
        raise MdevError(f"{os.path.basename(path)} resolves outside the sysfs tree")
    # No O_CREAT: only a file the kernel made; O_NOFOLLOW: the file itself is no link.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def create(root: str, parent: str, mdev_type: str, uuid: str) -> bool:
    """Create mdev ``uuid`` of ``mdev_type`` on ``parent``; False if it existed already."""
    parent, mdev_type, uuid = validate(parent, mdev_type, uuid)
    path = _type_dir(root, parent, mdev_type)
    if not os.path.isdir(path):
        raise MdevError(f"{parent} offers no mdev type {mdev_type}")
    device = os.path.join(path, "devices", uuid)
    if os.path.lexists(device):
        return False
    try:
        _write(root, os.path.join(path, "create"), uuid)
    except OSError as err:
        if err.errno == errno.EEXIST and os.path.lexists(device):
            return False  # a concurrent create of the same mdev won
        if err.errno == errno.EEXIST:
            raise MdevError(f"mdev {uuid} exists with another type or parent") from err
        raise MdevError(f"writing {mdev_type}/create failed: {err.strerror}") from err
    return True


def remove(root: str, parent: str, mdev_type: str, uuid: str) -> bool:
    """Remove mdev ``uuid`` of ``mdev_type`` from ``parent``; False if it was gone.

    A parent or type that is not there (the GPU was taken out) has no mdev: False.
    """
    parent, mdev_type, uuid = validate(parent, mdev_type, uuid)
    device = os.path.join(_type_dir(root, parent, mdev_type), "devices", uuid)
    if not os.path.lexists(device):
        return False
    try:
        _write(root, os.path.join(device, "remove"), "1")
    except OSError as err:
        if err.errno in _GONE:
            return False  # removed meanwhile
        raise MdevError(
            f"writing {mdev_type}/devices/{uuid}/remove failed: {err.strerror}"
        ) from err
    return True
