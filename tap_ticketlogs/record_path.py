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

from typing import Any

from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from tap_ticketlogs.output import BlockWriter, rfc3339
from tap_ticketlogs.sdk_compat import RecordWritingStream
from tap_ticketlogs.timeutil import utc_now


class LeanRecordPath(RecordWritingStream):
    """Mixin of every stream of the tap: one place where each record is written."""

    #: ``time_extracted`` of the records being written: read once per page, not per record.
    _extracted_at: str | None = None
    #: Whether the lean path applies, decided at the first record (selection is fixed then).
    _lean: bool | None = None

    def page_started(self) -> None:
        """A new page of records is about to be written: it was extracted now."""
        self._extracted_at = rfc3339(utc_now())

    @override
    def write_record(self, record: dict[str, Any]) -> None:
        """Finalise one record and write it, once per stream map (alias).

        The one place on the RECORD path where a record is written; the record hook
        (``before_record_message``, schema evolution) has already seen it.
        """
        writer = self.message_writer
        lean = self._lean
        if lean is None:
            lean = self._lean = self._lean_path_applies()
        if not lean or not isinstance(writer, BlockWriter):
            # Deselected fields or type conformance: the SDK's own path does it.
            self.write_record_as_sdk(record)
            return
        if self._extracted_at is None:
            self.page_started()
        extracted_at = self._extracted_at
        version = self.stream_version
        for stream_map in self.stream_maps:
            if type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled:
                mapped: dict[str, Any] | None = record
            else:
                mapped = stream_map.transform(record)
            if mapped is not None:  # else filtered out by a stream map
                writer.write_record(stream_map.stream_alias, mapped, version, extracted_at)

    def _lean_path_applies(self) -> bool:
        """Every field selected and no type conformance: nothing to remove or convert."""
        return all(self.mask.values()) and self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
