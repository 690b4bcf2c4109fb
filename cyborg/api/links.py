"""Absolute links in responses, right however the API is mounted.

The base is ``[api] public_endpoint`` when set (e.g. ``https://cloud.example.com/
accelerator``), else the request's own URL: host and SCRIPT_NAME, i.e. the mount
prefix (``/accelerator`` under uwsgi or behind a proxy that sets X-Forwarded-Prefix).
"""

from typing import Any

import webob


def base_url(request: webob.Request, public_endpoint: str | None) -> str:
    if public_endpoint:
        return public_endpoint.rstrip("/")
    return (request.host_url + request.script_name).rstrip("/")


def self_link(base: str, collection: str, uuid: str) -> list[dict[str, Any]]:
    return [{"href": f"{base}/v2/{collection}/{uuid}", "rel": "self"}]


def with_bookmark(base: str, collection: str, uuid: str) -> list[dict[str, Any]]:
    return [
        *self_link(base, collection, uuid),
        {"href": f"{base}/{collection}/{uuid}", "rel": "bookmark"},
    ]
