"""`scripts/benchmark.py --plots`: a smoke run's figures become the plots, and the committed
plots are the ones docs/performance.md shows (never an assertion on a figure's value)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARK = ROOT / "scripts" / "benchmark.py"
PLOTS = ("records-per-second.svg", "peak-rss.svg", "concurrency-speedup.svg")
SVG = "{http://www.w3.org/2000/svg}svg"


def test_a_smoke_run_with_plots_writes_the_three_plots(tmp_path: Path) -> None:
    folder = tmp_path / "img"
    doc_before = (ROOT / "docs" / "performance.md").read_text()
    result = subprocess.run(
        [sys.executable, str(BENCHMARK), "--smoke", "--plots", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for name in PLOTS:
        assert f"wrote {folder / name}" in result.stdout
        svg = (folder / name).read_text()
        assert ET.fromstring(svg).tag == SVG
    # The labels say what is plotted; the bound is drawn next to the measured speed-up.
    assert "records/s" in (folder / "records-per-second.svg").read_text()
    assert "max_concurrency" in (folder / "concurrency-speedup.svg").read_text()
    assert "bound" in (folder / "concurrency-speedup.svg").read_text()
    assert "Date" not in (folder / "peak-rss.svg").read_text()  # reruns diff only on figures
    # A folder other than docs/img leaves the doc alone.
    assert (ROOT / "docs" / "performance.md").read_text() == doc_before


def test_the_performance_doc_shows_the_committed_plots_and_their_table() -> None:
    doc = (ROOT / "docs" / "performance.md").read_text()
    section = doc.split("<!-- plots:start -->", 1)[1].split("<!-- plots:end -->", 1)[0]
    linked = re.findall(r"!\[[^\]]+\]\(img/([\w.-]+)\)", section)
    assert linked == list(PLOTS)
    for name in linked:
        assert ET.fromstring((ROOT / "docs" / "img" / name).read_text()).tag == SVG
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    assert rows[0] == "| figure | value |"
    assert any("tap / loop records/s" in row for row in rows)
    assert any("max_concurrency" in row and "bound" in row for row in rows)
