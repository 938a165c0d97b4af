"""Every singer-sdk internal the tap relies on, in one place, each entry by its name.

The rest of the package uses only the SDK's public API. ``tests/test_sdk_compat.py`` pins each
entry below (its test is named after the entry) and fails naming it when an SDK release changes
what it relies on; it also checks that no other module uses an underscored SDK name. CI runs the
suite on the pinned and on the newest singer-sdk. What each entry buys, measured, is in
``docs/sdk-coupling.md``.

Tap entries (:class:`SDKTap`):

- **config check**: ``PluginBase.__init__`` always calls ``PluginBase._validate_config`` (with
  ``validate_config=False`` too: it then logs a warning and fills in defaults); the tap routes
  it to its public :meth:`SDKTap.check_config`, which registers the secrets with the redactor
  before any line is logged and reports the first problem in one line naming the setting.
- **signal handler**: ``PluginBase._handle_termination`` is the SIGTERM/SIGINT handler; the tap
  runs it once a block of records being written is complete (:meth:`SDKTap.on_termination`).
- **failed sync**: ``Tap.sync_all`` is final for type checkers and has no hook for a failure;
  :meth:`SDKTap.on_fatal_error` writes the STATE the throttle held back before the error.
- **CLI config**: the SDK's CLI callbacks get ``--config`` as a private ``_ConfigInput``;
  :func:`cli_config_input` reads it for the tap's own ``--test``.
- **environment prefix**: :func:`env_var_prefix` spells ``PluginBase._env_var_prefix``'s rule for
  the vendor sections' variables (``TAP_TICKETLOGS_TIXNGO_API_KEY``).
- **authentication per attempt** (nothing overridden): ``RESTStream._request``, wrapped by
  ``request_decorator``, calls the authenticator on every attempt, so a login or a renewal runs
  inside the retries.

Stream entries (:class:`SDKStream`):

- **owned bookmarks**: ``Stream._increment_stream_state`` advances a bookmark per record; off for
  streams that write theirs once a unit of work is complete (``owns_bookmark``).
- **state gate**: every STATE the SDK writes goes through ``Stream._write_state_message``;
  :meth:`SDKStream.state_write_allowed` is asked first (the STATE throttle).
- **last STATE**: ``Stream.sync`` (final) ends in ``Stream._sync_records``, whose last STATE
  write the gate may hold back; whoever drives the stream (``Tap.sync_all``, the SDK's test
  runner, an orchestrator syncing one stream), a top-level sync ends with its STATE written
  inside :meth:`SDKStream.last_state_block`.
- **record hook**: ``Stream._write_record_message`` (and, for BATCH, ``Stream._sync_records``
  through the public ``get_batches``) see each record; :meth:`SDKStream.before_record_message`
  runs on both paths (schema evolution).
- **schema republish**: the SDK has no public way to change a schema mid-stream;
  :meth:`SDKStream.republish_schema` registers it with ``Stream._tap.mapper``, drops the cached
  ``Stream._stream_maps`` and writes ``Stream._write_schema_message``.
- **lean record write**: ``Stream._write_record_message`` goes to :meth:`SDKStream.write_record`
  (the tap's writer, one encoded line per record) unless fields are deselected;
  ``Stream._process_record`` syncs children only where there are any, and never adds the
  context keys to the record (each stream names its partition as the API spells it);
  ``Stream._stream_version``.
"""

from __future__ import annotations

import contextlib
import functools
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import AbstractContextManager
from types import FrameType
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import click
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk.batch import Batcher
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.types import Context
from singer_sdk.mapper import SameRecordTransform, StreamMap
from typing_extensions import override

from tap_ticketlogs.timeutil import rfc3339, utc_now

TToken = TypeVar("TToken")
#: One (record writer, stream map or None for "as it is") per stream map (alias).
RecordTargets = list[tuple[Callable[[dict[str, Any]], None], StreamMap | None]]


@runtime_checkable
class RecordLineWriter(Protocol):
    """The tap's message writer (``streams.output.BlockWriter``), as the lean path uses it."""

    def record_writer(
        self, stream: str, version: int | None, time_extracted: str | None
    ) -> Callable[[dict[str, Any]], None]:
        """A function writing the RECORD messages of one stream, version and extraction time."""


class SDKTap(Tap):
    """A tap that checks its config itself and is told of SIGTERM and of a failed sync before
    it exits (see the module docstring)."""

    @abstractmethod
    def check_config(self, config: Mapping[str, Any], *, raise_errors: bool) -> None:
        """Check the effective config (file, then environment); raise to reject it."""

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self.check_config(self.config, raise_errors=raise_errors)
        return []

    def on_termination(self, exit_with_state: Callable[[], None]) -> None:
        """SIGTERM or SIGINT: ``exit_with_state`` writes the state and exits (now, here)."""
        exit_with_state()

    def on_fatal_error(self) -> None:
        """The sync failed: called before the error propagates."""

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_termination(functools.partial(super()._handle_termination, signum, frame))

    @override  # type: ignore[misc]
    def sync_all(self) -> None:
        try:
            super().sync_all()
        except Exception:
            self.on_fatal_error()
            raise


