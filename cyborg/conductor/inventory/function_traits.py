"""An FPGA's function traits, moved by the conductor right after it programmed the FPGA.

Drivers name the loaded function ``CUSTOM_FPGA_FUNCTION_ID_<VENDOR>_<ID>`` (upstream
Cyborg's form; cyborg.drivers.intel_fpga, cyborg.drivers.xilinx_fpga): ``<VENDOR>`` is
the deployable's driver name upper-cased, ``<ID>`` the id upper-cased, a UUID's dashes
dropped (an AFU id or xclbin uuid is reported as 32 hex digits). After a successful
programming the conductor, not only the agent's next report, replaces the deployable's
function traits by the new one, keeping its other traits:

* in the database: the ``trait<N>`` attributes (the new trait where the old one was,
  last if there was none, as the drivers order them) and ``function_id``;
* in Placement: the provider's traits, read and written with its generation, read
  again and changed anew on a generation conflict, so a concurrent change by someone
  else is kept.

The agent's next report then agrees once its driver sees the new function. A new
image with no ``accel:function_id`` property leaves the function unknown: the old
function traits and ``function_id`` are removed, none added.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from oslo_log import log

from cyborg.clients import placement as placement_client
from cyborg.common import exception
from cyborg.common.context import RequestContext
from cyborg.common.inventory import ATTR_FUNCTION_ID
from cyborg.db import api as db_api
from cyborg.db import models
from cyborg.objects import base
from cyborg.objects import deployable as deployable_obj
from cyborg.objects import host as host_obj

LOG = log.getLogger(__name__)

PREFIX = "CUSTOM_FPGA_FUNCTION_ID_"
_TRAIT_KEY = re.compile(r"^trait(\d+)$")
_HEX_ID = re.compile(r"^[0-9A-F]{32}$")
_NOT_TRAIT_CHARS = re.compile(r"[^A-Z0-9_]")


def normal_id(function_id: str) -> str:
    """``function_id`` as drivers report it: upper case, a UUID's dashes dropped."""
    text = function_id.strip().upper()
    undashed = text.replace("-", "")
    return undashed if _HEX_ID.match(undashed) else text


def trait_name(driver_name: str | None, function_id: str) -> str:
    """``CUSTOM_FPGA_FUNCTION_ID_<VENDOR>_<ID>``, other characters made ``_``."""
    vendor = _NOT_TRAIT_CHARS.sub("_", (driver_name or "unknown").upper())
    ident = _NOT_TRAIT_CHARS.sub("_", normal_id(function_id))
    return f"{PREFIX}{vendor}_{ident}"[:255]


def is_function_trait(name: str) -> bool:
    return name.startswith(PREFIX)


def replaced(traits: Sequence[str], new: str | None) -> list[str]:
    """``traits`` with their function traits replaced by ``new`` (None: removed)."""
    others = [trait for trait in traits if not is_function_trait(trait)]
    if new is None:
        return others
    # Where the first function trait was, else last (where the drivers put it).
    at = next((i for i, trait in enumerate(traits) if is_function_trait(trait)), len(traits))
    return [*others[:at], new, *others[at:]]


@db_api.context_manager.writer
def record(
    context: RequestContext, deployable_id: int, new: str | None, function_id: str | None
) -> list[str]:
    """Store the deployable's new ``trait<N>`` and ``function_id`` attributes; its traits."""
    rows = context.session.scalars(
        sa.select(models.Attribute).where(models.Attribute.deployable_id == deployable_id)
    ).all()
    by_key = {row.key: row for row in rows}
    numbered = sorted(
        (int(match.group(1)), row.value) for row in rows if (match := _TRAIT_KEY.match(row.key))
    )
    traits = replaced([value for _, value in numbered], new)
    wanted = {f"trait{i}": trait for i, trait in enumerate(traits)}
    if function_id is not None:
        wanted[ATTR_FUNCTION_ID] = normal_id(function_id)
    stale = [
        key
        for key in by_key
        if (_TRAIT_KEY.match(key) or key == ATTR_FUNCTION_ID) and key not in wanted
    ]
    for key in stale:
        context.session.delete(by_key[key])
    context.session.flush()  # the unique (deployable, key) is free again
    for key, value in wanted.items():
        row = by_key.get(key)
        if row is None:
            context.session.add(
                models.Attribute(
                    uuid=base.new_uuid(), deployable_id=deployable_id, key=key, value=value
                )
            )
        elif row.value != value:
            row.value = value
    context.session.flush()
    return traits


def publish(client: placement_client.PlacementClient, rp_uuid: str, new: str | None) -> None:
    """Replace the provider's function traits by ``new``, keeping every other trait."""

    def change(current: frozenset[str]) -> set[str]:
        return {t for t in current if not is_function_trait(t)} | ({new} if new else set())

    generation, _ = client.update_provider_traits(rp_uuid, change)
    LOG.info("Provider %s: function trait now %s (generation %d)", rp_uuid, new, generation)


def after_programming(
    context: RequestContext,
    placement: placement_client.PlacementClient | None,
    deployable: deployable_obj.Deployable,
    hostname: str,
    function_id: str | None,
) -> str | None:
    """Move the deployable's function traits to ``function_id``; the new trait.

    Under the host's row lock, as the Placement sync is, so the two do not interleave.
    The database first: when Placement then fails, the host's next report syncs again
    and publishes what is stored.
    """
    new = None if function_id is None else trait_name(deployable.driver_name, function_id)
    with db_api.context_manager.writer.using(context):
        host_obj.lock(context, hostname)
        record(context, deployable.id, new, function_id)
        if placement is None or not deployable.rp_uuid:
            return new  # not published yet: the next sync publishes the stored traits
        try:
            publish(placement, deployable.rp_uuid, new)
        except exception.CyborgException as err:
            LOG.warning(
                "Function trait of %s not set in Placement (%s); the next report of %s syncs it",
                deployable.name,
                err.message,
                hostname,
            )
            host_obj.forget_fingerprint(context, hostname)
    return new
