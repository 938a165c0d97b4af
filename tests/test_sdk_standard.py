"""The Singer SDK's standard tap tests, run against a live sandbox (all configured sources).

Twice: with the SDK's default record limit (a dry run of a few records per stream), and with
no limit, where every stream is read to its end as a production run reads it and the STATE
throttle applies (its last STATE must still go out, though no ``Tap.sync_all`` drives it).
"""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.tap import TapTicketLogs

# The SDK builds its test class from a config at import time, so the sandbox starts here;
# its server thread is a daemon and ends with the test process.
SANDBOX = Sandbox(seed=5, records=150).start()

TestTapTicketLogs = get_tap_test_class(TapTicketLogs, config=SANDBOX.tap_config())

TestTapTicketLogsWholeStreams = get_tap_test_class(
    TapTicketLogs,
    config=SANDBOX.tap_config(),
    suite_config=SuiteConfig(max_records_limit=None),
)
