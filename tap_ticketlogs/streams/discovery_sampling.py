"""``--discover`` that knows the fields: one small page per stream, merged into the catalog.

For each source whose ``discovery_sampling`` setting is on (by default only TIXNGO, whose
vendor documents no entry fields), every stream reads the first page of its first partition
(windowed streams: the run's latest window; child streams: the first parent sampled) and
post-processes it as a sync would. Fields the declared schema does not name are inferred with
the rules of :mod:`tap_ticketlogs.streams.schema_evolution` over every value sampled
(a date-time only when every value parses) and added to the stream's catalog schema, so
``meltano select --list`` shows them and a loader gets their columns in the first SCHEMA
message. A source that cannot be reached or refuses the credentials keeps its declared
schema, with one warning line; discovery itself never fails for it.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import requests

from tap_ticketlogs.errors import TicketLogsError
from tap_ticketlogs.streams.base import TicketLogsStream
from tap_ticketlogs.streams.schema_evolution import infer_properties

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

#: Records read per stream at most: one page of the first partition.
SAMPLE_RECORDS = 500
#: Sampling does not retry: a source that fails now costs one warning line, not a wait
#: (run discovery again, or let run-time schema evolution declare the fields).
SAMPLE_MAX_RETRIES = 0
SAMPLE_TIMEOUT_SECONDS = 30


def sampling_sources(config: Mapping[str, Any], settings: Mapping[str, Any]) -> list[str]:
    """The configured sources whose ``discovery_sampling`` is on (``settings``: the tap's
    settings schema, which says which sections have the setting; its default, filled in
    the config, is on for TIXNGO only)."""
    return [
        source
        for source, section_settings in settings["properties"].items()
        if "discovery_sampling" in section_settings.get("properties", {})
        and config.get(source)
        and config[source]["discovery_sampling"]
    ]


def sample_into_schemas(tap: Tap) -> dict[str, list[str]]:
    """Add the fields the sampled pages show to the schemas of ``tap``'s streams.

    The requests are made by a second tap of the same class and configuration, with small
    pages and no retries. Returns the fields added, by stream.
    """
    added: dict[str, list[str]] = {}
    sources = sampling_sources(tap.config, tap.config_jsonschema)
    if not sources:
        return added
    sampler = type(tap)(config=sampler_config(tap.config, sources), setup_mapper=False)
    for source in sources:
        streams = [
            stream
            for stream in sampler.streams.values()
            if isinstance(stream, TicketLogsStream) and stream.source == source
        ]
        try:
            samples = _sample_source(streams)
        except (TicketLogsError, requests.RequestException, ValueError, KeyError) as exc:
            tap.logger.warning(
                "discovery sampling of %s failed, its catalog declares the documented "
                "fields only: %s",
                source,
                exc,
            )
            continue
        for name, records in samples.items():
            stream = tap.streams[name]
            found_key = sampler.streams[name].replication_key
            if found_key != stream.replication_key:
                tap.logger.info(
                    "discovery sampling of %s: %s entries carry their time as %s, not %s: "
                    "it is the catalog's replication key",
                    source,
                    name,
                    found_key,
                    stream.replication_key,
                )
                if not any(stream.replication_key in record for record in records):
                    # The guess proved wrong: the catalog does not declare it either.
                    vars(stream)["schema"] = without_property(stream.schema, stream.replication_key)
                stream.replication_key = found_key
            properties = stream.schema.get("properties", {})
            inferred = infer_properties(records, properties)
            if not inferred:
                continue
            schema = copy.deepcopy(stream.schema)
            schema["properties"].update(inferred)
            # The vendor streams declare ``schema`` as a class attribute (shared by every
            # instance): this instance alone gets the sampled one, before its metadata exists.
            vars(stream)["schema"] = schema
            added[name] = sorted(inferred)
        tap.logger.info(
            "discovery sampling of %s: %s",
            source,
            ", ".join(
                f"{name} +{len(added.get(name, []))} fields from {len(records)} records"
                for name, records in samples.items()
            )
            or "no records",
        )
    return added


def _sample_source(streams: list[TicketLogsStream[Any]]) -> dict[str, list[dict[str, Any]]]:
    """Post-processed sample records of a source's streams, parents before children."""
    samples: dict[str, list[dict[str, Any]]] = {}
    # Parent stream class -> (its instance, its raw sample, the context it was read with).
    parents: dict[type, tuple[TicketLogsStream[Any], list[dict[str, Any]], Context | None]] = {}
    for stream in sorted(streams, key=lambda s: s.parent_stream_type is not None):
        if stream.parent_stream_type is None:
            # Any partition shows the fields, this shard's or not (as --test does).
            configured = stream.configured_partitions
            context = stream.connection_check_context(configured[0] if configured else None)
        else:
            if stream.parent_stream_type not in parents:
                continue
            parent, parent_records, parent_context = parents[stream.parent_stream_type]
            context = _first_child_context(parent, parent_records, parent_context)
            if context is None:
                continue
        raw = [
            dict(record)
            for record in itertools.islice(stream.request_records(context), SAMPLE_RECORDS)
        ]
        parents[type(stream)] = (stream, [dict(record) for record in raw], context)
        # Before post-processing, which reads each record's time from the replication key.
        found_key = stream.replication_key_from_sample(raw)
        if found_key is not None:
            stream.replication_key = found_key
        samples[stream.name] = [
            processed
            for processed in (stream.post_process(dict(record), context) for record in raw)
            if processed is not None
        ]
    return samples


def _first_child_context(
    parent: TicketLogsStream[Any],
    parent_records: Iterable[dict[str, Any]],
    parent_context: Context | None,
) -> Context | None:
    for record in parent_records:
        for context in parent.generate_child_contexts(record, parent_context):
            if context is not None:
                return context
    return None


def sampler_config(config: Mapping[str, Any], sources: Iterable[str]) -> dict[str, Any]:
    """The configuration the sampling tap runs with: small pages, quick to give up."""
    sampled: dict[str, Any] = {
        **config,
        "max_retries": min(int(config["max_retries"]), SAMPLE_MAX_RETRIES),
        "request_timeout": min(int(config["request_timeout"]), SAMPLE_TIMEOUT_SECONDS),
    }
    for source in sources:
        size = min(int(config[source]["page_size"]), SAMPLE_RECORDS)
        sampled[source] = {**config[source], "page_size": size}
    return sampled


def without_property(schema: Mapping[str, Any], name: str | None) -> dict[str, Any]:
    """A copy of ``schema`` that does not declare ``name``."""
    copied = copy.deepcopy(dict(schema))
    copied.get("properties", {}).pop(name, None)
    return copied
