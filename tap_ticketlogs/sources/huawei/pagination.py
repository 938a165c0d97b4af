"""Huawei pages: ``offset`` advanced by the entries received, until ``total_count``.

The endpoints document ``offset`` as the number of entries to skip (0..65 535) and ``limit``
as the page size (at most 100). An offset past 65 535 cannot be requested at all, so a list
longer than that is cut there: the paginator stops and reports it, it never loops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_ticketlogs.http.responses import decoded_json
from tap_ticketlogs.sources.huawei.settings import OFFSET_MAX

# Called with the response and the offset that could not be requested.
CeilingHandler = Callable[[requests.Response, int], None]


def next_offset(body: Any, list_key: str, offset: int) -> int | None:  # noqa: ANN401 - JSON
    """The offset of the next page, or None when the list is complete (or cannot go on).

    Stops on the last entry (``total_count``), on an empty page (a total that overstates
    what the API serves must not loop), and when no total is given.
    """
    if not isinstance(body, dict):
        return None
    entries = body.get(list_key)
    received = len(entries) if isinstance(entries, list) else 0
    total = body.get("total_count")
    if received == 0 or total is None:
        return None
    following = offset + received
    return following if following < int(total) else None


class OffsetTotalPaginator(BaseAPIPaginator[int]):
    """Offsets 0, n, 2n, … for a list whose answer carries ``total_count``."""

    def __init__(self, list_key: str, *, on_ceiling: CeilingHandler) -> None:
        super().__init__(0)
        self._list_key = list_key
        self._on_ceiling = on_ceiling

    @override
    def get_next(self, response: requests.Response) -> int | None:
        following = next_offset(decoded_json(response), self._list_key, self.current_value)
        if following is not None and following > OFFSET_MAX:
            self._on_ceiling(response, following)
            return None
        return following
