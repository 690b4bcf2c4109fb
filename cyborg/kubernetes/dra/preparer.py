"""Prepare and unprepare one driver's claims: the work behind the DRA gRPC calls.

Prepare: read the claim (``ClaimSource``), take its devices of this driver in this
node's pool, check the driver's opaque configuration (cyborg.kubernetes.opaque_config),
look each device up in the latest inventory (an unknown or unhealthy device is
refused), let the ``DeviceOwner`` make the claim their owner (an ``adminAccess``
device is only checked, not owned: monitoring access to a device in use), write the
claim's CDI spec and then its checkpoint entry. A claim in the checkpoint is answered
from there, so a retry, also one after a plugin restart, gets the same devices and
CDI names.
Unprepare: release, remove the spec, then the entry. Every failure is a
``PrepareFailed`` whose message is what the kubelet puts in the pod's events.
A MIG partition's GPU instance is made after the owner agreed and destroyed before
the release (cyborg.kubernetes.dra.mig_partitions); the owner is asked for the
partition (GPU, profile, start), not the whole GPU, so other claims may hold other
partitions of the same GPU.
"""

import dataclasses
import os
import threading
from typing import Any

from oslo_log import log

from cyborg.kubernetes import fpga_bitstreams, opaque_config
from cyborg.kubernetes.devices import PluginDevice
from cyborg.kubernetes.dra import claim_cdi, claims, mig_partitions
from cyborg.kubernetes.dra.checkpoint import Checkpoint, PreparedClaim, PreparedDevice
from cyborg.kubernetes.dra.driver_devices import DriverDevices
from cyborg.kubernetes.dra.ownership import ClaimRef, DeviceOwner, DeviceRefused, GpuPartition

LOG = log.getLogger(__name__)


class PrepareFailed(Exception):
    """The claim was not (un)prepared; the message says why."""


@dataclasses.dataclass(frozen=True)
class PrepareSettings:
    driver: str  # gpu.cyborg.openstack.org
    pool: str  # this node's pool: the Kubernetes node name
    cdi_spec_dir: str


