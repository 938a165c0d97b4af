"""The Akana base stream: session, windows as StartDate/EndDate, start/count pages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

import requests
from singer_sdk.helpers.types import Context
from typing_extensions import override

from tap_ticketlogs.errors import SourceAPIError
from tap_ticketlogs.http.responses import RejectedResponseError, decoded_json
from tap_ticketlogs.sources.akana import records as akana_records
from tap_ticketlogs.sources.akana.auth import AkanaAuthenticator, AkanaSession
from tap_ticketlogs.sources.akana.pagination import StartCountPaginator
from tap_ticketlogs.streams.base import reads_records
from tap_ticketlogs.streams.windows import WINDOW_END, WINDOW_START, WindowedStream
from tap_ticketlogs.timeutil import parse_datetime


def is_xml(content_type: str) -> bool:
    """``text/xml``, ``application/xml``, ``application/vnd.soa.v81+xml``..."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.endswith(("/xml", "+xml"))


class AkanaStream(WindowedStream[int]):
    """An Akana transaction-log endpoint read per app version, window and page.

    Windows go out as ``StartDate``/``EndDate`` in GMT with ``TimeZone=GMT`` sent explicitly;
    ``Duration`` is never sent (both bounds are given, and its 2 h default must not apply).
    """

    source = "akana"
    source_label = "Akana"
    partition_key = "app_version_id"
    # The window is named by the context (window_start/window_end, UTC); the page by start.
    described_params = ("start",)
    # Either documented name of the array; `{}` is an empty page (an XML-to-JSON mapping
    # of an empty answer), any other object without them is not a txlogs answer.
    answer_keys = akana_records.ARRAY_KEYS
    empty_object_is_a_page = True

    _session: AkanaSession
    _authenticator: AkanaAuthenticator

    @override
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One session per stream, shared by every worker thread; nothing is sent until the
        # first request needs it.
        self._session = AkanaSession.from_section(self.source_config, timeout=self.timeout)
        self._authenticator = AkanaAuthenticator(self._session)

    @property
    @override
    def configured_partitions(self) -> list[dict[str, Any]]:
        return [{"app_version_id": app} for app in self.source_config["app_version_ids"]]

    @property
    @override
    def authenticator(self) -> AkanaAuthenticator:
        return self._authenticator

    @override
    def get_new_paginator(self) -> StartCountPaginator:
        return StartCountPaginator(self.page_size)

    @override
    def get_url_params(
        self, context: Context | None, next_page_token: int | None
    ) -> dict[str, Any]:
        assert context is not None  # every request belongs to one app version and one window
        section = self.source_config
        # None values (no contract) are left out by the SDK's encoder.
        return {
            "Environment": section["environment"],
            "ContractID": section.get("contract_id") or None,
            "StartDate": akana_records.request_date(context[WINDOW_START]),
            "EndDate": akana_records.request_date(context[WINDOW_END]),
            "TimeZone": akana_records.REQUEST_TIME_ZONE,
            "start": next_page_token or 0,
            "count": self.page_size,
        }

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES and is_xml(content_type):
            # The tap asks for JSON; an XML answer means the platform (or a gateway) ignores
            # Accept, which no retry changes: fail at once instead of retrying.
            raise RejectedResponseError(
                status,
                f"Akana answered with XML ({content_type}) although the tap asked for JSON "
                "(Accept: application/json)",
            )
        super().validate_response(response)

    @override
    def credentials_rejected_detail(self) -> str:
        cookie = self._session.cookie_name
        if self._session.can_login:
            return (
                f"Akana rejected the session (cookie {cookie}) even after logging in again; "
                "check that akana.email may monitor this app version, and akana.csrf_token"
            )
        return (
            f"Akana rejected the session (cookie {cookie} missing, invalid or expired; it "
            "lasts about 30 minutes): set a fresh akana.auth_token (and akana.csrf_token), "
            "or akana.email and akana.password so the tap logs in itself"
        )

    @override
    def body_problem(self, body: Any) -> str | None:
        return akana_records.body_problem(body)

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        if response.status_code == HTTPStatus.NO_CONTENT:
            return []
        return akana_records.transactions(decoded_json(response))

    @override
    def record_pages(self, context: Context | None) -> Iterable[list[dict[str, Any]]]:
        """Every transaction of the partition's windows, each once.

        The vendor page does not say whether ``EndDate`` is inclusive. A transaction exactly
        on a bound shared by two windows may then come back twice: it is emitted the first
        time only. Only such transactions are remembered, so memory stays small; nothing the
        platform returns is dropped for lying outside its window, since a platform that
        filtered on another clock would otherwise lose it.
        """
        bounds = {
            akana_records.request_instant(instant)
            for window in self.windows(context)
            for instant in window
        }
        on_bounds: set[Any] = set()

        def first_time(record: dict[str, Any]) -> bool:
            if self._request_time(record, context) not in bounds:
                return True
            transaction_id = record.get("TransactionID")
            if transaction_id is not None and transaction_id in on_bounds:
                return False
            on_bounds.add(transaction_id)
            return True

        for page in super().record_pages(context):
            yield [record for record in page if first_time(record)]

    def _request_time(self, record: dict[str, Any], context: Context | None) -> dt.datetime | None:
        value = record.get(akana_records.REPLICATION_KEY)
        try:
            return parse_datetime(value) if isinstance(value, str) else None
        except ValueError:
            raise SourceAPIError(
                source=self.source_label,
                stream=self.name,
                partition=", ".join(f"{key}={val}" for key, val in (context or {}).items()),
                status=None,
                detail=(
                    f"transaction {record.get('TransactionID')!r} has a "
                    f"{akana_records.REPLICATION_KEY} that is not a date-time: {value!r}"
                ),
            ) from None

    @override
    @reads_records
    def post_process(self, row: dict[str, Any], context: Context | None = None) -> dict[str, Any]:
        assert context is not None
        return akana_records.shape_transaction(row, context["app_version_id"])
