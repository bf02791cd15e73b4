"""The control console of `m2msim modem serve`: make things happen to served modems while a client runs.

The console is a small line protocol on a Unix socket (or a loopback TCP port with a token): one
request per line, as words (`sms 0 +33600000001 "hello there"`) or as a JSON array of strings
(`["sms", "0", "+33600000001", "hello there"]`); one answer per line, a JSON object:
`{"ok": true, "result": ...}` or `{"ok": false, "error": "one line"}`.  See docs/console.md.

Commands address one modem (by index, IMEI, MSISDN or device path), several (`0,2`) or `all`.
Every command that changes something is journaled with its simulated time (`Console.journal`); a
journal replays on a new serve with the same profile, seed and count (`replay`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.api import CallOutcome, GtpCause, MtSms, default_table, unassigned_mcc
from modem.virtual.conditions import ConditionsError, preset, preset_for
from modem.virtual.faults import FaultError, make_faults
from modem.virtual.netlink import (
    ACT_OF_RAT,
    STAT_DENIED,
    STAT_HOME,
    STAT_NOT_SEARCHING,
    STAT_ROAMING,
    STAT_SEARCHING,
)

if TYPE_CHECKING:
    from accounting.records import UsageRecord
    from gateway.api import NetworkAPI
    from modem.virtual.clock import LoopClock
    from modem.virtual.core import VirtualModem
    from modem.virtual.transport import ModemRunner

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024  # a request line (a PDU, a long text) fits easily
MAX_WAIT_S = 3600.0
DEFAULT_WAIT_S = 30.0
JOURNAL_VERSION = 1
JOURNAL_TAG = "console-journal"  # the "m2msim" key of a journal's first line


class ControlError(ValueError):
    """A request the console refuses: its text is the one line the client gets."""


@dataclass(slots=True)
class Served:
    """One served modem as the console sees it: its index, its device path, its runner."""

    index: int
    path: str
    runner: ModemRunner

    @property
    def modem(self) -> VirtualModem:
        return self.runner.modem


class RecordTee:
    """A record sink that keeps every record (the console's `usage`) and passes it on."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.records: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.records.append(record)
        self.inner.write(record)


# What `wait` can wait for: a predicate on one modem.
STATES: dict[str, Callable[[VirtualModem], bool]] = {
    "registered": lambda m: m.net.stat in (STAT_HOME, STAT_ROAMING),
    "home": lambda m: m.net.stat == STAT_HOME,
    "roaming": lambda m: m.net.stat == STAT_ROAMING,
    "searching": lambda m: m.net.stat == STAT_SEARCHING,
    "denied": lambda m: m.net.stat == STAT_DENIED,
    "unregistered": lambda m: m.net.stat == STAT_NOT_SEARCHING,
    "context-active": lambda m: any(c.active for c in m.net.contexts.values()),
    "no-context": lambda m: not any(c.active for c in m.net.contexts.values()),
    "call-active": lambda m: any(c.stat == 0 for c in m.calls.calls.values()),
    "ringing": lambda m: any(c.stat == 4 for c in m.calls.calls.values()),
    "dialing": lambda m: any(c.stat in (2, 3) for c in m.calls.calls.values()),
    "idle": lambda m: not m.calls.calls,
}

COVERAGE_WORDS = ("none", "home")
# How the far ends the modem dials answer (refusals come from the offer, not from a rule).
OUTCOMES = tuple(o.value for o in CallOutcome if o not in (CallOutcome.REFUSED, CallOutcome.ALERTING))


@dataclass(slots=True)
class _Waiter:
    targets: list[Served]
    check: Callable[[VirtualModem], bool]
    done: asyncio.Future[None]


@dataclass(slots=True)
class Command:
    """One console command: its handler, whether it changes anything (journaled), its usage line."""

    run: Callable[[Console, list[str]], Any]
    changes: bool
    usage: str


@dataclass(slots=True)
class Console:
    """The commands, the modems they act on, and the journal; transport-free (see `ControlServer`)."""

    served: list[Served]
    network: NetworkAPI | None
    clock: LoopClock
    epoch: datetime
    offer: str = "business-m2m-dtmf"
    tee: RecordTee | None = None
    header: dict[str, Any] = field(default_factory=dict)  # profile, seed, count: what a replay needs
    journal: list[dict[str, Any]] = field(default_factory=list)
    _waiters: list[_Waiter] = field(default_factory=list)

    def __post_init__(self) -> None:
        from modem.virtual.cmd_ussd import USSD

        for s in self.served:
            s.runner.observer = self._changed
            if USSD.name in s.modem.set_states and self.tee is not None:
                USSD.state(s.modem).consumption = partial(self.consumption_text, s)

    def consumption_text(self, s: Served) -> str:
        """The operator's USSD answer to `*#123#`: the line's month so far, priced by the catalog."""
        u = self.usage(s, None, None)
        data_kb = (u["bytes_up"] + u["bytes_down"]) / 1000
        return (
            f"{u['month']}: {u['sms_records']} SMS, {u['duration_s']} s of calls, {data_kb:.1f} kB of data: "
            f"{u['usage_amount']} {u['currency']} (month {u['month_total']} {u['currency']})"
        )

    # ----- entry points ----------------------------------------------------------------------------

    async def execute(self, words: Sequence[str]) -> Any:
        """Run one command (its words); the result, or `ControlError` with one line."""
        if not words:
            raise ControlError("empty command; try: help")
        name, args = words[0].lower(), list(words[1:])
        cmd = COMMANDS.get(name)
        if cmd is None:
            raise ControlError(f"unknown command {words[0]!r}; known: {', '.join(sorted(COMMANDS))}")
        now = self.clock.now()
        result = cmd.run(self, args)
        if isinstance(result, Awaitable):
            result = await result
        if cmd.changes:
            journaled = [name, *self._normal(args)]
            self.journal.append({"t": round(now, 6), "cmd": journaled})
            log.info("console at %.3f s: %s", now, shlex.join(journaled))
            for s in self.served:
                s.runner.kick()
        return result

    def journal_text(self) -> str:
        """The journal as JSON lines: a header line, then one line per command that changed something."""
        head = {"m2msim": JOURNAL_TAG, "version": JOURNAL_VERSION, **self.header}
        lines = [json.dumps(head, sort_keys=True)]
        lines += [json.dumps(e, sort_keys=True) for e in self.journal]
        return "\n".join(lines) + "\n"

    # ----- targets ---------------------------------------------------------------------------------

    def targets(self, spec: str) -> list[Served]:
        """`all`, an index, an IMEI, an MSISDN (+ optional), a device path, or several joined by ','."""
        if spec.lower() in ("all", "*"):
            return list(self.served)
        out: list[Served] = []
        for one in spec.split(","):
            found = self._one(one.strip())
            if found not in out:
                out.append(found)
        return out

    def _one(self, key: str) -> Served:
        if key.isdigit() and int(key) < len(self.served) and len(key) < 6:
            return self.served[int(key)]
        digits = key.removeprefix("+")
        for s in self.served:
            ident = s.modem.identity
            if key == s.path or digits in (ident.imei, ident.msisdn) or key == ident.line_id:
                return s
        raise ControlError(
            f"no modem {key!r}: give an index 0..{len(self.served) - 1}, an IMEI, an MSISDN, "
            "a device path or all"
        )

    def _normal(self, args: list[str]) -> list[str]:
        """The journal's words: the target (first word of a modem command) as indexes, to replay anywhere."""
        if not args:
            return args
        try:
            found = self.targets(args[0])
        except ControlError:
            return args
        if len(found) == len(self.served) and len(found) > 1:
            return ["all", *args[1:]]
        return [",".join(str(s.index) for s in found), *args[1:]]

    # ----- waiting ---------------------------------------------------------------------------------

    def _changed(self) -> None:
        if not self._waiters:
            return
        for w in list(self._waiters):
            if not w.done.done() and all(w.check(s.modem) for s in w.targets):
                w.done.set_result(None)
            if w.done.done():
                self._waiters.remove(w)

    async def wait_for(self, targets: list[Served], state: str, timeout: float) -> dict[str, Any]:
        check = STATES[state]
        started = self.clock.now()
        if not all(check(s.modem) for s in targets):
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiter = _Waiter(targets, check, done)
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(done), timeout)
            except TimeoutError:
                raise ControlError(
                    f"timeout: {state} not reached in {timeout:g} s by modem(s) "
                    + ",".join(str(s.index) for s in targets if not check(s.modem))
                ) from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        return {
            "state": state,
            "t": round(self.clock.now(), 6),
            "waited_s": round(self.clock.now() - started, 6),
        }

    # ----- usage and cost --------------------------------------------------------------------------

    def usage(self, s: Served, plan: str | None, commitment: int | None) -> dict[str, Any]:
        """The line's records so far, summed, and their price on the line's offer (the catalog's tariff)."""
        from accounting.records import UsageType

        line = s.modem.identity.line_id
        records = [r for r in (self.tee.records if self.tee else []) if r.line == line]
        totals: dict[str, int] = {"records": len(records)}
        for t in UsageType:
            totals[f"{t.value}_records"] = sum(1 for r in records if r.type == t)
        totals["bytes_up"] = sum(r.bytes_up for r in records)
        totals["bytes_down"] = sum(r.bytes_down for r in records)
        totals["duration_s"] = sum(r.duration_s for r in records)
        open_up = sum(c.bytes_up for c in s.modem.net.contexts.values() if c.active)
        open_down = sum(c.bytes_down for c in s.modem.net.contexts.values() if c.active)
        moment = self.epoch + timedelta(seconds=self.clock.now())
        cost = price_line(records, line, self.offer, moment.date(), plan, commitment)
        return {
            "index": s.index,
            "line": line,
            **totals,
            "open_session_bytes": {"up": open_up, "down": open_down},
            **cost,
        }

    # ----- state -----------------------------------------------------------------------------------

    def describe(self, s: Served) -> dict[str, Any]:
        m = s.modem
        ident = m.identity
        return {
            "index": s.index,
            "path": s.path,
            "imei": ident.imei,
            "imsi": ident.imsi,
            "msisdn": "+" + ident.msisdn,
            "line": ident.line_id,
            "registration": m.net.stat,
            "plmn": m.net.plmn or None,
            "rat": m.net.rat,
            "csq": list(m.net.signal()),
            "cfun": m.net.cfun,
            "powered": m.powered,
            "initialising": m.initialising,
            "sim": m.sim_state,
            "puk": m.puk,
            "contexts": [cid for cid, c in sorted(m.net.contexts.items()) if c.active],
            "calls": [
                {"idx": c.idx, "direction": c.direction, "stat": c.stat, "mode": c.mode, "number": c.number}
                for c in sorted(m.calls.calls.values(), key=lambda c: c.idx)
            ],
            "net": m.link.conditions.describe(),
            "sms_stored": m.sms.stored_count(),
            "mode": m.mode.value,
            "t": round(m.now, 6),
        }


