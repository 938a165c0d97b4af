"""Print rows loaded per stream (CSV files) next to the records the sandbox holds.

Exit status 1 when any stream's count differs, so the demo proves what it shows.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import urllib.request
from pathlib import Path


def csv_row_counts(directory: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in sorted(directory.glob("*.csv")):
        with path.open(newline="") as handle:
            counts[path.stem] = sum(1 for _ in csv.DictReader(handle))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--csv-dir", type=Path, required=True)
    parser.add_argument("--sandbox-url", required=True)
    args = parser.parse_args()
    with urllib.request.urlopen(f"{args.sandbox_url}/_sandbox/stats") as response:  # noqa: S310
        held: dict[str, int] = json.load(response)["records"]
    loaded = csv_row_counts(args.csv_dir)
    print(f"{'stream':<32} {'rows loaded':>12} {'sandbox holds':>14}")
    mismatch = False
    for stream in sorted(set(held) | set(loaded)):
        rows, expected = loaded.get(stream, 0), held.get(stream, 0)
        mismatch |= rows != expected
        flag = "" if rows == expected else "  <-- MISMATCH"
        print(f"{stream:<32} {rows:>12} {expected:>14}{flag}")
    sys.exit(1 if mismatch else 0)


if __name__ == "__main__":
    main()
