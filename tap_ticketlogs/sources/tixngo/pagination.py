"""TIXNGO pages: ``paginationKey`` ← the previous page's opaque ``nextPageKey``."""

from __future__ import annotations

from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_ticketlogs.http.responses import decoded_json


def next_page_key(body: Any) -> str | None:  # noqa: ANN401 - a parsed JSON body
    """The key of the next page, or None on the last page (absent, null or empty).

    The vendor page documents a ``pagination`` block; a top-level ``nextPageKey`` is
    accepted too, since the page does not spell the block out.
    """
    if not isinstance(body, dict):
        return None
    block = body.get("pagination")
    key = block.get("nextPageKey") if isinstance(block, dict) else None
    if key is None:
        key = body.get("nextPageKey")
    return str(key) if key not in (None, "") else None


class NextPageKeyPaginator(BaseAPIPaginator[str | None]):
    """Follows ``nextPageKey`` until the API gives none."""

    def __init__(self) -> None:
        super().__init__(None)

    @override
    def get_next(self, response: requests.Response) -> str | None:
        return next_page_key(decoded_json(response))