def price_line(
    records: Sequence[UsageRecord],
    line: str,
    offer: str,
    day: date,
    plan: str | None = None,
    commitment: int | None = None,
) -> dict[str, Any]:
    """Price one line's records for the month of `day` on `offer` (its first plan and commitment unless
    given): the usage's amount (the month with the records less the month without) and the month's total."""
    import pyarrow as pa

    from accounting import inventory_from_dict, load_catalog, rate
    from accounting.records import USAGE_SCHEMA

    catalog = load_catalog()
    found = catalog.offers.get(offer)
    if found is None:
        raise ControlError(f"offer {offer!r} is not in the catalog")
    plan = plan or next(iter(found.plans))
    if plan not in found.plans:
        raise ControlError(f"offer {offer} has no plan {plan!r}; it has: {', '.join(found.plans)}")
    commitments = found.plans[plan].commitments
    commitment = commitment if commitment is not None else commitments[0]
    if commitment not in commitments:
        raise ControlError(f"{offer} {plan}: no {commitment}-month commitment; it has: {commitments}")
    since = date(day.year - 1, day.month, 1)  # active long before: no one-off fees this month
    inventory = inventory_from_dict(
        {
            "customer": "serve",
            "month": f"{day.year:04d}-{day.month:02d}",
            "lines": [{"id": line, "offer": offer, "plan": plan, "commitment": commitment, "since": since}],
        },
        source="<console usage>",
    )
    in_month = [r for r in records if (r.start.year, r.start.month) == (day.year, day.month)]
    table = pa.Table.from_pylist([r.as_row() for r in in_month], schema=USAGE_SCHEMA)
    with_usage = rate(inventory, table, catalog)
    without = rate(inventory, None, catalog)
    usage_amount: Decimal = with_usage.total - without.total
    return {
        "offer": offer,
        "plan": plan,
        "commitment": commitment,
        "month": str(with_usage.month),
        "currency": with_usage.currency,
        "usage_amount": str(usage_amount),
        "month_total": str(with_usage.total),
        "rejected": len(with_usage.rejects),
    }


