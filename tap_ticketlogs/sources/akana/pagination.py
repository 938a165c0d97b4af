"""Akana pages: ``start`` offset + ``count``, within one closed time window."""

from __future__ import annotations

from http import HTTPStatus

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_ticketlogs.http.responses import decoded_json
from tap_ticketlogs.sources.akana.records import transactions


def records_received(response: requests.Response) -> int:
    """How many transactions a response carried (a 204 carries none)."""
    if response.status_code == HTTPStatus.NO_CONTENT:
        return 0
    return len(transactions(decoded_json(response)))


class StartCountPaginator(BaseAPIPaginator[int]):
    """Advances ``start`` by the records received; a short page or a 204 ends the window.

    Offsets are stable because every window ends at least ``lag_minutes`` before now:
    transactions still arriving cannot shift a window that is already closed.
    """

    def __init__(self, page_size: int) -> None:
        super().__init__(0)
        self.page_size = page_size

    @override
    def has_more(self, response: requests.Response) -> bool:
        return records_received(response) >= self.page_size

    @override
    def get_next(self, response: requests.Response) -> int:
        return self.current_value + records_received(response)
