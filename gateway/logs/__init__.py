"""Usage records from real network logs: FreeRADIUS `detail` files, osmo-sgsn CDR files.

Each adapter maps its source to the usage-record schema (`accounting-io.md`),
delimiting records as the source does (docs/records.md), and reports every
entry it cannot use with its file and line.
"""

from gateway.logs.common import LogError, LogReport
from gateway.logs.osmo_cdr import records_from_osmo_cdr
from gateway.logs.radius_detail import records_from_radius_detail

__all__ = ["LogError", "LogReport", "records_from_osmo_cdr", "records_from_radius_detail"]
