"""Client threads that each run ``_run`` until the ``with`` block ends."""

import threading


class ClientThreads:
    """``threads`` threads of ``_run``, started on entering and stopped on leaving.

    ``_run`` loops until ``self._stop`` is set; leaving waits ``join_timeout`` seconds
    for each thread to see it (a request in flight finishes first)."""

    join_timeout = 180.0

    def __init__(self, threads: int) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "ClientThreads":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.join_timeout)

    def _run(self) -> None:
        raise NotImplementedError
