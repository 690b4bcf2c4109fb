"""A small Placement client: the calls Cyborg makes, each at one explicit microversion.

Built from the ``[placement]`` keystoneauth options (``from_conf``): ``auth_type =
password`` with the cyborg service user against Keystone, or ``auth_type =
admin_token`` with ``token`` and ``endpoint_override`` against a Placement running
``auth_strategy = noauth2``.

Writes that carry a provider generation (inventories, traits) are retried when another
writer got there first (409 ``placement.concurrent_update``): the generation is read
again and the same full state is written again, at most ``max_attempts`` times.
Every other failure becomes a ``cyborg.common.exception`` error, never a bare HTTP one.
"""

import dataclasses
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib import parse

import os_resource_classes
import os_traits
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg
from oslo_log import log

from cyborg.clients import adapters
from cyborg.common import exception

LOG = log.getLogger(__name__)

GROUP = "placement"

# Placement error codes (placement.errors) the client acts on.
CONCURRENT_UPDATE = "placement.concurrent_update"
DUPLICATE_NAME = "placement.duplicate_name"
INVENTORY_IN_USE = "placement.inventory.inuse"
PROVIDER_IN_USE = "placement.resource_provider.inuse"
CANNOT_DELETE_PARENT = "placement.resource_provider.cannot_delete_parent"

# One microversion per call, the oldest that has what the call needs.
MV_PROVIDERS = "1.18"  # GET /resource_providers: in_tree (1.14), required traits (1.18)
MV_CREATE_PROVIDER = "1.20"  # POST answers with the provider (its generation)
MV_INVENTORIES = "1.26"  # reserved may equal total (a disabled device)
MV_RESOURCE_CLASS = "1.7"  # PUT /resource_classes/{name}: create if missing
MV_TRAITS = "1.6"  # /traits and /resource_providers/{uuid}/traits
MV_ALLOCATIONS = "1.38"  # consumer_generation (1.28) and consumer_type (1.38)
MV_CANDIDATES = "1.39"  # nested trees, granular groups, in_tree, in: traits


@dataclasses.dataclass(frozen=True)
class ResourceProvider:
    uuid: str
    name: str
    generation: int
    parent_provider_uuid: str | None = None
    root_provider_uuid: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> "ResourceProvider":
        return cls(
            uuid=body["uuid"],
            name=body["name"],
            generation=body["generation"],
            parent_provider_uuid=body.get("parent_provider_uuid"),
            root_provider_uuid=body.get("root_provider_uuid"),
        )


@dataclasses.dataclass(frozen=True)
class ConsumerAllocations:
    """GET /allocations/{consumer}: {provider uuid: {class: amount}} and the consumer's
    generation, owner and type (None, None, None, None for a consumer with none)."""

    allocations: dict[str, dict[str, int]]
    generation: int | None = None
    project_id: str | None = None
    user_id: str | None = None
    consumer_type: str | None = None


def is_standard_resource_class(name: str) -> bool:
    return name in os_resource_classes.STANDARDS


def _error(response: Any) -> tuple[str, str]:
    """(code, detail) of a Placement error answer."""
    try:
        errors = response.json().get("errors") or [{}]
    except ValueError:
        return "", response.text[:200]
    first = errors[0]
    detail = str(first.get("detail") or first.get("title") or response.reason)
    return str(first.get("code", "")), detail.strip().splitlines()[-1] if detail else ""


