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


def pytest_configure(config: object) -> None:
    """The suite's caches (the YAML cache of `m2msim/yamlcache.py`) go to a folder of this run, not
    to the user's `~/.cache`: a test never writes where the user keeps files, and every run starts
    with an empty cache.  Child processes inherit it through the environment."""
    import os
    import signal
    import tempfile

    # A suite started in the background by a non-interactive shell (`make test &` in a script, some
    # CI runners) inherits SIGINT ignored, and Python then keeps it ignored: the tests of what Ctrl-C
    # does (in this process and in the commands they start, which inherit it) need Python's own.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if "M2MSIM_TEST_CACHE" not in os.environ:
        folder = tempfile.mkdtemp(prefix="m2msim-test-cache-")
        os.environ["M2MSIM_TEST_CACHE"] = folder
        os.environ["XDG_CACHE_HOME"] = folder
        _made.append(folder)


_made: list[str] = []


def pytest_collection_modifyitems(config: object, items: list[object]) -> None:
    """Tests marked `long` (the further seeds and cases of a test whose first ones `make test`
    runs) are left out of the run unless M2MSIM_LONG=1 (`make fuzz`) or `-m` names the mark: the
    suite stays within its time on two cores, the longer target replays them all."""
    import os

    import pytest

    assert isinstance(config, pytest.Config)
    if os.environ.get("M2MSIM_LONG") == "1" or "long" in (config.option.markexpr or ""):
        return
    kept: list[pytest.Item] = []
    left: list[pytest.Item] = []
    for item in items:
        assert isinstance(item, pytest.Item)
        (left if item.get_closest_marker("long") else kept).append(item)
    if left:
        config.hook.pytest_deselected(items=left)
        items[:] = kept


def pytest_unconfigure(config: object) -> None:
    """The cache folder this run made goes with it."""
    import shutil

    for folder in _made:
        shutil.rmtree(folder, ignore_errors=True)
