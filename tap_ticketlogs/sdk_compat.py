"""Every singer-sdk internal the tap relies on, in one place.

The rest of the package uses only the SDK's public API. Where no public hook does what the
tap needs, the dependency is named here, once, and ``tests/test_sdk_compat.py`` fails
loudly (naming the entry below) when an SDK release changes it; that test also checks no
other module of the package uses an underscored SDK name. CI runs the suite on the pinned
and on the newest singer-sdk, so an upgrade that breaks one of these is seen before users.

1. ``PluginBase._validate_config``: the SDK validates the config from inside
   ``Tap.__init__`` through this method (one log line per schema error, then an exception
   listing them). :class:`ConfigCheckedTap` routes it to the tap's public ``check_config``,
   which registers the secrets with the redactor before any line is logged and reports the
   first problem in one line naming the setting.
2. ``Stream._increment_stream_state``: the SDK's record loop advances the bookmark per
   record through this method. :class:`BookmarkOwningStream` switches that off for streams
   that write their bookmark themselves once a unit of work is complete (``owns_bookmark``).
3. ``_ConfigInput``: the SDK's CLI callbacks receive ``--config`` as this private object in
   ``ctx.params["config"]``; :func:`cli_config_input` reads it for the tap's own ``--test``.
4. ``PluginBase._env_var_prefix``: the prefix of the SDK's environment settings;
   :func:`env_var_prefix` spells the same rule, so vendor-section settings read from the
   environment (``TAP_TICKETLOGS_TIXNGO_API_KEY``) use the prefix the SDK uses.
5. Authentication on every attempt: ``RESTStream.request_records`` wraps the private
   ``_request`` with ``request_decorator`` (the retries), and ``_request`` calls the stream's
   authenticator each time. The tap relies on it: a login or token renewal runs inside the
   retries, and a request resent after a 401 carries the renewed credential. Nothing here
   implements it; the test pins the behaviour.
6. ``Stream._write_state_message``: every STATE the SDK writes during a sync (after each
   child context, every 10 000 records, at the end of a stream, at a dry run's abort) goes
   through this method, and writes only when ``state_manager.is_flushed`` is False.
   :class:`StateGatedStream` asks :meth:`StateGatedStream.state_write_allowed` first, so
   the STATE throttle (``state_throttle.py``) bounds how often they go out; a held one
   stays pending and goes out with the next.
7. ``PluginBase._handle_termination``: the SIGTERM/SIGINT handler the SDK installs; the
   tap's version writes the whole state and exits. :class:`ExitStateTap` lets the tap run
   it later (:meth:`ExitStateTap.on_termination`), once a block of records being written
   is complete.
8. ``Tap.sync_all`` is final (for type checkers) and the SDK has no hook for a sync that
   fails; :class:`ExitStateTap` overrides it to call :meth:`ExitStateTap.on_fatal_error`
   (the tap writes the state held back by the throttle) before the error propagates.
9. ``Stream._write_record_message`` and ``Stream._sync_records``: every record the SDK emits
   passes the first just before its RECORD message; in BATCH mode ``get_batches`` (public,
   overridable) reads records from the second. :class:`RecordHookStream` calls the public
   :meth:`~RecordHookStream.before_record_message` on both paths (schema evolution).
10. A schema that changes mid-stream: the SDK has no public way to say so. The stream's
    mapper (``Stream._tap.mapper``, public ``register_raw_stream_schema``) gets the widened
    schema, the stream's cached maps (``Stream._stream_maps``) are dropped so they are read
    again, and ``Stream._write_schema_message`` writes the SCHEMA message(s) the SDK writes at
    the start of a sync: :func:`republish_schema`.
11. ``Stream._write_record_message`` (entry 9), ``Stream._process_record``,
    ``Stream._stream_version``, ``Stream._tap``: the SDK writes each record through the first
    (deselection, type conformance, stream maps, one ``RecordMessage`` with a clock read
    each) and syncs child streams through the second, for every record even of streams
    without children. :class:`RecordWritingStream` routes the first, once the record hook of
    entry 9 has run, to the public ``write_record`` (the tap's lean path,
    ``record_path.py``), offers the SDK's own path as ``write_record_as_sdk``, and leaves out
    the child sync of streams that have no child stream.
12. ``Stream._sync_records`` (the loop itself) and the private names it calls once per
    partition (``_get_state_partition_context``, ``_write_starting_replication_value``,
    ``_finalize_state``): the SDK runs about a dozen calls per record (the dry-run limit, the
    record hook, the bookmark, the counter, a ``yield`` to ``sync``) even when none of them
    can do anything. :class:`PageSyncStream` runs the same loop a page at a time where the
    stream says its pages may be written whole (``writes_pages``): per partition the same
    calls as the SDK, per page one ``write_page`` and one counter increment, the SDK's STATE
    every ``STATE_MSG_FREQUENCY`` records (at the end of the page that reaches it). Anything
    else (BATCH, a dry run's record limit, child streams, a stream that is not selected)
    takes the SDK's own loop.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable, Generator, Iterable, Mapping
from types import FrameType
from typing import Any, ClassVar, cast

import click
from singer_sdk import Stream, Tap
from singer_sdk.batch import Batcher
from singer_sdk.helpers.types import Context
from typing_extensions import override


class ConfigCheckedTap(Tap):
    """A tap whose config is checked by :meth:`check_config` instead of the SDK (entry 1)."""

    @abstractmethod
    def check_config(self, config: Mapping[str, Any], *, raise_errors: bool) -> None:
        """Check the effective config (file, then environment); raise to reject it."""

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self.check_config(self.config, raise_errors=raise_errors)
        return []


class BookmarkOwningStream(Stream):
    """A stream that may write its own bookmarks instead of the SDK's per record (entry 2)."""

    #: True where the stream writes its bookmark itself once a unit of work is complete,
    #: instead of the SDK advancing it record by record.
    owns_bookmark: ClassVar[bool] = False

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        if self.owns_bookmark:
            # A per-record value would move the bookmark past records of a window (or a
            # ticket list) that is still being read.
            return
        super()._increment_stream_state(latest_record, context=context)