def cli_config_input(ctx: click.Context) -> tuple[dict[str, Any] | None, bool]:
    """The ``--config`` of a CLI call: the merged config files, and whether ``ENV`` was
    given (CLI config)."""
    given: Any = ctx.params.get("config")
    if given is None:
        return None, False
    return given.config, bool(given.parse_env)


def env_var_prefix(plugin_name: str) -> str:
    """``TAP_TICKETLOGS_`` for ``tap-ticketlogs``, as the SDK derives it (environment prefix)."""
    return f"{plugin_name.upper().replace('-', '_')}_"


class SDKStream(RESTStream[TToken]):
    """The SDK's stream with the record loop and hooks the tap needs (see the module docstring)."""

    #: True where the stream writes its bookmark itself once a unit of work is complete,
    #: instead of the SDK advancing it record by record (owned bookmarks).
    owns_bookmark: ClassVar[bool] = False

    #: ``time_extracted`` of the records being written: read once per page, not per record.
    _extracted_at: str | None = None
    #: Whether the lean path applies, decided at the first record (selection is fixed then).
    _lean: bool | None = None
    #: Where the records of the page being written go, worked out at its first record.
    _targets: RecordTargets | None = None

    def state_write_allowed(self) -> bool:
        """Whether a pending STATE may be written now; override to throttle (state gate)."""
        return True

    def last_state_block(self) -> AbstractContextManager[None]:
        """Around a stream's last STATE write; override so the gate lets it through."""
        return contextlib.nullcontext()

    def before_record_message(self, record: dict[str, Any]) -> dict[str, Any]:
        """Called with each record just before its RECORD message or BATCH file (record hook)."""
        return record

    def page_started(self) -> None:
        """A new page of records is about to be written: it was extracted now."""
        self._extracted_at = rfc3339(utc_now())
        self._targets = None

    def republish_schema(self, schema: dict[str, Any]) -> None:
        """Make ``schema`` the stream's schema from the next record on, and write SCHEMA.

        Stream maps and flattening are rebuilt from it, as at the start of a sync.
        """
        self._tap.mapper.register_raw_stream_schema(self.name, schema, self.primary_keys)
        self._stream_maps = []  # falsy: the stream_maps property reads the mapper again
        self._targets = None
        self._write_schema_message()

    # What a record and a page go through on the tap's side.

    def write_record(self, record: dict[str, Any]) -> None:
        """Finalise one record and write it, once per stream map (alias): the one place on the
        RECORD path where a record is written, after the record hook has seen it."""
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

    def write_record_as_sdk(self, record: dict[str, Any]) -> None:
        """The SDK's own path: deselection, conformance, maps, a message per map."""
        Stream._write_record_message(self, record)

    def _record_targets(self) -> RecordTargets:
        """The writer and map of each stream map, for the records of this page; empty when
        the SDK's own path must write them."""
        writer = self._lean_writer()
        if writer is None:
            return []
        if self._extracted_at is None:
            self.page_started()
        extracted_at, version = self._extracted_at, self._stream_version
        return [
            (
                writer.record_writer(stream_map.stream_alias, version, extracted_at),
                None
                if type(stream_map) is SameRecordTransform and not stream_map.flattening_enabled
                else stream_map,
            )
            for stream_map in self.stream_maps
        ]

    def _lean_writer(self) -> RecordLineWriter | None:
        """The tap's writer where every field is selected and nothing is conformed."""
        if self._lean is None:
            self._lean = (
                all(self.mask.values()) and self.TYPE_CONFORMANCE_LEVEL == TypeConformanceLevel.NONE
            )
        writer = self._tap.message_writer
        return writer if self._lean and isinstance(writer, RecordLineWriter) else None

    # The SDK's private methods (one entry each, see the module docstring).

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        if self.owns_bookmark:
            # A per-record value would move the bookmark past records of a window (or a
            # ticket list) that is still being read.
            return
        super()._increment_stream_state(latest_record, context=context)

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[dict[Any, Any], Any, Any]:
        yield from super()._sync_records(context, write_messages=write_messages)
        if context is None and write_messages:
            # The SDK's own last write came from the generator above, through the gate.
            with self.last_state_block():
                self._write_state_message()

    @override
    def _write_state_message(self) -> None:
        if not self.state_manager.is_flushed and self.state_write_allowed():
            super()._write_state_message()

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        self.write_record(self.before_record_message(record))
        self.state_manager.is_flushed = False

    @override
    def get_batches(
        self,
        batch_config: Any,  # the SDK types it with a class of a private module
        context: Context | None = None,
    ) -> Iterable[tuple[Any, list[str]]]:
        # The SDK's own body, with the record hook: BATCH mode writes records to files, not
        # through _write_record_message, and a record's SCHEMA must precede its BATCH.
        batcher = Batcher(tap_name=self.tap_name, stream_name=self.name, batch_config=batch_config)
        records = map(self.before_record_message, self._sync_records(context, write_messages=False))
        for manifest in batcher.get_batches(records=records):
            yield batch_config.encoding, manifest

    @override
    def _process_record(
        self,
        record: dict[str, Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        # The SDK would add the partition's context keys to the record (``mobile_app_id``):
        # the streams name the partition themselves, as the API spells it, and a second
        # spelling of one id is one column twice for a loader that normalises names.
        if self.child_streams:
            super()._process_record(record, child_context, partition_context=None)
