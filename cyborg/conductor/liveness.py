"""This conductor's heartbeat: how the other conductors know it is alive.

A thread of its own writes the heartbeat (cyborg.objects.conductor), so that a slow
periodic step (a Placement audit, a resumed FPGA programming) never makes a living
conductor look dead. Each beat also forgets runs long dead that no bind names.
"""

import datetime
import threading

from oslo_config import cfg
from oslo_log import log
from oslo_utils import timeutils, uuidutils

from cyborg.common import context as cyborg_context
from cyborg.objects import conductor as conductor_obj

LOG = log.getLogger(__name__)

BEATS_PER_DEATH = 3  # heartbeats a conductor may miss before it is taken for dead


class Heartbeat:
    def __init__(self, conf: cfg.ConfigOpts) -> None:
        self.hostname: str = conf.host
        self.uuid = uuidutils.generate_uuid()  # this run's: binds record it
        self.dead_after = datetime.timedelta(seconds=conf.conductor.conductor_dead_after)
        self.interval = self.dead_after.total_seconds() / BEATS_PER_DEATH
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="conductor-heartbeat", daemon=True)

    def start(self) -> None:
        """Beat once now (a database that is down is retried by the thread), then go on."""
        self.beat()
        self._thread.start()

    def beat(self) -> bool:
        """One heartbeat; False when the database could not be written."""
        context = cyborg_context.get_admin_context()
        try:
            if not conductor_obj.beat(context, self.uuid, self.hostname):
                LOG.info("Conductor %s runs as %s", self.hostname, self.uuid)
            conductor_obj.prune(context, timeutils.utcnow() - self.dead_after)
        except Exception:
            LOG.exception("Writing the heartbeat of conductor %s failed", self.hostname)
            return False
        return True

    def stop(self) -> None:
        """Stop beating and say so: other conductors take over what is left at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        try:
            conductor_obj.sign_off(cyborg_context.get_admin_context(), self.uuid)
        except Exception:
            LOG.exception("Signing off conductor %s failed", self.hostname)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
