"""Tell Nova that accelerator requests are bound: os-server-external-events.

Nova waits, while it builds an instance, for one ``accelerator-request-bound`` event
per ARQ (tag = the ARQ's uuid). Nova answers 200 when it took every event, 207 when
it took some, 404 or 422 when it took none (e.g. the instance is gone): none of these
is worth sending again. A connection failure or a 5xx is (NovaUnavailable).
"""

from collections.abc import Sequence
from typing import Any

from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from oslo_config import cfg
from oslo_log import log

from cyborg.clients import adapters

LOG = log.getLogger(__name__)

GROUP = "nova"
EVENT_NAME = "accelerator-request-bound"
MICROVERSION = "2.82"  # the first with accelerator-request-bound
FINAL_STATUSES = frozenset({200, 207, 404, 422})


class NovaUnavailable(Exception):
    """Nova could not take the events now; send them again later."""


def bound_event(instance_uuid: str, arq_uuid: str, status: str) -> dict[str, str]:
    return {
        "name": EVENT_NAME,
        "server_uuid": instance_uuid,
        "tag": arq_uuid,
        "status": status,  # completed or failed
    }


class NovaClient:
    def __init__(self, adapter: ks_adapter.Adapter) -> None:
        self.adapter = adapter

    def send_events(self, events: Sequence[dict[str, str]]) -> int:
        """POST the events; returns Nova's status (one of FINAL_STATUSES)."""
        try:
            response = self.adapter.post(
                "/os-server-external-events",
                json={"events": list(events)},
                microversion=MICROVERSION,
                raise_exc=False,
            )
        except ks_exc.ClientException as err:  # connection refused, timeout, no endpoint
            raise NovaUnavailable(f"{type(err).__name__}: {err}") from err
        if response.status_code not in FINAL_STATUSES:
            raise NovaUnavailable(f"Nova answered {response.status_code}")
        if response.status_code != 200:
            LOG.warning(
                "Nova took not every accelerator-request-bound event (%s): %s",
                response.status_code,
                _event_codes(response),
            )
        return int(response.status_code)


def _event_codes(response: Any) -> list[tuple[str, Any]]:
    try:
        return [(e.get("tag"), e.get("code")) for e in response.json().get("events", [])]
    except (ValueError, AttributeError):
        return []


def from_conf(conf: cfg.ConfigOpts) -> NovaClient | None:
    """The client, or None when ``[nova]`` has no auth_type (Nova is not used)."""
    adapter = adapters.load(conf, GROUP)
    return NovaClient(adapter) if adapter is not None else None
