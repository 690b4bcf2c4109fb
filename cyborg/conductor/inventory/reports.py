"""Agent reports: store a host's inventory when it changed, and notice silent hosts.

Protocol: an agent sends its inventory's fingerprint, and the devices only when the
fingerprint differs from the last one the conductor acknowledged to it. So an
unchanged host costs one locked read of its row and no write: liveness is due at most
every ``[conductor] host_stale_after`` / 4 seconds, and a conductor with ``SeenHosts``
notes it in memory and writes every host's at once from its periodic task (one
statement for the fleet); a host coming back from stale is written at once. A changed inventory is
planned against the stored tree and applied in the same transaction, in bulk, and
then published to Placement (cyborg.conductor.placement.provider_sync) under the host's row lock.
The fingerprint is stored only once Placement is in step, so a failed sync is retried
on the next report; an unchanged host makes no Placement request.
"""

import datetime
import threading
from typing import Any

from oslo_config import cfg
from oslo_db import api as oslo_db_api
from oslo_log import log
from oslo_utils import timeutils

from cyborg.common import constants, inventory
from cyborg.common.context import RequestContext
from cyborg.conductor.inventory import diff
from cyborg.conductor.placement import provider_sync
from cyborg.db import api as db_api
from cyborg.objects import host as host_obj
from cyborg.objects import host_inventory

LOG = log.getLogger(__name__)


def _liveness_due(conf: cfg.ConfigOpts, host: host_obj.Host) -> bool:
    every = datetime.timedelta(seconds=max(1, conf.conductor.host_stale_after // 4))
    return host.state != constants.HostState.UP or timeutils.utcnow() - host.last_seen_at > every


class SeenHosts:
    """Hosts whose liveness is due, written together by ``flush``."""

    CHUNK = 500  # hostnames per statement

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._lock = threading.Lock()

    def note(self, hostname: str) -> None:
        with self._lock:
            self._names.add(hostname)

    def flush(self, context: RequestContext) -> int:
        """Write ``last_seen_at`` of the noted hosts still up; how many were noted."""
        with self._lock:
            names, self._names = sorted(self._names), set()
        for start in range(0, len(names), self.CHUNK):
            host_obj.mark_many_seen(context, names[start : start + self.CHUNK])
        return len(names)


def _seen(
    conf: cfg.ConfigOpts,
    context: RequestContext,
    host: host_obj.Host,
    back: bool,
    seen: SeenHosts | None,
) -> None:
    if back or seen is None:
        if back or _liveness_due(conf, host):
            host_obj.mark_seen(context, host)
    elif _liveness_due(conf, host):
        seen.note(host.hostname)


class _UnknownHost(Exception):
    """The host has no row yet: end the transaction, create the row, report again."""


@oslo_db_api.wrap_db_retry(
    max_retries=3, retry_on_deadlock=True, retry_interval=0.05, max_retry_interval=1, jitter=True
)
def report_inventory(
    conf: cfg.ConfigOpts,
    context: RequestContext,
    hostname: str,
    fingerprint: str,
    devices: list[dict[str, Any]] | None,
    placement: provider_sync.PlacementSync | None = None,
    seen: SeenHosts | None = None,
) -> dict[str, Any]:
    """Store a changed inventory and, when ``placement`` is given, publish it there;
    with ``seen``, an unchanged host's liveness is noted there instead of written."""
    try:
        return _report(conf, context, hostname, fingerprint, devices, placement, seen)
    except _UnknownHost:
        # Created apart: inserting under the report's locks deadlocks on MariaDB.
        host_obj.create_if_missing(context, hostname)
        return _report(conf, context, hostname, fingerprint, devices, placement, seen)


def _report(
    conf: cfg.ConfigOpts,
    context: RequestContext,
    hostname: str,
    fingerprint: str,
    devices: list[dict[str, Any]] | None,
    placement: provider_sync.PlacementSync | None,
    seen: SeenHosts | None,
) -> dict[str, Any]:
    with db_api.context_manager.writer.using(context):
        host = host_obj.lock(context, hostname)
        if host is None:
            raise _UnknownHost()
        back = host.state == constants.HostState.STALE.value
        if devices is None:
            if host.inventory_fingerprint != fingerprint:
                return {"need_inventory": True}
            _seen(conf, context, host, back, seen)
            if back:
                _back_in_service(context, hostname, placement)
            return {"changed": False}
        reports = inventory.from_primitive(devices)
        actual = inventory.fingerprint(reports)
        if host.inventory_fingerprint == actual:
            _seen(conf, context, host, back, seen)
            if back:
                _back_in_service(context, hostname, placement)
            return {"changed": False, "fingerprint": actual}
        changes = diff.plan(host_inventory.load(context, hostname), reports)
        host_inventory.apply(context, hostname, changes)
        in_step = placement is None or placement.sync_host(context, hostname).in_step
        # Something held back means stored != reported: re-plan on the next report;
        # Placement out of step: sync again on the next report.
        stored = None if changes.held_back or not in_step else actual
        host_obj.mark_seen(context, host, stored, store_fingerprint=True)
    for reason in changes.held_back:
        LOG.warning("Inventory of %s: %s", hostname, reason)
    LOG.info(
        "Inventory of %s stored: %d devices added, %d removed, %d deployables added, %d removed",
        hostname,
        len(changes.new_devices),
        len(changes.removed_devices),
        len(changes.new_deployables),
        len(changes.removed_deployables),
    )
    return {"changed": True, "fingerprint": stored}


def _back_in_service(
    context: RequestContext, hostname: str, placement: provider_sync.PlacementSync | None
) -> None:
    """A stale host reported again (its row is locked): free its inventory in Placement."""
    LOG.info("Host %s reports again: back in service", hostname)
    if placement is not None and not placement.sync_host(context, hostname).in_step:
        host_obj.forget_fingerprint(context, hostname)  # the next report syncs again


def mark_silent_hosts_stale(
    conf: cfg.ConfigOpts,
    context: RequestContext,
    placement: provider_sync.PlacementSync | None = None,
) -> list[str]:
    """Mark hosts silent for ``[conductor] host_stale_after`` stale; their names.

    Their devices are kept, and with ``placement`` their inventories are reserved in
    Placement, so that neither Nova nor standalone binds pick a device whose agent is
    gone; the host's next report frees them again.
    """
    cutoff = timeutils.utcnow() - datetime.timedelta(seconds=conf.conductor.host_stale_after)
    names = host_obj.mark_stale(context, cutoff)
    for name in names:
        LOG.warning(
            "Host %s has not reported for %ss: marked stale (its devices are kept, "
            "and reserved in Placement)",
            name,
            conf.conductor.host_stale_after,
        )
        if placement is not None:
            try:
                placement.sync_locked(context, name)
            except Exception:  # the audit repairs it; the other hosts go on
                LOG.exception("Reserving the devices of stale host %s failed", name)
    return names
