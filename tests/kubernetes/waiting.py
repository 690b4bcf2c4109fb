"""Waiting on a stand-in's condition variable, as the Kubernetes stand-ins all do."""

import threading
import time
from collections.abc import Callable
from typing import Any

DEADLINE = 30.0  # seconds: generous, the machine is shared


def wait_for(
    changed: threading.Condition,
    who: str,
    what: str,
    predicate: Callable[[], Any],
    deadline: float = DEADLINE,
) -> Any:
    """Wait until ``predicate()`` is truthy and return it; fail saying ``what``.
    ``changed`` is notified on every change; the timed waits catch anything else."""
    end = time.monotonic() + deadline
    with changed:
        while True:
            value = predicate()
            if value:
                return value
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{who}: waited {deadline}s for {what}")
            changed.wait(min(left, 0.2))
