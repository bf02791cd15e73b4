"""A real third-party AT client (python-gsmmodem-new) against the virtual modem on a pseudo-terminal.

The modem is served from a thread running its own event loop, bound to the real
operator network (gateway.network.Network); python-gsmmodem opens the pty's
slave path as it would a USB modem.  Waits are on events, with timeouts.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from accounting.records import UsageRecord, UsageType
from gateway.api import CallOutcome
from gateway.network import Network, NetworkConfig
from gateway.switch import SwitchConfig
from modem.profiles import load_profile
from modem.virtual.clock import LoopClock
from modem.virtual.core import VirtualModem
from modem.virtual.scenario import ServeScenario, provision
from modem.virtual.server import PtyEndpoint

# python-gsmmodem 0.13 has regex strings with invalid escapes ("\\+") and compares strings with
# `is`: compiling its modules (when no .pyc exists) warns.  Not ours to fix, not an error here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "invalid escape sequence", DeprecationWarning)
    warnings.filterwarnings("ignore", "invalid escape sequence", SyntaxWarning)
    warnings.filterwarnings("ignore", '"is( not)?" with a literal', SyntaxWarning)
    gsmmodem = pytest.importorskip("gsmmodem")
    from gsmmodem.exceptions import PinRequiredError
    from gsmmodem.modem import GsmModem, ReceivedSms

T = TypeVar("T")
EPOCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class ServedModem:
    """A virtual modem on a pty, served by an event loop in a background thread."""

    def __init__(self, profile: str, seed: int = 1, pin: str | None = None) -> None:
        self.pin = pin
        self.records: list[UsageRecord] = []
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(profile, seed), daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the server did not start"

    def _run(self, profile: str, seed: int) -> None:
        asyncio.set_event_loop(self._loop)
        self.clock = LoopClock(self._loop)
        self.network = Network(
            NetworkConfig(
                epoch=EPOCH, seed=seed, calls=SwitchConfig(forced={"0140000000": CallOutcome.ANSWERED})
            ),
            self,
        )
        self.modem = VirtualModem(
            load_profile(profile),
            network=self.network,
            seed=seed,
            now=self.clock.now(),
            epoch=EPOCH,
            pin=self.pin,
        )
        provision(self.network, self.modem, ServeScenario(offer="business-m2m-dtmf"))
        self.endpoint = PtyEndpoint(self.modem, self.clock)
        self._ready.set()
        self._loop.run_forever()
        self.endpoint.close()
        self._loop.close()

    def write(self, record: UsageRecord) -> None:  # the network's record sink
        self.records.append(record)

    @property
    def path(self) -> str:
        return self.endpoint.path

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the modem's loop (the modem and the network are not thread-safe)."""
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def served() -> Iterator[ServedModem]:
    s = ServedModem("simcom-sim800")
    yield s
    s.stop()


@pytest.fixture
def client(served: ServedModem) -> Iterator[tuple[GsmModem, list[ReceivedSms], threading.Event]]:
    inbox: list[ReceivedSms] = []
    got = threading.Event()

    def on_sms(sms: ReceivedSms) -> None:
        inbox.append(sms)
        got.set()

    gsm = GsmModem(served.path, 115200, smsReceivedCallbackFunc=on_sms)
    gsm.connect()
    try:
        gsm.waitForNetworkCoverage(timeout=15)
        yield gsm, inbox, got
    finally:
        gsm.close()


def test_connect_identity_signal_and_network_name(served: ServedModem, client: Any) -> None:
    gsm, _, _ = client
    ident = served.modem.identity
    assert gsm.manufacturer == "SIMCOM_Ltd"
    assert gsm.model == "SIMCOM_SIM800"
    assert gsm.imei == ident.imei
    assert gsm.imsi == ident.imsi
    assert gsm.signalStrength == 21  # the profile's +CSQ rssi, once registered
    assert gsm.networkName == "Orange F"
    assert served.call(lambda: served.modem.settings.cnmi) == [2, 1, 0, 2, 0]


def test_send_sms_pdu_then_text_mode_reaches_the_smsc(served: ServedModem, client: Any) -> None:
    gsm, _, _ = client
    sent = gsm.sendSms("+33612345678", "Meter 42: 1234 kWh")
    assert sent.reference == 0
    gsm.smsTextMode = True
    sent = gsm.sendSms("+33612345679", "Valve closed")
    assert sent.reference == 1
    log = served.call(lambda: list(served.modem.sms.sent))
    assert [(dest, text) for _, dest, text in log] == [
        ("+33612345678", "Meter 42: 1234 kWh"),
        ("+33612345679", "Valve closed"),
    ]
    sms_records = [r for r in served.records if r.type == UsageType.SMS]
    assert len(sms_records) == 2
    assert {r.line for r in sms_records} == {served.modem.identity.line_id}


@pytest.mark.parametrize("text_mode", [False, True], ids=["pdu", "text"])
def test_receive_sms_cmti_read_delete(served: ServedModem, client: Any, text_mode: bool) -> None:
    gsm, inbox, got = client
    gsm.smsTextMode = text_mode
    line = served.modem.identity.line_id
    deleted = threading.Event()

    def watch(command: str) -> None:  # runs on the modem's loop, after each command line
        if command.upper().startswith("AT+CMGD") and served.modem.sms.stored_count() == 0:
            deleted.set()

    served.call(lambda: setattr(served.modem, "on_line", watch))
    served.call(lambda: served.network.submit_sms(served.clock.now(), line, "+33698765432", "Open valve 3"))
    assert got.wait(15), "no SMS reached the client"
    sms = inbox[0]
    assert sms.text == "Open valve 3"
    assert sms.number == "+33698765432"
    # python-gsmmodem deletes the message after its callback returned
    assert deleted.wait(10), "the client did not delete the message"
    assert gsm.write("AT") == ["OK"]  # queued behind the client's AT+CMGD: its answer was read


def test_voice_call_with_dtmf_is_billed(served: ServedModem, client: Any) -> None:
    gsm, _, _ = client
    answered = threading.Event()

    def on_status(call: Any) -> None:
        if call.answered:
            answered.set()

    # python-gsmmodem polls AT+CLCC: dialing, then active
    call = gsm.dial(
        "0140000000", timeout=60, callStatusUpdateCallbackFunc=on_status
    )  # 5 s default: a loaded CI
    assert answered.wait(60)
    call.sendDtmfTone("42#")
    call.hangup()
    # python-gsmmodem's +CLCC poller ends when it finds no call; one still polling when the client
    # closes fails in its thread (reported against whichever test runs next)
    for poller in [t for t in threading.enumerate() if "_pollCallStatus" in t.name]:
        poller.join(10)
    assert served.call(lambda: [t for _, t in served.modem.calls.dtmf_log]) == ["4", "2", "#"]
    (rec,) = [r for r in served.records if r.type == UsageType.VOICE]
    assert rec.line == served.modem.identity.line_id


def test_pin_locked_sim_unlocked_by_the_client() -> None:
    served = ServedModem("quectel-bg96", pin="2468")
    try:
        gsm = GsmModem(served.path, 115200)
        with pytest.raises(PinRequiredError):
            gsm.connect()
        gsm.close()
        gsm = GsmModem(served.path, 115200)
        gsm.connect(pin="2468")
        try:
            gsm.waitForNetworkCoverage(timeout=15)
            assert gsm.imsi == served.modem.identity.imsi
        finally:
            gsm.close()
    finally:
        served.stop()
