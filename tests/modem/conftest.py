"""Fixtures shared by the modem tests: `serve_console` (a running `modem serve` and its console) and
`console_bench` (served modems driven in-process, registered)."""

from collections.abc import AsyncIterator

import pytest

from modem.virtual.control_fixture import serve_console
from tests.modem.console_bench import ConsoleBench

__all__ = ["console_bench", "serve_console"]


@pytest.fixture
async def console_bench() -> AsyncIterator[ConsoleBench]:
    b = ConsoleBench()
    await b.registered()
    yield b
    b.close()
