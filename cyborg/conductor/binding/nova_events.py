"""Deliver the accelerator-request-bound events owed to Nova (the outbox).

Binds write the events in the transactions that resolve their ARQs; the periodic
task delivers them every second, and at once when a bind rings (``NovaEvents``).

One POST per instance, once none of its ARQs is still binding. An event Nova could
not take now (down, 5xx) is tried again with exponential back-off; one older than
MAX_AGE is dropped, since Nova stopped waiting for it long before.
"""

import datetime
import itertools
import threading

from oslo_config import cfg
from oslo_log import log
from oslo_utils import timeutils

from cyborg.clients import nova
from cyborg.common.context import RequestContext
from cyborg.objects import nova_notification

LOG = log.getLogger(__name__)

MAX_AGE = datetime.timedelta(hours=1)  # Nova's own wait (arq_binding_timeout) is 300 s
MAX_BACKOFF_SECONDS = 60


def backoff(attempts: int) -> datetime.timedelta:
    """2, 4, 8 ... seconds after the ``attempts``-th try, at most a minute."""
    return datetime.timedelta(seconds=min(2**attempts, MAX_BACKOFF_SECONDS))


def deliver_due(context: RequestContext, client: nova.NovaClient) -> int:
    """Send every due event once; returns how many Nova took (or refused for good)."""
    events = nova_notification.claim_due(context, backoff)
    now = timeutils.utcnow()
    expired = [e for e in events if now - e.created_at > MAX_AGE]
    for event in expired:
        LOG.error(
            "Dropping the accelerator-request-bound event of ARQ %s (instance %s): "
            "Nova did not take it in %s",
            event.arq_uuid,
            event.instance_uuid,
            MAX_AGE,
        )
    nova_notification.delete(context, [e.id for e in expired])
    delivered = 0
    live = sorted((e for e in events if e not in expired), key=lambda e: e.instance_uuid)
    for instance, group in itertools.groupby(live, key=lambda e: e.instance_uuid):
        batch = list(group)
        try:
            status = client.send_events(
                [nova.bound_event(instance, e.arq_uuid, e.status) for e in batch]
            )
        except nova.NovaUnavailable as err:
            LOG.warning(
                "Could not tell Nova that the ARQs of instance %s are resolved (%s); "
                "trying again in %ss",
                instance,
                err,
                int(backoff(batch[0].attempts).total_seconds()),
            )
            continue
        nova_notification.delete(context, [e.id for e in batch])
        delivered += len(batch)
        LOG.info(
            "Told Nova (%s) that %d ARQs of instance %s are resolved: %s",
            status,
            len(batch),
            instance,
            ", ".join(f"{e.arq_uuid}={e.status}" for e in batch),
        )
    return delivered


class NovaEvents:
    """The outbox's delivery: a bind rings, the periodic task waits for a ring (or its
    next poll) and delivers what is due (a binder.NovaOutbox)."""

    def __init__(self, client: nova.NovaClient) -> None:
        self.client = client
        self._rung = threading.Event()

    @classmethod
    def from_conf(cls, conf: cfg.ConfigOpts) -> "NovaEvents | None":
        """None when ``[nova]`` is not configured: Nova is not told."""
        client = nova.from_conf(conf)
        return None if client is None else cls(client)

    def ring(self) -> None:
        self._rung.set()

    def wait(self, timeout: float) -> None:
        """Until a ring or ``timeout`` seconds, whichever comes first."""
        self._rung.wait(timeout)
        self._rung.clear()

    def deliver_due(self, context: RequestContext) -> int:
        return deliver_due(context, self.client)
