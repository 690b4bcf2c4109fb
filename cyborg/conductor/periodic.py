"""The conductor's background work, in one thread beside its RPC server.

Every ``[DEFAULT] periodic_interval`` seconds: mark silent hosts stale, finish
binds a dead conductor left in BindStarted, and retry the removal of vGPU mdevs an
agent did not answer for (cyborg.conductor.binding.vgpu). Every ``[placement] audit_interval``
seconds: resync Placement with every host's devices (drift repair) and give back units
Cyborg claimed but never recorded (cyborg.conductor.placement.sweep). Every second, and
at once when a bind wakes it: deliver the events owed to Nova. Several conductors may all run this;
each step is safe to run concurrently.
"""

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

from oslo_config import cfg
from oslo_log import log

from cyborg.clients import nova
from cyborg.clients import placement as placement_client
from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import bind_flow, nova_events, unbinding, vgpu
from cyborg.conductor.inventory import reports
from cyborg.conductor.placement import claiming, provider_sync, sweep

LOG = log.getLogger(__name__)

NOVA_POLL_SECONDS = 1.0


class PeriodicTasks:
    def __init__(
        self,
        conf: cfg.ConfigOpts,
        bind_step: bind_flow.BindStep | None = None,
        mdevs: vgpu.MdevAgent | None = None,
    ) -> None:
        self.conf = conf
        self.bind_step = bind_step  # abandoned FPGA binds program again
        self.mdevs = mdevs  # abandoned vGPU binds create their mdev; held handles retry
        self.nova = nova.from_conf(conf)
        self.placement = (
            provider_sync.PlacementSync(conf, placement_client.from_conf(conf))
            if conf.placement.audit_interval and placement_client.is_configured(conf)
            else None
        )
        self.claim_sweep = (
            None
            if self.placement is None
            else sweep.ClaimSweep(
                claiming.Claimer(self.placement.client), grace=conf.conductor.bind_timeout
            )
        )
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="conductor-periodic", daemon=True)

    @property
    def notifies_nova(self) -> bool:
        return self.nova is not None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def wake(self) -> None:
        """Deliver Nova's events now instead of at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        context = cyborg_context.get_admin_context()
        next_periodic = time.monotonic()
        next_audit = time.monotonic() + self.conf.placement.audit_interval
        while not self._stop.is_set():
            if time.monotonic() >= next_periodic:
                next_periodic = time.monotonic() + self.conf.periodic_interval
                _safely(
                    "Checking for silent hosts",
                    reports.mark_silent_hosts_stale,
                    self.conf,
                    context,
                )
                _safely(
                    "Finishing abandoned binds",
                    bind_flow.resume_abandoned_binds,
                    context,
                    datetime.timedelta(seconds=self.conf.conductor.bind_timeout),
                    self.notifies_nova,
                    self.bind_step,
                    self.mdevs,
                )
                _safely(
                    "Finishing abandoned deletions",
                    unbinding.finish_abandoned_deletes,
                    context,
                    datetime.timedelta(seconds=self.conf.conductor.bind_timeout),
                    None if self.placement is None else claiming.Claimer(self.placement.client),
                    self.mdevs,
                )
                if self.mdevs is not None:
                    _safely(
                        "Removing the mdevs of held vGPU handles",
                        vgpu.remove_abandoned,
                        context,
                        self.mdevs,
                    )
            if self.placement is not None and time.monotonic() >= next_audit:
                _safely("Placement audit", self.placement.audit, context)
                if self.claim_sweep is not None:
                    _safely("Releasing unrecorded claims", self.claim_sweep.sweep, context)
                next_audit = time.monotonic() + self.conf.placement.audit_interval
            if self.nova is not None:
                _safely("Telling Nova about binds", nova_events.deliver_due, context, self.nova)
            self._wake.wait(NOVA_POLL_SECONDS)
            self._wake.clear()


def _safely(what: str, task: Callable[..., Any], *args: Any) -> None:
    try:
        task(*args)
    except Exception:
        LOG.exception("%s failed; trying again later", what)
