"""How Singer messages leave the tap: records in blocks, every other message at once."""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import Message, RecordMessage
from typing_extensions import override

# Write at least this often even without a STATE message, so memory stays small.
_BLOCK_CHARS = 256 * 1024


def write_fully(text: str) -> None:
    """Write ``text`` to stdout, all of it, even if a signal handler runs meanwhile.

    A signal that interrupts a blocked write to a full pipe makes ``BufferedWriter.write``
    return a short count, and ``TextIOWrapper`` drops the rest silently: the records
    of a block would vanish while the STATE written after them claims them. ``os.write``
    reports every short write, so the loop sends what is left.
    """
    stream = sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        stream.write(text)  # not a file (a test's StringIO): nothing can be cut short
        stream.flush()
        return
    stream.flush()
    data = memoryview(text.encode(getattr(stream, "encoding", None) or "utf-8"))
    while data:
        data = data[os.write(fd, data) :]


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
        # A block half written when a signal handler wants to write (SIGTERM's STATE):
        # the handler's work waits until the block is out, or its line would land inside
        # a record's.
        self._writing = False
        self._when_written: Callable[[], None] | None = None

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
            self._writing = True
            try:
                write_fully(block)
            finally:
                self._writing = False
            deferred, self._when_written = self._when_written, None
            if deferred is not None:
                deferred()

    def after_current_write(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or, from a signal handler that interrupted a write, right
        after that write (on the same thread, once the block is complete)."""
        if self._writing:
            self._when_written = action
        else:
            action()
