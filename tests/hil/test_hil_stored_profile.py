"""A module's stored profile (AT&W): ATZ brings back what it holds (echo on, results in digits,
results off, +CMEE 0), and the bench sets its own settings again after it and checks them, on the
virtual modem, which stores and restores the profile as V.250 says."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.bench import run_bench
from modem.transport import Transport
from modem.virtual.bound import open_bound_virtual

URL = "virtual://generic?seed=1"

AFTER_ATZ = """\
name: after_atz
steps:
  - send: ATZ
  - send: AT+CSQ
    expect: '\\+CSQ: (?P<rssi>\\d+),'
"""


async def _with_stored_profile(stored: str) -> Transport:
    """The virtual modem with `stored` (`ATE1V0`) saved by AT&W, then AT&F: the bench starts on the
    factory settings, and only its ATZ brings the stored ones back."""
    t, _ = await open_bound_virtual(URL, "business-m2m")
    for line in (f"AT{stored}&W\r", "AT&F\r"):
        await t.write(line.encode())
    answer = b""
    while not answer.endswith(b"OK\r\n"):  # AT&F's, in words: the factory result format
        answer += await t.read()
    return t


@pytest.mark.parametrize(
    "stored",
    [
        "E1V0",  # echo on, results in digits
        "E0Q1",  # results off: ATZ itself answers nothing
        "E1V0+CMEE=0",
    ],
)
async def test_after_atz_the_bench_sets_its_settings_again_and_checks_them(
    tmp_path: Path, stored: str
) -> None:
    script = tmp_path / "after_atz.yaml"
    script.write_text(AFTER_ATZ)
    t = await _with_stored_profile(stored.replace("+CMEE=0", ";+CMEE=0"))
    result = await run_bench(str(script), URL, transport=t, timeout=1.0)
    assert result.status == "passed", result.error
    commands = result.transcript.commands
    lines = [c["command"] for c in commands]
    at = lines.index("ATZ")
    assert lines[at + 1 : at + 6] == ["ATQ0V1", "ATE0", "AT+CMEE=1", "AT", "AT+CMEE?"]
    assert commands[at + 4]["final"] == "OK"  # the check: in words, results on
    assert commands[at + 5]["responses"] == ["+CMEE: 1"]  # errors with their codes again
    assert [c["final"] for c in commands if c["command"] == "AT+CSQ"] == ["OK"]  # in words


async def test_atf_also_brings_the_bench_settings_back(tmp_path: Path) -> None:
    script = tmp_path / "after_atf.yaml"
    script.write_text(AFTER_ATZ.replace("send: ATZ", "send: AT&F"))
    t, _ = await open_bound_virtual(URL, "business-m2m")
    result = await run_bench(str(script), URL, transport=t, timeout=1.0)
    assert result.status == "passed", result.error
    lines = [c["command"] for c in result.transcript.commands]
    at = lines.index("AT&F")
    assert lines[at + 1 : at + 6] == ["ATQ0V1", "ATE0", "AT+CMEE=1", "AT", "AT+CMEE?"]