# ----- the commands ------------------------------------------------------------------------------------


def _need(args: list[str], n: int, usage: str) -> None:
    if len(args) < n:
        raise ControlError(f"usage: {usage}")


def _flags(args: list[str], known: Sequence[str]) -> tuple[list[str], dict[str, str | None]]:
    """Split `--flag` / `--flag=value` words from the others; unknown flags are refused."""
    words: list[str] = []
    flags: dict[str, str | None] = {}
    for a in args:
        if a.startswith("--") and len(a) > 2:
            key, eq, value = a[2:].partition("=")
            if key not in known:
                raise ControlError(f"unknown option --{key}; known: {', '.join('--' + k for k in known)}")
            flags[key] = value if eq else None
        else:
            words.append(a)
    return words, flags


def _number(text: str, what: str = "number") -> str:
    digits = text.removeprefix("+")
    if not digits.isdigit() or not 2 <= len(digits) <= 15:
        raise ControlError(f"{what} {text!r}: not a phone number (2 to 15 digits, optional +)")
    return text


def _list(c: Console, args: list[str]) -> list[dict[str, Any]]:
    found = c.targets(args[0]) if args else c.served
    return [c.describe(s) for s in found]


SMS_USAGE = "sms TARGET FROM TEXT... [--flash] [--report] | sms TARGET --pdu=HEX"


