"""The tap command's glibc settings: what each one changes, seen from glibc's own counters."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys
import textwrap

import pytest

from tap_ticketlogs.cli import tune_malloc

GLIBC = platform.libc_ver()[0] == "glibc" and hasattr(ctypes.CDLL(None), "mallinfo2")

# After an 8 MiB block (a large response body) is freed, is a 1 MiB one still mapped on
# its own (returned to the system when freed), or taken from the heap?
PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from tap_ticketlogs.cli import tune_malloc

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
        ).split()]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "tuned":
        tune_malloc()
    large = bytearray(8 << 20)
    del large
    before = libc.mallinfo2().hblkhd
    body = bytearray(1 << 20)
    print(libc.mallinfo2().hblkhd - before >= 1 << 20)
    """
)


def body_is_mapped(mode: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    return result.stdout.strip() == "True"


@pytest.mark.skipif(not GLIBC, reason="glibc only")
def test_a_freed_large_body_no_longer_moves_later_bodies_into_the_heap() -> None:
    # glibc's default raises its mmap threshold to the size of a freed mapped block, so
    # later bodies come from the heap, where they fragment it; the tap keeps it fixed.
    assert not body_is_mapped("default")
    assert body_is_mapped("tuned")


def test_the_settings_are_made_where_glibc_allows() -> None:
    assert tune_malloc() is (platform.libc_ver()[0] == "glibc")
