"""Exceptions whose message is the one line a user sees."""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class TicketLogsError(Exception):
    """An error the command line reports as a single line, without a traceback."""


class ConfigError(TicketLogsError):
    """The configuration is invalid; the message names the setting."""


class SourceAPIError(FatalAPIError, TicketLogsError):
    """A source answered in a way that cannot be retried.

    The message names the source, the stream, the partition and the HTTP status, so that
    a scheduler's one-line alert says where to look.
    """

    def __init__(
        self,
        *,
        source: str,
        stream: str,
        partition: str | None,
        status: int | None,
        detail: str,
    ) -> None:
        where = f"{source} {stream}"
        if partition:
            where += f" [{partition}]"
        status_text = f"HTTP {status}" if status is not None else "no HTTP status"
        super().__init__(f"{where}: {status_text}: {detail}")
        self.source = source
        self.stream = stream
        self.partition = partition
        self.status = status
