"""SMS over AT (3GPP TS 27.005): text and PDU mode, reading, listing, and deleting only after success.

Sending asks the bench's `DialPolicy` first.  PDU mode uses the `modem.sms` codec (GSM 7-bit, UCS2,
concatenation); text mode sends the text as is.  Messages are read in PDU mode in either (a
text-mode message is written as it is, and one holding a line `OK` would end the answer there).
Incoming messages are handed to a handler and
deleted from the modem only once the handler returned without raising; concatenated parts are
reassembled first and all their storage slots deleted together.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from modem import safety
from modem.at import grammar
from modem.at.client import ATClient, Reply, Subscription
from modem.at.command import Command
from modem.at.errors import CMEError, CMSError, CommandError, ModemError, SettingsRestored, is_transient
from modem.at.parser import Urc
from modem.drivers.calls import home_network_check
from modem.drivers.network import Network, quote
from modem.drivers.profile import DriverProfile
from modem.sms import (
    Direction,
    Reassembler,
    SmsCodecError,
    SmsDeliver,
    SmsStatusReport,
    SmsSubmit,
    UserData,
    decode_pdu,
    encode_submit,
)
from modem.sms.textmode import (
    MessageStatus,
    parse_cds_pdu,
    parse_cmgl_pdu,
    parse_cmgr_pdu,
    parse_cmgs,
    status_report_text,
    submit_parameters,
)

log = logging.getLogger(__name__)
CTRL_Z = b"\x1a"
# Text mode: the AT+CSMP that asks for a status report (first octet 49: SMS-SUBMIT, relative
# validity, TP-SRR), with the validity of one day most modules start with (<vp> 167)
REPORT_PARAMETERS = submit_parameters(timedelta(days=1), status_report=True)
# ... and the one that asks for none (`AT+CSMP=17,167,0,0`), sent before any other text-mode send
NO_REPORT_PARAMETERS = submit_parameters(timedelta(days=1))


@dataclass(frozen=True, slots=True)
class StoredSms:
    """A message as read from the modem's storage (one part of a concatenated message)."""

    index: int
    status: MessageStatus | None
    sender: str | None
    text: str | None
    timestamp: datetime | None
    pdu: SmsDeliver | None = None  # the decoded part, in PDU mode
    report: SmsStatusReport | None = None  # a status report stored by the modem (AT+CNMI <ds>=2)


@dataclass(frozen=True, slots=True)
class IncomingSms:
    """A whole received message (its parts reassembled) and the storage slots it occupied."""

    sender: str | None
    text: str | None
    timestamp: datetime | None
    indexes: tuple[int, ...]
    parts: tuple[StoredSms, ...] = field(default=())


Handler = Callable[[IncomingSms], Awaitable[None] | None]


def _check_text_mode(text: str) -> None:
    """Text mode sends the text in the module's TE character set (+CSCS, "IRA" or "GSM" as modules
    start): a character beyond printable ASCII, line ends aside, goes out as other characters (its
    UTF-8 octets read as IRA: "Relevé" arrives as "RelevÃ©").  Such a text is refused before
    anything is sent; PDU mode sends it (GSM 7-bit, national tables or UCS2)."""
    for i, ch in enumerate(text):
        if not (" " <= ch <= "~" or ch in "\r\n"):
            raise ModemError(
                f"text mode sends ASCII text only: {ch!r} (U+{ord(ch):04X}) at index {i} would arrive as "
                "other characters; send it in PDU mode"
            )