class PlacementClient:
    """Cyborg's calls to Placement over a keystoneauth adapter."""

    def __init__(self, adapter: ks_adapter.Adapter, *, max_attempts: int = 5) -> None:
        self.adapter = adapter
        self.max_attempts = max_attempts
        # Custom classes and traits known to exist: created at most once per process.
        self._known_classes: set[str] = set()
        self._known_traits: set[str] = set()

    def forget_known(self) -> None:
        """Create custom classes and traits again when next needed (drift repair)."""
        self._known_classes.clear()
        self._known_traits.clear()

    # -- HTTP -------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        microversion: str,
        *,
        body: Any = None,
        ok: Iterable[int] = (200,),
        handle: Mapping[int, Callable[[str, str], None]] | None = None,
    ) -> Any:
        """Send one request; answer the response for a status in ``ok``.

        ``handle`` maps other statuses to a function of (code, detail) that raises the
        matching Cyborg exception; anything else is a ``PlacementError``.
        """
        kwargs: dict[str, Any] = {"microversion": microversion, "raise_exc": False}
        if body is not None:
            kwargs["json"] = body
        try:
            response = self.adapter.request(url, method, **kwargs)
        except ks_exc.ClientException as err:
            LOG.error("Placement request %s %s failed: %s", method, url, err)
            raise exception.PlacementError() from err
        if response.status_code in ok:
            return response
        code, detail = _error(response)
        if handle and response.status_code in handle:
            handle[response.status_code](code, detail)
        # Placement's own 5xx details can hold its database driver's errors: log only.
        LOG.error(
            "Placement request %s %s failed: HTTP %s %s %s",
            method,
            url,
            response.status_code,
            code,
            detail[:500],
        )
        raise exception.PlacementError()

    def _with_generation(
        self,
        uuid: str,
        action: str,
        generation: int | None,
        write: Callable[[int], Any],
    ) -> Any:
        """Call ``write(generation)``; on a generation conflict read it again and retry."""
        for attempt in range(1, self.max_attempts + 1):
            if generation is None:
                generation = self.get_provider_generation(uuid)
            response = write(generation)
            if response is not None:
                return response
            LOG.debug("Generation conflict on %s while %s (attempt %d)", uuid, action, attempt)
            generation = None
            time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only
        raise exception.ResourceProviderGenerationConflict(
            uuid=uuid, action=action, attempts=self.max_attempts
        )

    @staticmethod
    def _not_found(uuid: str) -> Callable[[str, str], None]:
        def raise_(code: str, detail: str) -> None:
            raise exception.ResourceProviderNotFound(uuid=uuid)

        return raise_

    # -- providers --------------------------------------------------------------------

    def _list_providers(self, query: list[tuple[str, str]]) -> list[ResourceProvider]:
        url = "/resource_providers?" + parse.urlencode(query)
        body = self._request("GET", url, MV_PROVIDERS).json()
        return [ResourceProvider.from_body(rp) for rp in body["resource_providers"]]

    def find_provider(self, name: str) -> ResourceProvider | None:
        """The provider named ``name`` (names are unique in Placement), or None. 1.18."""
        found = self._list_providers([("name", name)])
        return found[0] if found else None

    def get_provider(self, uuid: str) -> ResourceProvider | None:
        """GET /resource_providers/{uuid} at 1.18; None when there is none."""
        response = self._request("GET", f"/resource_providers/{uuid}", MV_PROVIDERS, ok=(200, 404))
        return None if response.status_code == 404 else ResourceProvider.from_body(response.json())

    def get_provider_generation(self, uuid: str) -> int:
        provider = self.get_provider(uuid)
        if provider is None:
            raise exception.ResourceProviderNotFound(uuid=uuid)
        return provider.generation

    def get_tree(self, root_uuid: str, required: Iterable[str] = ()) -> list[ResourceProvider]:
        """Every provider in the tree of ``root_uuid`` (``in_tree``), optionally only those
        with all ``required`` traits. 1.18."""
        query = [("in_tree", root_uuid)]
        traits = sorted(required)
        if traits:
            query.append(("required", ",".join(traits)))
        return self._list_providers(query)

    def create_provider(
        self, uuid: str, name: str, parent_uuid: str | None = None
    ) -> ResourceProvider:
        """POST /resource_providers at 1.20 (answers with the provider, generation 0)."""
        body: dict[str, Any] = {"uuid": uuid, "name": name}
        if parent_uuid:
            body["parent_provider_uuid"] = parent_uuid

        def conflict(code: str, detail: str) -> None:
            raise exception.ResourceProviderConflict(name=name, uuid=uuid, reason=detail)

        response = self._request(
            "POST", "/resource_providers", MV_CREATE_PROVIDER, body=body, handle={409: conflict}
        )
        return ResourceProvider.from_body(response.json())

    def delete_provider(self, uuid: str) -> bool:
        """DELETE /resource_providers/{uuid} at 1.18; False when it was already gone.

        Raises ResourceProviderInUse when it has allocations or children.
        """

        def in_use(code: str, detail: str) -> None:
            raise exception.ResourceProviderInUse(uuid=uuid, reason=detail)

        response = self._request(
            "DELETE",
            f"/resource_providers/{uuid}",
            MV_PROVIDERS,
            ok=(204, 404),
            handle={409: in_use},
        )
        return bool(response.status_code == 204)

    # -- inventories ------------------------------------------------------------------

    def get_inventories(self, uuid: str) -> tuple[int, dict[str, dict[str, Any]]]:
        """(generation, {resource class: inventory}) at 1.26."""
        body = self._request(
            "GET",
            f"/resource_providers/{uuid}/inventories",
            MV_INVENTORIES,
            handle={404: self._not_found(uuid)},
        ).json()
        return body["resource_provider_generation"], body["inventories"]

    def set_inventories(
        self,
        uuid: str,
        inventories: Mapping[str, Mapping[str, Any]],
        generation: int | None = None,
    ) -> int:
        """Replace the provider's inventories (PUT at 1.26); return its new generation.

        Raises ResourceProviderInUse when a class with allocations would be removed.
        """

        def in_use(code: str, detail: str) -> None:
            if code == CONCURRENT_UPDATE:
                return
            raise exception.ResourceProviderInUse(uuid=uuid, reason=detail)

        def write(gen: int) -> Any:
            response = self._request(
                "PUT",
                f"/resource_providers/{uuid}/inventories",
                MV_INVENTORIES,
                body={"resource_provider_generation": gen, "inventories": dict(inventories)},
                ok=(200, 409),
                handle={404: self._not_found(uuid)},
            )
            if response.status_code == 409:
                in_use(*_error(response))
                return None
            return response

        response = self._with_generation(uuid, "setting inventories", generation, write)
        return int(response.json()["resource_provider_generation"])

    def ensure_resource_class(self, name: str) -> None:
        """Create a custom resource class unless it exists (PUT at 1.7); skip standard ones."""
        if is_standard_resource_class(name) or name in self._known_classes:
            return
        self._request("PUT", f"/resource_classes/{name}", MV_RESOURCE_CLASS, ok=(201, 204))
        self._known_classes.add(name)

    # -- traits -----------------------------------------------------------------------

    def ensure_traits(self, names: Iterable[str]) -> None:
        """Create the custom traits that do not exist yet (PUT /traits/{name} at 1.6)."""
        for name in sorted(set(names) - self._known_traits):
            if not os_traits.is_custom(name):
                continue  # standard traits exist in every Placement
            self._request("PUT", f"/traits/{name}", MV_TRAITS, ok=(201, 204))
            self._known_traits.add(name)

    def get_provider_traits(self, uuid: str) -> tuple[int, set[str]]:
        """(generation, traits) at 1.6."""
        body = self._request(
            "GET",
            f"/resource_providers/{uuid}/traits",
            MV_TRAITS,
            handle={404: self._not_found(uuid)},
        ).json()
        return body["resource_provider_generation"], set(body["traits"])

    def set_provider_traits(
        self, uuid: str, traits: Iterable[str], generation: int | None = None
    ) -> int:
        """Replace the provider's traits (PUT at 1.6); return its new generation."""
        wanted = sorted(set(traits))

        def write(gen: int) -> Any:
            response = self._request(
                "PUT",
                f"/resource_providers/{uuid}/traits",
                MV_TRAITS,
                body={"resource_provider_generation": gen, "traits": wanted},
                ok=(200, 409),
                handle={404: self._not_found(uuid)},
            )
            return None if response.status_code == 409 else response

        response = self._with_generation(uuid, "setting traits", generation, write)
        return int(response.json()["resource_provider_generation"])

    def update_provider_traits(
        self, uuid: str, change: Callable[[frozenset[str]], Iterable[str]]
    ) -> tuple[int, frozenset[str]]:
        """Read the provider's traits, write ``change(traits)`` with that generation.

        On a generation conflict the traits are read again and ``change`` applied to
        them anew, so another writer's changes made meanwhile are kept (unlike
        set_provider_traits, which writes the same full set again). Answers the new
        generation and traits.
        """
        for attempt in range(1, self.max_attempts + 1):
            generation, current = self.get_provider_traits(uuid)
            wanted = frozenset(change(frozenset(current)))
            if wanted == current:
                return generation, wanted
            self.ensure_traits(wanted)
            response = self._request(
                "PUT",
                f"/resource_providers/{uuid}/traits",
                MV_TRAITS,
                body={"resource_provider_generation": generation, "traits": sorted(wanted)},
                ok=(200, 409),
                handle={404: self._not_found(uuid)},
            )
            if response.status_code != 409:
                return int(response.json()["resource_provider_generation"]), wanted
            LOG.debug(
                "Generation conflict on %s while updating traits (attempt %d)", uuid, attempt
            )
            time.sleep(random.uniform(0, 0.05 * attempt))  # noqa: S311 - jitter only
        raise exception.ResourceProviderGenerationConflict(
            uuid=uuid, action="updating traits", attempts=self.max_attempts
        )

    # -- allocations ------------------------------------------------------------------

    def get_provider_allocations(self, uuid: str) -> dict[str, dict[str, int]]:
        """{consumer uuid: {resource class: amount}} on the provider, at 1.38."""
        body = self._request(
            "GET",
            f"/resource_providers/{uuid}/allocations",
            MV_ALLOCATIONS,
            handle={404: self._not_found(uuid)},
        ).json()
        return {c: dict(a["resources"]) for c, a in body["allocations"].items()}

    def get_provider_usages(self, uuid: str) -> dict[str, int]:
        """{resource class: amount used} on the provider, at 1.38."""
        body = self._request(
            "GET",
            f"/resource_providers/{uuid}/usages",
            MV_ALLOCATIONS,
            handle={404: self._not_found(uuid)},
        ).json()
        return dict(body["usages"])

    def get_allocation_candidates(self, query: Iterable[tuple[str, str]]) -> dict[str, Any]:
        """GET /allocation_candidates at 1.39, e.g. [("resources", "FPGA:1"),
        ("required", "CUSTOM_FAKE_DEVICE")]; answers the body as Placement sends it."""
        url = "/allocation_candidates?" + parse.urlencode(list(query))
        return dict(self._request("GET", url, MV_CANDIDATES).json())

    def get_consumer_allocations(self, consumer_uuid: str) -> ConsumerAllocations:
        """GET /allocations/{consumer} at 1.38 (an unknown consumer has none)."""
        body = self._request("GET", f"/allocations/{consumer_uuid}", MV_ALLOCATIONS).json()
        return ConsumerAllocations(
            allocations={rp: dict(a["resources"]) for rp, a in body["allocations"].items()},
            generation=body.get("consumer_generation"),
            project_id=body.get("project_id"),
            user_id=body.get("user_id"),
            consumer_type=body.get("consumer_type"),
        )

    def try_put_allocations(
        self,
        consumer_uuid: str,
        allocations: Mapping[str, Mapping[str, int]],
        *,
        project_id: str,
        user_id: str,
        consumer_type: str = "INSTANCE",
        consumer_generation: int | None = None,
    ) -> str | None:
        """Replace a consumer's allocations, {provider uuid: {class: amount}}, at 1.38.

        Empty ``allocations`` remove them all. None when written; the detail of
        Placement's 409 otherwise: another writer changed the consumer since
        ``consumer_generation`` (None: a new consumer), or a provider lacks capacity.
        """
        body = {
            "allocations": {rp: {"resources": dict(r)} for rp, r in allocations.items()},
            "project_id": project_id,
            "user_id": user_id,
            "consumer_type": consumer_type,
            "consumer_generation": consumer_generation,
        }
        response = self._request(
            "PUT", f"/allocations/{consumer_uuid}", MV_ALLOCATIONS, body=body, ok=(204, 409)
        )
        if response.status_code == 204:
            return None
        code, detail = _error(response)
        return f"{code} {detail}".strip()

    def put_allocations(
        self,
        consumer_uuid: str,
        allocations: Mapping[str, Mapping[str, int]],
        *,
        project_id: str,
        user_id: str,
        consumer_type: str = "INSTANCE",
        consumer_generation: int | None = None,
    ) -> None:
        """As try_put_allocations, a 409 raised as Conflict."""
        refused = self.try_put_allocations(
            consumer_uuid,
            allocations,
            project_id=project_id,
            user_id=user_id,
            consumer_type=consumer_type,
            consumer_generation=consumer_generation,
        )
        if refused is not None:
            raise exception.Conflict(reason=f"allocations of {consumer_uuid}: {refused}")

    def delete_allocations(self, consumer_uuid: str) -> None:
        """Remove every allocation of a consumer (idempotent)."""
        self._request("DELETE", f"/allocations/{consumer_uuid}", MV_ALLOCATIONS, ok=(204, 404))


def from_conf(conf: cfg.ConfigOpts, group: str = GROUP) -> PlacementClient:
    """A client from the ``[placement]`` keystoneauth options (no request is made).

    Raises PlacementNotConfigured when ``auth_type`` is not set.
    """
    try:
        adapter = adapters.load(conf, group)
    except ks_exc.ClientException as err:  # e.g. password without auth_url
        raise exception.PlacementNotConfigured(f"[{group}] is incomplete: {err}") from err
    if adapter is None:
        raise exception.PlacementNotConfigured()
    return PlacementClient(adapter)


def is_configured(conf: cfg.ConfigOpts, group: str = GROUP) -> bool:
    return adapters.is_configured(conf, group)
