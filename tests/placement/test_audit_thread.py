"""The periodic audit runs on a thread of its own: Nova's events go out while it runs."""

import threading
import time
from typing import Any

from cyborg.conductor import periodic
from cyborg.conductor.binding import binder as binder_mod
from cyborg.conductor.binding import nova_events
from tests.placement.conftest import make_conf


class _Nova(nova_events.NovaEvents):
    """Counts the delivery rounds instead of calling Nova."""

    def __init__(self) -> None:
        super().__init__(client=None)  # type: ignore[arg-type]
        self.rounds = 0

    def deliver_due(self, context: Any) -> int:
        self.rounds += 1
        return 0


def _until(predicate: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def test_events_are_delivered_while_an_audit_runs(db, tmp_path, placement_endpoint, sync) -> None:  # type: ignore[no-untyped-def]
    conf = make_conf(tmp_path, placement_endpoint, audit_interval=1)
    running, release = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def audit(context: Any, **kwargs: Any) -> list[Any]:
        seen.update(kwargs, thread=threading.current_thread().name)
        running.set()
        release.wait(120)  # an audit that takes long
        return []

    sync.audit = audit
    nova = _Nova()
    tasks = periodic.PeriodicTasks(conf, binder_mod.Binder(), sync, nova)
    tasks.start()
    try:
        _until(running.is_set)
        during = nova.rounds
        _until(lambda: nova.rounds >= during + 3)  # the audit has not ended
        assert not release.is_set()
    finally:
        release.set()
        assert tasks.stop(timeout=60)
    assert seen["thread"] == "conductor-audit"
    assert seen["full"] is False and seen["spread"] == 0.5  # half the interval
    assert seen["stop"] is not None