def _sms(c: Console, args: list[str]) -> dict[str, Any]:
    from modem.sms import SmsCodecError
    from modem.virtual.sms import deliver_from_hex

    words, flags = _flags(args, ("flash", "report", "pdu"))
    _need(words, 1, SMS_USAGE)
    targets = c.targets(words[0])
    pdu = flags.get("pdu")
    if "pdu" in flags:
        if not pdu or len(words) != 1:
            raise ControlError(f"usage: {SMS_USAGE}")
        try:
            part = deliver_from_hex(pdu)
        except (ValueError, IndexError, SmsCodecError) as exc:
            raise ControlError(f"--pdu: not an SMS-DELIVER PDU string (SMSC prefix + TPDU): {exc}") from None
        for s in targets:
            m = s.modem
            m.sms.receive(MtSms(part.message.originator.number, "", m.now, extra={"pdu": pdu.upper()}))
        return {"delivered": [s.index for s in targets]}
    _need(words, 3, SMS_USAGE)
    sender = _number(words[1], "FROM")
    text = " ".join(words[2:])
    report = "report" in flags
    if "flash" in flags or c.network is None:
        extra = {"class": "0"} if "flash" in flags else {}
        for s in targets:
            m = s.modem
            m.sms.receive(MtSms(sender, text, m.now, status_report=report, extra=extra))
        return {"delivered": [s.index for s in targets]}
    refs = []
    for s in targets:
        result = c.network.submit_sms(
            c.clock.now(), s.modem.identity.line_id, sender, text, status_report=report
        )
        if result.status.value not in ("accepted", "stored"):
            raise ControlError(f"modem {s.index}: the SMSC refused the SMS: {result.cause}")
        refs.append({"index": s.index, "status": result.status.value, "message_ref": result.message_ref})
    return {"submitted": refs}


