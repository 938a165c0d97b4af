"""Shards: ``shard_count`` tap runs that split every stream's partitions between them.

A partition (a mobile app, an app version, a ticket, a case) belongs to the shard given by
a stable hash of its id: sha256 of ``<key>=<value>`` (``mobile_app_id=app-1``, ``ticket_id=17``),
the first 8 bytes as a big-endian integer, modulo ``shard_count``. The same on every machine
and every run (Python's ``hash()`` is salted per process, so it is never used).

Parents (``socialboards_tickets``, ``huawei_cases``) are listed by every shard, since the list
is how a shard finds its tickets and cases; each shard emits only the parent rows whose child
partition it owns (ticket ``17`` and the log of ticket ``17`` go to the same shard). A stream
with no partitions of its own is one partition, ``stream=<name>``, read by the shard that owns
it. So every row of every stream is emitted by exactly one shard, and a retried shard
re-reads only its own.

A shard's STATE holds only its own partitions: bookmarks of others' partitions in the state
it is given are dropped on load, so a state copied from an unsharded run (or from another
shard) is narrowed to this shard's part before anything is written back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_ticketlogs.errors import ConfigError

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SHARD_COUNT = "shard_count"
SHARD_INDEX = "shard_index"


def partition_text(partition: Mapping[str, Any]) -> str:
    """The canonical string of a partition id: ``key=value`` pairs sorted by key.

    Values are written with ``str`` so a ticket id read as ``17`` from JSON and one given as
    ``17`` in the config land on the same shard.
    """
    return "\x1f".join(f"{key}={partition[key]}" for key in sorted(partition))


def shard_number(partition: Mapping[str, Any], count: int) -> int:
    """Which of ``count`` shards owns ``partition``."""
    digest = hashlib.sha256(partition_text(partition).encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); ``Shard(0, 1)`` is the whole extraction."""

    index: int = 0
    count: int = 1

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Shard:
        """The shard a config names; a bad pair is a one-line :class:`ConfigError`."""
        count, index = config.get(SHARD_COUNT, 1), config.get(SHARD_INDEX, 0)
        for setting, value in ((SHARD_COUNT, count), (SHARD_INDEX, index)):
            if isinstance(value, bool) or not isinstance(value, int):
                msg = f"setting '{setting}' must be an integer, not {value!r}"
                raise ConfigError(msg)
        if count < 1:
            msg = f"setting 'shard_count' must be at least 1, not {count}"
            raise ConfigError(msg)
        if not 0 <= index < count:
            msg = f"setting 'shard_index' must be from 0 to {count - 1} (shard_count - 1), "
            msg += f"not {index}"
            raise ConfigError(msg)
        return cls(index, count)

    def __str__(self) -> str:
        return f"shard {self.index} of {self.count}"

    @property
    def label(self) -> str:
        """``shard-<i>-of-<n>``: the suffix of this shard's Meltano state id."""
        return f"shard-{self.index}-of-{self.count}"

    def owns(self, partition: Mapping[str, Any]) -> bool:
        """True when this shard extracts ``partition``."""
        return self.count == 1 or shard_number(partition, self.count) == self.index

    def owned(self, partitions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The partitions of a stream this shard extracts, in their configured order."""
        return [dict(partition) for partition in partitions if self.owns(partition)]

    def owned_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """``state`` without the bookmarks of partitions another shard owns."""
        if self.count == 1:
            return dict(state)
        bookmarks: dict[str, Any] = {}
        for stream, stream_state in (state.get("bookmarks") or {}).items():
            bookmarks[stream] = stream_state
            if isinstance(stream_state, dict) and isinstance(stream_state.get("partitions"), list):
                bookmarks[stream] = {
                    **stream_state,
                    "partitions": [
                        partition
                        for partition in stream_state["partitions"]
                        if not isinstance(partition.get("context"), dict)
                        or self.owns(partition["context"])
                    ],
                }
        return {**state, "bookmarks": bookmarks}

    def owned_parents(
        self,
        parents: Iterable[dict[str, Any]],
        child_partition: Callable[[dict[str, Any], Context | None], Context | None],
        context: Context | None,
    ) -> Iterator[dict[str, Any]]:
        """The parent records (tickets, cases) whose child partition this shard owns.

        A parent without a child partition goes to shard 0, so it is still emitted once.
        """
        for parent in parents:
            if self.count == 1:
                yield parent
                continue
            partition = child_partition(parent, context)
            if self.owns(partition) if partition is not None else self.index == 0:
                yield parent


def shard_of(config: Mapping[str, Any]) -> Shard:
    """The shard of a validated config (its defaults filled in)."""
    return Shard(int(config[SHARD_INDEX]), int(config[SHARD_COUNT]))
