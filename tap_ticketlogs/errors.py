"""Exceptions whose message is the one line a user sees."""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class TicketLogsError(Exception):
    """An error the command line reports as a single line, without a traceback.

    One line whatever it quotes: a line break or other control character from a setting's
    name, a value or an answer's body is shown escaped (``\\n``), so a scheduler's alert
    and ``grep`` see the whole message, and a quoted body cannot forge a second line.
    """

    def __str__(self) -> str:
        return _one_line(super().__str__())


def _one_line(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


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
