"""Quiet by default: the SDK's per-partition INFO lines are kept for DEBUG.

The SDK logs two lines for every partition it syncs ("Beginning sync of ... with context
keys" and "Starting incremental sync of ... with bookmark value"). For a child stream a
partition is one ticket or case: 100 000 tickets would write 200 000 lines that say less
than the one summary line per stream (run_stats). Windowed streams keep theirs (one per
mobile app or app version: few, and they name each partition's bookmark).
"""

from __future__ import annotations

import logging
import re

from singer_sdk import Stream

# The SDK's format strings (Stream.sync and its state manager); a test pins them.
PER_PARTITION_MESSAGES = (
    "Beginning sync of '%s' in %s mode with context keys: %s",
    "Starting incremental sync of '%s' with bookmark value: %s",
)
# The tap reads the environment itself (env_config); the SDK's note says the opposite.
MISLEADING_TAP_MESSAGES = ("Skipping parse of env var settings...",)


class _DropBelowDebug(logging.Filter):
    """Drops the given messages unless the run logs at DEBUG.

    The root logger's level is the run's (``TAP_TICKETLOGS_LOGLEVEL``, the SDK's logging
    config); the plugin's own logger may be more verbose than its handlers print.
    """

    def __init__(self, messages: tuple[str, ...]) -> None:
        super().__init__()
        # Matched on the formatted text: the redacting record factory (redaction.py) has
        # already merged the arguments into the message.
        self._patterns = [re.compile(re.escape(form).replace("%s", ".*")) for form in messages]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not any(pattern.fullmatch(message) for pattern in self._patterns):
            return True
        return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


def _add_once(logger: logging.Logger, messages: tuple[str, ...]) -> None:
    # Loggers live as long as the process; a second tap or discovery adds no second filter.
    if not any(isinstance(existing, _DropBelowDebug) for existing in logger.filters):
        logger.addFilter(_DropBelowDebug(messages))


def quiet_sdk_notes(tap_logger: logging.Logger) -> None:
    """Keep the SDK's misleading env note for DEBUG (call before the SDK's __init__)."""
    _add_once(tap_logger, MISLEADING_TAP_MESSAGES)


def quiet_partition_lines(streams: list[Stream]) -> None:
    """Keep the per-partition lines of child streams for DEBUG."""
    for stream in streams:
        if stream.parent_stream_type is not None:
            _add_once(stream.logger, PER_PARTITION_MESSAGES)
