"""The tap: its settings and which streams a configuration discovers."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePath
from typing import Any, ClassVar

import click
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers.capabilities import CapabilitiesEnum, TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_ticketlogs.errors import TicketLogsError
from tap_ticketlogs.http.redaction import REDACTOR, install_log_redaction, secret_values
from tap_ticketlogs.quiet_logs import quiet_partition_lines, quiet_sdk_notes
from tap_ticketlogs.sdk_compat import (
    SDKTap,
    cli_config_input,
    env_var_prefix,
)
from tap_ticketlogs.settings.environment import env_settings, environment_with_dotenv, merged_config
from tap_ticketlogs.settings.validation import (
    fill_defaults,
    read_text_settings,
    validate_config,
)
from tap_ticketlogs.sources.registry import SOURCES
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.streams.discovery_sampling import sample_into_schemas
from tap_ticketlogs.streams.output import BlockWriter
from tap_ticketlogs.streams.run_context import host_reachability, run_context_of
from tap_ticketlogs.streams.sharding import Shard, shard_of
from tap_ticketlogs.streams.state_throttle import DEFAULT_INTERVAL_SECONDS

SOURCE_SECTIONS = tuple(source.name for source in SOURCES)  # config sections, in order

SETTINGS = th.PropertiesList(
    th.Property(
        "start_date",
        th.DateTimeType,
        required=True,
        title="Start date",
        description="First run extracts logs from this date-time (ISO-8601) on.",
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        title="End date",
        description="Optional upper bound; default: now minus lag_minutes.",
    ),
    th.Property(
        "lag_minutes",
        th.IntegerType(minimum=0),
        default=15,
        title="Lag minutes",
        description="Never read closer to now than this, so late-arriving logs are not skipped.",
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=64),
        default=8,
        title="Max concurrency",
        description="Concurrent requests across partitions and windows.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1, maximum=3600),
        default=60,
        title="Request timeout",
        description="Seconds to wait for one HTTP response.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0, maximum=20),
        default=8,
        title="Max retries",
        description="Retries of a request that failed transiently (429, 5xx, timeouts).",
    ),
    th.Property(
        "shard_count",
        th.IntegerType(minimum=1),
        default=1,
        title="Shard count",
        description="Split every stream's partitions (apps, app versions, tickets, cases) "
        "into this many shards, each extracted by its own run (see shard_index).",
    ),
    th.Property(
        "shard_index",
        th.IntegerType(minimum=0),
        default=0,
        title="Shard index",
        description="Which shard this run extracts, from 0 to shard_count - 1; give each "
        "shard its own state id (meltano run --state-id-suffix shard-<i>-of-<n>).",
    ),
    th.Property(
        "state_interval_seconds",
        th.IntegerType(minimum=0, maximum=86_400),
        default=DEFAULT_INTERVAL_SECONDS,
        title="State interval seconds",
        description="Write a STATE message at most this often during a run (0: after every "
        "window, case or ticket); one is always written at the end and before a fatal exit.",
    ),
    *(
        th.Property(
            source.name, source.settings, title=source.label, description=source.description
        )
        for source in SOURCES
    ),
)


def secret_setting_paths(
    schema: dict[str, Any], prefix: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    """Paths of every setting the schema marks secret (``writeOnly``/``secret``)."""
    paths: list[tuple[str, ...]] = []
    for name, prop in schema.get("properties", {}).items():
        if prop.get("secret") or prop.get("writeOnly"):
            paths.append((*prefix, name))
        if "properties" in prop:
            paths.extend(secret_setting_paths(prop, (*prefix, name)))
    return paths


ConfigInput = dict[str, Any] | PurePath | str | list[PurePath | str] | None


def config_dict(config: ConfigInput) -> dict[str, Any]:
    """The config as one new dict: given as a dict, or as JSON files (later ones win)."""
    if config is None:
        return {}
    if isinstance(config, dict):
        return dict(config)
    merged: dict[str, Any] = {}
    for path in config if isinstance(config, list) else [config]:
        merged.update(json.loads(Path(path).read_text(encoding="utf-8")))
    return merged


def _about_setting(prefix: str, name: str, prop: dict[str, Any]) -> list[str]:
    env_var = prefix + name.upper().replace(".", "_").replace("-", "_")
    return [
        f"  - Name: {name}",
        f"    Type: {prop.get('type')}",
        f"    Environment Variable: {env_var}",
    ]


class TapTicketLogs(SDKTap):
    """Ticket and transaction logs from TIXNGO, Akana, Socialboards and Huawei Cloud."""

    name = "tap-ticketlogs"
    config_jsonschema = SETTINGS.to_dict()
    # Not ACTIVATE_VERSION, which the SDK lists by default: a version tells the loader
    # that rows a run did not send are gone, and no run of this tap sends a whole table
    # (windows since a bookmark, one shard's partitions, the cases that may have changed).
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        *(c for c in Tap.capabilities if c is not TapCapabilities.ACTIVATE_VERSION),
        TapCapabilities.TEST,
    ]
    message_writer_class = BlockWriter
    # The catalog depends on which sections are configured, so --discover validates the
    # config too (a half-configured section is a one-line error, not a KeyError).
    dynamic_catalog = True

    @override
    def __init__(
        self, *args: Any, config: ConfigInput = None, parse_env_config: bool = False, **kwargs: Any
    ) -> None:
        # The tap's own copy, which it may change (the caller's config stays as given).
        config = copy.deepcopy(config_dict(config))
        schema = self.full_settings_schema()
        if parse_env_config:
            # Our reader instead of the SDK's (see env_config): the environment (and .env)
            # wins over the config file, setting by setting, sections included.
            env = env_settings(
                schema, SOURCE_SECTIONS, env_var_prefix(self.name), environment_with_dotenv()
            )
            config = merged_config(config, env)
        read_text_settings(config, schema)
        fill_defaults(config, self.config_jsonschema)
        quiet_sdk_notes(self.logger)
        super().__init__(*args, config=config, parse_env_config=False, **kwargs)
        # The SDK logs a METRIC line per request, window and partition at INFO (two thirds
        # of a run's log); they are kept for TAP_TICKETLOGS_LOGLEVEL=DEBUG. The per-stream
        # summary lines say the same in a few lines.
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            self.metrics_logger.setLevel(logging.WARNING)

    @classmethod
    def full_settings_schema(cls) -> dict[str, Any]:
        """The tap's settings schema with the SDK's built-in settings (stream maps...)."""
        schema = copy.deepcopy(cls.config_jsonschema)
        cls.append_builtin_config(schema)
        return schema

    @override
    def check_config(self, config: Mapping[str, Any], *, raise_errors: bool) -> None:
        # Replaces the SDK's validation (one log line per schema error) by ours: the first
        # problem, in one line that names the setting. Secrets are registered first, so no
        # line logged from here on can carry them.
        REDACTOR.add(*secret_values(config, secret_setting_paths(self.config_jsonschema)))
        install_log_redaction()
        if raise_errors:
            validate_config(config, self.full_settings_schema(), SOURCES, [Shard.from_config])

    @override
    def load_state(self, state: dict[str, Any]) -> None:
        # The SDK keeps the given partition lists and dicts as they are and writes the new
        # bookmarks into them: a caller's state (an orchestrator, a test) would change under
        # it. The tap works on its own copy, without the bookmarks of partitions another
        # shard owns.
        super().load_state(copy.deepcopy(shard_of(self.config).owned_state(state)))

    @classmethod
    @override
    def print_about(cls, output_format: str | None = None) -> None:
        """``--about``: as the SDK prints it, with each vendor section's settings listed too
        (the text format names only the top level; markdown and JSON already nest)."""
        if output_format not in (None, "text"):
            super().print_about(output_format)
            return
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            super().print_about(output_format)
        head, _, _ = printed.getvalue().partition("\nSettings:\n")
        prefix = env_var_prefix(cls.name)
        lines = [head, "Settings:"]
        for name, prop in cls.full_settings_schema()["properties"].items():
            lines.extend(_about_setting(prefix, name, prop))
            if name in SOURCE_SECTIONS:
                for setting, nested in prop.get("properties", {}).items():
                    lines.extend(_about_setting(prefix, f"{name}.{setting}", nested))
        click.echo("\n".join(lines))

    @classmethod
    @override
    def cb_discover(cls, ctx: click.Context, param: click.Option, value: bool) -> None:
        with closed_on_error(ctx):
            super().cb_discover(ctx, param, value)

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: per configured source, one request that says ok or what failed."""
        with closed_on_error(ctx):
            if value != CliTestOptionValue.All.value:
                super().cb_test(ctx, param, value)
                return
            config, parse_env = cli_config_input(ctx)
            tap = cls(config=config, parse_env_config=parse_env, validate_config=True)
            results = tap.check_sources()
            for section, problem in results.items():
                outcome = "ok" if problem is None else f"FAILED: {problem}"
                click.echo(f"tap-ticketlogs: test: {section}: {outcome}", err=True)
            ctx.exit(0 if all(problem is None for problem in results.values()) else 1)

    def check_sources(self) -> dict[str, str | None]:
        """Check each configured source with its first top-level stream: None means ok."""
        # A check answers in seconds: a host that refuses the first connection is reported
        # at once (one that answers with a 5xx or 429 is still retried).
        host_reachability(run_context_of(self), give_up_after=0.0)
        results: dict[str, str | None] = {}
        for stream in self.streams.values():
            if stream.parent_stream_type is not None or not isinstance(stream, TicketLogsStream):
                continue
            if stream.source in results:
                continue
            try:
                stream.check_connection()
            except TicketLogsError as exc:
                results[stream.source] = str(exc)
            else:
                results[stream.source] = None
        return results

    @override
    def run_discovery(self) -> str:
        # Sampling (discovery_sampling.py) adds the fields the APIs send to the catalog.
        sample_into_schemas(self)
        return super().run_discovery()

    @override
    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = [
            stream_type(tap=self)
            for source in SOURCES
            if self.config.get(source.name)
            for stream_type in source.streams
        ]
        quiet_partition_lines(streams)
        return streams

    @override
    def on_termination(self, exit_with_state: Callable[[], None]) -> None:
        # The SDK writes the tap's whole state (every bookmark reached, including those the
        # STATE throttle held back) and exits; a block of records half written when the
        # signal came is finished first, so the STATE line stays whole.
        writer = self.message_writer
        if isinstance(writer, BlockWriter):
            writer.after_current_write(exit_with_state)
        else:
            exit_with_state()

    @override
    def on_fatal_error(self) -> None:
        # The bookmarks finished so far (held back by the STATE throttle) go out before the
        # one-line error, so the next run resumes from them. They only ever cover records
        # already written, as on SIGTERM, where the SDK does the same.
        self.state_writer.write_state(self.state)


@contextlib.contextmanager
def closed_on_error(ctx: click.Context) -> Iterator[None]:
    """Close ``ctx`` when an option's callback fails.

    ``--discover`` and ``--test`` run as callbacks while click parses the options, before its
    context is entered: when one raises (an invalid setting), click never closes the files it
    opened for the other options (Meltano passes ``--state`` with ``--discover``), and the
    interpreter prints a ResourceWarning after the tap's one-line error.
    """
    try:
        yield
    except BaseException:
        ctx.close()
        raise