class Preparer:
    def __init__(
        self,
        settings: PrepareSettings,
        devices: DriverDevices,
        source: claims.ClaimSource,
        owner: DeviceOwner,
        checkpoint: Checkpoint,
        programmer: fpga_bitstreams.PodProgrammer | None = None,
        partitioner: mig_partitions.MigPartitioner | None = None,
    ) -> None:
        self.settings = settings
        self.devices = devices
        self.source = source
        self.owner = owner
        self.checkpoint = checkpoint
        self.programmer = programmer  # the FPGA driver's: claims may name bitstreams
        self.partitioner = partitioner  # the GPU driver's, with [kubernetes] mig_partitions
        # One change at a time: the owner's check and the checkpoint entry go together.
        self._lock = threading.Lock()

    def prepare(self, ref: ClaimRef) -> PreparedClaim:
        done = self.checkpoint.get(ref.uid)
        if done is not None:
            return self._again(done)
        claim, allocated = self._allocated(ref)  # the API call, outside the lock
        bitstreams = self._bitstreams(claim, allocated)
        configs = self._configs(ref, claim, allocated)
        with self._lock:
            done = self.checkpoint.get(ref.uid)  # a concurrent call for the same claim
            if done is not None:
                return self._again(done)
            chosen = {a.device_name: self._usable(a.device_name, a.admin_access)
                      for a in allocated}  # fmt: skip
            edits = self._edits(ref, chosen, configs)
            admin = [chosen[a.device_name] for a in allocated if a.admin_access]
            self._check_admin_access(ref, admin)
            whole, partitions = _owned(allocated, chosen)
            if whole or partitions:
                self._claim(ref, whole, partitions)
            # Owned first, then programmed: nothing else may program it meanwhile.
            self._program(ref, bitstreams, chosen)
            made = self._partition(ref, chosen)
            try:
                return self._record(ref, allocated, chosen, edits, made)
            except OSError as err:
                self._undo(ref, made)
                raise PrepareFailed(f"writing the CDI spec or checkpoint of claim {ref} "
                                    f"failed: {err}") from err  # fmt: skip

    def reap_orphans(self) -> list[mig_partitions.MigInstance]:
        """Destroy the GPU instances the partitioner made that no prepared claim has
        (a crash between making one and writing the checkpoint: the kubelet's retry
        would find its placement taken); call it before serving. The ones destroyed."""
        if self.partitioner is None:
            return []
        kept = {
            (d.mig.gpu_address, d.mig.gpu_instance, d.mig.compute_instance)
            for claim in self.checkpoint.claims()
            for d in claim.devices
            if d.mig is not None
        }
        orphans = [
            mig_partitions.MigInstance(gpu, gi, ci, "")
            for gpu, ids in sorted(self.partitioner.listed().items())
            for gi, ci in sorted(ids)
            if (gpu, gi, ci) not in kept
        ]
        destroyed = []
        for orphan in orphans:
            try:
                self.partitioner.destroy(orphan)
            except mig_partitions.MigError as err:
                LOG.warning("%s: GPU instance %d on %s, of no prepared claim, stays: %s",
                            self.settings.driver, orphan.gpu_instance, orphan.gpu_address,
                            err)  # fmt: skip
                continue
            LOG.info("%s: destroyed GPU instance %d on %s, of no prepared claim",
                     self.settings.driver, orphan.gpu_instance, orphan.gpu_address)  # fmt: skip
            destroyed.append(orphan)
        return destroyed

    def unprepare(self, claim_uid: str) -> None:
        """Undo a prepare; a claim never prepared (or already undone) is no error."""
        with self._lock:
            done = self.checkpoint.get(claim_uid)
            try:  # the partitions go before the GPU is given back
                self._destroy([d.mig for d in done.devices if d.mig] if done else [])
            except mig_partitions.MigError as err:
                raise PrepareFailed(f"destroying the MIG instances of claim {claim_uid} "
                                    f"failed: {err}") from err  # fmt: skip
            try:
                self.owner.release(claim_uid)
            except Exception as err:
                raise PrepareFailed(f"releasing claim {claim_uid} failed: {err}") from err
            try:
                claim_cdi.remove(self.settings.cdi_spec_dir, self.settings.driver, claim_uid)
                self.checkpoint.remove(claim_uid)
            except OSError as err:
                raise PrepareFailed(f"removing claim {claim_uid} failed: {err}") from err

    def _again(self, done: PreparedClaim) -> PreparedClaim:
        """The checkpointed answer; the spec is written again if it went missing."""
        path = os.path.join(
            self.settings.cdi_spec_dir, claim_cdi.file_name(self.settings.driver, done.ref.uid)
        )
        if not os.path.exists(path):
            try:
                claim_cdi.write(self.settings.cdi_spec_dir, self.settings.driver,
                                done.ref.uid, done.cdi_spec)  # fmt: skip
            except OSError as err:
                raise PrepareFailed(f"writing the CDI spec of claim {done.ref} failed: "
                                    f"{err}") from err  # fmt: skip
        return done

    def _allocated(
        self, ref: ClaimRef
    ) -> tuple[dict[str, Any], tuple[claims.AllocatedDevice, ...]]:
        try:
            claim = self.source.get(ref.namespace, ref.name)
        except claims.ClaimNotFound as err:
            name = f"{ref.namespace}/{ref.name}"
            raise PrepareFailed(f"ResourceClaim {name} not found: {err}") from err
        except Exception as err:  # the API server or its client: the kubelet retries
            raise PrepareFailed(f"reading ResourceClaim {ref.namespace}/{ref.name} failed: "
                                f"{err}") from err  # fmt: skip
        try:
            allocated = claims.allocated_devices(
                claim, ref, self.settings.driver, self.settings.pool
            )
        except claims.ClaimUnusable as err:
            raise PrepareFailed(str(err)) from err
        return claim, allocated

    def _bitstreams(
        self, claim: dict[str, Any], allocated: tuple[claims.AllocatedDevice, ...]
    ) -> dict[str, fpga_bitstreams.Bitstream]:
        """{device name: the bitstream its request's opaque config names}."""
        if self.programmer is None:
            return {}
        requests = {r for a in allocated for r in a.request_names}
        try:
            found = fpga_bitstreams.bitstreams_by_request(claim, self.settings.driver, requests)
        except fpga_bitstreams.InvalidConfig as err:
            raise PrepareFailed(f"the FPGA configuration of the claim is invalid: {err}") from err
        by_device: dict[str, fpga_bitstreams.Bitstream] = {}
        for device in allocated:
            named = {found[r] for r in device.request_names if r in found}
            if len(named) > 1:
                raise PrepareFailed(f"device {device.device_name} is given two bitstreams")
            if named and device.admin_access:
                raise PrepareFailed(f"device {device.device_name} is allocated with "
                                    "adminAccess: it is not the claim's to program")  # fmt: skip
            if named:
                by_device[device.device_name] = named.pop()
        return by_device

    def _configs(
        self, ref: ClaimRef, claim: dict[str, Any], allocated: tuple[claims.AllocatedDevice, ...]
    ) -> dict[str, opaque_config.DeviceConfig]:
        """{device name: the driver's opaque configuration for it}."""
        requests = {r for a in allocated for r in a.request_names}
        try:
            found = opaque_config.by_request(claim, self.settings.driver, requests)
        except opaque_config.InvalidConfig as err:
            raise PrepareFailed(f"the opaque configuration of claim {ref} for "
                                f"{self.settings.driver} is invalid: {err}") from err  # fmt: skip
        by_device = {}
        for device in allocated:
            config = opaque_config.DeviceConfig()
            for request in device.request_names:
                config = config.then(found.get(request, opaque_config.DeviceConfig()))
            by_device[device.device_name] = config
        return by_device

    def _edits(
        self,
        ref: ClaimRef,
        chosen: dict[str, PluginDevice],
        configs: dict[str, opaque_config.DeviceConfig],
    ) -> dict[str, opaque_config.Edits]:
        """{device name: its CDI nodes and extra env}; before the owner is asked."""
        edits = {}
        for name, device in chosen.items():
            try:
                edits[name] = opaque_config.apply(
                    configs[name], device.id, self.devices.nodes(device.id)
                )
            except opaque_config.InvalidConfig as err:
                raise PrepareFailed(f"the opaque configuration of claim {ref} cannot be "
                                    f"applied: {err}") from err  # fmt: skip
        return edits

    def _check_admin_access(self, ref: ClaimRef, devices: list[PluginDevice]) -> None:
        if not devices:
            return
        try:
            self.owner.check_admin_access(ref, devices)
        except DeviceRefused as err:
            raise PrepareFailed(err.reason) from err
        except Exception as err:
            raise PrepareFailed(f"checking the adminAccess devices of claim {ref} failed: "
                                f"{err}") from err  # fmt: skip

    def _program(
        self,
        ref: ClaimRef,
        bitstreams: dict[str, fpga_bitstreams.Bitstream],
        chosen: dict[str, PluginDevice],
    ) -> None:
        """Program each device its bitstream; on a failure give the claim's devices back."""
        assert self.programmer is not None or not bitstreams
        for name, bitstream in sorted(bitstreams.items()):
            device = chosen[name]
            try:
                self.programmer.program(device.id, bitstream)  # type: ignore[union-attr]
            except Exception as err:
                self._undo(ref)
                reason = getattr(err, "message", None) or str(err)  # cyborg's, else its text
                what = f"programming FPGA {device.id} with {bitstream.describe()}"
                raise PrepareFailed(f"{what} failed: {reason}") from err
            LOG.info("%s: programmed %s with %s for claim %s", self.settings.driver, device.id,
                     bitstream.describe(), ref)  # fmt: skip

    def _usable(self, device_name: str, admin_access: bool = False) -> PluginDevice:
        """The device, for a MIG partition its GPU; an unhealthy one only for
        adminAccess (monitoring a failed device is what it is for)."""
        partition = mig_partitions.partition_of(device_name)
        if partition is not None and self.partitioner is None:
            raise PrepareFailed(f"device {device_name} is a MIG partition, and MIG partitions "
                                f"are not enabled on this node")  # fmt: skip
        if partition is not None and admin_access:  # it would make an instance it owns not
            raise PrepareFailed(f"device {device_name} is a MIG partition: adminAccess is "
                                f"offered for whole devices only")  # fmt: skip
        device = self.devices.get(partition.gpu_device if partition else device_name)
        if device is None:
            raise PrepareFailed(f"device {device_name} of {self.settings.driver} is not on "
                                f"this node (unknown, or removed)")  # fmt: skip
        if not device.healthy and not admin_access:
            raise PrepareFailed(f"device {device_name} ({device.id}) of "
                                f"{self.settings.driver} is unhealthy")  # fmt: skip
        return device

    def _claim(
        self, ref: ClaimRef, devices: list[PluginDevice], partitions: list[GpuPartition]
    ) -> None:
        try:
            self.owner.claim(ref, devices, partitions)
        except DeviceRefused as err:
            raise PrepareFailed(err.reason) from err
        except Exception as err:
            raise PrepareFailed(f"taking the devices of claim {ref} failed: {err}") from err

    def _partition(
        self, ref: ClaimRef, chosen: dict[str, PluginDevice]
    ) -> dict[str, mig_partitions.MigInstance]:
        """Make the claim's MIG partitions; on a failure undo them and the claim."""
        made: dict[str, mig_partitions.MigInstance] = {}
        for name in sorted(chosen):
            partition = mig_partitions.partition_of(name)
            if partition is None or self.partitioner is None:
                continue
            try:
                made[name] = self.partitioner.create(chosen[name].id, partition.profile,
                                                     partition.start)  # fmt: skip
            except Exception as err:
                self._undo(ref, made)
                raise PrepareFailed(f"making MIG {partition.profile} at {partition.start} on "
                                    f"{chosen[name].id} failed: {err}") from err  # fmt: skip
            LOG.info("%s: made MIG %s (GPU instance %d) on %s for claim %s",
                     self.settings.driver, partition.profile, made[name].gpu_instance,
                     chosen[name].id, ref)  # fmt: skip
        return made

    def _destroy(self, instances: list[mig_partitions.MigInstance]) -> None:
        for instance in instances:
            if self.partitioner is None:
                raise mig_partitions.MigError(
                    f"GPU instance {instance.gpu_instance} on {instance.gpu_address} stays: "
                    f"[kubernetes] mig_partitions is off on this node"
                )
            self.partitioner.destroy(instance)

    def _record(
        self,
        ref: ClaimRef,
        allocated: tuple[claims.AllocatedDevice, ...],
        chosen: dict[str, PluginDevice],
        edits: dict[str, opaque_config.Edits],
        made: dict[str, mig_partitions.MigInstance],
    ) -> PreparedClaim:
        driver, directory = self.settings.driver, self.settings.cdi_spec_dir
        whole = {name: device for name, device in chosen.items() if name not in made}
        nodes = {whole[name].id: edits[name].nodes for name in whole}
        env = {whole[name].id: edits[name].env for name in whole}
        spec = claim_cdi.spec(driver, ref.uid, whole, nodes, env)
        visible = mig_partitions.visible_uuids(made)  # every partition's: no last-one-wins
        spec["devices"] += [
            {
                "name": claim_cdi.cdi_device_name(ref.uid, name),
                "containerEdits": mig_partitions.container_edits(
                    instance, edits[name].nodes, edits[name].env, visible
                ),
            }
            for name, instance in sorted(made.items())
        ]
        prepared = PreparedClaim(
            ref=ref,
            devices=tuple(
                PreparedDevice(
                    device_name=a.device_name,
                    pool_name=a.pool_name,
                    request_names=a.request_names,
                    pci_address=chosen[a.device_name].id,
                    cdi_device_ids=(claim_cdi.cdi_device_id(driver, ref.uid, a.device_name),),
                    admin_access=a.admin_access,
                    mig=made.get(a.device_name),
                )
                for a in allocated
            ),
            cdi_spec=spec,
        )
        claim_cdi.write(directory, driver, ref.uid, spec)
        self.checkpoint.put(prepared)
        LOG.info("%s: prepared claim %s with %s", driver, ref,
                 ", ".join(d.pci_address for d in prepared.devices))  # fmt: skip
        return prepared

    def _undo(self, ref: ClaimRef, made: dict[str, mig_partitions.MigInstance] | None = None
              ) -> None:  # fmt: skip
        try:
            self._destroy(list((made or {}).values()))
        except Exception:
            LOG.exception("Destroying the MIG instances of claim %s after a failed prepare "
                          "failed", ref)  # fmt: skip
        try:
            claim_cdi.remove(self.settings.cdi_spec_dir, self.settings.driver, ref.uid)
        except OSError:
            LOG.exception("Removing the CDI spec of claim %s failed", ref)
        try:
            self.owner.release(ref.uid)
        except Exception:
            LOG.exception("Releasing claim %s after a failed prepare failed", ref)


def _owned(
    allocated: tuple[claims.AllocatedDevice, ...], chosen: dict[str, PluginDevice]
) -> tuple[list[PluginDevice], list[GpuPartition]]:
    """What the claim owns (adminAccess devices it does not): its whole devices, each
    once, and its MIG partitions."""
    whole: dict[str, PluginDevice] = {}
    partitions: list[GpuPartition] = []
    for device in allocated:
        if device.admin_access:
            continue
        partition = mig_partitions.partition_of(device.device_name)
        gpu = chosen[device.device_name]
        if partition is None:
            whole.setdefault(gpu.id, gpu)
        else:
            partitions.append(GpuPartition(gpu, partition.profile, partition.start))
    return list(whole.values()), partitions