def _call(c: Console, args: list[str]) -> dict[str, Any]:
    words, flags = _flags(args, ("data", "voice"))
    _need(words, 2, "call TARGET FROM [--data]")
    sender = _number(words[1], "FROM")
    out = []
    for s in c.targets(words[0]):
        if not s.modem.net.registered:
            raise ControlError(f"modem {s.index} is not registered: no call reaches it")
        out.append({"index": s.index, "call": s.modem.calls.incoming(sender, "data" in flags)})
    return {"ringing": out}


def _hangup(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 1, "hangup TARGET")
    ended = []
    for s in c.targets(args[0]):
        if s.modem.calls.calls:
            s.modem.calls.lost()  # the far end released: NO CARRIER
            ended.append(s.index)
    return {"hung_up": ended}


def _dtr(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, "dtr TARGET off")
    if args[1].lower() != "off":
        raise ControlError(f"dtr {args[1]!r}: only off (the DTE drops DTR; a pty has no DTR line)")
    found = c.targets(args[0])
    for s in found:
        s.modem.dtr_drop()  # as AT&D says: nothing, command mode, or hang up
    return {"dtr_off": [s.index for s in found]}


def _outcome(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, f"outcome NUMBER[,NUMBER...] {'|'.join(OUTCOMES)}")
    if c.network is None:
        raise ControlError("no network (--no-network): calls are not placed")
    numbers = [_number(n) for n in args[0].split(",")]
    if args[1] not in OUTCOMES:
        raise ControlError(f"outcome {args[1]!r}: one of {', '.join(OUTCOMES)}")
    c.network.force_call_outcome(numbers, args[1])
    return {"numbers": numbers, "outcome": args[1]}


def _coverage(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, "coverage TARGET none|home|MCCMNC")
    where = args[1]
    if where not in COVERAGE_WORDS and (not where.isdigit() or len(where) not in (5, 6)):
        raise ControlError(f"coverage {where!r}: none, home or a PLMN (MCC+MNC, 5 or 6 digits)")
    if where not in COVERAGE_WORDS and not default_table().assigned(where):
        raise ControlError(f"coverage {where!r}: {unassigned_mcc(where)}")
    found = c.targets(args[0])
    for s in found:
        m = s.modem
        m.net.move(None if where == "none" else m.identity.home_plmn if where == "home" else where)
    return {"coverage": where, "modems": [s.index for s in found]}


def _csq(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, "csq TARGET RSSI [BER]")
    rssi, ber = args[1], args[2] if len(args) > 2 else "0"
    if not (rssi.isdigit() and (int(rssi) <= 31 or int(rssi) == 99)):
        raise ControlError(f"csq RSSI {rssi!r}: 0..31 or 99")
    if not (ber.isdigit() and (int(ber) <= 7 or int(ber) == 99)):
        raise ControlError(f"csq BER {ber!r}: 0..7 or 99")
    found = c.targets(args[0])
    for s in found:
        s.modem.radio = replace(s.modem.radio, csq=(int(rssi), int(ber)))
    return {"csq": [int(rssi), int(ber)], "modems": [s.index for s in found]}


def _rat(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, f"rat TARGET {'|'.join(ACT_OF_RAT)}")
    rat = args[1].lower()
    if rat not in ACT_OF_RAT:
        raise ControlError(f"rat {args[1]!r}: one of {', '.join(ACT_OF_RAT)}")
    found = c.targets(args[0])
    for s in found:
        m = s.modem
        if m.net.rat == rat:
            continue
        m.radio = replace(m.radio, rat=rat)
        m.link.set_conditions(preset(preset_for(rat, m.net.act)))  # the new technology's figures
        if m.net.registered:  # a new radio access: a routing area update, the contexts going on
            m.net.relocate(m.net.plmn)
    return {"rat": rat, "modems": [s.index for s in found]}


