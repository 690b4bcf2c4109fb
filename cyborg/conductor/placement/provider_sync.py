"""Keep Placement in step with the stored inventory, one host at a time.

``PlacementSync.sync_host`` reads the host's deployables, finds its compute node
provider by the host's name, reads our providers under it, plans
(cyborg.conductor.placement.changes) and writes: custom classes and traits first, then
new providers, inventories, traits, and last the deletions. A provider that still has
allocations is never deleted: its whole inventory is reserved and a later sync deletes
it once it is free.

Callers hold the host's row lock (cyborg.objects.host.lock), so syncs of one
host do not interleave; writes by others (Nova's allocations bump generations) are
retried by the client. What a provider held after our last write is remembered with
its generation, so a sync reads only the providers someone else changed since; the
compute node's uuid is remembered too, and a compute node this conductor just created
has no tree to read. Independent providers' writes overlap on a pool shared by every
host (``[placement] concurrency`` requests at once), so neither a host with many
devices nor many hosts reporting together wait on one request at a time.
"""

import concurrent.futures
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from oslo_config import cfg
from oslo_log import log

from cyborg.clients import placement as placement_client
from cyborg.common import exception
from cyborg.common import progress as progress_mod
from cyborg.common.context import RequestContext
from cyborg.conductor.placement import changes
from cyborg.conductor.placement.changes import ActualProvider
from cyborg.db import api as db_api
from cyborg.objects import host as host_obj
from cyborg.objects import provider as provider_obj
from cyborg.objects.host_inventory import provider_uuid

LOG = log.getLogger(__name__)


@dataclasses.dataclass
class SyncResult:
    hostname: str
    created: list[str] = dataclasses.field(default_factory=list)
    updated: list[str] = dataclasses.field(default_factory=list)
    deleted: list[str] = dataclasses.field(default_factory=list)
    kept: list[str] = dataclasses.field(default_factory=list)  # gone, but allocated
    problems: list[str] = dataclasses.field(default_factory=list)
    in_step: bool = True  # False: something failed, sync again on the next report
    seconds: float = 0.0

    def summary(self) -> str:
        parts = [
            f"{len(self.created)} created",
            f"{len(self.updated)} updated",
            f"{len(self.deleted)} deleted",
            f"{len(self.kept)} kept while allocated",
        ]
        state = "in step" if self.in_step else "NOT in step"
        return f"{self.hostname}: {', '.join(parts)}; {state}"


