"""API microversions: ``OpenStack-API-Version: accelerator 2.x``.

Versions (each adds to the one before):

* 2.0 - Ussuri baseline; the version a request without the header gets.
* 2.1 - ``/project_id`` accepted in an ARQ bind patch (administrators only).
* 2.2 - ``GET /v2/device_profiles/{name}`` accepts a profile name.
* 2.3 - devices carry ``status`` (``enabled`` / ``maintaining``).
* 2.4 - an ARQ bind patch may leave out ``/device_rp_uuid``: the conductor picks a
  device on ``/hostname`` and claims it in Placement itself (standalone, no Nova),
  within the project's quota (403 over it).
* 2.5 - the graph-aware scheduler: ``/v2/graphs`` (upload, list, show),
  ``POST /v2/graphs/{uuid}/plans``, ``/v2/plans/{uuid}`` with ``claim`` and
  ``measurements``; 404 below 2.5.
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

    def at_least(self, minor: int) -> bool:
        return self.minor >= minor


MIN_VERSION = Version(2, 0)
MAX_VERSION = Version(2, 5)


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


def require(version: Version, minor: int, feature: str) -> None:
    if not version.at_least(minor):
        raise FeatureNeedsVersion(
            feature=feature, version=f"2.{minor}", header=f"{HEADER}: {SERVICE_TYPE} 2.{minor}"
        )


def response_headers(version: Version) -> list[tuple[str, str]]:
    return [
        (HEADER, f"{SERVICE_TYPE} {version}"),
        (MIN_HEADER, str(MIN_VERSION)),
        (MAX_HEADER, str(MAX_VERSION)),
        ("Vary", HEADER),
    ]
