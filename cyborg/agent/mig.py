"""Make and destroy MIG GPU instances for the DRA plugin's MIG partitions.

The changes run ``nvidia-smi`` as root in the privsep daemon
(cyborg.agent.privileged.run_nvidia_smi_mig), in exactly these shapes, as NVIDIA's
MIG user guide shows them::

    nvidia-smi mig -i <pci address> -cgi <profile>:<start> -C   make GI and its CI
    nvidia-smi mig -i <pci address> -gi <gi> -ci <ci> -dci       destroy the CI
    nvidia-smi mig -i <pci address> -gi <gi> -dgi                destroy the GI

The answers read back: "Successfully created GPU instance ID 13 on GPU  0 using
profile MIG 1g.10gb (ID 19)" and "Successfully created compute instance ID  0 on GPU
0 GPU instance ID 13 ...". The MIG device's uuid comes from two unprivileged reads:
``nvidia-smi -q -x -i <address>`` (the MIG device index of that GI and CI) and
``nvidia-smi -L`` ("  MIG 1g.10gb     Device  0: (UUID: MIG-...)"). Its
``/dev/nvidia-caps`` nodes come from the driver's capability files,
``/proc/driver/nvidia/capabilities/gpu<minor>/mig/gi<gi>[/ci<ci>]/access``
("DeviceFileMinor: 21"), the GPU's minor from ``/proc/driver/nvidia/gpus/<address>/
information`` ("Device Minor: 0"), all under ``[agent] sysfs_root``.

Every instance made is listed in ``cyborg.common.mig.DRA_INSTANCES_PATH`` (under the
same root) from the moment nvidia-smi says it made it until it is destroyed: the
NVIDIA driver keeps reporting a GPU whose MIG devices are all there as the whole,
cuttable GPU, so that other claims get its other partitions.
"""

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from typing import Any

from oslo_log import log

from cyborg.common import mig as mig_layout
from cyborg.common.mig import MigError, MigInstance
from cyborg.drivers import nvidia_gpu

LOG = log.getLogger(__name__)

NVIDIA_SMI = "nvidia-smi"
_ADDRESS = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_PLACED_PROFILE = re.compile(r"^\d+g\.\d+gb:[0-7]$")
_NUMBER = re.compile(r"^\d{1,3}$")
_CREATED_GI = re.compile(r"Successfully created GPU instance ID\s+(\d+) on GPU")
_CREATED_CI = re.compile(r"Successfully created compute instance ID\s+(\d+) on GPU\s+\d+ "
                         r"GPU instance ID\s+(\d+)")  # fmt: skip
_LISTED_GPU = re.compile(r"^GPU\s+\d+:.*\(UUID:\s*(GPU-[^)\s]+)\)")
_LISTED_MIG = re.compile(r"^\s+MIG\s+\S+\s+Device\s+(\d+):\s*\(UUID:\s*(MIG-[^)\s]+)\)")
_MINOR = re.compile(r"^(?:DeviceFileMinor|Device Minor):\s*(\d+)\s*$", re.MULTILINE)

# (args) -> {"exit_code", "stdout", "stderr"}: privileged.run_nvidia_smi_mig's answer.
Run = Callable[[list[str]], dict[str, Any]]
# (args) -> stdout of an unprivileged nvidia-smi read.
Query = Callable[[list[str]], str]


def validate_args(args: Any) -> list[str]:
    """One of the three MIG changes, every value checked; ValueError otherwise."""
    if not isinstance(args, list | tuple) or not all(isinstance(a, str) for a in args):
        raise ValueError("nvidia-smi arguments must be a list of strings")
    args = list(args)
    if len(args) < 3 or args[:2] != ["mig", "-i"] or not _ADDRESS.match(args[2]):
        raise ValueError(f"not a MIG change of one GPU: {args!r}")
    rest = args[3:]
    create = len(rest) == 3 and rest[0] == "-cgi" and _PLACED_PROFILE.match(rest[1]) and (
        rest[2] == "-C")  # fmt: skip
    destroy_ci = (len(rest) == 5 and rest[0] == "-gi" and _NUMBER.match(rest[1])
                  and rest[2] == "-ci" and _NUMBER.match(rest[3])
                  and rest[4] == "-dci")  # fmt: skip
    destroy_gi = len(rest) == 3 and rest[0] == "-gi" and _NUMBER.match(rest[1]) and (
        rest[2] == "-dgi")  # fmt: skip
    if not (create or destroy_ci or destroy_gi):
        raise ValueError(f"not a MIG change cyborg makes: {args!r}")
    return args


def _privileged(args: list[str]) -> dict[str, Any]:
    from cyborg.agent import privileged  # loads oslo.privsep only when first used

    return privileged.run_nvidia_smi_mig(args)


