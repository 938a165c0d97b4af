"""Plots of one scripts/benchmark.py run, and the short table docs/performance.md shows with them.

    .venv/bin/python scripts/benchmark.py --plots docs/img    # run, plot, update the doc
    .venv/bin/python scripts/benchmark_plots.py docs/img      # replot its figures.json

benchmark.py records its figures in FIGURES as it prints them; with ``--plots`` they are
plotted once its parts have run (``plotted``): records/s and peak RSS against records (the
tap and the plain loop, bulk and one-window runs), and the speed-up against
``max_concurrency`` with its bound (requests x latency / concurrency). The plots are SVG,
without a date in them; docs/performance.md gets the table between its ``plots`` markers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Figures of this run, per part: one dict per measured run, appended by benchmark.py.
FIGURES: dict[str, list[dict[str, Any]]] = {"bulk": [], "memory": [], "many": []}

PERFORMANCE_DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"
START, END = "<!-- plots:start -->", "<!-- plots:end -->"
FIGURES_FILE = "figures.json"
RATE_PLOT = "records-per-second.svg"
RSS_PLOT = "peak-rss.svg"
SPEEDUP_PLOT = "concurrency-speedup.svg"


def _pyplot() -> Any:  # noqa: ANN401 - matplotlib ships no types for pyplot's module object
    import matplotlib  # noqa: PLC0415 - only a --plots run needs it (the `test` extra)

    matplotlib.use("Agg")
    # The same figures give the same bytes: no date, a fixed id salt.
    matplotlib.rcParams["svg.hashsalt"] = "tap-ticketlogs"
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def _series(part: str, client: str) -> list[dict[str, Any]]:
    return sorted(
        (run for run in FIGURES[part] if run.get("client", "tap") == client),
        key=lambda run: run["records"],
    )


def _against_records(plt: Any, key: str, label: str, path: Path) -> None:  # noqa: ANN401
    figure, axes = plt.subplots(figsize=(6.4, 3.6))
    for part, client, style in (
        ("bulk", "tap", "o-"),
        ("bulk", "loop", "s--"),
        ("memory", "tap", "^-"),
    ):
        runs = _series(part, client)
        if runs:
            name = {
                ("bulk", "tap"): "tap, 24 h windows",
                ("bulk", "loop"): "plain requests + orjson loop",
                ("memory", "tap"): "tap, one window per partition",
            }[(part, client)]
            axes.plot([r["records"] for r in runs], [r[key] for r in runs], style, label=name)
    axes.set_xscale("log")
    axes.set_xlabel("records read (TIXNGO-style entries, 3 apps)")
    axes.set_ylabel(label)
    axes.set_ylim(bottom=0)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)


def _speedup(plt: Any, path: Path) -> None:  # noqa: ANN401
    runs = sorted(FIGURES["many"], key=lambda run: run["max_concurrency"])
    levels = [run["max_concurrency"] for run in runs]
    figure, axes = plt.subplots(figsize=(6.4, 3.6))
    axes.plot(levels, [run["ideal"] for run in runs], "k:", label="bound: requests x latency / n")
    axes.plot(levels, [run["speedup"] for run in runs], "o-", label="first request to last answer")
    axes.plot(levels, [run["wall_speedup"] for run in runs], "s--", label="wall clock")
    axes.set_xlabel("max_concurrency")
    axes.set_ylabel("x sequential (max_concurrency 1)")
    axes.set_xticks(levels)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)


def _count(value: float) -> str:
    """A count as the docs write it: 1 000 000."""
    return f"{value:,.0f}".replace(",", " ")


def figures_table() -> str:
    """The table of this run: one row per figure the plots show."""
    rows = ["| figure | value |", "|---|---|"]
    for tap, loop in zip(_series("bulk", "tap"), _series("bulk", "loop"), strict=False):
        rows.append(
            f"| bulk, {_count(tap['records'])} records: tap / loop records/s | "
            f"{tap['records_per_s'] / loop['records_per_s']:.2f} "
            f"({_count(tap['records_per_s'])} vs {_count(loop['records_per_s'])}/s) |"
        )
    memory = _series("memory", "tap")
    if memory:
        first, last = memory[0], memory[-1]
        rows.append(
            f"| peak RSS, one window: {_count(first['records'])} → "
            f"{_count(last['records'])} records | "
            f"{first['peak_rss_mb']:.1f} → {last['peak_rss_mb']:.1f} MB "
            f"(x {last['peak_rss_mb'] / first['peak_rss_mb']:.2f}) |"
        )
    for run in sorted(FIGURES["many"], key=lambda run: run["max_concurrency"])[1:]:
        rows.append(
            f"| many partitions, `max_concurrency` {run['max_concurrency']}: x sequential | "
            f"{run['speedup']:.2f} (bound {run['ideal']:.2f}; "
            f"wall clock {run['wall_speedup']:.2f}) |"
        )
    return "\n".join(rows)


def write_plots(folder: Path, conditions: str) -> list[Path]:
    """The plots of FIGURES into ``folder``; the doc's plots section when the folder is
    docs/img (the one the doc links)."""
    plt = _pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FIGURES_FILE).write_text(
        json.dumps({"conditions": conditions, **FIGURES}, indent=1) + "\n"
    )
    written = [folder / FIGURES_FILE]
    if FIGURES["bulk"] or FIGURES["memory"]:
        _against_records(plt, "records_per_s", "records/s", folder / RATE_PLOT)
        _against_records(plt, "peak_rss_mb", "peak RSS, MB", folder / RSS_PLOT)
        written += [folder / RATE_PLOT, folder / RSS_PLOT]
    if FIGURES["many"]:
        _speedup(plt, folder / SPEEDUP_PLOT)
        written.append(folder / SPEEDUP_PLOT)
    if folder.resolve() == (PERFORMANCE_DOC.parent / "img").resolve():
        update_performance_doc(conditions)
    return written


def plots_section(conditions: str) -> str:
    return (
        f"{START}\n"
        f"![records/s against records](img/{RATE_PLOT})\n"
        f"![peak RSS against records](img/{RSS_PLOT})\n"
        f"![speed-up against max_concurrency, with its bound](img/{SPEEDUP_PLOT})\n\n"
        f"The figures of the run plotted ({conditions}):\n\n"
        f"{figures_table()}\n"
        f"{END}"
    )


def update_performance_doc(conditions: str) -> None:
    text = PERFORMANCE_DOC.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    PERFORMANCE_DOC.write_text(head + plots_section(conditions) + tail, encoding="utf-8")


def run_conditions() -> str:
    """The machine and its load, as the run found them (figures move with both)."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{os.cpu_count()} cores, load average {load:.1f} at the end of the run"


def parse_args_with_plots(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """benchmark.py's arguments, and ``--plots FOLDER``."""
    parser.add_argument(
        "--plots", type=Path, help="write plots here (docs/img: also the table in the doc)"
    )
    return parser.parse_args()


@contextlib.contextmanager
def plotted(folder: Path | None) -> Iterator[None]:
    """Around the benchmark's parts: their plots into ``folder`` (if given) once all ran."""
    yield
    if folder is not None:
        for path in write_plots(folder, run_conditions()):
            print(f"wrote {path}")


def main() -> None:
    """Replot a folder's figures.json (the table too, for docs/img) without rerunning."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args().folder
    saved = json.loads((folder / FIGURES_FILE).read_text())
    for part in FIGURES:
        FIGURES[part] = saved[part]
    for path in write_plots(folder, saved["conditions"]):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