class Messaging:
    def __init__(
        self,
        client: ATClient,
        profile: DriverProfile,
        policy: safety.DialPolicy | None,
        network: Network | None = None,
    ) -> None:
        self.client = client
        self.profile = profile
        self.policy = policy
        self.network = network  # asked for the registration before a home-network-only number
        self.mode = profile.sms_mode
        self._mr = 0
        self._reassembler = Reassembler(timeout=3600.0)
        self._partial: dict[tuple[str, int, int, int], list[StoredSms]] = {}

    async def configure(self, mode: str | None = None, *, status_reports: bool = False) -> bool:
        """Set the message format (AT+CMGF), the storage (AT+CPMS) and new-message URCs (AT+CNMI).

        `status_reports`: also route SMS status reports to the serial line as `+CDS` (<ds>=1), with
        the profile's `sms.status_reports` line; returns whether they are routed (False when not
        asked, and when the profile has no such line, the module's support not known).  In text
        mode they come as `+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,<dt>,<st>` (27.005 §3.4.1)."""
        await self.set_mode(mode or self.profile.sms_mode)
        store = quote(self.profile.sms_storage, "storage")
        await self._keep(f"AT+CPMS={store},{store},{store}")
        routed = status_reports and bool(self.profile.status_reports)
        await self._keep(self.profile.status_reports if routed else self.profile.cnmi)
        return routed

    async def _keep(self, line: str) -> None:
        """A setting of the driver's: sent, and once answered OK set again after a reset (ATZ,
        AT&F: `ATClient.keep`), as the module's stored or factory one would then be in force
        (+CNMI without <ds>=1: no status report routed, the delivery not known)."""
        await self.client.command(line)
        self.client.keep(line)

    async def set_mode(self, mode: str) -> None:
        if mode not in ("pdu", "text"):
            raise ValueError(f"SMS mode is pdu or text, not {mode!r}")
        await self._keep(f"AT+CMGF={1 if mode == 'text' else 0}")
        self.mode = mode

    async def send(
        self,
        number: str,
        text: str,
        *,
        status_report: bool = False,
        on_part: Callable[[int], None] | None = None,
    ) -> list[int]:
        """Send a text (split into parts when long, in PDU mode); returns the message references.
        `status_report`: each part asks the service centre for a status report (TP-SRR; in text
        mode `AT+CSMP=49,167,0,0` before each `AT+CMGS`, else `AT+CSMP=17,167,0,0`: the module's
        own parameters may make another kind of message), routed as `+CDS` once
        `configure(status_reports=True)` (`on_status_report`).  `on_part(reference)` is called as
        each part is taken by the network (its `AT+CMGS` answered): when each part went, for a
        long message whose parts go minutes apart."""
        safety.check(self.client.url, self.policy, number, "sms")
        number = safety.normalise_number(number)
        if self.mode == "text":
            _check_text_mode(text)
            guard = self.client.guard
            if isinstance(guard, safety.CommandGuard) and guard.strict and not guard.charset:
                # the TE character set the number is written in (27.005 §3.5.1), neither set nor
                # read yet: a program before the run may have left "HEX", where "3636" is 66; the
                # guard refuses the send in a set not known to write it as itself
                with contextlib.suppress(CommandError):
                    await self.client.command("AT+CSCS?")
            # the parameters each time: the module's own may be another kind of message (the command
            # guard sends none without them set or read just before)
            before = (REPORT_PARAMETERS if status_report else NO_REPORT_PARAMETERS).command
            reply = await self._submit(
                number,
                f"AT+CMGS={quote(number, 'number')}",
                text.encode("utf-8", "surrogateescape") + CTRL_Z,
                before=before,
            )
            ref = _message_reference(reply)
            if on_part is not None:
                on_part(ref)
            return [ref]
        refs: list[int] = []
        pdus = encode_submit(
            text, number, message_reference=self._mr, concat_reference=self._mr, status_report=status_report
        )
        self._mr = (self._mr + len(pdus)) % 256
        for pdu in pdus:
            reply = await self._submit(number, f"AT+CMGS={pdu.tpdu_length}", pdu.hex.encode() + CTRL_Z)
            refs.append(_message_reference(reply))
            if on_part is not None:
                on_part(refs[-1])
        return refs

    async def _submit(self, number: str, line: str, data: bytes, *, before: str | None = None) -> Reply:
        """AT+CMGS with the format set on the line just before: a module that reset without a word
        (brown-out, watchdog) is back in its default format, where AT+CMGS=<length> would text the
        number <length>; then the registration read when the number goes on the home network only
        (lines that only read keep the format known to the command guard).  A transient error
        before the prompt (SIM busy, please wait: a module initialising after a reset) is retried
        with the format set again; one after the message went out never is.  One queued behind a
        restart of the module goes once its settings are set again, the format set just before it
        again (`SettingsRestored`).  `before`: text mode's `AT+CSMP`, which a reset brings back to
        the module's own too, sent on the line of the format (`AT+CMGF=1;+CSMP=...`): the command
        guard wants both set just before, and a restart noticed after a line of its own would
        leave one of them set before the settings set again."""
        delays = iter(self.client.retry.delays())
        while True:
            if before is None:
                await self.set_mode(self.mode)
            else:
                format_line = f"AT+CMGF={1 if self.mode == 'text' else 0}"
                await self.client.command(f"{format_line};{before.removeprefix('AT')}")
                self.client.keep(format_line)
                self.client.keep(before)
            await home_network_check(self.network, self.policy, number, "sms")
            try:
                return await self.client.command_with_data(Command(line, retry=False), data)
            except SettingsRestored as exc:  # queued behind a restart: the format is set again first
                if next(delays, None) is None:
                    raise
                log.info("%s: %s", self.client.url, exc)
            except (CMEError, CMSError) as exc:
                delay = next(delays, None) if is_transient(exc) and not self.client.data_sent else None
                if delay is None:
                    raise
                log.info(
                    "%s: %s, sending the format and %s again in %.2f s", self.client.url, exc, line, delay
                )
                await asyncio.sleep(delay)

    async def read(self, index: int) -> StoredSms:
        async with self._reading_pdus():
            reply = await self.client.command(f"AT+CMGR={index}")
        if len(reply.lines) < 2:
            raise ModemError(f"AT+CMGR={index}: no message in the answer {list(reply.lines)!r}")
        return self._decode(index, reply.lines[0], reply.lines[1])

    async def list_messages(self, status: MessageStatus = MessageStatus.ALL) -> list[StoredSms]:
        async with self._reading_pdus():
            reply = await self.client.command(f"AT+CMGL={int(status)}")
        out: list[StoredSms] = []
        lines = list(reply.lines)
        for head, body in zip(lines[0::2], lines[1::2], strict=False):
            header_index = _index_of(head)
            try:
                out.append(self._decode(header_index, head, body))
            except ModemError as exc:
                # one message that does not decode (a broken time stamp, a <length> that does not
                # match) must not hide the others: it is left out, and stays on the modem
                log.error(
                    "%s: message %d left out of the listing: %s (%s)",
                    self.client.url,
                    header_index,
                    exc,
                    body,
                )
        return out

    @contextlib.asynccontextmanager
    async def _reading_pdus(self) -> AsyncIterator[None]:
        """Messages are read in PDU mode, text mode set back after: a text-mode message's text is
        written as it is, line breaks included, so that one holding a line `OK` (or `ERROR`, `+CMTI:
        ...`) would end the answer there, the rest read as URCs and a late answer (27.005 gives no
        length without AT+CSDH=1, and then in characters of an alphabet the line does not show); a
        PDU is one line of hex digits, its length in its header."""
        if self.mode != "text":
            yield
            return
        await self.client.command("AT+CMGF=0")
        try:
            yield
        finally:
            await self.client.command("AT+CMGF=1")

    async def delete(self, index: int) -> None:
        await self.client.command(f"AT+CMGD={index}")

    def _decode(self, index: int, head: str, body: str) -> StoredSms:
        try:
            ph = parse_cmgr_pdu(head) if head.startswith("+CMGR") else parse_cmgl_pdu(head)
            direction = ph.status.direction if ph.status is not None else Direction.MT
            msg = decode_pdu(body, direction, tpdu_length=ph.length)
        except SmsCodecError as exc:
            raise ModemError(f"{self.client.url}: message {index}: {exc}") from exc
        if isinstance(msg, SmsDeliver):
            return StoredSms(index, ph.status, msg.originator.number, msg.text, msg.scts, msg)
        if isinstance(msg, SmsStatusReport):
            return StoredSms(index, ph.status, None, None, msg.scts, report=msg)
        return StoredSms(index, ph.status, None, msg.text, None, None)

    def on_status_report(self, callback: Callable[[SmsStatusReport], None]) -> Subscription:
        """Call `callback` with each status report routed as `+CDS` (AT+CNMI <ds>=1; 27.005 §3.4.1):
        in PDU mode `+CDS: <length>` and its PDU, in text mode `+CDS: <fo>,<mr>,[<ra>],[<tora>],<scts>,
        <dt>,<st>`, decoded alike into an `SmsStatusReport` (message reference, recipient, service
        centre time stamp, discharge time, status).

        A report that cannot be decoded is logged with its PDU or line, never dropped silently.
        """

        def on_cds(urc: Urc) -> None:
            if urc.extra is None:  # text mode: the report's fields on the one line
                try:
                    text_report = status_report_text(urc.line)
                except SmsCodecError as exc:
                    log.error("%s: undecodable status report %r: %s", self.client.url, urc.line, exc)
                    return
                callback(text_report)
                return
            try:
                # the <length> of +CDS: <length> tells a PDU printed without the SMSC prefix
                length: int | None = parse_cds_pdu(urc.line).length
            except SmsCodecError:
                length = None
            try:
                report = decode_pdu(urc.extra, Direction.MT, tpdu_length=length)
            except SmsCodecError as exc:
                log.error("%s: undecodable status report %r: %s", self.client.url, urc.extra, exc)
                return
            if isinstance(report, SmsStatusReport):
                callback(report)
            else:
                log.warning(
                    "%s: +CDS carried a %s, not a status report", self.client.url, type(report).__name__
                )

        return self.client.subscribe(on_cds, {"+CDS"})

    # -- incoming --------------------------------------------------------------------------------
    async def deliver(self, stored: StoredSms, handler: Handler) -> IncomingSms | None:
        """Hand a stored part to the handler once its message is whole; delete its slots after success.

        Returns the message handled, or None while parts are missing.  A handler that raises leaves
        every part on the modem (and the exception propagates).  A stored status report is no
        message: it is not handed over, and stays on the modem (`StoredSms.report`).
        """
        if stored.report is not None:
            log.info(
                "%s: index %d is a status report (MR %d), not a message: kept on the modem",
                self.client.url,
                stored.index,
                stored.report.message_reference,
            )
            return None
        incoming = self._assemble(stored)
        if incoming is None:
            return None
        result = handler(incoming)
        if inspect.isawaitable(result):
            await result
        for index in incoming.indexes:
            await self.delete(index)
        return incoming

    def _assemble(self, stored: StoredSms) -> IncomingSms | None:
        """The whole message once `stored` completes it.  The stored parts of a message given up
        (incomplete after the reassembler's timeout, or superseded by a new message reusing its
        reference) are forgotten here and stay on the modem."""
        part = stored.pdu
        if part is None or part.concat is None or part.concat.total == 1:
            return IncomingSms(stored.sender, stored.text, stored.timestamp, (stored.index,), (stored,))
        c = part.concat
        key = (part.originator.number, c.reference_bits, c.reference, c.total)
        self._partial.setdefault(key, []).append(stored)
        now = asyncio.get_running_loop().time()
        whole = self._reassembler.add(part, now=now)
        for lost in self._reassembler.expire(now):
            held = lost.parts[0].concat if lost.parts else None
            bits = held.reference_bits if held is not None else 8
            lost_key = (lost.peer.number, bits, lost.reference, lost.total)
            kept = self._partial.pop(lost_key, [])
            gone = [p for p in kept if p.pdu is not None and _among(p.pdu.user_data, lost.parts)]
            if len(gone) < len(kept):
                self._partial[lost_key] = [p for p in kept if p not in gone]
            log.warning(
                "%s: message from %s (ref %d) given up incomplete, missing parts %s: indexes %s kept on "
                "the modem",
                self.client.url,
                lost.peer.number,
                lost.reference,
                list(lost.missing),
                [p.index for p in gone],
            )
        if whole is None:
            return None
        kept = self._partial.pop(key, [])
        parts = tuple(p for p in kept if p.pdu is not None and _among(p.pdu.user_data, whole.parts))
        rest = [p for p in kept if p not in parts]
        if rest:
            self._partial[key] = rest
        return IncomingSms(
            stored.sender, whole.text, parts[0].timestamp, tuple(p.index for p in parts), parts
        )

    async def process_stored(self, handler: Handler) -> list[IncomingSms]:
        """Handle every received message already in storage (REC UNREAD and REC READ; status reports
        the modem stored are left, see `deliver`)."""
        done: list[IncomingSms] = []
        for stored in await self.list_messages(MessageStatus.ALL):
            if stored.status not in (None, MessageStatus.REC_UNREAD, MessageStatus.REC_READ):
                continue
            incoming = await self.deliver(stored, handler)
            if incoming is not None:
                done.append(incoming)
        return done

    async def serve(
        self, handler: Handler, *, stop: asyncio.Event | None = None, started: asyncio.Event | None = None
    ) -> None:
        """Handle each new message announced by `+CMTI` until `stop` is set (or the link closes).

        `started` is set once the `+CMTI` subscription is in place.
        """
        stop = stop or asyncio.Event()
        async with self.client.urcs({"+CMTI"}) as stream:
            if started is not None:
                started.set()
            while not stop.is_set():
                getter = asyncio.ensure_future(stream.get())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                stopper.cancel()
                if not getter.done():
                    getter.cancel()
                    break
                urc: Urc = getter.result()
                fields = urc.fields
                if len(fields) < 2 or not fields[-1].isdigit():
                    log.warning("%s: cannot read +CMTI %r", self.client.url, urc.line)
                    continue
                index = int(fields[-1])
                try:
                    await self.deliver(await self.read(index), handler)
                except Exception:
                    log.exception(
                        "%s: message %d kept on the modem: its handler failed", self.client.url, index
                    )


def _among(user_data: UserData, parts: tuple[SmsDeliver | SmsSubmit, ...]) -> bool:
    """True when a part with this user data (itself, or a duplicate stored at another index) is
    among `parts`."""
    return any(p.user_data == user_data for p in parts)


def _index_of(head: str) -> int:
    fields = grammar.fields_of(head)
    if not fields or not fields[0].isdigit():
        raise ModemError(f"cannot read the index of {head!r}")
    return int(fields[0])


def _message_reference(reply: Reply) -> int:
    """The <mr> of `+CMGS: <mr>` (27.005 §3.5.1): the part was sent (answered OK); `ModemError`
    naming the answer when there is no such line or its <mr> is not a number 0-255 (a garbled
    line: taken as is, it would be matched against another part's status reports, or none)."""
    reply.fields("+CMGS")  # `ModemError` when the answer has no such line
    line = reply.line("+CMGS") or ""
    try:
        return parse_cmgs(line)[0]
    except SmsCodecError:
        raise ModemError(
            f"{reply.command!r}: the answer {line!r} gives no message reference (a number 0-255, TP-MR "
            "being one octet): the part was sent, but its status report cannot be matched"
        ) from None
