"""Console entry point: the SDK's CLI, with known failures reported as one line."""

from __future__ import annotations

import logging
import sys

from tap_ticketlogs.errors import TicketLogsError
from tap_ticketlogs.http.redaction import REDACTOR
from tap_ticketlogs.malloc_arenas import tune_malloc
from tap_ticketlogs.tap import TapTicketLogs


def main() -> None:
    """Run the tap; a configuration or source error exits 1 with one line on stderr."""
    tune_malloc()  # before any worker thread allocates (see malloc_arenas.py)
    try:
        TapTicketLogs.cli()
    except TicketLogsError as exc:
        # The one line is the last one on stderr: worker threads still finishing their
        # requests (a retry warning, a METRIC) log nothing after it.
        logging.disable(logging.CRITICAL)
        print(f"tap-ticketlogs: error: {REDACTOR.redact(str(exc))}", file=sys.stderr)  # noqa: T201
        sys.exit(1)
