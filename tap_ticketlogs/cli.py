"""Console entry point: the SDK's CLI, with known failures reported as one line.

The command also sets glibc's allocator for a flat footprint however long the run
(:func:`tune_malloc`): two arenas, a fixed mmap threshold of 512 KiB and a fixed trim
threshold of 4 MiB. Why, with the figures each setting buys: docs/performance.md, "The C
allocator".
"""

from __future__ import annotations

import ctypes
import functools
import logging
import sys
from collections.abc import Callable

from singer_sdk.logging import StructuredFormatter

from tap_ticketlogs.errors import TicketLogsError
from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.tap import TapTicketLogs

# mallopt parameter numbers in glibc's <malloc.h>.
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
ARENAS = 2
#: Blocks from this size up are mapped on their own (glibc starts at 128 KiB).
MMAP_THRESHOLD = 512 * 1024
#: Free memory at the top of the heap kept rather than given back (glibc: 128 KiB).
TRIM_THRESHOLD = 4 * 1024 * 1024


@functools.cache
def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The interpreter's own symbols, the C library's among them: no library search
        # (ctypes.util.find_library starts an `ldconfig` process, 5-25 ms at every start).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None  # not glibc (musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    function: Callable[[int, int], int] = mallopt
    return function


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most ``arenas`` malloc arenas; False where that is not glibc."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, arenas))


def fix_malloc_thresholds(
    mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD
) -> bool:
    """Keep glibc's mmap and trim thresholds fixed; False where that is not glibc."""
    mallopt = _mallopt()
    return (
        mallopt is not None
        and bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
        and bool(mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    )


def tune_malloc() -> bool:
    """Every setting, before any worker thread allocates; False where that is not glibc."""
    arenas = limit_malloc_arenas()
    thresholds = fix_malloc_thresholds()
    return arenas and thresholds


def error_line(message: str) -> str:
    """The one line as the run's log handler would write it at ERROR when that handler
    writes JSON (Meltano's ``structured-logging``, whose parser reads the level from it);
    as plain text otherwise. Plain text under Meltano would be logged at info."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, StructuredFormatter):
            record = logging.LogRecord(
                "tap-ticketlogs", logging.ERROR, __file__, 0, message, None, None
            )
            return handler.formatter.format(record)
    return message


def main() -> None:
    """Run the tap; a configuration or source error exits 1 with one line on stderr."""
    tune_malloc()  # before any worker thread allocates
    try:
        TapTicketLogs.cli()
    except TicketLogsError as exc:
        # The one line is the last one on stderr: worker threads still finishing their
        # requests (a retry warning, a METRIC) log nothing after it.
        logging.disable(logging.CRITICAL)
        line = error_line(f"tap-ticketlogs: error: {REDACTOR.redact(str(exc))}")
        print(line, file=sys.stderr)  # noqa: T201
        sys.exit(1)