def _conditions(key: str) -> Callable[[Console, list[str]], dict[str, Any]]:
    """`net` / `speed` / `delay` / `loss`: the link's conditions (modem.virtual.conditions' keys)."""

    def run(c: Console, args: list[str]) -> dict[str, Any]:

        _need(args, 2, COMMANDS[_CONDITION_WORDS[key]].usage)
        found = c.targets(args[0])
        described = ""
        for s in found:
            try:
                described = s.modem.link.change(**{key: args[1]}).describe()
            except ConditionsError as exc:
                raise ControlError(str(exc)) from None
        return {"conditions": described, "modems": [s.index for s in found]}

    return run


_CONDITION_WORDS = {"net": "net", "netspeed": "speed", "netdelay": "delay", "netloss": "loss"}


def _detach(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 1, "detach TARGET")
    found = c.targets(args[0])
    for s in found:
        net = s.modem.net
        if net.registered:  # network-initiated detach, re-attach required (TS 24.008 4.7.4.2)
            s.modem.tcp.lost(by_network=True)
            s.modem.calls.lost()
            # an operator's release: the records closed with cause 20 (management intervention)
            net.detach(STAT_SEARCHING, by_network=True)
            net.search()
    return {"detached": [s.index for s in found]}


def _refuse_pdp(c: Console, args: list[str]) -> dict[str, Any]:
    names = ", ".join(
        g.name.lower().replace("_", "-") for g in GtpCause if g is not GtpCause.REQUEST_ACCEPTED
    )
    _need(args, 2, f"refuse-pdp TARGET CAUSE (a GTP cause number or {names})")
    text = args[1]
    try:
        cause = GtpCause(int(text)) if text.isdigit() else GtpCause[text.upper().replace("-", "_")]
    except (KeyError, ValueError):
        raise ControlError(f"refuse-pdp cause {text!r}: one of {names} (or its number)") from None
    if cause is GtpCause.REQUEST_ACCEPTED:
        raise ControlError("refuse-pdp cause 128 accepts: give a refusal cause")
    found = c.targets(args[0])
    for s in found:
        s.modem.net.refuse_next = int(cause)
    return {"cause": int(cause), "modems": [s.index for s in found]}


def _fault(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, "fault TARGET KEY=VALUE...")
    settings: dict[str, str] = {}
    for a in args[1:]:
        key, eq, value = a.partition("=")
        if not eq:
            raise ControlError(f"fault {a!r}: expected KEY=VALUE")
        settings[key] = value
    found = c.targets(args[0])
    for s in found:
        m = s.modem
        try:
            m.faults = make_faults(settings, m.faults)
        except FaultError as exc:
            raise ControlError(str(exc)) from None
        if "sim_busy" in settings:
            m._sim_busy_left = m.faults.sim_busy
        if "reg_lost_at" in settings and m.faults.reg_lost_at is not None:
            m.schedule(m.faults.reg_lost_at - m.now, m.net.lose)
        if "reg_back_at" in settings and m.faults.reg_back_at is not None:
            m.schedule(m.faults.reg_back_at - m.now, m.net.search)
        if "reg_denied" in settings and m.faults.reg_denied and m.net.registered:
            m.net.lose()
    return {"faults": settings, "modems": [s.index for s in found]}


def _power(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, "power TARGET on|off|reset")
    what = args[1].lower()
    if what not in ("on", "off", "reset"):
        raise ControlError(f"power {args[1]!r}: on, off or reset")
    found = c.targets(args[0])
    for s in found:
        m = s.modem
        if what == "off":
            if m.powered:  # the power key: the module logs off and says so, as AT+CPOWD=1 / AT+QPOWD=1
                m.power_off(m.profile.power_down_urcs)
        elif what == "reset" or not m.powered:
            m.restart()
    return {"power": what, "modems": [s.index for s in found]}


