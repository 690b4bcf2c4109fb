"""Turn list query parameters into a PageRequest, and build the ``next`` link."""

import urllib.parse
from typing import Any

from cyborg.common import exception
from cyborg.objects import pagination


def page_request(query: dict[str, str], max_limit: int) -> pagination.PageRequest:
    """Limit defaults to (and is capped at) ``[api] max_limit``."""
    limit = max_limit
    if "limit" in query:
        limit = int(query["limit"])
        if limit < 1:
            raise exception.InvalidParameterValue(name="limit", reason="it must be 1 or more")
        limit = min(limit, max_limit)
    return pagination.PageRequest(
        limit=limit,
        marker=query.get("marker"),
        sort_key=query.get("sort_key", "created_at"),
        sort_dir=query.get("sort_dir", "asc"),
    )


def next_link(
    collection_url: str,
    query: dict[str, str],
    page: pagination.PageRequest,
    items: list,
    last_uuid: str | None,
) -> str | None:
    """The URL of the next page, when this page was full."""
    if page.limit is None or len(items) < page.limit or last_uuid is None:
        return None
    params = {**query, "limit": str(page.limit), "marker": last_uuid}
    return f"{collection_url}?{urllib.parse.urlencode(sorted(params.items()))}"


def listing(
    collection: str,
    base: str,
    query: dict[str, str],
    page: pagination.PageRequest,
    items: list[Any],
    rendered: list[dict[str, Any]],
) -> dict[str, Any]:
    """``{collection: rendered}``, plus ``next`` when the page was full."""
    body: dict[str, Any] = {collection: rendered}
    href = next_link(
        f"{base}/v2/{collection}", query, page, items, items[-1].uuid if items else None
    )
    if href:
        body["next"] = href
    return body
