"""Keep the C allocator's footprint flat however long the run (glibc only).

Three settings, made once at start-up by the tap command (``tune_malloc``):

* **Two arenas.** Worker threads parse pages; glibc's malloc gives each thread an arena of
  its own (up to 8 per core), and memory freed in one arena is not reused for another
  thread's pages, so peak RSS grows with the number of threads that ever parsed a page
  rather than with the pages held. Two arenas keep the peak flat at no measurable cost in
  speed (measured with scripts/benchmark.py's server, 1 000 000 records in 24 h windows,
  8 threads: peak RSS 139 MB with glibc's default, 101-103 MB with two arenas, 17 s
  either way).
* **A fixed mmap threshold.** glibc serves a block of at least ``M_MMAP_THRESHOLD`` with
  a mapping of its own, returned to the system when freed. By default the threshold is
  dynamic: once such a block is freed (a multi-MB response body), the threshold rises to
  its size, and every later body comes from the heap, among small long-lived blocks that
  keep the freed space from being returned: the heap's free space grew from 5 to 13 MB
  over 2 000 000 records in one window (benchmark.py ``--parts memory``), and the peak
  with it. A fixed threshold turns the rise off: bodies of 512 KiB and more are mapped
  and unmapped, the heap stays at 10-13 MB and the peak at 2 000 000 records within a few
  percent of that at 100 000.
* **A fixed trim threshold.** Fixing the mmap threshold also fixes the trim threshold, at
  glibc's 128 KiB (by default it rises to twice the mmap threshold): the heap is then
  shrunk and grown again around every page (300 000 records in 24 h windows: 105 000 page
  faults against 40 000 with glibc's default, 1.9 against 1.0 us of system CPU per
  record). Up to 4 MiB free at the top of the heap is kept instead: 34 000-38 000 faults,
  0.9-1.2 us, and a bound, not a growth.

A body of 512 KiB or more now costs the page faults of a fresh mapping (1.6 ms for the
2.6 MB of 10 000 TIXNGO entries on the 2-core development machine, 0.16 us per record);
the threshold is 512 KiB rather than glibc's initial 128 KiB so that the 256 KiB blocks
of RECORD lines (output.py) stay in the heap, reused without faults.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from collections.abc import Callable

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
