"""Keeps this node's ResourceSlices equal to the agent's inventory.

``update`` is the resource tracker's listener and only records the inventory; a
thread reconciles each of Cyborg's DRA drivers' pools against the slices the API
server has for this node: it creates the missing slices, updates changed ones (the
pool's generation moves whenever its content does) and deletes the extra. A failed
pass (no API server, a 409 because someone else wrote a slice) is retried with
backoff, from a fresh list. A second thread watches this node's slices, so a slice
someone else changed or deleted is put back.

``stop`` deletes the slices, or with ``[kubernetes] resource_slices_on_stop =
taint`` keeps them with every device tainted NoSchedule: either way a stopped
agent's devices stop attracting new pods. ``keep`` leaves them as they are, for a
restart that must not make the devices disappear for a moment.
"""

import contextlib
import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from oslo_log import log

from cyborg.common import inventory
from cyborg.kubernetes import apiclient, dra_names, slices
from cyborg.kubernetes.devices import KINDS
from cyborg.kubernetes.slice_devices import NO_SCHEDULE, DeviceOptions, PoolContent

LOG = log.getLogger(__name__)

ON_STOP_DELETE = "delete"
ON_STOP_TAINT = "taint"
ON_STOP_KEEP = "keep"


@dataclasses.dataclass(frozen=True)
class Settings:
    node_name: str
    devices: DeviceOptions = dataclasses.field(default_factory=DeviceOptions)
    on_stop: str = ON_STOP_DELETE
    resync_interval: float = 300.0  # a full pass even when nothing seemed to change
    retry_initial: float = 0.5
    retry_max: float = 30.0
    watch_timeout: int = 300  # seconds one watch request lasts

    @classmethod
    def from_conf(cls, conf: Any) -> "Settings":
        k8s = conf.kubernetes
        return cls(
            node_name=k8s.node_name or dra_names.default_node_name(),
            devices=DeviceOptions(
                domain=k8s.resource_domain,
                sysfs_root=conf.agent.sysfs_root,
                taints=k8s.resource_slice_taints,
                mig_partitions=k8s.mig_partitions,
            ),
            on_stop=k8s.resource_slices_on_stop,
            resync_interval=k8s.resource_slices_resync_interval,
        )

    @property
    def drivers(self) -> list[str]:
        """Every DRA driver name this agent may publish, so leftovers are found too."""
        return sorted({dra_names.driver_name(self.devices.domain, t) for t in KINDS})


