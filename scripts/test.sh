#!/usr/bin/env bash
# One command from a fresh clone to a tested tree: installs the project with its test
# dependencies into .venv, then runs lint, type checks and the whole test suite.
# Any failure (including pytest's exit code 5, "no tests collected") fails the command.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
install_into_venv -e ".[test]"
# CI's second job sets SINGER_SDK_REQUIREMENT="singer-sdk[testing]": the suite then runs on
# the newest singer-sdk release, past the pin in pyproject.toml, so an upgrade is known to
# work (or what breaks is known) before the pin is widened.
if [ -n "${SINGER_SDK_REQUIREMENT:-}" ]; then
  .venv/bin/pip install --quiet --upgrade "$SINGER_SDK_REQUIREMENT"
  .venv/bin/python -c 'import importlib.metadata as m; print("singer-sdk", m.version("singer-sdk"))'
fi

.venv/bin/ruff check tap_ticketlogs orchestration tests scripts
.venv/bin/ruff format --check tap_ticketlogs orchestration tests scripts
.venv/bin/mypy

# Two workers (pytest-xdist; this machine and CI's have 2 cores): whole test modules per worker,
# the modules that run Meltano all on one (tests/conftest.py). `-n 0` in "$@" runs serially.
set +e
.venv/bin/pytest -p no:cacheprovider -n 2 "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing, an empty suite proves nothing" >&2
  exit 1
fi
exit "$status"