def _query(args: list[str]) -> str:
    # A fixed tool and arguments this module builds; no shell.
    result = subprocess.run(  # noqa: S603
        [NVIDIA_SMI, *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise MigError(f"nvidia-smi {' '.join(args)} exited {result.returncode}: "
                       f"{result.stderr.strip()[-300:]}")  # fmt: skip
    return result.stdout


def mig_uuid(listing: str, gpu_uuid: str, index: str) -> str | None:
    """The uuid ``nvidia-smi -L`` gives MIG device ``index`` of GPU ``gpu_uuid``."""
    current = None
    for line in listing.splitlines():
        gpu = _LISTED_GPU.match(line)
        mig = _LISTED_MIG.match(line)
        if gpu:
            current = gpu.group(1)
        elif mig and current == gpu_uuid and mig.group(1) == index:
            return mig.group(2)
    return None


class NvidiaSmiPartitioner:
    """cyborg.kubernetes.dra.mig_partitions.MigPartitioner with nvidia-smi."""

    def __init__(self, root: str = "/", run: Run = _privileged, query: Query = _query) -> None:
        self.root = root
        self.run = run
        self.query = query
        self._listing = threading.Lock()

    def listed(self) -> mig_layout.MadeInstances:
        """The instances the list says this partitioner made, by GPU address."""
        try:
            with open(os.path.join(self.root, mig_layout.DRA_INSTANCES_PATH)) as handle:
                return mig_layout.decode_made(handle.read())
        except FileNotFoundError:
            return {}

    def _list(self, instance: MigInstance, made: bool) -> None:
        """Add ``instance`` to the list (``made``) or take it off, atomically."""
        path = os.path.join(self.root, mig_layout.DRA_INSTANCES_PATH)
        key = (instance.gpu_instance, instance.compute_instance)
        with self._listing:
            listed = {gpu: set(ids) for gpu, ids in self.listed().items()}
            ids = listed.setdefault(instance.gpu_address, set())
            ids.add(key) if made else ids.discard(key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(mig_layout.encode_made(listed))
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise

    def _change(self, args: list[str]) -> str:
        result = self.run(args)
        if result.get("exit_code") != 0:
            output = (result.get("stdout") or "") + (result.get("stderr") or "")
            raise MigError(output.strip()[-300:] or f"nvidia-smi exited {result.get('exit_code')}")
        return str(result.get("stdout") or "")

    def create(self, gpu_address: str, profile: str, start: int) -> MigInstance:
        out = self._change(["mig", "-i", gpu_address, "-cgi", f"{profile}:{start}", "-C"])
        gi, ci = _CREATED_GI.search(out), _CREATED_CI.search(out)
        if gi is None or ci is None or ci.group(2) != gi.group(1):
            raise MigError(f"nvidia-smi did not say which instance it made: {out.strip()[-300:]}")
        instance = MigInstance(gpu_address, int(gi.group(1)), int(ci.group(1)), "")
        try:
            self._list(instance, made=True)  # before the next discovery can see it
            uuid = self._uuid(instance)
        except Exception:
            self.destroy(instance)  # a partition nobody could name is of no use
            raise
        return MigInstance(gpu_address, instance.gpu_instance, instance.compute_instance, uuid,
                           self._cap_nodes(instance))  # fmt: skip

    def _uuid(self, instance: MigInstance) -> str:
        smi = nvidia_gpu.parse_smi_xml(self.query(["-q", "-x", "-i", instance.gpu_address]))
        gpu = (smi or {}).get(instance.gpu_address)
        found = [
            m for m in (gpu.mig_devices if gpu else ())
            if (m.gpu_instance_id, m.compute_instance_id)
            == (str(instance.gpu_instance), str(instance.compute_instance))
        ]  # fmt: skip
        uuid = None
        if gpu is not None and gpu.uuid and found:
            uuid = mig_uuid(self.query(["-L"]), gpu.uuid, found[0].index)
        if uuid is None:
            raise MigError(f"nvidia-smi lists no MIG device for GPU instance "
                           f"{instance.gpu_instance} on {instance.gpu_address}")  # fmt: skip
        return uuid

    def _minor(self, *parts: str) -> int | None:
        try:
            with open(os.path.join(self.root, "proc/driver/nvidia", *parts)) as handle:
                match = _MINOR.search(handle.read())
        except OSError:
            return None
        return int(match.group(1)) if match else None

    def _cap_nodes(self, instance: MigInstance) -> tuple[str, ...]:
        """The /dev/nvidia-caps nodes of the GPU instance and its compute instance."""
        gpu = self._minor("gpus", instance.gpu_address, "information")
        if gpu is None:
            LOG.warning("No device minor for GPU %s: the MIG partition gets no "
                        "nvidia-caps nodes", instance.gpu_address)  # fmt: skip
            return ()
        gi = f"gi{instance.gpu_instance}"
        minors = [
            self._minor("capabilities", f"gpu{gpu}", "mig", gi, "access"),
            self._minor(
                "capabilities", f"gpu{gpu}", "mig", gi, f"ci{instance.compute_instance}", "access"
            ),
        ]
        return tuple(f"/dev/nvidia-caps/nvidia-cap{m}" for m in minors if m is not None)

    def destroy(self, instance: MigInstance) -> None:
        address, gi = instance.gpu_address, str(instance.gpu_instance)
        for args in (
            ["mig", "-i", address, "-gi", gi, "-ci", str(instance.compute_instance), "-dci"],
            ["mig", "-i", address, "-gi", gi, "-dgi"],
        ):
            try:
                self._change(args)
            except MigError as err:
                if "not found" not in str(err).lower():  # gone already: nothing to do
                    raise
        self._list(instance, made=False)
