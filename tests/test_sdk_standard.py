"""The Singer SDK's standard tap tests, run against a live sandbox (all configured sources).

Twice: with the SDK's default record limit (a dry run of a few records per stream), and with
no limit, where every stream is read to its end as a production run reads it and the STATE
throttle applies (its last STATE must still go out, though no ``Tap.sync_all`` drives it).
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from typing import Any

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from tap_ticketlogs.sandbox.server import Sandbox
from tap_ticketlogs.sources.tixngo.sandbox import TixngoAPI
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

# Against TIXNGO entries that carry their time as logDate, as Meltano runs a tap: the catalog
# of a discovery (which finds logDate), then the sync with it. (The extended field style is
# not run here: the suite compares records with the catalog, and fields that appear mid-data
# are declared by schema evolution, in SCHEMA messages, not in the catalog.)
_OWN_SPELLING = Sandbox(
    seed=6,
    records=600,
    apis={"tixngo": TixngoAPI(seed=6, records=600, time_field="logDate")},
).start()


def _discovered_catalog(config: dict[str, Any]) -> dict[str, Any]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        TapTicketLogs(config=config, setup_mapper=False).run_discovery()
    catalog: dict[str, Any] = json.loads(buffer.getvalue())
    return catalog


TestTapTicketLogsOwnSpelling = get_tap_test_class(
    TapTicketLogs,
    config=_OWN_SPELLING.tap_config(),
    catalog=_discovered_catalog(_OWN_SPELLING.tap_config()),
    suite_config=SuiteConfig(max_records_limit=None),
)
