"""scripts/benchmark.py --smoke: every part runs and prints its figures (never asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "scripts" / "benchmark.py"


def test_the_benchmark_smoke_run_prints_every_figure() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--smoke"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    sys.stdout.write(out)  # the figures, shown with -s or on failure
    # Every client read every record (correctness, not speed).
    assert re.search(r"^tap \(max_concurrency 8\)\s+30000\s", out, re.M)
    assert re.search(r"^plain requests \+ orjson loop\s+30000\s", out, re.M)
    assert re.search(r"^tap / loop records/s: \d+\.\d\d$", out, re.M)
    memory_rows = re.findall(
        r"^\s+(9000|60000)\s+[\d.]+\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, re.M
    )
    assert memory_rows == ["9000", "60000"]
    many_rows = re.findall(r"^\s+(1|8)\s+(\d+)(?:\s+[\d.]+){5}\s+\d+%$", out, re.M)
    assert [level for level, _ in many_rows] == ["1", "8"]
    assert len({requests for _, requests in many_rows}) == 1  # same requests at each level