class StateGatedStream(Stream):
    """A stream whose SDK-written STATE messages pass a gate first (entry 6)."""

    def state_write_allowed(self) -> bool:
        """Whether a pending STATE may be written now; override to throttle."""
        return True

    @override
    def _write_state_message(self) -> None:
        if not self.state_manager.is_flushed and self.state_write_allowed():
            super()._write_state_message()


class ExitStateTap(Tap):
    """A tap told of SIGTERM and of a failed sync before it exits (entries 7 and 8)."""

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
    given (entry 3)."""
    given: Any = ctx.params.get("config")
    if given is None:
        return None, False
    return given.config, bool(given.parse_env)


def env_var_prefix(plugin_name: str) -> str:
    """``TAP_TICKETLOGS_`` for ``tap-ticketlogs``, as the SDK derives it (entry 4)."""
    return f"{plugin_name.upper().replace('-', '_')}_"


class RecordHookStream(Stream):
    """A stream that sees each record just before it is written (entry 9)."""

    def before_record_message(self, record: dict[str, Any]) -> dict[str, Any]:
        """Called with each record just before its RECORD message (or its BATCH file)."""
        return record

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        super()._write_record_message(self.before_record_message(record))

    @override
    def get_batches(
        self,
        batch_config: Any,  # the SDK types it with a class of a private module
        context: Context | None = None,
    ) -> Iterable[tuple[Any, list[str]]]:
        # The SDK's own body, with the hook: BATCH mode writes records to files, not through
        # _write_record_message, and a record's SCHEMA must precede the BATCH naming its file.
        batcher = Batcher(tap_name=self.tap_name, stream_name=self.name, batch_config=batch_config)
        records = map(self.before_record_message, self._sync_records(context, write_messages=False))
        for manifest in batcher.get_batches(records=records):
            yield batch_config.encoding, manifest


def republish_schema(stream: Stream, schema: dict[str, Any]) -> None:
    """Make ``schema`` the stream's schema from the next record on, and write SCHEMA (entry 10).

    Stream maps and flattening are rebuilt from it, as at the start of a sync.
    """
    stream._tap.mapper.register_raw_stream_schema(stream.name, schema, stream.primary_keys)
    stream._stream_maps = []  # falsy: the stream_maps property reads the mapper again
    if isinstance(stream, RecordWritingStream):
        stream.stream_maps_changed()
    stream._write_schema_message()


class RecordWritingStream(RecordHookStream):
    """A stream whose record loop writes each record through ``write_record`` (entry 11),
    after the record hook (entry 9)."""

    @abstractmethod
    def write_record(self, record: dict[str, Any]) -> None:
        """Write one record: every RECORD message of the stream comes from here, or from
        ``PageSyncStream.write_page`` doing the same for a whole page."""

    def stream_maps_changed(self) -> None:
        """The stream's maps were rebuilt (a new schema): maps held on to are stale."""

    def write_record_as_sdk(self, record: dict[str, Any]) -> None:
        """The SDK's own path: deselection, conformance, maps, a message per map."""
        Stream._write_record_message(self, record)

    @property
    def stream_version(self) -> int | None:
        """The version FULL_TABLE streams send with ACTIVATE_VERSION, else None."""
        return self._stream_version

    @property
    def message_writer(self) -> Any:  # noqa: ANN401 - the tap's writer, whatever its class
        """The tap's message writer."""
        return self._tap.message_writer

    @override
    def _write_record_message(self, record: dict[str, Any]) -> None:
        self.write_record(self.before_record_message(record))
        self.state_manager.is_flushed = False

    @override
    def _process_record(
        self,
        record: dict[str, Any],
        child_context: Context | None = None,
        partition_context: Context | None = None,
    ) -> None:
        if self.child_streams:
            super()._process_record(record, child_context, partition_context)
            return
        # No child to sync: only what the SDK adds to every record, its partition keys.
        for key, value in (partition_context or {}).items():
            if key not in record:
                record[key] = value


