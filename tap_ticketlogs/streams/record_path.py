"""The lean record path: where each record becomes a RECORD message, and nothing more.

The SDK's per-record path deselects properties (a walk over every field, even when every
field is selected), reads the clock for ``time_extracted``, builds a message object and
syncs child streams of streams that have none. :class:`LeanRecordPath` keeps every
guarantee of that path (stream maps and aliases, ``time_extracted``, BATCH untouched,
partition keys added to records) and skips the work that protects nothing; a stream with
deselected fields or type conformance goes through the SDK's own path. The SDK internals
this relies on are named in ``sdk_compat.py`` (entries 9 and 11).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform, StreamMap
from typing_extensions import override

from tap_ticketlogs.sdk_compat import PageSyncStream
from tap_ticketlogs.streams.output import BlockWriter, rfc3339
from tap_ticketlogs.timeutil import utc_now

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class LeanRecordPath(PageSyncStream):
    """Mixin of every stream of the tap: one place where each record is written."""

    #: ``time_extracted`` of the records being written: read once per page, not per record.
    _extracted_at: str | None = None
    #: Whether the lean path applies, decided at the first record (selection is fixed then).
    _lean: bool | None = None
    #: Where the records of the page being written go, worked out at its first record:
    #: one (record writer, stream map or None for "as it is") per stream map (alias).
    _targets: list[tuple[Callable[[dict[str, Any]], None], StreamMap | None]] | None = None

    def page_started(self) -> None:
        """A new page of records is about to be written: it was extracted now."""
        self._extracted_at = rfc3339(utc_now())
        self._targets = None

    @override
    def stream_maps_changed(self) -> None:
        self._targets = None

    @override
    def write_record(self, record: dict[str, Any]) -> None:
        """Finalise one record and write it, once per stream map (alias).

        The one place on the RECORD path where a record is written; the record hook
        (``before_record_message``, schema evolution) has already seen it.
        """
        targets = self._targets
        if targets is None:
            targets = self._targets = self._record_targets()
        if not targets:
            # Deselected fields or type conformance: the SDK's own path does it.
            self.write_record_as_sdk(record)
            return
        for write, stream_map in targets:
            if stream_map is None:
                write(record)
            else:
                mapped = stream_map.transform(record)
                if mapped is not None:  # else filtered out by a stream map
                    write(mapped)

    @override
    def writes_pages(self) -> bool:
        """The lean path applies, and the tap's own writer writes."""
        return self._lean_writer() is not None

    @override
    def write_page(
        self,
        page: list[dict[str, Any]],
        context: Context | None,
        partition_context: Context | None,
    ) -> int:
        post_process, before_record_message = self.post_process, self.before_record_message
        write_record = self.write_record
        partition_items = tuple((partition_context or {}).items())
        targets = self._targets
        if targets is None:
            targets = self._targets = self._record_targets()
        # One stream written as it is (no alias, map or flattening): its writer directly,
        # for as long as the hook leaves the targets alone (a new SCHEMA resets them).
        direct = targets[0][0] if len(targets) == 1 and targets[0][1] is None else None
        written = 0
        for raw in page:
            record = post_process(raw, context)
            if record is None:
                continue
            # What the SDK adds to every record: its partition keys (RecordWritingStream).
            for key, value in partition_items:
                if key not in record:
                    record[key] = value
            record = before_record_message(record)
            if direct is not None and self._targets is targets:
                direct(record)
            else:
                write_record(record)
            written += 1
        if written:
            self.state_manager.is_flushed = False
        return written

    def _record_targets(self) -> list[tuple[Callable[[dict[str, Any]], None], StreamMap | None]]:
        """The writer and map of each stream map, for the records of this page; empty when
        the SDK's own path must write them."""
        writer = self._lean_writer()
        if writer is None:
            return []
        if self._extracted_at is None:
            self.page_started()
        extracted_at, version = self._extracted_at, self.stream_version
        return [
            (
                writer.record_writer(stream_map.stream_alias, version, extracted_at),
                None
                if type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled
                else stream_map,
            )
            for stream_map in self.stream_maps
        ]

    def _lean_writer(self) -> BlockWriter | None:
        """The tap's writer where the lean path applies, else None (the SDK's path)."""
        if self._lean is None:
            self._lean = self._lean_path_applies()
        writer = self.message_writer
        return writer if self._lean and isinstance(writer, BlockWriter) else None

    def _lean_path_applies(self) -> bool:
        """Every field selected and no type conformance: nothing to remove or convert."""
        return all(self.mask.values()) and self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
