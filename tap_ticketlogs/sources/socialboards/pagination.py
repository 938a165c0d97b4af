"""Socialboards pages: ``skip`` advances by ``take`` until a short page.

Both list endpoints answer newest first (tickets by last thread activity when asked to, log
entries always, as the vendor's sample shows). A page whose oldest item is older than what
the run needs ends the paging early, but only while the pages really came in that order:
if the API ever answers out of order, every page is read, so no entry is lost to a wrong
assumption.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from tap_ticketlogs.http.responses import decoded_json


def envelope_data(body: Any) -> list[Any]:  # noqa: ANN401 - a parsed JSON body
    """The ``data`` list of a Socialboards envelope (empty when absent or null)."""
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, list) else []


class SkipTakePaginator(BaseAPIPaginator[int]):
    """``skip`` = items already read; stops on a short page or once past ``stop_before``.

    ``item_time`` gives the time an item is ordered by (None when it has none);
    ``stop_before`` is the oldest time still needed (None: read every page).
    """

    def __init__(
        self,
        take: int,
        *,
        item_time: Callable[[Any], dt.datetime | None] | None = None,
        stop_before: dt.datetime | None = None,
    ) -> None:
        super().__init__(0)
        self.take = take
        self._item_time = item_time
        self._stop_before = stop_before
        self._previous_oldest: dt.datetime | None = None
        self.out_of_order = False

    @override
    def has_more(self, response: requests.Response) -> bool:
        items = envelope_data(decoded_json(response))
        if len(items) < self.take:
            return False
        if self._item_time is None or self._stop_before is None:
            return True
        return not self._past_needed_range(items)

    def _past_needed_range(self, items: list[Any]) -> bool:
        times = [self._item_time(item) for item in items] if self._item_time else []
        known = [time for time in times if time is not None]
        descending = len(known) == len(times) and all(
            later >= earlier for later, earlier in itertools.pairwise(known)
        )
        if self._previous_oldest is not None and known and known[0] > self._previous_oldest:
            descending = False
        if not descending:
            self.out_of_order = True
        if self.out_of_order or not known:
            return False
        self._previous_oldest = known[-1]
        assert self._stop_before is not None
        return known[-1] < self._stop_before

    @override
    def get_next(self, response: requests.Response) -> int:
        return self.current_value + self.take
