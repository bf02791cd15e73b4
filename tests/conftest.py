"""The bench options (`hil.pytest_plugin`) for every run of the suite: `pytest tests/bench
--modem-url /dev/ttyUSB2`, `pytest tests/hil tests/bench --modem-url replay://run.jsonl`.

The options and the `modem_url` parametrisation live here, at the root of the tests, so that they
are registered once whichever folders are on the command line; the fixtures are in
`tests/bench/conftest.py`, next to the tests that use them.
"""

from hil.pytest_plugin import (  # noqa: F401  (hooks found by pytest by name)
    pytest_addoption,
    pytest_generate_tests,
)