class PlacementSync:
    def __init__(self, conf: cfg.ConfigOpts, client: placement_client.PlacementClient) -> None:
        self.conf = conf
        self.client = client
        self._seen: dict[str, ActualProvider] = {}  # uuid -> what our last write left
        self._roots: dict[str, str] = {}  # hostname -> its compute node provider's uuid
        self._unsettled: set[str] = set()  # hosts whose last sync was not in step
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=conf.placement.concurrency, thread_name_prefix="placement"
        )

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> "PlacementSync | None":
        """None, with a warning, when ``[placement]`` has no ``auth_type``."""
        if not placement_client.is_configured(conf):
            LOG.warning(
                "[placement] auth_type is not set: devices are not published to Placement, "
                "so Nova cannot schedule them"
            )
            return None
        try:
            return cls(conf, placement_client.from_conf(conf))
        except exception.PlacementNotConfigured as err:
            LOG.error("%s Devices are not published to Placement.", err.message)
            return None

    # -- the sync ---------------------------------------------------------------------

    def sync_host(
        self, context: RequestContext, hostname: str, *, full: bool = False
    ) -> SyncResult:
        """Make Placement match the stored deployables of ``hostname``.

        ``full`` reads every provider again instead of trusting remembered generations.
        """
        started = time.monotonic()
        desired, problems = changes.desired_providers(provider_obj.load(context, hostname))
        result = SyncResult(hostname, problems=problems)
        try:
            root, tree = self._compute_node(hostname, bool(desired), result)
            if root is not None:
                actual = self._read(root, tree, {p.uuid for p in desired}, full)
                self._execute(changes.change_set(desired, actual), root, result)
        except exception.CyborgException as err:  # Placement unreachable or refusing
            result.problems.append(err.message)
            result.in_step = False
        result.seconds = time.monotonic() - started
        with self._lock:
            if result.in_step:
                self._unsettled.discard(hostname)
            else:
                self._unsettled.add(hostname)
        for problem in result.problems:
            LOG.warning("Placement sync of %s: %s", hostname, problem)
        if result.created or result.updated or result.deleted or result.kept or not result.in_step:
            LOG.info("Placement sync of %s", result.summary())
        return result

    def _compute_node(
        self, hostname: str, needed: bool, result: SyncResult
    ) -> tuple[str | None, list[placement_client.ResourceProvider] | None]:
        """The compute node's uuid and, when already read or known, its tree (None:
        read it)."""
        known = self._roots.get(hostname)
        if known is not None:
            tree = self.client.get_tree(known)
            if any(p.uuid == known for p in tree):
                return known, tree
            with self._lock:  # deleted, or created again under another uuid
                self._roots.pop(hostname, None)
        if needed and self.conf.placement.create_compute_node_provider:
            # Create first, find on conflict: a new host then costs no read at all.
            uuid = provider_uuid(hostname)
            try:
                created = self.client.create_provider(uuid, hostname)
            except exception.ResourceProviderConflict:
                pass  # it exists (ours, or nova-compute's under another uuid)
            else:
                result.created.append(hostname)
                with self._lock:
                    self._roots[hostname] = uuid
                return uuid, [created]  # just created: nothing under it
        provider = self.client.find_provider(hostname)
        if provider is not None:
            with self._lock:
                self._roots[hostname] = provider.uuid
            return provider.uuid, None
        if not needed:
            return None, None  # nothing to publish, so nothing of ours can be there
        result.problems.append(
            f"no resource provider named {hostname} in Placement: start nova-compute there, "
            "make [agent] resource_provider_name the compute node's name, or set [placement] "
            "create_compute_node_provider = true; trying again on the next report"
        )
        result.in_step = False
        return None, None

    def _read(
        self,
        root: str,
        tree: list[placement_client.ResourceProvider] | None,
        wanted: set[str],
        full: bool,
    ) -> list[ActualProvider]:
        """Our providers under ``root``: those we want, those named like ours, and
        those with OWNER_CYBORG (asked only when the tree holds others)."""
        if tree is None:
            tree = self.client.get_tree(root)
        children = [p for p in tree if p.uuid != root]
        ours = [p for p in children if p.uuid in wanted or changes.looks_ours(p.uuid, p.name)]
        if len(ours) < len(children):
            owned = {p.uuid for p in self.client.get_tree(root, [changes.OWNER_TRAIT])}
            ours += [p for p in children if p not in ours and p.uuid in owned]

        def moved(rp: placement_client.ResourceProvider) -> bool:
            seen = self._seen.get(rp.uuid)
            return full or seen is None or seen.generation != rp.generation

        stale = [rp for rp in ours if moved(rp)]
        fresh = {
            rp.uuid: actual
            for rp, actual in zip(stale, self._overlap(self._read_provider, stale), strict=True)
        }
        return [fresh[rp.uuid] if rp.uuid in fresh else self._seen[rp.uuid] for rp in ours]

    def _overlap(self, action: Callable[..., Any], items: Iterable[Any]) -> list[Any]:
        """``action(item)`` for each item, on the shared pool; the answers in order
        (the first failure raised once all have ended)."""
        futures = [self._pool.submit(action, item) for item in items]
        concurrent.futures.wait(futures)
        return [future.result() for future in futures]

    def _read_provider(self, rp: placement_client.ResourceProvider) -> ActualProvider:
        uuid, name = rp.uuid, rp.name
        inventory_generation, inventories = self.client.get_inventories(uuid)
        traits_generation, traits = self.client.get_provider_traits(uuid)
        generation = traits_generation if traits_generation == inventory_generation else None
        return self._remember(
            ActualProvider(uuid, name, generation, inventories, frozenset(traits))
        )

    def _remember(self, provider: ActualProvider) -> ActualProvider:
        with self._lock:
            if provider.generation is None:
                self._seen.pop(provider.uuid, None)
            else:
                self._seen[provider.uuid] = provider
        return provider

    def _known(self, uuid: str, name: str) -> ActualProvider:
        return self._seen.get(uuid) or ActualProvider(uuid, name, None, {}, frozenset())

    def _execute(self, change_set: changes.ChangeSet, root: str, result: SyncResult) -> None:
        for resource_class in sorted(change_set.resource_classes):
            self.client.ensure_resource_class(resource_class)
        self.client.ensure_traits(change_set.traits)
        # One provider's writes chain on its generation; different providers' overlap.
        inventories = {a.uuid: a for a in change_set.set_inventories}
        traits = {a.uuid: a for a in change_set.set_traits}

        def create(provider: changes.DesiredProvider) -> SyncResult:
            own = SyncResult(result.hostname)
            if self._guarded(own, provider.name, self._create, provider, root):
                own.created.append(provider.name)
            return own

        def update(uuid: str) -> SyncResult:
            own = SyncResult(result.hostname)
            done = [
                self._guarded(own, action.name, write, action)
                for action, write in (
                    (inventories.get(uuid), self._set_inventories),
                    (traits.get(uuid), self._set_traits),
                )
                if action is not None
            ]
            if any(done):
                own.updated.append((inventories.get(uuid) or traits[uuid]).name)
            return own

        def delete(action: changes.DeleteProvider) -> SyncResult:
            own = SyncResult(result.hostname)
            self._guarded(own, action.name, self._delete, action, own)
            return own

        parts = self._overlap(create, change_set.create)
        parts += self._overlap(update, sorted(set(inventories) | set(traits)))
        parts += self._overlap(delete, change_set.delete)  # last: after the new ones exist
        for part in parts:
            result.created += part.created
            result.deleted += part.deleted
            result.kept += part.kept
            result.problems += part.problems
            result.in_step = result.in_step and part.in_step
        result.updated += sorted(u for part in parts for u in part.updated)

    @staticmethod
    def _guarded(
        result: SyncResult, name: str, action: Callable[..., bool], *args: object
    ) -> bool:
        """Run one provider's action; a refusal concerns that provider only."""
        try:
            return action(*args)
        except (exception.Conflict, exception.NotFound) as err:
            result.problems.append(f"{name}: {err.message}")
            result.in_step = False
            return False

    def _create(self, provider: changes.DesiredProvider, root: str) -> bool:
        try:
            created: int | None = self.client.create_provider(
                provider.uuid, provider.name, root
            ).generation
        except exception.ResourceProviderConflict:
            # Another conductor syncing this host may have just created it: fill it in.
            existing = self.client.get_provider(provider.uuid)
            if existing is None or existing.parent_provider_uuid != root:
                raise
            created = None
        generation = self.client.set_inventories(provider.uuid, provider.inventories, created)
        generation = self.client.set_provider_traits(provider.uuid, provider.traits, generation)
        self._remember(
            ActualProvider(
                provider.uuid, provider.name, generation, provider.inventories, provider.traits
            )
        )
        return True

    def _write_inventories(self, uuid: str, name: str, inventories: changes.Inventories) -> None:
        known = self._known(uuid, name)
        generation = self.client.set_inventories(uuid, inventories, known.generation)
        self._remember(dataclasses.replace(known, generation=generation, inventories=inventories))

    def _set_inventories(self, action: changes.SetInventories) -> bool:
        try:
            self._write_inventories(action.uuid, action.name, action.inventories)
        except exception.ResourceProviderInUse as err:
            # A class in use would go (its resource class changed): keep it, reserved.
            LOG.warning("%s: %s; kept wholly reserved until freed", action.name, err.message)
            kept = changes.keep_in_use(action)
            if kept is not None:
                self._write_inventories(action.uuid, action.name, kept)
        return True

    def _set_traits(self, action: changes.SetTraits) -> bool:
        known = self._known(action.uuid, action.name)
        generation = self.client.set_provider_traits(action.uuid, action.traits, known.generation)
        self._remember(dataclasses.replace(known, generation=generation, traits=action.traits))
        return True

    def _delete(self, action: changes.DeleteProvider, result: SyncResult) -> bool:
        """Delete the provider, or keep it with its inventory reserved while allocated."""
        try:
            self.client.delete_provider(action.uuid)
        except exception.ResourceProviderInUse as err:
            LOG.warning(
                "Resource provider %s (%s) is gone from the inventory but %s: kept with its "
                "inventory reserved; deleted by a later sync once free",
                action.name,
                action.uuid,
                err.message,
            )
            kept = changes.keep_in_use(action)
            if kept is not None:
                self._write_inventories(action.uuid, action.name, kept)
            result.kept.append(action.name)
            return True
        with self._lock:
            self._seen.pop(action.uuid, None)
        result.deleted.append(action.name)
        return True

    # -- whole hosts and all of them --------------------------------------------------

    def sync_locked(
        self, context: RequestContext, hostname: str, *, full: bool = False
    ) -> SyncResult:
        """Sync under the host's row lock; a failure makes the next report sync again.

        A host that never reported (devices from elsewhere) has no row: nothing to lock.
        """
        with db_api.context_manager.writer.using(context):
            host_obj.lock(context, hostname)
            result = self.sync_host(context, hostname, full=full)
            if not result.in_step:
                host_obj.forget_fingerprint(context, hostname)
        return result

    def audit(
        self,
        context: RequestContext,
        hostname: str | None = None,
        progress: progress_mod.Reporter = progress_mod.SILENT,
        *,
        full: bool = True,
        spread: float = 0.0,
        stop: threading.Event | None = None,
    ) -> list[SyncResult]:
        """Resync (drift repair), every host or one; ``progress`` gets a step per host.

        ``full`` reads every provider again; otherwise only those whose generation
        moved since this conductor's last write (any change to a provider's
        inventories or traits moves it), so an audit of an unchanged host is one read
        of its tree. Hosts whose last sync was not in step go first; ``spread``
        seconds are spread between the hosts (ended early when ``stop`` is set), so
        an audit never comes as one burst of requests.
        """
        self.client.forget_known()
        names = [hostname] if hostname else provider_obj.hostnames(context)
        with self._lock:
            names.sort(key=lambda name: name not in self._unsettled)
        progress.phase("hosts", total=len(names))
        pause = spread / len(names) if names else 0.0
        LOG.info("Placement audit of %d hosts started (over %.0fs)", len(names), spread)
        results = []
        for name in names:
            if stop is not None and stop.is_set():
                break
            try:
                results.append(self.sync_locked(context, name, full=full))
            except Exception as err:  # one host's failure must not stop the audit
                LOG.exception("Placement audit of %s failed", name)
                results.append(SyncResult(name, problems=[str(err)], in_step=False))
            progress.advance(detail=name)
            if pause and stop is not None:
                stop.wait(pause)
            elif pause:
                time.sleep(pause)
        LOG.info(
            "Placement audit of %d hosts finished: %d out of step",
            len(results),
            sum(not r.in_step for r in results),
        )
        return results
