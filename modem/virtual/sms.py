"""SMS in the virtual modem: message storages, MT delivery per +CNMI, MO sending through the SMSC.

MT messages are taken from the network (`pending_sms`) every `POLL_S`
simulated seconds while registered, reach the modem one SMS radio leg later
(`Link.sms_leg`, the network conditions' preset: `modem.virtual.conditions`;
in the order they were taken), are stored in <mem3> and announced with
`+CMTI: "<mem3>",<index>` (+CNMI <mt>=1), or routed to the DTE as +CMT
(<mt>=2, but class 2 and message-waiting "store" messages; <mt>=3, class 3 only).  An MO submit (+CMGS, +CMSS) is answered after one radio leg too
(the message reaches the SMSC at the end of the leg and the answer is its
acknowledgement), the modem taking no input meanwhile.  The modem takes from the network only as many
messages as it has room for (`room`): the others stay in the SMSC, not delivered (memory capacity
exceeded), until a place frees or their validity ends, and a status report follows that.  A message
that still finds its storage full (a storage changed meanwhile) waits in the modem until a slot frees
(nothing is dropped).  Long messages arrive as one stored
part per SMS-DELIVER, as on a real module.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from modem.sms import (
    Alphabet,
    Direction,
    SmsCodecError,
    SmsDeliver,
    SmsSubmit,
    decode_pdu,
    encode_deliver,
    encode_status_report,
    encode_submit,
)
from modem.sms.codec import DeliverPdu, build_user_data
from modem.sms.dcs import DataCoding
from modem.sms.textmode import format_scts_text
from modem.sms.timestamp import EnhancedValidity, Validity, decode_relative_validity, encode_relative_validity
from modem.sms.udh import decode_udh
from modem.sms.userdata import UserData
from modem.virtual.results import CmsError, Final, rp_cause_code

if TYPE_CHECKING:
    from gateway.api import DeliveryReport, MtSms
    from modem.virtual.core import Timer, VirtualModem

log = logging.getLogger(__name__)

POLL_S = 1.0
TA_BUFFER = 32  # indications +CNMI <mode>=0 keeps in the TA; past that the oldest go (27.005 3.4.1)
MT = "MT"  # 27.005's "MT": the "SM" and "ME" storages as one (`SmsService.listing`)
STATUS_TEXT = ("REC UNREAD", "REC READ", "STO UNSENT", "STO SENT")
REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT = 0, 1, 2, 3


@dataclass(slots=True)
class Stored:
    status: int
    number: str  # originator (received) or destination (stored outgoing)
    text: str
    scts: str  # 27.005 time string
    pdu: str  # the PDU string (SMSC prefix + TPDU) shown in PDU mode
    tpdu_length: int
    udl: int = 0  # TP-UDL of a stored outgoing message (what +CMSS sends)
    udh: bytes = b""  # a stored outgoing PDU's header elements, relayed by +CMSS (see `_relayed`)
    srr: bool = False  # a stored outgoing message asks for a status report (TP-SRR)
    validity: Validity | None = None  # a stored outgoing message's TP-VP (None: the SMSC's default)
    relay: dict[str, str] = field(default_factory=dict)  # a stored PDU's user data as it came (`_as_sent`)
    report: str = ""  # a stored status report (+CNMI <ds>=2): its text-mode fields after <stat>


@dataclass(slots=True)
class SmsService:
    modem: VirtualModem
    stores: dict[str, dict[int, Stored]] = field(default_factory=dict)  # the physical storages
    names: tuple[str, ...] = ()  # the storages +CPMS offers ("MT" too: a view of "SM" and "ME")
    mem: list[str] = field(default_factory=list)  # <mem1> read/delete, <mem2> write/send, <mem3> receive
    smsc: str = ""
    smsc_toa: int = 145
    next_mr: int = 0
    backlog: deque[MtSms] = field(default_factory=deque)
    sent: list[tuple[float, str, str]] = field(default_factory=list)  # (now, destination, text)
    _poll: Timer | None = None
    _mt_last: float = 0.0  # when the last MT message in flight on the air reaches the modem
    _in_flight: int = 0  # MT messages taken from the network, not yet arrived
    held: deque[tuple[str, str | None]] = field(default_factory=lambda: deque(maxlen=TA_BUFFER))

    def __post_init__(self) -> None:
        p = self.modem.profile
        self.names = tuple(p.sms_storages)
        self.stores = {name: {} for name in p.sms_storages if name != MT}
        first = p.sms_storages[0]
        self.mem = [first, first, first]
        self.smsc = p.smsc

    @property
    def capacity(self) -> int:
        """Messages one storage holds (the profile's `sms_capacity`)."""
        return self.modem.profile.sms_capacity

    def stored_count(self) -> int:
        return sum(len(s) for s in self.stores.values())

    # ----- storages and the "MT" view ----------------------------------------------------------------
    # 27.005 3.1: "MT" is any of the storages of the MT, "ME" and "SM" seen as one.  As modules number
    # it (Cinterion's "MT" = "SM" + "ME"), the SIM's messages come first at their own indices, the
    # ME's follow offset by the SIM's capacity (capacity 30, base 1: SM 1-30, ME 31-60); a message
    # received into "MT" goes to the SIM until it is full, then to the ME.

    def _parts(self, mem: str) -> list[tuple[dict[int, Stored], int]]:
        """The physical storages behind `mem`, each with the offset of its indices in `mem`."""
        if mem != MT:
            return [(self.stores[mem], 0)]
        parts = [self.stores[name] for name in ("SM", "ME") if name in self.stores]
        return [(store, k * self.capacity) for k, store in enumerate(parts)]

    def total(self, mem: str) -> int:
        return self.capacity * len(self._parts(mem))

    def used(self, mem: str) -> int:
        return sum(len(store) for store, _ in self._parts(mem))

    def usage(self, mem: str) -> str:
        return f"{self.used(mem)},{self.total(mem)}"

    def listing(self, mem: str) -> dict[int, Stored]:
        """The messages of `mem` by their index there (for "MT": both storages, numbered as one)."""
        return {off + i: msg for store, off in self._parts(mem) for i, msg in store.items()}

    def _locate(self, mem: str, index: int) -> tuple[dict[int, Stored], int] | None:
        """The physical storage and its own index of message `index` of `mem`; None: no such message."""
        for store, off in self._parts(mem):
            if index - off in store:
                return store, index - off
        return None

    def _place(self, mem: str, msg: Stored) -> int | None:
        """Store `msg` in `mem` (for "MT", the first storage with room); its index there, None: full."""
        for store, off in self._parts(mem):
            if len(store) < self.capacity:
                index = self._free_index(store)
                store[index] = msg
                return off + index
        return None

    # ----- MT ----------------------------------------------------------------------------------------

    def start_polling(self) -> None:
        if self._poll is None and self.modem.net.network is not None:
            self._poll = self.modem.schedule(0.0, self._fetch, quiet=True)

    def _fetch(self) -> None:
        self._poll = None
        m = self.modem
        net = m.net
        if not net.registered or net.network is None:
            return
        for msg in net.network.pending_sms(m.now, m.identity.line_id, self.room()):
            m.changed()
            at = max(m.now + m.link.sms_leg(), self._mt_last)
            self._mt_last = at
            if at > m.now:
                self._in_flight += 1
                m.schedule(at - m.now, partial(self._arrives, msg))
            else:
                self.backlog.append(msg)
        self._deliver_backlog()
        for report in net.network.pending_reports(m.now, m.identity.line_id):
            m.changed()
            self._status_report(report)
        self._poll = m.schedule(POLL_S, self._fetch, quiet=True)

    def indicate(self, line: str, payload: str | None = None) -> None:
        """A new-message indication (+CMTI, +CDS, +CDSI) to the DTE; with +CNMI <mode>=0 buffered in
        the TA (27.005 3.4.1: the oldest discarded when the buffer is full) until `entered`."""
        if self.modem.settings.cnmi[0] == 0:
            self.held.append((line, payload))
        else:
            self.modem.urc(line, payload)

    def entered(self, bfr: int) -> None:
        """+CNMI set <mode> 1..3: the indications buffered meanwhile are flushed to the DTE once the
        command has answered OK (<bfr>=0), or cleared (<bfr>=1)."""
        held, self.held = list(self.held), deque(maxlen=TA_BUFFER)
        if bfr == 0 and held:

            def flush() -> None:
                for line, payload in held:
                    self.modem.urc(line, payload)

            self.modem.schedule(0.0, flush)

    def _status_report(self, report: DeliveryReport) -> None:
        """A status report for an MO SMS, as +CNMI's <ds> says: 1, routed as +CDS; 2, stored (in "SR"
        when the profile has that storage, else in <mem3>) and announced with +CDSI: <mem>,<index>;
        0, not routed (27.005).  With <mode>=0 the indication waits in the TA (`indicate`)."""
        m = self.modem
        ds = m.settings.cnmi[3]
        if ds not in (1, 2):
            log.info("status report for MR %d not routed (+CNMI ds=%d)", report.message_ref, ds)
            return
        status = report.st  # the TP-Status the SMSC gives
        recipient = _display_number(report.recipient)
        tora = 145 if recipient.startswith("+") else 129
        scts, dt = m.timestamp(report.submitted_at), m.timestamp(report.completed_at)
        ra = te_text(recipient, m.settings.cscs)
        text_head = f'6,{report.message_ref},"{ra}",{tora},"{scts}","{dt}",{status}'
        pdu = encode_status_report(
            report.message_ref,
            recipient,
            m.epoch + timedelta(seconds=report.submitted_at),
            m.epoch + timedelta(seconds=report.completed_at),
            status,
            smsc=self.smsc or None,
        )
        if ds == 2:
            mem = "SR" if "SR" in self.stores else self.mem[2]
            stored = Stored(REC_UNREAD, recipient, "", scts, pdu.hex, pdu.tpdu_length, report=text_head)
            index = self._place(mem, stored)
            if index is None:
                log.warning("status report for MR %d not stored: storage %s full", report.message_ref, mem)
                return
            self.indicate(f'+CDSI: "{mem}",{index}')
        elif m.settings.cmgf == 1:
            self.indicate(f"+CDS: {text_head}")
        else:
            self.indicate(f"+CDS: {pdu.tpdu_length}", pdu.hex)

    def room(self) -> int | None:
        """How many MT messages the modem can take now (what it tells the network, as a full memory
        answers RP-ERROR 22, memory capacity exceeded): the free places of <mem3> less the messages
        on their way or waiting; None when +CNMI routes them to the DTE (<mt>=2) without storing."""
        mode, mt = self.modem.settings.cnmi[0], self.modem.settings.cnmi[1]
        if mode != 0 and mt == 2:
            return None
        mem3 = self.mem[2]
        return max(0, self.total(mem3) - self.used(mem3) - self._in_flight - len(self.backlog))

    def _arrives(self, msg: MtSms) -> None:
        self._in_flight -= 1
        self.receive(msg)

    def receive(self, msg: MtSms) -> None:
        """Deliver `msg` to this modem now (the network's MT path, or a scenario's event)."""
        self.backlog.append(msg)
        self._deliver_backlog()

    def _deliver_backlog(self) -> None:
        m = self.modem
        if self.backlog:
            m.changed()
        while self.backlog:
            msg = self.backlog[0]
            sender = _display_number(msg.sender)
            when = m.epoch + timedelta(seconds=msg.submitted_at)
            try:
                parts = self._deliver_pdus(msg, sender, when)
            except SmsCodecError as exc:
                log.warning("MT SMS from %s not encodable, refused: %s", sender, exc)
                self.backlog.popleft()
                continue
            mode, mt = m.settings.cnmi[0], m.settings.cnmi[1]
            scts = m.timestamp(msg.submitted_at)
            if mode != 0 and _routed(mt, parts[0].message.dcs):
                self.backlog.popleft()
                for part in parts:
                    if m.settings.cmgf == 1:
                        head = f'"{te_text(sender, m.settings.cscs)}",,"{scts}"'
                        if m.settings.csdh:
                            head += header_fields(m, part.hex, listing=False)
                        m.urc(f"+CMT: {head}", te_data(part.message, m.settings.cscs))
                    else:
                        m.urc(f"+CMT: ,{part.tpdu_length}", part.hex)
                continue
            mem3 = self.mem[2]
            if self.used(mem3) + len(parts) > self.total(mem3):
                log.info("SMS storage %s full: %d message(s) wait in the modem", mem3, len(self.backlog))
                return
            self.backlog.popleft()
            for part in parts:
                stored = Stored(REC_UNREAD, sender, part.message.text or "", scts, part.hex, part.tpdu_length)
                index = self._place(mem3, stored)
                assert index is not None  # room checked above
                if mt in (1, 2, 3):
                    self.indicate(f'+CMTI: "{mem3}",{index}')

    def _deliver_pdus(self, msg: MtSms, sender: str, when: datetime) -> list[DeliverPdu]:
        """The SMS-DELIVER part(s) of `msg`: one part with the header it was submitted with, if any."""
        smsc = self.smsc or None
        if "pdu" in msg.extra:
            return [deliver_from_hex(msg.extra["pdu"])]
        if "ud" in msg.extra:  # a PDU-mode part of another line: its user data as it was sent
            return [_deliver_as_sent(msg, sender, when, smsc)]
        # A long message's parts carry the SMSC's reference of the message: two long messages from
        # one sender have different concatenation references, as from a real SMSC.
        ref = msg.message_ref
        cls = msg.extra.get("class")
        if cls is not None or msg.status_report:
            return encode_deliver(
                msg.text,
                sender,
                when,
                smsc=smsc,
                message_class=int(cls) if cls is not None else None,
                status_report_indication=msg.status_report,
                concat_reference=ref,
            )
        if msg.udh:
            try:
                return encode_deliver(msg.text, sender, when, smsc=smsc, header=decode_udh(msg.udh))
            except SmsCodecError as exc:  # the part's text no longer fits with its header
                log.warning("MT SMS part from %s delivered without its header: %s", sender, exc)
        return encode_deliver(msg.text, sender, when, smsc=smsc, concat_reference=ref)

    def _free_index(self, store: dict[int, Stored]) -> int:
        base = int(self.modem.profile.quirks.get("sms_index_base", 1))
        i = base
        while i in store:
            i += 1
        return i

    # ----- storage -----------------------------------------------------------------------------------

    def read(self, index: int) -> Stored:
        """Message `index` of <mem1>; CMS 321 (invalid memory index) when there is none."""
        found = self._locate(self.mem[0], index)
        if found is None:
            raise CmsError(321)
        store, own = found
        return store[own]

    def delete(self, index: int, flag: int = 0) -> None:
        if flag == 0:
            found = self._locate(self.mem[0], index)
            if found is None:
                raise CmsError(321)
            store, own = found
            del store[own]
        else:
            doomed = {1: (REC_READ,), 2: (REC_READ, STO_SENT), 3: (REC_READ, STO_SENT, STO_UNSENT)}.get(
                flag, (REC_UNREAD, REC_READ, STO_UNSENT, STO_SENT)
            )
            for store, _ in self._parts(self.mem[0]):
                for i in [i for i, s in store.items() if s.status in doomed]:
                    del store[i]
        self._deliver_backlog()

    # ----- MO ----------------------------------------------------------------------------------------

    def text_user_data(self, content: str | bytes) -> tuple[DataCoding, UserData]:
        """A text-mode message as +CSMP's <dcs> sends it: its alphabet (GSM 7-bit text that the
        alphabet lacks goes as UCS2; bytes are 8-bit data) and class; CMS 305 if it is too long."""
        dcs = DataCoding.from_octet(self.modem.settings.csmp[3])
        alphabet = Alphabet.UCS2 if isinstance(content, str) and dcs.alphabet is Alphabet.UCS2 else None
        try:
            uds = build_user_data(content, alphabet)
            (ud,) = uds
            ud.encode()
        except (SmsCodecError, ValueError):
            raise CmsError(305) from None
        return DataCoding(ud.alphabet, dcs.message_class), ud

    def send_text(self, dest: str, content: str | bytes) -> int:
        """Text-mode MO (AT+CMGS="<da>"): the message reference."""
        dcs, ud = self.text_user_data(content)
        return self._submit(
            dest,
            content if isinstance(content, str) else "",
            ud.encode()[0],
            srr=self._text_srr(),
            validity=self._text_validity(),
            relay=_relay_fields(0, dcs, ud),
        )

    def decode_submit(self, pdu_hex: str, length: int) -> SmsSubmit:
        try:
            msg = decode_pdu(pdu_hex.strip(), Direction.MO, tpdu_length=length, prefix_required=True)
            if isinstance(msg, SmsSubmit):
                msg.user_data.encode()  # a TP-UDL past one message (over 140 octets, 160 septets)
        except SmsCodecError as exc:
            log.info("SMS-SUBMIT PDU refused: %s", exc)
            raise CmsError(304) from None
        if not isinstance(msg, SmsSubmit):
            raise CmsError(304)
        return msg

    def send_pdu(self, pdu_hex: str, length: int) -> int:
        """PDU-mode MO (AT+CMGS=<length>): the message reference."""
        msg = self.decode_submit(pdu_hex, length)
        udl = msg.user_data.encode()[0]
        return self._submit(
            msg.destination.number,
            msg.text or "",
            udl,
            _relayed(msg),
            msg.status_report_request,
            msg.validity,
            _as_sent(msg),
        )

    def write_text(self, dest: str, content: str | bytes, status: int = STO_UNSENT) -> int:
        """AT+CMGW="<da>" in text mode: stored in <mem2> (STO UNSENT, or the <stat> given); the index."""
        dcs, ud = self.text_user_data(content)
        fo, _, pid, _ = self.modem.settings.csmp
        try:  # the SMS-SUBMIT +CSMP makes (its <fo>, <vp>, <pid>, <dcs>), shown as such in either mode
            (part,) = encode_submit(
                content,
                dest,
                smsc=self.smsc or None,
                alphabet=ud.alphabet,
                message_class=dcs.message_class,
                validity=self._text_validity(),
                status_report=self._text_srr(),
                reject_duplicates=bool(fo & 0x04),
                reply_path=bool(fo & 0x80),
                pid=pid,
            )
        except (SmsCodecError, ValueError):
            raise CmsError(305) from None
        stored = Stored(
            status,
            dest,
            content if isinstance(content, str) else content.hex().upper(),
            "",
            part.hex,
            part.tpdu_length,
            ud.encode()[0],
            srr=self._text_srr(),
            validity=self._text_validity(),
            relay=_relay_fields(0, dcs, ud),
        )
        return self._store_written(stored)

    def write_pdu(self, pdu_hex: str, length: int, status: int = STO_UNSENT) -> int:
        """AT+CMGW=<length>[,<stat>] in PDU mode: an SMS-SUBMIT (STO UNSENT / STO SENT), or an
        SMS-DELIVER with <stat> REC UNREAD / REC READ (as gammu files one in an inbox), stored in
        <mem2>; the index.  CMS 304 when the PDU is not of the kind <stat> says."""
        if status in (REC_UNREAD, REC_READ):
            return self._store_written(self._written_deliver(pdu_hex, length, status))
        msg = self.decode_submit(pdu_hex, length)
        udl = msg.user_data.encode()[0]
        stored = Stored(
            status,
            msg.destination.number,
            msg.text or "",
            "",
            pdu_hex.strip(),
            length,
            udl,
            _relayed(msg),
            msg.status_report_request,
            msg.validity,
            _as_sent(msg),
        )
        return self._store_written(stored)

    def _written_deliver(self, pdu_hex: str, length: int, status: int) -> Stored:
        try:
            msg = decode_pdu(pdu_hex.strip(), Direction.MT, tpdu_length=length, prefix_required=True)
        except SmsCodecError as exc:
            log.info("SMS-DELIVER PDU refused: %s", exc)
            raise CmsError(304) from None
        if not isinstance(msg, SmsDeliver):
            raise CmsError(304)
        scts = format_scts_text(msg.scts)
        return Stored(status, msg.originator.number, msg.text or "", scts, pdu_hex.strip(), length)

    def _store_written(self, msg: Stored) -> int:
        index = self._place(self.mem[1], msg)
        if index is None:
            raise CmsError(322)  # memory full
        return index

    def send_stored(self, index: int, dest: str | None = None) -> int:
        """AT+CMSS: send message `index` of <mem2> (to `dest` if given); it becomes STO SENT."""
        found = self._locate(self.mem[1], index)
        if found is None:
            raise CmsError(321)
        store, own = found
        msg = store[own]
        target = dest or msg.number
        if not target:
            raise CmsError(304 if self.modem.settings.cmgf == 0 else 305)
        mr = self._submit(target, msg.text, msg.udl, msg.udh, msg.srr, msg.validity, msg.relay)
        msg.status = STO_SENT
        return mr

    def _text_srr(self) -> bool:
        """Text mode: +CSMP's first octet asks for a status report (TP-SRR, bit 5)."""
        return bool(self.modem.settings.csmp[0] & 0x20)

    def _text_validity(self) -> timedelta | None:
        """Text mode: +CSMP's <vp> when its first octet says relative (TP-VPF 10), else none."""
        fo, vp = self.modem.settings.csmp[:2]
        return decode_relative_validity(vp) if (fo >> 3) & 3 == 2 else None

    def _validity_s(self, validity: Validity | None) -> float | None:
        """A TP-VP as the SMSC counts it: seconds from now (an absolute one by the network's clock)."""
        if isinstance(validity, timedelta):
            return validity.total_seconds()
        if isinstance(validity, datetime):
            m = self.modem
            return (validity - (m.epoch + timedelta(seconds=m.now))).total_seconds()
        if isinstance(validity, EnhancedValidity) and validity.period is not None:
            return validity.period.total_seconds()
        return None  # none given (or an enhanced format without a duration): the SMSC's default

    def _submit(
        self,
        dest: str,
        text: str,
        udl: int,
        udh: bytes = b"",
        srr: bool = False,
        validity: Validity | None = None,
        relay: dict[str, str] | None = None,
    ) -> int:
        from gateway.api import SmsStatus

        m = self.modem
        net = m.net
        if not net.registered or net.network is None:
            raise CmsError(331)
        mr = self.next_mr
        result = net.send_sms(dest, udl, text, udh, srr, mr, self._validity_s(validity), relay)
        if result.status is not SmsStatus.ACCEPTED:
            raise CmsError(rp_cause_code(result.cause))
        self.next_mr = (self.next_mr + 1) % 256
        self.sent.append((m.now, dest, text))
        return mr

    def after_leg(self, send: Callable[[], str]) -> Final:
        """An MO submit: after one radio leg `send()` hands the message to the network and gives the
        answer's information line (+CMGS: <mr>); the modem takes no input meanwhile."""
        m = self.modem

        def produce() -> None:
            m.info(send())

        return m.defer(m.link.sms_leg(), produce)


# Header elements that say how this part's text is encoded (national language shift tables): the
# recipient's part is encoded again, so they are not relayed; the others (concatenation, ports) are.
_ENCODING_IES = frozenset((0x24, 0x25))


def _relayed(msg: SmsSubmit) -> bytes:
    """The information elements of an MO part's header that the SMSC relays to the recipient."""
    return b"".join(ie.encode() for ie in msg.user_data.header if ie.iei not in _ENCODING_IES)


def _as_sent(msg: SmsSubmit) -> dict[str, str]:
    """What the SMSC relays of a PDU-mode part as it came (`MtSms.extra`): TP-PID, TP-DCS (class,
    alphabet: 8-bit data too), TP-UDHI, and TP-UDL with TP-UD (every header element, national tables
    included, and the payload, an emoji cut between parts too)."""
    return _relay_fields(msg.pid, msg.dcs, msg.user_data)


def _relay_fields(pid: int, dcs: DataCoding, user_data: UserData) -> dict[str, str]:
    udl, ud = user_data.encode()
    return {
        "pid": str(pid),
        "dcs": str(dcs.to_octet()),
        "udhi": "1" if user_data.header else "0",
        "ud": (bytes([udl]) + ud).hex(),
    }


def _deliver_as_sent(msg: MtSms, sender: str, when: datetime, smsc: str | None) -> DeliverPdu:
    """The SMS-DELIVER of a part relayed by `_as_sent`: the sender's PID, DCS and user data."""
    from modem.sms.address import as_address, encode_smsc
    from modem.sms.codec import EncodedPdu
    from modem.sms.pdu import user_data_alphabet

    x = msg.extra
    dcs = DataCoding.from_octet(int(x["dcs"]))
    ud, _ = UserData.decode(bytes.fromhex(x["ud"]), 0, x.get("udhi") == "1", user_data_alphabet(dcs))
    deliver = SmsDeliver(
        originator=as_address(sender),
        user_data=ud,
        scts=when,
        pid=int(x.get("pid", "0")),
        dcs=dcs,
        status_report_indication=msg.status_report,
        smsc=as_address(smsc) if smsc else None,
    )
    return EncodedPdu(encode_smsc(smsc), deliver.encode(), deliver)


def deliver_from_hex(pdu_hex: str) -> DeliverPdu:
    """An SMS-DELIVER PDU string (SMSC prefix + TPDU) as given; SmsCodecError unless it is one."""
    from modem.sms.codec import EncodedPdu

    raw = bytes.fromhex(pdu_hex)
    msg = decode_pdu(pdu_hex, Direction.MT)
    if not isinstance(msg, SmsDeliver):
        raise SmsCodecError("not an SMS-DELIVER PDU")
    cut = 1 + raw[0]
    return EncodedPdu(raw[:cut], raw[cut:], msg)


def te_text(text: str, cscs: str) -> str:
    """Text in the TE character set (+CSCS): UCS2 is hex of UTF-16BE; IRA and GSM show a character
    they lack as '?'."""
    if cscs == "UCS2":
        return text.encode("utf-16-be").hex().upper()
    return text.encode("latin-1", "replace").decode("latin-1")


def te_data(msg: SmsDeliver | SmsSubmit, cscs: str) -> str:
    """A message's <data> in text mode (27.005 3.1): GSM 7-bit text in the TE character set; 8-bit
    or UCS2 user data, or user data with a header, as the hex of its octets."""
    ud = msg.user_data
    if ud.header or ud.alphabet is not Alphabet.GSM7:
        return ud.encode()[1].hex().upper()
    return te_text(ud.text or "", cscs)


def header_fields(m: VirtualModem, pdu: str, listing: bool, direction: Direction = Direction.MT) -> str:
    """+CSDH=1 (27.005 3.3.3, 3.4.2, 3.4.3): the fields after a message's <scts> (SMS-DELIVER: `MT`)
    or <alpha> (SMS-SUBMIT: `MO`).  A received message's <tooa>,<fo>,<pid>,<dcs>,<sca>,<tosca>,
    <length>; a stored one to send <toda>,<fo>,<pid>,<dcs>,[<vp>],<sca>,<tosca>,<length> (its SMSC
    the +CSCA one when its PDU names none: the one it goes through); +CMGL gives <tooa/toda>,<length>.
    <length> counts the body's characters, or its octets when it is hex (`te_data`)."""
    try:
        d = decode_pdu(pdu, direction)
    except SmsCodecError:
        return ""
    if not isinstance(d, SmsDeliver | SmsSubmit):
        return ""
    ud = d.user_data
    length = len(ud.text or "") if ud.alphabet is Alphabet.GSM7 and not ud.header else len(ud.payload)
    address = d.originator if isinstance(d, SmsDeliver) else d.destination
    if listing:
        return f",{address.toa},{length}"
    raw = bytes.fromhex(pdu)
    fo = raw[1 + raw[0]]
    cscs = m.settings.cscs
    if isinstance(d, SmsDeliver):
        sca = te_text(d.smsc.number, cscs) if d.smsc else ""
        tosca = d.smsc.toa if d.smsc else 129
        return f',{address.toa},{fo},{d.pid},{d.dcs.to_octet()},"{sca}",{tosca},{length}'
    sms = m.sms
    sca, tosca = (d.smsc.number, d.smsc.toa) if d.smsc else (sms.smsc, sms.smsc_toa)
    vp = _vp_text(d.validity)
    return f',{address.toa},{fo},{d.pid},{d.dcs.to_octet()},{vp},"{te_text(sca, cscs)}",{tosca},{length}'


def _vp_text(validity: Validity | None) -> str:
    """An SMS-SUBMIT's <vp> in text mode (27.005 3.3.2): relative as its integer, absolute as a
    quoted time string, enhanced as its 7 octets in quoted hex; none, empty."""
    if isinstance(validity, timedelta):
        return str(encode_relative_validity(validity))
    if isinstance(validity, datetime):
        return f'"{format_scts_text(validity)}"'
    if isinstance(validity, EnhancedValidity):
        return f'"{validity.raw.hex().upper()}"'
    return ""


def _routed(mt: int, dcs: DataCoding) -> bool:
    """+CNMI <mt> (27.005 3.4.1): 2 routes an SMS-DELIVER as +CMT, but a class 2 (SIM) one and one of
    the message waiting "store" group, which are stored and announced as <mt>=1 says; 3 routes class 3
    only."""
    if mt == 2:
        return dcs.message_class != 2 and not (dcs.waiting is not None and dcs.waiting.store)
    return mt == 3 and dcs.message_class == 3


def _display_number(sender: str) -> str:
    """The originator as a modem shows it: E.164 digits get their '+'; short codes and names stay."""
    if sender.isdigit() and len(sender) >= 11:
        return "+" + sender
    return sender
