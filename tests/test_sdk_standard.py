"""The Singer SDK's standard tap tests, run against a live sandbox (all configured sources)."""

from __future__ import annotations

from singer_sdk.testing import get_tap_test_class

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.tap import TapTicketLogs

# The SDK builds its test class from a config at import time, so the sandbox starts here;
# its server thread is a daemon and ends with the test process.
SANDBOX = Sandbox(seed=5, records=150).start()

TestTapTicketLogs = get_tap_test_class(TapTicketLogs, config=SANDBOX.tap_config())