class PageSyncStream(RecordWritingStream):
    """A stream whose record loop may run a page at a time (entry 12)."""

    def record_pages(self, context: Context | None) -> Iterable[list[dict[str, Any]]]:
        """The records of one partition, page by page (what ``get_records`` yields); streams
        that read pages override it, this one makes a page of each record."""
        for record in self.get_records(context):
            yield [cast("dict[str, Any]", record)]  # the SDK's deprecated tuples: none here

    def writes_pages(self) -> bool:
        """Whether whole pages may be written with ``write_page`` for this sync."""
        return False

    @abstractmethod
    def write_page(
        self,
        page: list[dict[str, Any]],
        context: Context | None,
        partition_context: Context | None,
    ) -> int:
        """Do for each record of ``page`` what the SDK's loop does (post-process, add the
        partition keys, the record hook, write); return how many were written."""

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[dict[str, Any], Any, Any]:
        if not (
            write_messages
            and self.selected
            and not self.child_streams
            and self.ABORT_AT_RECORD_COUNT is None
            and self.writes_pages()
        ):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        # The SDK's loop, with its per-record body run by write_page for a whole page.
        # Nothing is yielded: Stream.sync, the only caller with write_messages, ignores it.
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        written = 0
        with record_counter, timer:
            for context_element in ([context] if context is not None else self.partitions) or [{}]:
                record_counter.with_context(context_element)
                timer.with_context(context_element)
                current_context = context_element or None
                partition_context = self._get_state_partition_context(current_context)
                self._write_starting_replication_value(current_context)
                for page in self.record_pages(current_context):
                    count = self.write_page(page, current_context, partition_context)
                    record_counter.increment(count)
                    frequency = self.STATE_MSG_FREQUENCY
                    if (written + count) // frequency > written // frequency:
                        self._write_state_message()
                    written += count
                if current_context == partition_context:
                    self._finalize_state(self.get_context_state(current_context))
        if not context:
            self._finalize_state(self.stream_state)
        self._write_state_message()