def _battery(c: Console, args: list[str]) -> dict[str, Any]:
    from modem.virtual.cmd_power import BATTERY

    _need(args, 2, "battery TARGET PERCENT [MILLIVOLTS] [--charging|--full]")
    words, flags = _flags(args, ("charging", "full"))
    level, mv = words[1], words[2] if len(words) > 2 else None
    if not level.isdigit() or not 1 <= int(level) <= 100:
        raise ControlError(f"battery PERCENT {level!r}: 1..100")
    if mv is not None and (not mv.isdigit() or not 2000 <= int(mv) <= 5000):
        raise ControlError(f"battery MILLIVOLTS {mv!r}: 2000..5000")
    found = c.targets(words[0])
    for s in found:
        if BATTERY.name not in s.modem.set_states:
            raise ControlError(f"modem {s.index}: profile {s.modem.profile.name} has no AT+CBC")
    for s in found:
        b = BATTERY.state(s.modem)
        b.bcl = int(level)
        b.bcs = 2 if "full" in flags else 1 if "charging" in flags else 0
        if mv is not None:
            b.mv = int(mv)
    return {"battery": int(level), "modems": [s.index for s in found]}


def _usage(c: Console, args: list[str]) -> list[dict[str, Any]]:
    words, flags = _flags(args, ("plan", "commitment"))
    _need(words, 1, "usage TARGET [--plan=PLAN] [--commitment=MONTHS]")
    if c.tee is None:
        raise ControlError("no network (--no-network): no usage records")
    commitment = flags.get("commitment")
    if commitment is not None and not commitment.isdigit():
        raise ControlError(f"--commitment {commitment!r}: a number of months")
    return [
        c.usage(s, flags.get("plan"), int(commitment) if commitment else None) for s in c.targets(words[0])
    ]


async def _wait(c: Console, args: list[str]) -> dict[str, Any]:
    _need(args, 2, f"wait TARGET {'|'.join(STATES)} [TIMEOUT_S]")
    state = args[1].lower()
    if state not in STATES:
        raise ControlError(f"wait: unknown state {args[1]!r}; known: {', '.join(STATES)}")
    timeout = DEFAULT_WAIT_S
    if len(args) > 2:
        try:
            timeout = float(args[2])
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= MAX_WAIT_S:
            raise ControlError(f"wait timeout {args[2]!r}: seconds, more than 0 and at most {MAX_WAIT_S:g}")
    return await c.wait_for(c.targets(args[0]), state, timeout)


def _help(c: Console, args: list[str]) -> dict[str, str]:
    return {name: cmd.usage for name, cmd in sorted(COMMANDS.items())}


COMMANDS: dict[str, Command] = {
    "list": Command(_list, False, "list [TARGET]: the modems and their state"),
    "sms": Command(_sms, True, SMS_USAGE),
    "call": Command(_call, True, "call TARGET FROM [--data]: ring the modem (voice, or CSD with --data)"),
    "hangup": Command(_hangup, True, "hangup TARGET: the far end releases the modem's calls"),
    "dtr": Command(_dtr, True, "dtr TARGET off: the DTE drops DTR, online data ends as AT&D says"),
    "outcome": Command(
        _outcome,
        True,
        "outcome NUMBER[,NUMBER...] answered|busy|no-answer: how a number the modem dials answers",
    ),
    "coverage": Command(_coverage, True, "coverage TARGET none|home|MCCMNC"),
    "csq": Command(_csq, True, "csq TARGET RSSI [BER]"),
    "rat": Command(_rat, True, "rat TARGET geran|utran|eutran"),
    "net": Command(
        _conditions("net"), True, "net TARGET PRESET: every figure of a preset (gprs, edge, umts, lte...)"
    ),
    "speed": Command(
        _conditions("netspeed"),
        True,
        "speed TARGET PRESET|KBPS|UP:DOWN: the link's rate (kbit/s, 0 unlimited)",
    ),
    "delay": Command(
        _conditions("netdelay"), True, "delay TARGET PRESET|MS|MIN:MAX: the link's round trip (ms)"
    ),
    "loss": Command(_conditions("netloss"), True, "loss TARGET PERCENT: IP packets lost"),
    "detach": Command(_detach, True, "detach TARGET: network-initiated detach, re-attach required"),
    "refuse-pdp": Command(_refuse_pdp, True, "refuse-pdp TARGET CAUSE: refuse the next PDP activation"),
    "fault": Command(_fault, True, "fault TARGET KEY=VALUE...: any fault key of virtual:// URLs"),
    "power": Command(
        _power, True, "power TARGET on|off|reset: the power key (off: with the power-down URCs)"
    ),
    "battery": Command(_battery, True, "battery TARGET PERCENT [MILLIVOLTS] [--charging|--full]: AT+CBC"),
    "usage": Command(
        _usage, False, "usage TARGET [--plan=P] [--commitment=N]: records so far and their cost"
    ),
    "wait": Command(_wait, False, "wait TARGET STATE [TIMEOUT_S]: until every target is in STATE"),
    "help": Command(_help, False, "help: the commands"),
}


