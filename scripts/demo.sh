#!/usr/bin/env bash
# One command from a fresh clone to data: installs the project and Meltano, starts the
# sandbox, runs `meltano run tap-ticketlogs target-csv` against it (all four sources) and
# prints the rows loaded per stream next to the records the sandbox holds.
# Exits non-zero on a mismatch.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
install_into_venv -e . "meltano>=4.0,<5"
export PATH="$PWD/.venv/bin:$PATH"

meltano install --quiet extractor tap-ticketlogs 2>/dev/null || meltano install extractor tap-ticketlogs
meltano install --quiet loader target-csv 2>/dev/null || meltano install loader target-csv

workdir=$(mktemp -d)
trap 'kill "$sandbox_pid" 2>/dev/null || true; rm -rf "$workdir"' EXIT
tap-ticketlogs-sandbox --port 0 --seed 42 > "$workdir/url" &
sandbox_pid=$!
for _ in $(seq 50); do [ -s "$workdir/url" ] && break; sleep 0.1; done
TAP_TICKETLOGS_SANDBOX_URL=$(head -n1 "$workdir/url")
export TAP_TICKETLOGS_SANDBOX_URL
echo "sandbox serving on $TAP_TICKETLOGS_SANDBOX_URL"

rm -rf output/csv
mkdir -p output
echo "meltano --environment=sandbox run --full-refresh tap-ticketlogs target-csv  (log: output/demo-meltano.log)"
if ! meltano --environment=sandbox run --full-refresh tap-ticketlogs target-csv > output/demo-meltano.log 2>&1; then
  tail -n 40 output/demo-meltano.log
  exit 1
fi
grep -h "tap-ticketlogs .*summary" output/demo-meltano.log | sed 's/^.*summary/summary/' || true

python_bin=.venv/bin/python
"$python_bin" scripts/row_counts.py --csv-dir output/csv --sandbox-url "$TAP_TICKETLOGS_SANDBOX_URL"
