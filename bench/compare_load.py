"""What bench/compare.py asks of each side's API: timed GETs, a walk of every ARQ,
and ARQ cycles, alone or from many clients at once.

Both sides get the same requests with the same identity headers (our no-auth mode
and upstream's paste pipeline without ``authtoken`` read the same ones). An ARQ
cycle is what Nova does with an accelerator: create from a device profile, bind
with the host, the device's provider and an instance, wait until it reads Bound,
unbind, delete.
"""

import concurrent.futures
import dataclasses
import threading
import time
import uuid
from typing import Any

import requests

PROJECT = "9a4e3c1b2d5f4e6a8b7c0d1e2f3a4b5c"  # upstream wants a uuid-like project id
HEADERS = {
    "X-User-Id": "0b1c2d3e4f5a46b7c8d9e0f1a2b3c4d5",
    "X-Project-Id": PROJECT,
    "X-Roles": "admin,member,reader",
}
NOVA = {**HEADERS, "X-Service-Roles": "service"}  # only Nova binds, unbinds
PROFILE_GROUPS = [{"resources:FPGA": "1", "trait:CUSTOM_FAKE_DEVICE": "required"}]
BOUND_WAIT = 60.0


class Unexpected(Exception):
    """An answer the benchmark did not expect: the figures would mean nothing."""


@dataclasses.dataclass
class Side:
    """One side's API, the host its agent reports and that host's device provider."""

    name: str
    api: str
    host: str
    device_rp: str
    profile: str = ""
    logs: tuple[str, ...] = ()  # its API's logs: what an unexpected answer left there

    def session(self) -> requests.Session:
        return requests.Session()


def _call(
    session: requests.Session, method: str, url: str, expect: int, **kwargs: Any
) -> requests.Response:
    response = session.request(method, url, timeout=300, **kwargs)
    if response.status_code != expect:
        raise Unexpected(
            f"{method} {url} answered {response.status_code}, not {expect}: {response.text[:300]}"
        )
    return response


def create_profile(side: Side) -> None:
    side.profile = f"bench-{side.name}-{uuid.uuid4().hex[:6]}"
    body = [{"name": side.profile, "groups": PROFILE_GROUPS}]
    _call(
        side.session(), "POST", f"{side.api}/v2/device_profiles", 201, json=body, headers=HEADERS
    )


def timed_get(session: requests.Session, side: Side, path: str, count: int) -> list[float]:
    """Milliseconds of ``count`` GETs of ``path`` one after the other."""
    times = []
    for _ in range(count):
        start = time.perf_counter()
        _call(session, "GET", f"{side.api}{path}", 200, headers=HEADERS)
        times.append((time.perf_counter() - start) * 1000)
    return times


def walk(session: requests.Session, side: Side, expected: int) -> float:
    """Milliseconds to read every ARQ: following ``next`` links where the API pages
    (ours), in one answer where it does not (upstream)."""
    start = time.perf_counter()
    url: str | None = f"{side.api}/v2/accelerator_requests"
    seen = 0
    while url:
        body = _call(session, "GET", url, 200, headers=HEADERS).json()
        seen += len(body["arqs"])
        url = body.get("next")
    elapsed = (time.perf_counter() - start) * 1000
    if seen < expected:
        raise Unexpected(f"{side.name}: the walk saw {seen} ARQs, not {expected}")
    return elapsed


def _binding(side: Side, instance: str) -> list[dict[str, str]]:
    values = {"hostname": side.host, "device_rp_uuid": side.device_rp, "instance_uuid": instance}
    return [{"path": f"/{k}", "op": "add", "value": v} for k, v in values.items()]


def _unbinding() -> list[dict[str, str]]:
    return [
        {"path": f"/{p}", "op": "remove"} for p in ("hostname", "device_rp_uuid", "instance_uuid")
    ]


def _wait_bound(session: requests.Session, side: Side, arq: str) -> None:
    deadline = time.monotonic() + BOUND_WAIT
    while True:
        state = _call(
            session, "GET", f"{side.api}/v2/accelerator_requests/{arq}", 200, headers=HEADERS
        ).json()["state"]
        if state == "Bound":
            return
        if state == "BindFailed" or time.monotonic() > deadline:
            raise Unexpected(f"{side.name}: ARQ {arq} is {state} after its bind")
        time.sleep(0.005)


def cycle(session: requests.Session, side: Side) -> float:
    """Milliseconds of one ARQ cycle, create to delete."""
    base = f"{side.api}/v2/accelerator_requests"
    start = time.perf_counter()
    created = _call(
        session, "POST", base, 201, json={"device_profile_name": side.profile}, headers=HEADERS
    )
    arq = created.json()["arqs"][0]["uuid"]
    bind = {arq: _binding(side, str(uuid.uuid4()))}
    _call(session, "PATCH", base, 202, json=bind, headers=NOVA)
    _wait_bound(session, side, arq)
    _call(session, "PATCH", base, 202, json={arq: _unbinding()}, headers=NOVA)
    _call(session, "DELETE", f"{base}?arqs={arq}", 204, headers=NOVA)
    return (time.perf_counter() - start) * 1000


def cycles(session: requests.Session, side: Side, count: int) -> list[float]:
    return [cycle(session, side) for _ in range(count)]


def concurrent_cycles(side: Side, clients: int, each: int) -> tuple[float, list[float]]:
    """``clients`` threads doing ``each`` cycles at once: cycles per second over the
    whole, and each cycle's milliseconds."""
    ready = threading.Barrier(clients + 1)

    def client() -> list[float]:
        session = side.session()
        ready.wait()
        return cycles(session, side, each)

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        ready.wait()
        start = time.perf_counter()
        times = [t for f in futures for t in f.result()]
        elapsed = time.perf_counter() - start
    return clients * each / elapsed, times
