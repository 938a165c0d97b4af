"""How Singer messages leave the tap: msgspec-encoded, records in blocks, the rest at once."""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import msgspec
from singer_sdk.io_base import SingerWriter
from singer_sdk.singerlib import Message, RecordMessage, SchemaMessage
from typing_extensions import override

from tap_ticketlogs.timeutil import rfc3339

# Write at least this often even without a STATE message, so memory stays small.
_BLOCK_BYTES = 256 * 1024
_NEWLINE = ord("\n")


def _encode_other(value: Any) -> Any:  # noqa: ANN401 - whatever a record may hold
    """Values JSON has no type for, as the SDK's own writer gives them: text."""
    return str(value)


#: Decimals (how bodies are parsed: exact numbers) go out as JSON numbers, as the SDK does.
ENCODER = msgspec.json.Encoder(enc_hook=_encode_other, decimal_format="number")


def _message_dict(message: Message) -> dict[str, Any]:
    """The message as the SDK's ``to_dict`` gives it; for SCHEMA without its deep copy
    (``dataclasses.asdict`` of the whole schema), which cost more than encoding it."""
    if type(message) is SchemaMessage:
        fields = (
            ("type", message.type),
            ("stream", message.stream),
            ("schema", message.schema),
            ("key_properties", message.key_properties),
            ("bookmark_properties", message.bookmark_properties),
        )
        return {name: value for name, value in fields if value is not None}
    return message.to_dict()


def write_fully(data: bytes | bytearray) -> None:
    """Write ``data`` (UTF-8 JSON lines) to stdout, all of it, even if a signal handler
    runs meanwhile.

    A signal that interrupts a blocked write to a full pipe makes ``BufferedWriter.write``
    return a short count, and ``TextIOWrapper`` drops the rest silently: the records
    of a block would vanish while the STATE written after them claims them. ``os.write``
    reports every short write, so the loop sends what is left.
    """
    stream = sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        stream.write(bytes(data).decode())  # not a file (a test's StringIO): nothing is cut
        stream.flush()
        return
    stream.flush()  # whatever was written as text goes first
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class BlockWriter(SingerWriter):
    """Encodes messages with msgspec and writes RECORD messages to stdout in blocks.

    The SDK encodes with simplejson and writes and flushes every message: with stdout
    unbuffered (``PYTHONUNBUFFERED``, as Meltano and many schedulers run plugins) that is
    one system call per record. Here records are encoded straight into one buffer; pending
    records go out before any other message (STATE, SCHEMA, BATCH...) and at 256 KiB, which
    keeps what matters: a loader sees a bookmark only after every record before it, and a
    tap killed mid-block loses only records whose STATE was never written, which a resumed
    run reads again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, **kwargs)
        # Re-entrant: the SDK's SIGTERM handler writes a final STATE from the main thread,
        # possibly while that thread is inside write_message.
        self._lock = threading.RLock()
        self._pending = bytearray()
        # The record writer of the RECORD envelope last written by write_record.
        self._envelope: tuple[str, int | None, str | None] | None = None
        self._envelope_writer: Callable[[dict[str, Any]], None] | None = None
        # A block half written, or a record half appended, when a signal handler wants to
        # write (SIGTERM's STATE): the handler's work waits until the block is out or the
        # record complete, or its line would land inside a record's.
        self._writing = False
        self._when_written: Callable[[], None] | None = None
        # The SCHEMA message last written per stream, encoded.
        self._schemas: dict[str, bytes] = {}

    @override
    def format_message(self, message: Message) -> str:
        return ENCODER.encode(_message_dict(message)).decode()

    @override
    def write_message(self, message: Message) -> None:
        if isinstance(message, RecordMessage):
            time_extracted = message.time_extracted
            self.write_record(
                message.stream,
                message.record,
                message.version,
                rfc3339(time_extracted) if time_extracted else None,
            )
            return
        data = ENCODER.encode(_message_dict(message))
        if isinstance(message, SchemaMessage):
            # The SDK writes a stream's SCHEMA again for every partition of a child stream
            # (every ticket, every case): the same message, thousands of times, which a
            # loader has to read and compare. Once per stream is enough until it changes
            # (schema evolution, schema_evolution.py, writes a different one).
            if self._schemas.get(message.stream) == data:
                return
            self._schemas[message.stream] = data
        with self._lock:
            self._pending += data
            self._pending += b"\n"
        self.flush()

    def write_record(
        self,
        stream: str,
        record: dict[str, Any],
        version: int | None,
        time_extracted: str | None,
    ) -> None:
        """Append one RECORD message (the same JSON the SDK's ``RecordMessage`` gives)."""
        envelope = (stream, version, time_extracted)
        if envelope != self._envelope or self._envelope_writer is None:
            self._envelope_writer = self.record_writer(stream, version, time_extracted)
            self._envelope = envelope
        self._envelope_writer(record)

    def record_writer(
        self, stream: str, version: int | None, time_extracted: str | None
    ) -> Callable[[dict[str, Any]], None]:
        """A function appending RECORD messages of one stream, version and extraction time.

        Only the record is encoded per call: what surrounds it is the same for every record
        of a stream and page, encoded once here. A signal handler that runs while a record
        is half appended (``after_current_write``) is run once the record is complete.
        """
        head = ENCODER.encode({"type": "RECORD", "stream": stream, "record": None})
        head = head[: -len(b"null}")]
        extra: dict[str, Any] = {}
        if version is not None:
            extra["version"] = version
        if time_extracted is not None:
            extra["time_extracted"] = time_extracted
        tail = b"," + ENCODER.encode(extra)[1:] + b"\n" if extra else b"}\n"
        lock, encode_into = self._lock, ENCODER.encode_into

        def write(record: dict[str, Any]) -> None:
            with lock:
                pending = self._pending
                pending += head
                encode_into(record, pending, -1)
                pending += tail
            if self._when_written is not None:
                self._run_deferred()
            if len(pending) >= _BLOCK_BYTES:
                self.flush()

        return write

    def flush(self) -> None:
        """Write every pending message now."""
        with self._lock:
            block, self._pending = self._pending, bytearray()
        if block:
            self._writing = True
            try:
                write_fully(block)
            finally:
                self._writing = False
            self._run_deferred()

    def after_current_write(self, action: Callable[[], None]) -> None:
        """Run ``action`` now, or, from a signal handler that interrupted a write or the
        appending of a record, right after it (on the same thread, once the block is out or
        the record complete)."""
        pending = self._pending
        if self._writing or (pending and pending[-1] != _NEWLINE):
            self._when_written = action
        else:
            action()

    def _run_deferred(self) -> None:
        deferred, self._when_written = self._when_written, None
        if deferred is not None:
            deferred()
