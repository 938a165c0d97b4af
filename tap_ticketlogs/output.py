"""How Singer messages leave the tap: records in blocks, every other message at once."""

from __future__ import annotations

import sys
import threading
from typing import Any

from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import Message, RecordMessage
from typing_extensions import override

# Write at least this often even without a STATE message, so memory stays small.
_BLOCK_CHARS = 256 * 1024


class BlockWriter(SingerWriter):
    """Collects RECORD messages and writes them to stdout in blocks.

    The SDK writes and flushes every message: with stdout unbuffered (``PYTHONUNBUFFERED``,
    as Meltano and many schedulers run plugins) that is one system call per record, the
    largest single cost of the record path. Pending records go out before any other message
    (STATE, SCHEMA, BATCH...) and at 256 KiB, which keeps what matters: a loader sees a
    bookmark only after every record before it, and a tap killed mid-block loses only
    records whose STATE was never written, which a resumed run reads again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        # Re-entrant: the SDK's SIGTERM handler writes a final STATE from the main thread,
        # possibly while that thread is inside write_message.
        self._lock = threading.RLock()
        self._pending: list[str] = []
        self._pending_chars = 0

    @override
    def write_message(self, message: Message) -> None:
        line = self.format_message(message) + "\n"
        with self._lock:
            self._pending.append(line)
            self._pending_chars += len(line)
            full = self._pending_chars >= _BLOCK_CHARS
        if full or not isinstance(message, RecordMessage):
            self.flush()

    def flush(self) -> None:
        """Write every pending message now."""
        with self._lock:
            block, self._pending, self._pending_chars = "".join(self._pending), [], 0
        if block:
            sys.stdout.write(block)
            sys.stdout.flush()
