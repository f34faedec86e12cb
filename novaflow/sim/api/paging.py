"""Nova's limit/marker paging and the `{resource}_links` next link."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import Request

from novaflow.sim.api.deps import query_int
from novaflow.sim.errors import bad_request

T = TypeVar("T")
MAX_LIMIT = 1000


def page(
    request: Request,
    items: Sequence[T],
    key: Callable[[T], str],
    marker_keys: Callable[[T], tuple[str, ...]] | None = None,
    not_found: str = "marker [{marker}] not found",
) -> tuple[list[T], list[dict[str, str]] | None]:
    """Cut one page after `marker`; return it and the next link when the page is full."""
    params = request.query_params
    limit = query_int(params.get("limit"), "limit")
    marker = params.get("marker")
    start = 0
    if marker is not None:
        ids = marker_keys or (lambda item: (key(item),))
        for i, item in enumerate(items):
            if marker in ids(item):
                start = i + 1
                break
        else:
            raise bad_request(not_found.format(marker=marker))
    effective = MAX_LIMIT if limit is None else min(limit, MAX_LIMIT)
    chunk = list(items[start : start + effective])
    if not chunk or len(chunk) < effective:
        return chunk, None
    query = [(k, v) for k, v in params.multi_items() if k != "marker"]
    query.append(("marker", key(chunk[-1])))
    href = f"{str(request.url).split('?')[0]}?{urlencode(query)}"
    return chunk, [{"rel": "next", "href": href}]
