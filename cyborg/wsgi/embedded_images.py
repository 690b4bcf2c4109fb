"""The all-in-one's read-only Image API: the bitstreams it offers, as Glance serves them.

cyborg-aio has no Glance; its agent downloads bitstreams and its conductor looks up
``accel:function_id`` through the same ``[glance]`` client as a deployment does,
pointed here. Served under ``/image`` on the API's port, what Cyborg calls of the
Image API v2:

* ``GET /v2/images?<property>=<value>...``: the images whose properties all match;
* ``GET /v2/images/{id}``: an image's metadata (``size``, ``checksum``,
  ``os_hash_algo``/``os_hash_value`` and its own properties);
* ``GET /v2/images/{id}/file``: its data, with ``Content-MD5``.

Anything else is a 404 (unknown path or image) or a 405 (not GET): images are the
ones the all-in-one was started with. It is mounted beside Placement
(cyborg.wsgi.embedded_placement.mount with this PREFIX).
"""

import dataclasses
import hashlib
import json
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

PREFIX = "/image"


@dataclasses.dataclass(frozen=True)
class Image:
    id: str
    name: str
    data: bytes
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {
            **self.properties,
            "id": self.id,
            "name": self.name,
            "status": "active",
            "visibility": "public",
            "disk_format": "raw",
            "container_format": "bare",
            "size": len(self.data),
            "checksum": hashlib.md5(self.data, usedforsecurity=False).hexdigest(),
            "os_hash_algo": "sha512",
            "os_hash_value": hashlib.sha512(self.data).hexdigest(),
            "file": f"/v2/images/{self.id}/file",
        }


def _json(start_response: StartResponse, status: str, body: Any) -> list[bytes]:
    encoded = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(encoded)))]
    )
    return [encoded]


def _error(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    encoded = text.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(encoded)))])
    return [encoded]


def application(images: Sequence[Image]) -> WSGIApplication:
    by_id = {image.id: image for image in images}

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return _error(start_response, "405 Method Not Allowed", "the images are read-only")
        parts = environ.get("PATH_INFO", "").strip("/").split("/")
        if parts == ["v2", "images"]:
            wanted = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
            wanted.pop("limit", None)
            found = [
                image.metadata()
                for image in images
                if all(str(image.metadata().get(k)) == v for k, v in wanted.items())
            ]
            return _json(start_response, "200 OK", {"images": found})
        if len(parts) not in (3, 4) or parts[:2] != ["v2", "images"]:
            return _error(start_response, "404 Not Found", "no such route")
        image = by_id.get(parts[2])
        if image is None:
            return _error(start_response, "404 Not Found", f"no image {parts[2]}")
        if len(parts) == 3:
            return _json(start_response, "200 OK", image.metadata())
        if parts[3] != "file":
            return _error(start_response, "404 Not Found", "no such route")
        start_response(
            "200 OK",
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Length", str(len(image.data))),
                ("Content-MD5", image.metadata()["checksum"]),
            ],
        )
        return [image.data]

    return app