def parse_request(line: str) -> list[str]:
    """A request line's words: a JSON array of strings, or shell-like words."""
    text = line.strip()
    if text.startswith("["):
        try:
            words = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ControlError(f"not a JSON array of strings: {exc.msg} at column {exc.colno}") from None
        except RecursionError:  # a client's arrays nested 10^5 deep
            raise ControlError("not a JSON array of strings: nested too deep") from None
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ControlError("a JSON request is an array of strings")
        return words
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise ControlError(f"cannot split the command into words: {exc}") from None


async def answer(console: Console, line: str) -> dict[str, Any]:
    """The answer object to one request line; never raises for a bad request."""
    try:
        return {"ok": True, "result": await console.execute(parse_request(line))}
    except ControlError as exc:
        return {"ok": False, "error": str(exc)}
    except Exception as exc:  # a bug must not stop the serve: the client gets one line, the log the rest
        log.exception("console command %r failed", line)
        return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}


# ----- replay ----------------------------------------------------------------------------------------


class JournalError(ValueError):
    """A journal that cannot be replayed: names the file and the line."""


def load_journal(path: Path) -> tuple[dict[str, Any], list[tuple[float, list[str]]]]:
    """The header and the (time, words) entries of a console journal."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JournalError(f"{path}: cannot read: {exc}") from None
    lines = text.splitlines()
    if not lines:
        raise JournalError(f"{path}:1: empty, expected a console journal")
    entries: list[tuple[float, list[str]]] = []
    header: dict[str, Any] = {}
    for n, raw in enumerate(lines, 1):
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise JournalError(f"{path}:{n}: not JSON: {exc.msg}") from None
        except RecursionError:
            raise JournalError(f"{path}:{n}: not JSON: nested too deep") from None
        if n == 1:
            if not isinstance(item, dict) or item.get("m2msim") != JOURNAL_TAG:
                raise JournalError(f"{path}:1: not a console journal (no m2msim: console-journal header)")
            header = item
            continue
        t, cmd = (item.get("t"), item.get("cmd")) if isinstance(item, dict) else (None, None)
        if (
            not isinstance(t, int | float)
            or isinstance(t, bool)
            or t < 0
            or not isinstance(cmd, list)
            or not cmd
            or not all(isinstance(w, str) for w in cmd)
        ):
            raise JournalError(f'{path}:{n}: expected {{"t": seconds, "cmd": [words]}}')
        if cmd[0] not in COMMANDS or not COMMANDS[cmd[0]].changes:
            raise JournalError(f"{path}:{n}: cmd: {cmd[0]!r} is not a command that a journal replays")
        entries.append((float(t), cmd))
    return header, entries


def replay(console: Console, entries: list[tuple[float, list[str]]]) -> asyncio.Future[None]:
    """Run each journaled command again at its simulated time (on the console's loop); the future is
    done when the last one ran."""
    loop = console.clock.loop
    done: asyncio.Future[None] = loop.create_future()
    left = [len(entries)]

    async def go(words: list[str]) -> None:
        result = await answer(console, json.dumps(words))
        if not result["ok"]:
            log.warning("replayed %s: %s", shlex.join(words), result["error"])
        left[0] -= 1
        if left[0] == 0 and not done.done():
            done.set_result(None)

    def run(words: list[str]) -> None:
        task = loop.create_task(go(words))
        _running.add(task)
        task.add_done_callback(_running.discard)

    for t, words in entries:
        loop.call_at(console.clock.loop_time(t), run, words)
    if not entries:
        done.set_result(None)
    return done


_running: set[asyncio.Task[None]] = set()  # replayed commands under way (a task needs a reference)
