"""The conductor's background work, in one thread beside its RPC server.

Every ``[DEFAULT] periodic_interval`` seconds: write the liveness of the hosts that
reported unchanged (cyborg.conductor.inventory.reports.SeenHosts), mark silent hosts
stale, and through
the conductor's Binder take over the binds of conductors that stopped
(cyborg.conductor.binding.takeover), finish binds and deletions left half done for
``[conductor] bind_timeout``, and retry the removal of vGPU mdevs an agent did not
answer for. Every ``[scheduler] job_round_interval`` seconds: allocate the head of
the jobs' queue (cyborg.conductor.jobs.rounds). Every second, and at once when a bind
rings: deliver the events owed to Nova. Several conductors may all run this; each step
is safe to run concurrently (two job rounds at once may propose one device twice:
proposals bind nothing).

On a thread of its own, so that it never delays those events nor the RPC workers'
reports and binds: every ``[placement] audit_interval`` seconds, resync Placement with
every host's devices (drift repair: each host's tree read, only the providers whose
generation moved read in full, hosts left out of step first, the hosts spread over
half the interval) and give back units Cyborg claimed but never recorded
(cyborg.conductor.placement.sweep).
"""

import datetime
import threading
import time
from collections.abc import Callable
from typing import Any

from oslo_config import cfg
from oslo_log import log

from cyborg.common import context as cyborg_context
from cyborg.conductor.binding import binder as binder_mod
from cyborg.conductor.binding import nova_events
from cyborg.conductor.inventory import reports
from cyborg.conductor.jobs import rounds as job_rounds
from cyborg.conductor.placement import provider_sync, sweep
from cyborg.objects import conductor_call

LOG = log.getLogger(__name__)

NOVA_POLL_SECONDS = 1.0
# Records of conductor calls outlive every caller's wait by far (broker-outages.rst).
CALL_RECORDS_KEPT = datetime.timedelta(days=1)


class PeriodicTasks:
    def __init__(
        self,
        conf: cfg.ConfigOpts,
        binder: binder_mod.Binder,
        placement: provider_sync.PlacementSync | None = None,
        nova: nova_events.NovaEvents | None = None,
        seen: reports.SeenHosts | None = None,
    ) -> None:
        self.conf = conf
        self.seen = seen
        self.binder = binder
        self.nova = nova
        self.sync = placement  # stale hosts' devices are reserved with it
        # The audit and the sweep, when Placement is configured and audits are on.
        self.placement = placement if conf.placement.audit_interval else None
        self.claim_sweep = (
            None
            if self.placement is None or binder.claimer is None
            else sweep.ClaimSweep(binder.claimer, grace=conf.conductor.bind_timeout)
        )
        self._stop = threading.Event()
        self._idle = threading.Event()  # waited on between rounds when Nova is not used
        self._thread = threading.Thread(target=self._run, name="conductor-periodic", daemon=True)
        self._audit_thread = threading.Thread(
            target=self._run_audits, name="conductor-audit", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        if self.placement is not None:
            self._audit_thread.start()

    def request_stop(self) -> None:
        """Stop after the round in progress, without waiting for it."""
        self._stop.set()
        self._idle.set()
        if self.nova is not None:
            self.nova.ring()

    def stop(self, timeout: float = 30) -> bool:
        """Stop after the round in progress; whether it ended within ``timeout``
        seconds (a round waiting on Placement or the database may not)."""
        self.request_stop()
        deadline = time.monotonic() + max(0.0, timeout)
        for thread in (self._thread, self._audit_thread):
            if thread.ident is not None:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return not (self._thread.is_alive() or self._audit_thread.is_alive())

    def _run_audits(self) -> None:
        context = cyborg_context.get_admin_context()
        interval = self.conf.placement.audit_interval
        while not self._stop.wait(interval):
            assert self.placement is not None
            _safely(
                "Placement audit",
                self.placement.audit,
                context,
                full=False,
                spread=interval / 2,
                stop=self._stop,
            )
            if self.claim_sweep is not None and not self._stop.is_set():
                _safely("Releasing unrecorded claims", self.claim_sweep.sweep, context)

    def _run(self) -> None:
        context = cyborg_context.get_admin_context()
        next_periodic = next_job_round = time.monotonic()
        bind_timeout = datetime.timedelta(seconds=self.conf.conductor.bind_timeout)
        dead_after = datetime.timedelta(seconds=self.conf.conductor.conductor_dead_after)
        while not self._stop.is_set():
            if time.monotonic() >= next_periodic:
                next_periodic = time.monotonic() + self.conf.periodic_interval
                if self.seen is not None:  # first: a host that reported is not silent
                    _safely("Writing hosts' liveness", self.seen.flush, context)
                _safely(
                    "Checking for silent hosts",
                    reports.mark_silent_hosts_stale,
                    self.conf,
                    context,
                    self.sync,
                )
                _safely(
                    "Taking over the binds of stopped conductors",
                    self.binder.take_over_abandoned,
                    context,
                    dead_after,
                )
                _safely(
                    "Finishing abandoned binds",
                    self.binder.resume_abandoned,
                    context,
                    bind_timeout,
                )
                _safely(
                    "Finishing abandoned deletions",
                    self.binder.finish_abandoned_deletes,
                    context,
                    bind_timeout,
                )
                _safely(
                    "Pruning old call records", conductor_call.prune, context, CALL_RECORDS_KEPT
                )
                _safely(
                    "Removing the mdevs of held vGPU handles",
                    self.binder.remove_abandoned_mdevs,
                    context,
                )
            job_interval = self.conf.scheduler.job_round_interval
            if job_interval and time.monotonic() >= next_job_round:
                next_job_round = time.monotonic() + job_interval
                _safely(
                    "Allocating queued jobs",
                    job_rounds.run_round,
                    context,
                    policy=self.conf.scheduler.job_policy,
                    limit=self.conf.scheduler.jobs_per_round,
                )
            if self.nova is not None:
                _safely("Telling Nova about binds", self.nova.deliver_due, context)
                self.nova.wait(NOVA_POLL_SECONDS)
            else:
                self._idle.wait(NOVA_POLL_SECONDS)


def _safely(what: str, task: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    try:
        task(*args, **kwargs)
    except Exception:
        LOG.exception("%s failed; trying again later", what)