def _same(existing: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the server's slices are the wanted ones (names, pool, devices)."""
    if sorted(s["metadata"]["name"] for s in existing) != [s["metadata"]["name"] for s in wanted]:
        return False
    by_name = {s["metadata"]["name"]: s for s in existing}
    for item in wanted:
        have = by_name[item["metadata"]["name"]]
        spec = dict(have.get("spec", {}))
        if "devices" in spec or "devices" in item["spec"]:  # not on a counter slice
            spec["devices"] = slices.pool_devices([have])
        if spec != item["spec"]:
            return False
    return True


class SlicePublisher:
    def __init__(
        self,
        client: apiclient.KubernetesClient,
        settings: Settings,
        holders: Mapping[str, str] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self._reports: list[inventory.DeviceReport] | None = None  # None: no discovery yet
        self._holders: dict[str, str] = dict(holders or {})
        self._written: dict[str, str] = {}  # slice name -> the resourceVersion we wrote
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._applied: dict[str, PoolContent] | None = None  # last pass's pools
        # The server's slices may differ from _applied when something happened (a
        # watch event, a failure, a resync: each adds a mark) since the start of the
        # last completed pass. Counting, not a flag: a mark made during a pass stays.
        self._marks = 1
        self._clean_at = 0
        self.passes = 0  # passes that completed
        self.looks = 0  # times the thread looked whether a pass is needed

    # --- what the agent calls ----------------------------------------------------------
    def update(self, reports: Sequence[inventory.DeviceReport]) -> None:
        with self._lock:
            self._reports = list(reports)
        self._dirty.set()

    def set_holders(self, holders: Mapping[str, str]) -> None:
        """Who holds which deployable ({name: "instance" | "pod"}), from the conductor."""
        with self._lock:
            changed = holders != self._holders
            self._holders = dict(holders)
        if changed:
            self._dirty.set()

    def start(self) -> None:
        self._stop.clear()
        for target, name in ((self._run, "slice-publisher"), (self._watch, "slice-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop reconciling, then delete (or taint) the slices within ``timeout``;
        False when the API server could not be told in time."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._dirty.set()
        # A pass in flight may finish within half the time; the watch thread is left
        # to end with its stream (closing the client breaks it).
        for thread in self._threads[:1]:
            thread.join(timeout / 2)
        self._threads.clear()
        done = self._withdraw(deadline)
        self.client.close()
        return done

    # --- one pass ----------------------------------------------------------------------
    def desired_pools(self) -> dict[str, PoolContent] | None:
        with self._lock:
            reports, holders = self._reports, dict(self._holders)
        if reports is None:
            return None
        return slices.desired_pools(reports, self.settings.devices, holders)

    def existing(self) -> dict[str, list[dict[str, Any]]]:
        """{driver: its slices on this node}, for Cyborg's drivers: one list call."""
        found: dict[str, list[dict[str, Any]]] = {}
        drivers = set(self.settings.drivers)
        for item in self.client.list_resource_slices(self.settings.node_name, None).items:
            driver = item.get("spec", {}).get("driver")
            if driver in drivers:
                found.setdefault(driver, []).append(item)
        return found

    def reconcile(self, wanted: dict[str, PoolContent]) -> None:
        """Make every pool of this node hold ``wanted``'s devices; raises ApiError
        (nothing is lost: the next pass starts from a fresh list)."""
        existing = self.existing()
        for driver in sorted(set(wanted) | set(existing)):
            pool = wanted.get(driver, PoolContent())
            self.reconcile_pool(driver, pool, existing.get(driver, []))

    def reconcile_pool(
        self, driver: str, pool: PoolContent, existing: list[dict[str, Any]]
    ) -> None:
        node, devices = self.settings.node_name, pool.devices
        generations = [int(s["spec"]["pool"].get("generation", 0)) for s in existing]
        generation = max(generations, default=0)
        wanted = slices.pool_slices(node, driver, devices, generation, pool.counter_sets)
        if _same(existing, wanted):
            return
        if existing:
            wanted = slices.pool_slices(node, driver, devices, generation + 1, pool.counter_sets)
            slices.keep_taint_times(wanted, existing)
        by_name = {s["metadata"]["name"]: s for s in existing}
        for item in wanted:
            have = by_name.pop(item["metadata"]["name"], None)
            if have is None:
                written = self.client.create_resource_slice(item)
            else:
                item["metadata"]["resourceVersion"] = have["metadata"]["resourceVersion"]
                written = self.client.update_resource_slice(item)
            self._written[written["metadata"]["name"]] = written["metadata"]["resourceVersion"]
        for name, extra in by_name.items():  # after the new generation is complete
            self._delete(name, extra["metadata"].get("resourceVersion"))
        LOG.info("ResourceSlices of %s on %s: %d devices in %d slices, generation %d",
                 driver, node, len(devices), len(wanted),
                 wanted[0]["spec"]["pool"]["generation"] if wanted else generation)  # fmt: skip

    def _delete(self, name: str, resource_version: str | None) -> None:
        with contextlib.suppress(apiclient.NotFound):  # already gone
            self.client.delete_resource_slice(name, resource_version)
        self._written.pop(name, None)

    # --- threads -----------------------------------------------------------------------
    def _mark(self) -> None:
        """Something may have changed the server's slices: look at them again."""
        with self._lock:
            self._marks += 1
        self._dirty.set()

    def _step(self) -> None:
        """One look: a pass when the wanted devices differ from the last applied, or
        when the server's side may have moved (a failure, a watch event, a resync)."""
        self.looks += 1
        wanted = self.desired_pools()
        if wanted is None:
            return  # before the first discovery, do not delete what a restart left
        marks = self._marks
        if wanted == self._applied and marks == self._clean_at:
            return  # an unchanged inventory costs no API call
        self.reconcile(wanted)
        self._applied, self._clean_at = wanted, marks
        self.passes += 1

    def _run(self) -> None:
        delay, failing = 0.0, ""
        next_resync = time.monotonic()
        while not self._stop.is_set():
            if time.monotonic() >= next_resync:
                self._mark()
                next_resync = time.monotonic() + self.settings.resync_interval
            self._dirty.clear()
            try:
                self._step()
            except apiclient.ApiError as err:
                self._mark()  # try again after the backoff, from a fresh list
                delay = min(self.settings.retry_max, delay * 2 or self.settings.retry_initial)
                if str(err) != failing:
                    LOG.warning(
                        "Publishing ResourceSlices failed: %s; trying again with "
                        "backoff up to %ss", err, self.settings.retry_max,
                    )  # fmt: skip
                    failing = str(err)
                self._stop.wait(delay)
                continue
            except Exception:
                LOG.exception("Publishing ResourceSlices failed; trying again")
                self._mark()
                self._stop.wait(self.settings.retry_max)
                continue
            if failing:
                LOG.info("Publishing ResourceSlices works again")
            delay, failing = 0.0, ""
            self._dirty.wait(max(0.0, next_resync - time.monotonic()))

    def _foreign(self, event: Mapping[str, Any], drivers: set[str]) -> bool:
        """Whether a watch event is someone else's change to one of our slices."""
        item = event.get("object") or {}
        if event.get("type") == "BOOKMARK" or item.get("spec", {}).get("driver") not in drivers:
            return False
        name = item.get("metadata", {}).get("name")
        version = item.get("metadata", {}).get("resourceVersion")
        if event.get("type") == "DELETED":
            return name in self._written
        return self._written.get(name) != version

    def _watch(self) -> None:
        drivers, version, delay = set(self.settings.drivers), "", 0.0
        node = self.settings.node_name
        while not self._stop.is_set():
            try:
                if not version:
                    version = self.client.list_resource_slices(node, None).resource_version
                    if delay:
                        self._mark()  # changes made while not watching were not seen
                for event in self.client.watch_resource_slices(
                    node, None, version, self.settings.watch_timeout
                ):
                    version = (
                        event.get("object", {}).get("metadata", {}).get("resourceVersion", version)
                    )
                    if self._foreign(event, drivers):
                        self._mark()
                    if self._stop.is_set():
                        return
                delay = 0.0
            except apiclient.Expired:
                version = ""
                self._mark()  # events were missed
            except apiclient.ApiError:
                version = ""  # from a fresh list, once the server answers again
                delay = min(self.settings.retry_max, delay * 2 or self.settings.retry_initial)
                self._stop.wait(delay)

    # --- stopping ----------------------------------------------------------------------
    def _withdraw(self, deadline: float) -> bool:
        if self.settings.on_stop == ON_STOP_KEEP:
            return True
        taint = self.settings.on_stop == ON_STOP_TAINT and self.settings.devices.taints
        wanted = (self.desired_pools() or {}) if taint else {}
        self.client.timeout = min(self.client.timeout, max(0.1, deadline - time.monotonic()))
        try:
            self.reconcile({
                driver: PoolContent(_stopped(pool.devices), pool.counter_sets)
                for driver, pool in wanted.items()
            })  # fmt: skip
        except apiclient.ApiError as err:
            LOG.warning("Withdrawing the ResourceSlices of %s failed: %s",
                        self.settings.node_name, err)  # fmt: skip
            return False
        return True


def _stopped(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The devices with the agent-stopped taint added."""
    taint = {"key": dra_names.TAINT_AGENT_STOPPED, "effect": NO_SCHEDULE}
    return [{**d, "taints": [*d.get("taints", []), dict(taint)]} for d in devices]
