"""Keep the C allocator from growing one heap per worker thread (glibc only).

Worker threads parse pages; glibc's malloc gives each thread an arena of its own (up to
8 per core), and memory freed in one arena is not reused for another thread's pages, so
peak RSS grows with the number of threads that ever parsed a page rather than with the
pages held. Two arenas keep the peak flat at no measurable cost in speed (measured with
scripts/benchmark.py's server, 1 000 000 records in 24 h windows, 8 threads: peak RSS 139 MB
with glibc's default, 101-103 MB with two arenas, 17 s either way).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameter number of M_ARENA_MAX in glibc's <malloc.h>.
_M_ARENA_MAX = -8
ARENAS = 2


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Ask glibc for at most ``arenas`` malloc arenas; False where that is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    library = ctypes.util.find_library("c")
    if library is None:
        return False
    try:
        libc = ctypes.CDLL(library)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
