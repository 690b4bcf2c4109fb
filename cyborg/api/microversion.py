"""API microversions: ``OpenStack-API-Version: accelerator 2.x``.

Versions (each adds to the one before), with the constant that gates each feature:

* 2.0 - Ussuri baseline; the version a request without the header gets.
* 2.1 ``PROJECT_ID_IN_BIND`` - ``/project_id`` accepted in an ARQ bind patch
  (administrators only).
* 2.2 ``PROFILE_BY_NAME`` - ``GET /v2/device_profiles/{name}`` accepts a profile name.
* 2.3 ``DEVICE_STATUS`` - devices carry ``status`` (``enabled`` / ``maintaining``).
* 2.4 ``STANDALONE_BIND`` - an ARQ bind patch may leave out ``/device_rp_uuid``: the
  conductor picks a device on ``/hostname`` and claims it in Placement itself
  (standalone, no Nova), within the project's quota (403 over it).
* 2.5 ``SCHEDULER`` - the graph-aware scheduler: ``/v2/graphs`` (upload, list, show),
  ``POST /v2/graphs/{uuid}/plans``, ``/v2/plans/{uuid}`` with ``claim`` and
  ``measurements``; 404 below 2.5.
* 2.6 ``DEVICE_HOLDERS`` - deployables carry ``holders``: who holds each of their
  devices, a VM (``instance_uuid``) or a Kubernetes pod (its ResourceClaim's
  ``claim_uid``, ``namespace`` and ``name``); only ``type`` without policy
  ``cyborg:deployable:get_holders``. Not there below 2.6.
* 2.7 ``PLAN_PICTURES`` - ``GET /v2/plans/{uuid}`` with ``Accept: image/svg+xml``
  draws the plan (the graph coloured by device, each device's timeline), and a plan's
  ``links`` name the picture; ``GET /v2/plans`` lists plans (``graph_uuid`` filter,
  paginated). Below 2.7 the picture is 406 and the list 404.
* 2.8 ``COLOCATION`` - a JSON graph (``POST /v2/graphs``) may name co-location groups
  (``colocate``: lists of node names that must share a device); below 2.8 the field is
  refused (400) as unknown.
* 2.9 ``JOBS`` - cluster-scheduling jobs: ``POST /v2/jobs`` queues a job (a graph or a
  job type with measured throughputs, a device count or an elastic range, a priority
  and a weight), ``GET /v2/jobs`` (paginated; ``state`` and, for administrators,
  ``project_id`` filters), ``GET /v2/jobs/{uuid}``, ``DELETE /v2/jobs/{uuid}``
  (cancels a queued or allocated job); 404 below 2.9.
"""

import re
from typing import NamedTuple

import microversion_parse
from oslo_log import log

from cyborg.common import exception

LOG = log.getLogger(__name__)

SERVICE_TYPE = "accelerator"
HEADER = "OpenStack-API-Version"
MIN_HEADER = "OpenStack-API-Minimum-Version"
MAX_HEADER = "OpenStack-API-Maximum-Version"

_BARE_VERSION = re.compile(r"^\s*(\d+)\.(\d+)\s*$")


class Version(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, needed: "Version") -> bool:
        return self >= needed


# One constant per version of the list above: a gate names the feature, never a number
# (tests/unit/test_microversion_gates.py lists every gate).
PROJECT_ID_IN_BIND = Version(2, 1)
PROFILE_BY_NAME = Version(2, 2)
DEVICE_STATUS = Version(2, 3)
STANDALONE_BIND = Version(2, 4)
SCHEDULER = Version(2, 5)
DEVICE_HOLDERS = Version(2, 6)
PLAN_PICTURES = Version(2, 7)
COLOCATION = Version(2, 8)
JOBS = Version(2, 9)

MIN_VERSION = Version(2, 0)
MAX_VERSION = max(
    PROJECT_ID_IN_BIND,
    PROFILE_BY_NAME,
    DEVICE_STATUS,
    STANDALONE_BIND,
    SCHEDULER,
    DEVICE_HOLDERS,
    PLAN_PICTURES,
    COLOCATION,
    JOBS,
)


class VersionNotAcceptable(exception.CyborgException):
    code = 406
    msg_fmt = (
        "Version %(version)s was requested but is not supported; this API supports "
        "accelerator %(min)s to %(max)s."
    )


class InvalidVersionHeader(exception.CyborgException):
    code = 406
    msg_fmt = "Invalid value for OpenStack-API-Version header: %(value)s"


class FeatureNeedsVersion(exception.CyborgException):
    code = 406
    msg_fmt = "%(feature)s needs API microversion %(version)s or later (header %(header)s)."


def from_headers(headers: dict[str, str]) -> Version:
    """The version a request asks for; 2.0 when it names none."""
    raw = microversion_parse.get_version(headers, service_type=SERVICE_TYPE)
    if raw is None:
        bare = next((v for k, v in headers.items() if k.lower() == HEADER.lower()), None)
        if bare is None or not _BARE_VERSION.match(bare):
            return MIN_VERSION
        # Older clients (bug #2049489) sent the number without the service type.
        LOG.warning("OpenStack-API-Version without service type: %r", bare)
        raw = bare.strip()
    raw = raw.strip()
    if raw == "latest":
        return MAX_VERSION
    match = _BARE_VERSION.match(raw)
    if not match:
        raise InvalidVersionHeader(value=raw[:64])
    version = Version(int(match.group(1)), int(match.group(2)))
    if version.major != MAX_VERSION.major or not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotAcceptable(version=str(version), min=MIN_VERSION, max=MAX_VERSION)
    return version


def require(version: Version, needed: Version, feature: str) -> None:
    """406 naming ``feature`` when ``version`` is older than ``needed``."""
    if not version.at_least(needed):
        raise FeatureNeedsVersion(feature=feature, version=str(needed), header=header_line(needed))


def header_value(version: Version) -> str:
    """What a client sends to ask for ``version``: ``accelerator 2.x``."""
    return f"{SERVICE_TYPE} {version}"


def header_line(version: Version) -> str:
    """``OpenStack-API-Version: accelerator 2.x``, for messages that say what to send."""
    return f"{HEADER}: {header_value(version)}"


def versions_since(first: Version) -> list[Version]:
    """The versions from ``first`` to MAX_VERSION."""
    return [Version(first.major, minor) for minor in range(first.minor, MAX_VERSION.minor + 1)]


def response_headers(version: Version) -> list[tuple[str, str]]:
    return [
        (HEADER, header_value(version)),
        (MIN_HEADER, str(MIN_VERSION)),
        (MAX_HEADER, str(MAX_VERSION)),
        ("Vary", HEADER),
    ]
