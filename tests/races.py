"""Run callables at the same moment in threads, and collect how each ended."""

import random
import threading
import time
from collections.abc import Callable

Outcomes = dict[str, BaseException | None]  # side -> what it raised (None: it won)


def run_together(
    sides: dict[str, Callable[[], object]], *, jitter: dict[str, float] | None = None
) -> Outcomes:
    """Start every side at once (a barrier); a side in ``jitter`` then waits up to that
    many seconds, so that the order varies from run to run. Fails if one hangs."""
    start = threading.Barrier(len(sides))
    outcomes: Outcomes = {}
    lock = threading.Lock()

    def run(name: str, side: Callable[[], object]) -> None:
        start.wait()
        delay = (jitter or {}).get(name, 0.0)
        if delay:
            time.sleep(random.uniform(0, delay))  # jitter, not a wait for anything
        try:
            side()
            result: BaseException | None = None
        except BaseException as err:
            result = err
        with lock:
            outcomes[name] = result

    threads = [threading.Thread(target=run, args=item) for item in sides.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a side of the race hung"
    return outcomes
