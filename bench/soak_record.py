"""What the soak's clients saw (bench/soak.py): latency and answers per kind of
request, the server errors, and a ledger of the ARQs they created."""

import dataclasses
import math
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import requests

T = TypeVar("T")
SAMPLES = 20  # problems kept verbatim, per list


@dataclasses.dataclass
class Recorder:
    """Thread-safe: every client thread records into the same one."""

    latencies: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    server_errors: list[str] = dataclasses.field(default_factory=list)  # 5xx
    transport_errors: list[str] = dataclasses.field(default_factory=list)  # no answer
    unexpected: list[str] = dataclasses.field(default_factory=list)  # a 4xx not allowed
    server_error_count: int = 0
    transport_error_count: int = 0
    unexpected_count: int = 0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def timed(self, kind: str, call: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return call()
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            with self._lock:
                self.latencies.setdefault(kind, []).append(elapsed)

    def http(
        self,
        session: requests.Session,
        kind: str,
        method: str,
        url: str,
        expect: tuple[int, ...],
        **kwargs: object,
    ) -> requests.Response | None:
        """One request; None when it got no answer (the failure is recorded)."""
        try:
            response = self.timed(
                kind,
                lambda: session.request(method, url, timeout=120, **kwargs),  # type: ignore[arg-type]
            )
        except requests.RequestException as err:
            self.problem("transport", f"{kind}: {method} {url}: {err!r}")
            return None
        if response.status_code >= 500:
            self.problem("server", f"{kind}: {method} {url}: {response.status_code} "
                                   f"{response.text[:300]}")  # fmt: skip
        elif response.status_code not in expect:
            self.problem("unexpected", f"{kind}: {method} {url}: {response.status_code} "
                                       f"{response.text[:300]}")  # fmt: skip
        return response

    def problem(self, which: str, text: str) -> None:
        with self._lock:
            if which == "server":
                self.server_error_count += 1
                samples = self.server_errors
            elif which == "transport":
                self.transport_error_count += 1
                samples = self.transport_errors
            else:
                self.unexpected_count += 1
                samples = self.unexpected
            if len(samples) < SAMPLES:
                samples.append(text)

    def rows(self) -> Iterator[tuple[str, int, float, float]]:
        """(kind, requests, p50 ms, p99 ms), by kind."""
        with self._lock:
            for kind, timings in sorted(self.latencies.items()):
                yield kind, len(timings), statistics.median(timings), percentile(timings, 0.99)


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclasses.dataclass
class Ledger:
    """The ARQs the clients created: alive until a DELETE is answered and they are gone.

    ``lost``: created and answered, then missing (404) before anyone deleted them.
    ``stuck``: a bind the soak waited for that never resolved, or a deleted ARQ still
    shown; both are looked at again after the settle period.
    """

    alive: set[str] = dataclasses.field(default_factory=set)
    deleted: set[str] = dataclasses.field(default_factory=set)
    lost: dict[str, str] = dataclasses.field(default_factory=dict)
    bind_failed: list[str] = dataclasses.field(default_factory=list)
    cycles: dict[str, int] = dataclasses.field(default_factory=dict)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def created(self, uuid: str) -> None:
        with self._lock:
            self.alive.add(uuid)

    def gone(self, uuid: str, how: str) -> None:
        """The API no longer shows ``uuid``: deleted (``how`` = "deleted") or lost."""
        with self._lock:
            self.alive.discard(uuid)
            if how == "deleted":
                self.deleted.add(uuid)
            else:
                self.lost[uuid] = how

    def failed(self, text: str) -> None:
        with self._lock:
            self.bind_failed.append(text)

    def cycle(self, kind: str) -> None:
        with self._lock:
            self.cycles[kind] = self.cycles.get(kind, 0) + 1
