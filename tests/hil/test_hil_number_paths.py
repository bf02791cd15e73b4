"""Every path by which a number reaches a modem, on a serial device standing in for a physical modem
(the virtual modem served on a pseudo-terminal: its URL is a device path): a number off the bench's
allow-list never goes, whatever the path, and nothing of the refused line reaches the port.

The paths: a voice dial (`ATD...;`) and a data dial (no `;`), a phonebook entry (`ATD>`), the last
number again (`ATDL`), an SMS in text mode (the quoted number) and in PDU mode (the TP-DA inside the
PDU), a stored message sent with or without a number (`AT+CMSS`: the stored one's own destination,
written by `AT+CMGW`), USSD (`AT+CUSD`, or dialled), call forwarding (`AT+CCFC`, or dialled as a
supplementary-service code), the driver's own sends and dials, and `m2msim modem at` typed by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from ptys import served_ptys_sync

from m2msim.cli import main
from modem.at.client import WatchdogPolicy
from modem.drivers.generic import Modem
from modem.safety import AllowList, NumberNotAllowed, SafetyError
from modem.sms import encode_submit
from modem.transport import Transport
from modem.transports import open_transport

ALLOWED = "+33600000009"
OFF = "+33699999999"


class Written:
    """The port's transport, keeping every byte written to it."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.url = inner.url
        self.written = bytearray()

    async def read(self) -> bytes:
        return await self.inner.read()

    async def write(self, data: bytes) -> None:
        self.written += data
        await self.inner.write(data)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(scope="module")
def device() -> Iterator[str]:
    with served_ptys_sync("simcom-sim800", seed=7) as [path]:
        yield path


@pytest.fixture
async def modem(device: str) -> AsyncIterator[tuple[Modem, Written]]:
    port = Written(await open_transport(device))
    driver = await Modem.on_transport(
        port,  # type: ignore[arg-type]
        profile="simcom-sim800",
        policy=AllowList([ALLOWED]),
        watchdog=WatchdogPolicy(enabled=False),
    )
    async with driver:
        yield driver, port


RAW_LINES = [
    pytest.param(f"ATD{OFF};", id="voice dial"),
    pytest.param(f"ATD{OFF}", id="data dial"),
    pytest.param(f"ATDT{ALLOWED[1:]}P{OFF[1:]};", id="dial modifiers"),
    pytest.param("ATD>SM1;", id="phonebook entry"),
    pytest.param('ATD>"bench";', id="phonebook name"),
    pytest.param("ATDL;", id="redial"),
    pytest.param("ATDL", id="redial data"),
    pytest.param("AT+CMSS=1", id="stored message"),
    pytest.param(f'AT+CMSS=1,"{OFF}"', id="stored message to a number"),
    pytest.param(f'AT+CMSS=1,"{ALLOWED}",145', id="stored message to an allowed number"),
    pytest.param('AT+CUSD=1,"*100#",15', id="USSD"),
    pytest.param("ATD*100#;", id="USSD dialled"),
    pytest.param(f'AT+CCFC=0,3,"{OFF}"', id="forward registered"),
    pytest.param("AT+CCFC=0,1", id="forward enabled"),
    pytest.param(f"ATD**21*{OFF}#;", id="forward dialled"),
    pytest.param(f'AT+CTFR="{OFF}"', id="deflect"),
    pytest.param(f'AT+CSCA="{OFF}",145', id="another SMS centre"),
    pytest.param("A/", id="repeat"),
]


@pytest.mark.parametrize("line", RAW_LINES)
async def test_a_raw_line_reaching_a_number_off_the_list_is_refused(
    modem: tuple[Modem, Written], line: str
) -> None:
    driver, port = modem
    before = len(port.written)
    with pytest.raises(SafetyError):
        await driver.client.command(line)
    assert bytes(port.written[before:]) == b""


async def test_a_text_mode_sms_off_the_list_is_refused(modem: tuple[Modem, Written]) -> None:
    driver, port = modem
    await driver.client.command("AT+CMGF=1;+CSMP=17,167,0,0")
    before = len(port.written)
    with pytest.raises(NumberNotAllowed):
        await driver.client.command_with_data(f'AT+CMGS="{OFF}"', b"hi\x1a")
    assert bytes(port.written[before:]) == b""


async def test_a_pdu_whose_destination_is_off_the_list_is_refused(modem: tuple[Modem, Written]) -> None:
    driver, port = modem
    off = encode_submit("hi", OFF)[0]
    await driver.client.command("AT+CMGF=0")
    before = len(port.written)
    with pytest.raises(NumberNotAllowed):
        await driver.client.command_with_data(f"AT+CMGS={off.tpdu_length}", off.hex.encode() + b"\x1a")
    assert bytes(port.written[before:]) == b""


async def test_a_stored_message_is_written_but_never_sent_from_storage(modem: tuple[Modem, Written]) -> None:
    # AT+CMGW stores (its number goes nowhere); AT+CMSS would send it to that number, or to any
    driver, port = modem
    await driver.client.command("AT+CMGF=1")
    reply = await driver.client.command_with_data(f'AT+CMGW="{OFF}"', b"stored\x1a")
    index = reply.fields("+CMGW")[0]
    before = len(port.written)
    for line in (f"AT+CMSS={index}", f'AT+CMSS={index},"{ALLOWED}"'):
        with pytest.raises(SafetyError, match="CMSS"):
            await driver.client.command(line)
    assert bytes(port.written[before:]) == b""


async def test_the_drivers_own_sends_and_dials_off_the_list_are_refused(modem: tuple[Modem, Written]) -> None:
    driver, port = modem
    before = len(port.written)
    with pytest.raises(NumberNotAllowed):
        await driver.sms.send(OFF, "hi")
    with pytest.raises(NumberNotAllowed):
        await driver.calls.dial(OFF)
    with pytest.raises(NumberNotAllowed):
        await driver.calls.dial_data(OFF)
    assert b"ATD" not in port.written[before:] and b"CMGS" not in port.written[before:]


async def test_hanging_up_and_answering_go(modem: tuple[Modem, Written]) -> None:
    driver, port = modem
    await driver.client.command("AT+CHUP")
    await driver.client.command("ATH")
    assert b"AT+CHUP\rATH\r" in port.written


@pytest.mark.parametrize(
    "line", [f"ATD{OFF};", f"ATD{ALLOWED};", "ATD>1;", "ATDL;", "AT+CMSS=1", 'AT+CUSD=1,"*100#"']
)
def test_modem_at_typed_by_hand_never_texts_or_calls(
    device: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # no allow-list there: texting and calling go through `m2msim bench --allow-list`
    assert main(["modem", "at", device, line]) == 2
    err = capsys.readouterr().err
    assert f"{line!r} refused" in err and "m2msim bench --allow-list" in err


@pytest.mark.parametrize("toda", ["129", "161"])
async def test_an_allowed_international_number_sent_as_another_type_of_address_is_refused(
    modem: tuple[Modem, Written], toda: str
) -> None:
    # 27.005 §3.5.1: <toda> 129 (unknown) or 161 (national) with a `+` number: a module may drop
    # the `+` and send the digits, 33600000009, as a national number: another subscriber
    driver, port = modem
    await driver.client.command("AT+CMGF=1")
    before = len(port.written)
    with pytest.raises(SafetyError, match=f"type of address {toda}"):
        await driver.client.command_with_data(f'AT+CMGS="{ALLOWED}",{toda}', b"hi\x1a")
    assert bytes(port.written[before:]) == b""
