"""The bench suite: `hil.pytest_plugin`'s options and fixtures for the tests in this folder.

The plugin's hooks and fixtures are imported here rather than named in `pytest_plugins`: pytest
refuses `pytest_plugins` in a conftest below the root.  Its options exist when this folder is on
the command line (`pytest tests/bench --modem-url /dev/ttyUSB2 ...`); a run of the whole suite uses
the defaults (the virtual modem).  The options and the `modem_url` parametrisation are registered
by `tests/conftest.py`, once for any folder on the command line.
"""

from hil.pytest_plugin import (  # noqa: F401  (hooks and fixtures, found by pytest by name)
    bench_allow_list,
    bench_out,
    bench_policy,
    modem,
    run_script,
    transcript,
)
