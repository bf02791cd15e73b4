"""Fixtures shared by the modem tests: `serve_console` (a running `modem serve` and its console)."""

from modem.virtual.control_fixture import serve_console

__all__ = ["serve_console"]
