"""RADIUS accounting sessions to usage records: the rules every accounting reader shares.

A reader (a capture, a FreeRADIUS `detail` file) turns each Accounting-Request
into an `AcctRequest`; `SessionTracker.request` returns the usage records it
closes, if any.  The rules (docs/capture.md, "Reader rules"):

- One record per Interim-Update and per Stop: volumes are the deltas of the
  cumulative Acct-Input/Output-Octets (+ Gigawords x 2^32) since the session's
  previous request, the duration the delta of Acct-Session-Time, the start the
  session's start plus the previous request's Acct-Session-Time.  A request of a known
  session without Acct-Session-Time has the time of its event less the session's start.  A record over
  the 12-hour record limit (a client without Interim-Updates, or with a longer
  interval) is cut at the session's 12-hour marks inside it, as the gateway cuts
  its records (`gateway.partial`): its octets spread in proportion to time, each
  part but the last closed with cause 17 (time limit).
- Sessions are keyed by (accounting client, Acct-Session-Id): the client is
  NAS-IP-Address, else NAS-Identifier, else the packet's source address.
- A request whose status, Acct-Session-Time and counters (for a Start, its
  Event-Timestamp) equal one already seen for the session is a retransmission
  (RFC 2866 5.2: a re-sent request may carry a new Identifier and
  Acct-Delay-Time): counted, never billed twice, before or after its response,
  and up to an hour (CLOSED_MEMORY_S) after the session's Stop.
- A session first seen at an Interim-Update (the capture began mid-session):
  that Interim is the baseline; records follow from it on, with an empty
  `sequence` (their place in the session is unknown), and the session is
  listed in `joined` with the octets before the baseline (an Interim without Acct-Session-Time too: the
  session's times then count from its event, every request's from its own); an Interim from before the baseline,
  re-sent late, gives the record from it to the baseline, and is the baseline; so does its Start, re-sent
  late (a retransmission: the record from the session's start).  A session first
  seen at its Stop is a reject: nothing delimits its last record (with `hold_s`, unless an Interim of
  it, re-sent late, comes within that time: the baseline the Stop's record starts from).
- An Interim-Update delivered late (re-sent with Acct-Delay-Time once the session's next request, even
  its Stop, had gone) still closes its own record: with `hold_s`, a session's latest records wait that
  long (its client's packet time) and such an Interim cuts them at its Acct-Session-Time; its 32-bit
  counters above the next request's say one wrapped in between.
- A 32-bit counter that goes down in a request without Gigawords has wrapped
  once: 2^32 is added (counted in `counter_wraps`).  With Gigawords, a counter
  going down is a reject.
- An Interim that carries a changed 3GPP-SGSN-MCC-MNC, SGSN address, RAT or MS
  time zone closes a partial record with the TS 32.298 cause (PLMN change 24,
  serving node change 18, RAT change 22, MS time zone change 23); the record
  keeps the serving network it was used in, the session goes on.
- A session belongs to the zone where it was opened (docs/tariff.md): every
  record of it is in the zone of the first 3GPP-SGSN-MCC-MNC its requests give
  (its Start's, or the Interim it was joined at), before a move and after;
  `serving_plmn` is the network each record was used in.
- An Accounting-On or Accounting-Off (RFC 2866 5.1: the client restarted, or
  stops accounting) ends the client's sessions opened before it without a
  Stop (listed with the open ones): a later Start that reuses one of their
  Acct-Session-Ids opens a new session; a copy of an Accounting-On/Off seen (`_reset_copy`) is a
  retransmission, no restart.  A Start for an open session that had an
  Interim-Update, dated at or after it, is the same: the client restarted without
  saying so (no client re-sends a Start after an Interim); before any Interim it
  is a duplicate Start (a re-sent Start whose Event-Timestamp the client rewrote).  A Start dated at
  or after the Stop of a session closed with its id (the client numbers its sessions afresh) opens a
  new session too.  Without Event-Timestamp every Start of an id looks alike: the time it was sent
  (seen less Acct-Delay-Time) tells a re-sent copy (within RESEND_SLACK_S of the session's start)
  from a new session.  A Start with the attributes of the session's own (`resend_form`), its
  Acct-Delay-Time not less, is a copy however late (RFC 5080 2.2.1), unless an Accounting-On/Off came
  since.  An Interim-Update or Stop that began (its event less Acct-Session-Time) at or after the
  session's last request, when its Event-Timestamp says so or a copy of the Start was sent then, is a
  new session the client restarted into (`_restarted`): the old one ends without a Stop.  The copies
  kept for that are the latest MAX_START_COPIES sent at different times; a stopped session's, dated at
  or after its end, wait past CLOSED_MEMORY_S for the new session's first request (`_keep_possible`).  A request
  of a session so ended, dated before the end and seen after it (the client re-sent it from its
  queue), is still that session's, for CLOSED_MEMORY_S.  A copy of a stopped session's Start seen later
  than that (its Event-Timestamp, else its attributes), up to LATE_COPY_MEMORY_S after the Stop, is a
  late copy (`_late_copy`), never a new session; for LATE_COPY_KEPT stopped sessions at most (the oldest
  forgotten first, counted, and a Start dated before the end of one, opening a session, said).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import itertools
import re
import struct
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Literal, TypeVar

from accounting.records import ClosingCause, UsageRecord, UsageType, Zone
from gateway.partial import INTERVAL_S, record_bytes
from gateway.plmn import default_table

STATUS_START = 1
STATUS_STOP = 2
STATUS_INTERIM = 3
STATUS_ACCOUNTING_ON = 7
STATUS_ACCOUNTING_OFF = 8

GIGAWORD = 1 << 32
MAX_OCTETS = (1 << 63) - 1  # a record's octets are 64-bit signed integers (Parquet int64)
MAX_GIGAWORDS = MAX_OCTETS >> 32  # 2^31 - 1: more, and a counter passes MAX_OCTETS
CLOSED_MEMORY_S = (
    3_600  # a closed session's requests are recognised as retransmissions this long after its Stop
)
# A record waits this long (packet time) before it is given, when the tracker holds records: an Interim-
# Update delivered late (re-sent with Acct-Delay-Time once the session's next request had gone) splits it.
HOLD_S = 300
# An Event-Timestamp farther than this from when the request was sent (its capture time, or the time the server
# logged it, less Acct-Delay-Time) and from that time itself, or before 2000, is a NAS clock that is wrong: the request is dated as
# one without it (when it was sent), and the report lists it; unless its NAS held it (store and forward without
# Acct-Delay-Time: `SessionTracker._held_back`), when it is dated by it, and listed.  (10 minutes: a request held up to 7.5
# minutes without Acct-Delay-Time saying so is still dated by its Event-Timestamp in a detail file's
# named zone, placed by the quarter hour nearest to when it was sent.)
CLOCK_SLACK_S = 600
# An Interim-Update or Stop a NAS held (store and forward) is dated by its Event-Timestamp only when that agrees
# with its session's start and Acct-Session-Time within this: a clock stepped back does not
HELD_AGREE_S = 60
CLOCK_FLOOR_S = 946_684_800  # 2000-01-01 UTC: no NAS of the networks read here dated its events before
# an Acct-Delay-Time of this many seconds or more (68 years) is a negative number sent (-1: 4294967295),
# no delay, by whatever clock the request was seen (one never set too)
NEGATIVE_DELAY = 2**31
MAX_LISTED_CLOCKS = 1_000
# A Start without Event-Timestamp is dated when it was sent, its capture (or log) time less Acct-Delay-
# Time, both whole seconds: a copy re-sent with an updated Acct-Delay-Time lands within this of the first.
RESEND_SLACK_S = 1
# A client re-sends a request it had no answer to within seconds (RFC 2866 5.2; RFC 5080 2.2.1: at most 16 s,
# MRT, between two copies, 30 s here with room for a capture's clocks): the same request seen again within this
# of its latest copy is a retransmission (`within_retry`); later, it is a new event (a NAS rebooted hours later
# sends the same Accounting-On, its Identifiers counted afresh from 0)
RETRY_WINDOW_S = 30
# Copies of a session's Start (no Event-Timestamp) seen after its Interim-Update or Stop, kept as possible
# Starts of a new session with the same id and attributes, sent at different times: a re-sent copy and a
# restart's Start, at most
MAX_START_COPIES = 2
# The Accounting-On/Offs of each accounting client remembered, the latest: a copy of one re-sent late is no
# restart (`SessionTracker._reset_copy`)
RESETS_KEPT = 4
# A stopped session's Start is remembered this long after its Stop (packet time), past CLOSED_MEMORY_S: a copy
# of it seen later (re-sent by the NAS, with Acct-Delay-Time grown, or by a proxy, a store-and-forward queue
# or a relay re-sending a detail file, as it was) is a late copy, counted, not a new session (`_late_copy`)
LATE_COPY_MEMORY_S = 86_400
# ... for this many stopped sessions at most, the oldest forgotten first (counted: `late_copies_forgotten`).
# A session remembered costs about 200 bytes (tracemalloc): 500,000, a day of an operator's
# sessions stopped at 6 a second, about 100 MB
LATE_COPY_KEPT = 500_000
# Of the stopped sessions forgotten past it whose Start had no Event-Timestamp, the latest this many (or
# `late_copies_kept`, if fewer) are remembered by their Start's attributes alone (about 260 bytes each: 17 MB
# at most): a copy of one re-sent as it was, dated when sent, is counted in `starts_after_forgotten`
FORGOTTEN_FORMS_KEPT = 65_536

# Acct-Terminate-Cause (RFC 2866 5.10) -> cause for record closing (TS 32.298).
CLOSING_FOR_TERMINATE_CAUSE: dict[int, int] = {
    1: int(ClosingCause.NORMAL),  # User-Request
    2: int(ClosingCause.ABNORMAL),  # Lost-Carrier
    3: int(ClosingCause.SERVING_NODE_CHANGE),  # Lost-Service
    4: int(ClosingCause.NORMAL),  # Idle-Timeout
    5: int(ClosingCause.TIME_LIMIT),  # Session-Timeout
    6: int(ClosingCause.MANAGEMENT_INTERVENTION),  # Admin-Reset
    7: int(ClosingCause.MANAGEMENT_INTERVENTION),  # Admin-Reboot
}

_K = TypeVar("_K")
_V = TypeVar("_V")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_S = int((datetime.min.replace(tzinfo=UTC) - _EPOCH).total_seconds())  # a record's time: year 1
_LAST_S = int((datetime.max.replace(tzinfo=UTC) - _EPOCH).total_seconds())  # ... to year 9999

LineFrom = Literal["auto", "class", "calling-station-id"]
# how a request's Event-Timestamp is taken: checked against when it was sent, or as written
EventTime = Literal["check", "trust"]
EVENT_TIMES: tuple[EventTime, ...] = ("check", "trust")
EVENT_TIME_HELP = (
    "check (default): a request whose Event-Timestamp is more than 10 minutes from when it was sent, or "
    "before 2000, is a NAS clock that is wrong: dated when it was sent, and listed (unless its NAS held it: "
    "its request before on time, these in order; dated by it, and listed); trust: every "
    "Event-Timestamp as written (accounting replayed later, whose requests keep their first times)"
)
LATE_COPIES_HELP = (
    f"stopped sessions whose Start is remembered for a day after their Stop, to tell a late copy of it "
    f"from a new session (default {LATE_COPY_KEPT}, about 200 bytes each); past it the oldest are "
    "forgotten, and counted"
)


def late_copies_kept(text: str) -> int:
    """`--late-copies`: a count, 0 or more."""
    try:
        kept = int(text)
    except ValueError:
        kept = -1
    if kept < 0:
        raise argparse.ArgumentTypeError(f"not a count (0 or more): {text!r}")
    return kept


def within_retry(latest_s: int, seen_s: int) -> bool:
    """Whether a request the same as one seen at `latest_s` (its latest copy), seen again at `seen_s` (both
    packet times, in seconds), is that request re-sent: within RETRY_WINDOW_S of it, either way (a capture's
    interfaces put packets out of order).  Every reader takes the same request by this rule: a capture the
    same octets on a client's port and Identifier, a detail file an Accounting-On/Off written again."""
    return -RETRY_WINDOW_S <= seen_s - latest_s <= RETRY_WINDOW_S


def _where(first: Mapping[str, object], unit: str) -> str:
    """Where a warning's first case was: its file (when several are read) and its `unit` (packet or
    line) number."""
    return f"{first['file']} {unit} {first['at']}" if first["file"] else f"{unit} {first['at']}"


def _iso(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


_TEXT_ID = re.compile(rb"[\x21-\x7e]{1,64}")


def choose_line(class_value: bytes | None, calling_station_id: str | None, line_from: LineFrom) -> str | None:
    """The line id of a request.

    `auto`: Class when it is one token of printable ASCII (1-64 characters, no space): an id the
    accounting server set; an opaque binary Class (state echoed from an Access-Accept) or free text
    is never a line id, and then Calling-Station-Id (the MSISDN, TS 29.061) names the line.
    `class` / `calling-station-id`: that attribute only.
    """
    if line_from != "calling-station-id":
        if class_value is not None and _TEXT_ID.fullmatch(class_value):
            return class_value.decode("ascii")
        if line_from == "class":
            return None
    return calling_station_id or None


def class_for_line(kept: bytes | None, other: bytes) -> bytes:
    """Of a request's Class attributes (RFC 2865 5.25: a server, or each proxy on the way, may set one;
    the client echoes them all), the one `choose_line` reads, given the one `kept` so far and the
    `other` that follows: the first that is a text id, else the first."""
    if kept is None or (not _TEXT_ID.fullmatch(kept) and _TEXT_ID.fullmatch(other)):
        return other
    return kept


# MCC and MNC as text: TS 29.061's 5 or 6 digits, and the forms seen besides (a separator between them,
# the F filler of a 2-digit MNC's third digit written out)
_PLMN_TEXT = re.compile(rb"([0-9]{3})[-_ .]?[Ff]?([0-9]{2,3})[Ff]?")


def _bcd_plmn(octets: bytes) -> str | None:
    """MCC+MNC from the three octets of a PLMN id (TS 24.008 10.5.1.3: BCD, low digit first, F in place
    of a 2-digit MNC's third digit); None when they are not such digits."""
    mcc = (octets[0] & 0x0F, octets[0] >> 4, octets[1] & 0x0F)
    mnc = (octets[2] & 0x0F, octets[2] >> 4)
    mnc3 = octets[1] >> 4
    if max(*mcc, *mnc) > 9 or (mnc3 > 9 and mnc3 != 0x0F):
        return None
    return "".join(map(str, (*mcc, *mnc))) + (str(mnc3) if mnc3 != 0x0F else "")


def serving_plmn_of(value: bytes) -> str:
    """The MCC+MNC a 3GPP-SGSN-MCC-MNC says: TS 29.061's text (5 or 6 digits; a C string's NUL or
    padding after them, a separator or an F filler written out as `208-01` or `208F01`, are dropped: such
    text was rated by its MCC), or the three octets of a PLMN id (`_bcd_plmn`) as the RAI and
    User-Location-Info carry it, which some GGSNs copy into the attribute.  `ValueError` saying why
    for anything else (no network, text or octets, can be billed by it: read as text it was rated
    `world`)."""
    text = _PLMN_TEXT.fullmatch(value.strip(b"\0 \t"))
    if text is not None:
        return (text.group(1) + text.group(2)).decode("ascii")
    plmn = _bcd_plmn(value) if len(value) == 3 and not value.isdigit() else None
    if plmn is None:
        raise ValueError(
            f"0x{value.hex()} ({value.decode('latin-1')!r}) is no MCC+MNC: neither 5 or 6 digits "
            "(TS 29.061) nor 3 octets of BCD (TS 24.008 10.5.1.3)"
        )
    return plmn


# 3GPP-User-Location-Info's Geographic Location Types (TS 29.061 16.4.7.2, TS 29.274 8.21): CGI, SAI, RAI;
# TAI, ECGI, TAI and ECGI, eNodeB ID, TAI and eNodeB ID, extended eNodeB ID, TAI and extended eNodeB ID,
# NCGI, 5GS TAI, 5GS TAI and NCGI, NG-RAN node ID, 5GS TAI and NG-RAN node ID: each starts with the
# PLMN id of the cell or area (3 octets), followed by at least 2 more
_LOCATION_TYPES = frozenset({0, 1, 2, *range(128, 140)})


def plmn_of_location(value: bytes) -> str | None:
    """The MCC+MNC of the cell a 3GPP-User-Location-Info names (its Geographic Location starts with the
    PLMN id in BCD); None for a Geographic Location Type this reader does not know.  `ValueError` for
    a known type whose location is too short or whose PLMN id is no BCD digits."""
    if not value or value[0] not in _LOCATION_TYPES:
        return None
    if len(value) < 6:
        raise ValueError(f"0x{value.hex()}: {len(value)} octets, too short for its location type {value[0]}")
    plmn = _bcd_plmn(value[1:4])
    if plmn is None:
        raise ValueError(f"0x{value.hex()}: its PLMN id 0x{value[1:4].hex()} is no BCD MCC+MNC")
    return plmn


@dataclass(slots=True)
class AcctRequest:
    """One Accounting-Request, as every reader hands it over."""

    status: int
    session_id: str
    client: object  # the accounting client (NAS) the session id is unique for
    time_s: int  # when the request was seen (capture time / log timestamp), seconds since 1970
    line: str | None = None
    event_time: int | None = None  # Event-Timestamp
    session_time: int | None = None  # Acct-Session-Time
    in_lo: int | None = None
    in_gw: int | None = None
    out_lo: int | None = None
    out_gw: int | None = None
    terminate: int | None = None
    delay: int | None = None  # Acct-Delay-Time: the client sent it this long before time_s (RFC 2866 5.2)
    imsi: str | None = None
    imeisv: str | None = None
    apn: str | None = None
    charging_id: int | None = None
    serving_plmn: str | None = None
    sgsn: str | None = None
    rat: int | str | None = None  # RAT type, as the source gives it (compared, never rated)
    ms_tz: bytes | None = None
    # the names of the NAS the request gives, by place: NAS-IP-Address, NAS-Identifier, NAS-IPv6-Address,
    # None where it gives none (`client` is one of them, when it gives any)
    nas_names: tuple[object, ...] = ()
    # `time_s` is the reader's own clock (the capture's, the server's Timestamp): an Event-Timestamp far from
    # it is the NAS's clock wrong (False: a time that may be in another zone, a detail file's date line)
    time_sure: bool = True
    event_said: int | None = None  # the Event-Timestamp of a NAS whose clock was wrong (`event_time` None)
    # a digest of a Start's attributes but those a copy re-sent may change (Acct-Delay-Time, Proxy-State,
    # Message-Authenticator; what the server writes into a detail block): two Starts with equal ones are
    # the same request, whatever their Identifier (None: not compared)
    resend_form: int | None = None
    # `event_time` was placed, not read: a detail file's date in a zone named by letters, put at the quarter
    # hour nearest to when the request was sent (off by quarter hours for one held 7.5 minutes or more
    # without Acct-Delay-Time saying so): no time to tell a NAS restart by (`SessionTracker._restarted`)
    event_placed: bool = False
    # an Accounting-On/Off's Acct-Session-Id ('' when it has none): a copy of one re-sent carries the same
    # (`SessionTracker._reset_copy`)
    reset_id: str = ""


class Rejects:
    """Where a tracker reports: `reject(where, category, detail)` plus the shared counters."""

    def __init__(self) -> None:
        self.records = 0
        self.sessions = 0
        self.retransmissions = 0
        # Start copies kept as possible new sessions (`MAX_START_COPIES`) that none followed: copies, counted
        # in `retransmissions`
        self.start_copies_unanswered = 0
        # Starts seen more than CLOSED_MEMORY_S after their session's Stop that are copies of its Start
        # (`SessionTracker._late_copy`): counted in `retransmissions` too; the first named
        self.start_copies_late = 0
        self.start_copies_late_first: dict[str, object] | None = None
        # stopped sessions whose Start was forgotten before LATE_COPY_MEMORY_S, past the tracker's
        # `late_copies_kept`; Starts dated before the latest end of those, or with the attributes of one's
        # Start (`SessionTracker._forgotten_copy`), that opened a session (maybe late copies of theirs):
        # counted, the first named
        self.late_copies_forgotten = 0
        self.starts_after_forgotten = 0
        self.starts_after_forgotten_first: dict[str, object] | None = None
        self.counter_wraps = 0
        self.joined: list[dict[str, object]] = []  # sessions first seen at an Interim-Update
        self.open_sessions: list[str] = []
        self.current_file: str | None = None  # the input being read (a reject names it)
        # requests whose Event-Timestamp (the NAS's clock) was wrong, dated when they were sent instead
        self.clock_wrong = 0
        self.clock_wrong_first: list[dict[str, object]] = []  # the first MAX_LISTED_CLOCKS
        self.clock_wrong_off: tuple[int, int] | None = None  # (least, most) Event-Timestamp less when sent
        # requests a NAS held and sent late without Acct-Delay-Time (store and forward), dated by their
        # Event-Timestamp: counted, the first listed, with how long they were held (least, most)
        self.clock_held = 0
        self.clock_held_first: list[dict[str, object]] = []
        self.clock_held_s: tuple[int, int] | None = None
        # requests whose Acct-Delay-Time would have them sent before 2000 (a NAS's -1, damage): dated as
        # without it, counted, the first named (`at`, `file`, `session`, `delay`)
        self.delay_wrong = 0
        self.delay_wrong_first: dict[str, object] | None = None
        # requests seen at a time before 2000 by the reader's own clock (a capture's, a server's Timestamp,
        # never set: a probe without a real-time clock counts from 1970), the first, and those of them
        # without Event-Timestamp
        self.clock_unset = 0
        self.clock_unset_first: dict[str, object] | None = None
        self.clock_unset_undated = 0

    def start_copies(self) -> dict[str, object]:
        """The Start copies counted (`start_copies_*`, `*_forgotten`), as both readers' summaries give them."""
        return {
            "start_copies_unanswered": self.start_copies_unanswered,
            "start_copies_late": self.start_copies_late,
            "start_copies_late_first": self.start_copies_late_first,
            "late_copies_forgotten": self.late_copies_forgotten,
            "starts_after_forgotten": self.starts_after_forgotten,
            "starts_after_forgotten_first": self.starts_after_forgotten_first,
        }

    def held_said(self, where: int, session: str, said: int, sent: int) -> None:
        """A request a NAS held `sent - said` seconds without Acct-Delay-Time: dated `said` (listed)."""
        self.clock_held += 1
        held = sent - said
        least, most = self.clock_held_s or (held, held)
        self.clock_held_s = (min(least, held), max(most, held))
        if len(self.clock_held_first) < MAX_LISTED_CLOCKS:
            self.clock_held_first.append(
                {
                    "at": where,
                    "file": self.current_file,
                    "session": session,
                    "event_timestamp": said,
                    "sent": sent,
                    "held_s": held,
                }
            )

    def clock_held_warning(self, unit: str) -> str | None:
        """The warning line of the requests dated by the Event-Timestamp of a NAS that held them; None if
        none."""
        if not self.clock_held or self.clock_held_s is None:
            return None
        first = self.clock_held_first[0]
        where = _where(first, unit)
        what = f"session {first['session']!r}" if first["session"] else "an Accounting-On/Off"
        least, most = self.clock_held_s
        said, sent = int(str(first["event_timestamp"])), int(str(first["sent"]))
        return (
            f"{self.clock_held} requests sent {least} to {most} s after their Event-Timestamp without "
            "Acct-Delay-Time saying so, dated by their Event-Timestamp: their NAS held them (store and "
            "forward), its requests before them on time and these in order (the first: "
            f"{where}, {what}, Event-Timestamp {_iso(said)}, sent at {_iso(sent)})"
        )

    def late_copy_said(self, where: int, session: str, after_s: int) -> None:
        """A Start seen `after_s` seconds after its session's Stop, a copy of the session's Start."""
        self.start_copies_late += 1
        if self.start_copies_late_first is None:
            self.start_copies_late_first = {
                "at": where,
                "file": self.current_file,
                "session": session,
                "after_stop_s": after_s,
            }

    def late_copies_warning(self, unit: str) -> str | None:
        """The warning line of the late copies of stopped sessions' Starts; None if none."""
        first = self.start_copies_late_first
        if not self.start_copies_late or first is None:
            return None
        where = _where(first, unit)
        return (
            f"{self.start_copies_late} Starts came more than an hour after their session's Stop with the "
            "Event-Timestamp or the attributes of its Start: copies re-sent or logged again late, no new "
            f"session (the first: {where}, session {first['session']!r}, {first['after_stop_s']} s after "
            "its Stop)"
        )

    def after_forgotten_said(self, where: int, session: str) -> None:
        """A Start that opened a session, dated before the end of a stopped session forgotten (`late_copies_kept`)."""
        self.starts_after_forgotten += 1
        if self.starts_after_forgotten_first is None:
            self.starts_after_forgotten_first = {"at": where, "file": self.current_file, "session": session}

    def forgotten_warning(self, unit: str, option: str) -> str | None:
        """The warning line of the stopped sessions' Starts forgotten before a day; None if none."""
        if not self.late_copies_forgotten:
            return None
        line = (
            f"{self.late_copies_forgotten} stopped sessions' Starts were forgotten within a day of their Stop "
            f"(more were stopped than {option} keeps): a late copy of one is not told from a new session"
        )
        first = self.starts_after_forgotten_first
        if self.starts_after_forgotten and first is not None:
            where = _where(first, unit)
            line += (
                f"; {self.starts_after_forgotten} Starts dated before the end of one opened a session, late "
                f"copies maybe (the first: {where}, session {first['session']!r})"
            )
        return line + f"; raise {option} to remember more (about 200 bytes each)"

    def clock_said(self, where: int, session: str, said: int, sent: int) -> None:
        """A request whose Event-Timestamp `said` was implausible: dated `sent` instead (listed)."""
        self.clock_wrong += 1
        least, most = self.clock_wrong_off or (said - sent, said - sent)
        self.clock_wrong_off = (min(least, said - sent), max(most, said - sent))
        if len(self.clock_wrong_first) < MAX_LISTED_CLOCKS:
            self.clock_wrong_first.append(
                {
                    "at": where,
                    "file": self.current_file,
                    "session": session,
                    "event_timestamp": said,
                    "dated": sent,
                    "off_s": said - sent,
                }
            )

    def delay_said(self, where: int, session: str, delay: int) -> None:
        """A request whose Acct-Delay-Time `delay` would have it sent before 2000: dated as without it."""
        self.delay_wrong += 1
        if self.delay_wrong_first is None:
            self.delay_wrong_first = {
                "at": where,
                "file": self.current_file,
                "session": session,
                "delay": delay,
            }

    def clock_unset_said(self, where: int, time_s: int, event_time: int | None) -> None:
        """A request seen at `time_s`, before 2000, by the reader's own clock: that clock was not set."""
        self.clock_unset += 1
        self.clock_unset_undated += event_time is None
        if self.clock_unset_first is None:
            self.clock_unset_first = {"at": where, "file": self.current_file, "time": time_s}

    def clock_unset_warning(self, unit: str) -> str | None:
        """The warning line of a reader's clock that was not set (`clock_unset_said`: a capture's, `unit`
        packet; a server's Timestamp, line); None if it was."""
        first = self.clock_unset_first
        if first is None:
            return None
        clock, seen, machine = (
            ("capture's clock", "captured", "a probe")
            if unit == "packet"
            else ("server's clock (Timestamp)", "logged", "a server")
        )
        n, undated = self.clock_unset, self.clock_unset_undated
        dated = (
            ""
            if not undated
            else f"; {undated} without Event-Timestamp {'is' if undated == 1 else 'are'} dated by that clock, "
            f"not when {'it' if undated == 1 else 'they'} happened"
        )
        return (
            f"the {clock} was not set ({n} Accounting-Request{'' if n == 1 else 's'} {seen} before 2000, the "
            f"first: {_where(first, unit)}, at {_iso(int(str(first['time'])))}: {machine} without a "
            "real-time clock): their Event-Timestamps are taken as written, unchecked, their Acct-Delay-Times "
            f"as given{dated}"
        )

    def delay_wrong_said(self, unit: str) -> str | None:
        """The warning line of the requests whose Acct-Delay-Time was left out (`delay_said`); None if none."""
        first = self.delay_wrong_first
        if first is None:
            return None
        where = _where(first, unit)
        what = f"session {first['session']!r}" if first["session"] else "an Accounting-On/Off"
        return (
            f"{self.delay_wrong} requests whose Acct-Delay-Time would have them sent before 2000 (a NAS "
            f"sending -1, or damage) dated as without it, when seen; the first: {where}, {what}, "
            f"Acct-Delay-Time {first['delay']}"
        )

    def clock_wrong_said(self, unit: str) -> str | None:
        """The warning line of the requests dated by the reader's clock, naming the first; None if none."""
        if not self.clock_wrong:
            return None
        first = self.clock_wrong_first[0]
        said, sent = int(str(first["event_timestamp"])), int(str(first["dated"]))
        where = _where(first, unit)
        what = f"session {first['session']!r}" if first["session"] else "an Accounting-On/Off"
        least, most = self.clock_wrong_off or (said - sent, said - sent)
        off = f"{least:+d} s" if least == most else f"{least:+d} to {most:+d} s"
        return (
            f"{self.clock_wrong} requests dated when they were sent ({unit} time less Acct-Delay-Time), "
            f"their Event-Timestamp more than {CLOCK_SLACK_S} s from it or before 2000 (a NAS clock "
            f"wrong, or a NAS that held them without Acct-Delay-Time saying so; their Event-Timestamp "
            f"{off} from it; the first: {where}, {what}, Event-Timestamp "
            f"{_iso(said)} where it was sent at {_iso(sent)})"
        )

    def reject(self, where: int, category: str, detail: str = "") -> None:
        raise NotImplementedError


def no_usable_said(files: Sequence[str], what: str) -> str:
    """The start of the warning of a read whose inputs gave nothing to bill: `files` named (the
    first 10, and how many more), "no usable `what`, no records: "."""
    names = files[0] if len(files) == 1 else ", ".join(files[:10])
    if len(files) > 10:
        names += f" and {len(files) - 10} more"
    return f"{names}: no usable {what}, no records: "


def main_reject_said(reasons: Mapping[str, int], unit: str, listed: Iterable[tuple[str, str]]) -> str:
    """ "N `unit` rejected, K as REASON (WHERE: DETAIL)": the reason most rejects have, and the first
    of them among the `listed` ones, (where, "reason: detail")."""
    top, count = max(reasons.items(), key=lambda item: item[1])
    said = f"{sum(reasons.values())} {unit} rejected, {count} as {top}"
    first = next(((where, reason) for where, reason in listed if reason.startswith(top)), None)
    if first is not None:
        said += f" ({first[0]}: {first[1][len(top) + 2 :] or top})"
    return said


@dataclass(slots=True)
class _Session:
    session_id: str
    line: str
    imsi: str | None
    imeisv: str | None
    apn: str | None
    charging_id: int | None
    serving_plmn: str | None
    sgsn: str | None
    rat: int | str | None
    ms_tz: bytes | None
    start_s: int
    opened_plmn: str | None  # the first serving network said: the session's zone
    joined: bool
    last_time: int = 0
    last_in: int = 0
    last_out: int = 0
    sequence: int = 0
    seen: set[tuple[object, ...]] = field(default_factory=set)
    stopped: bool = False  # (a session an Accounting-On/Off ended, whose Stop came after it)
    base: tuple[int, int, int] | None = None  # a joined session's baseline: session time, octets in, out
    base_event: int = 0  # when the baseline's Interim was sent
    joined_entry: dict[str, object] | None = None  # its entry in the report's `joined`
    # joined at an Interim-Update without Acct-Session-Time: its session times are counted from that
    # Interim's event (its start unknown), every request's from the time of its event
    clock_times: bool = False
    start_form: int | None = None  # its Start's `resend_form`, and Acct-Delay-Time
    start_delay: int = 0
    # the copies of its Start seen after its Interim-Update (or Stop), dated after its start: re-sent, or
    # the Start of a new session the client restarted into with the same id and the same attributes (its
    # next request's times tell: `_restarted`); the latest MAX_START_COPIES sent at different times
    relogged: list[AcctRequest] = field(default_factory=list)
    longest: int = 0  # its longest time between two of its requests (its Interim interval, or its length)
    # its start was dated by the client's own clock (the Event-Timestamp of its Start, or of the Interim it
    # was joined at), as its later requests' Event-Timestamps are: the two compare (`_restarted`)
    start_on_nas_clock: bool = False
    late_copies: tuple[AcctRequest, ...] = ()  # its `relogged` that were late copies (`_late_copy`)
    # closed, or ended, when its client's Accounting-On/Off came: a Start sent after that is a new session's
    reset: bool = False
    # `_stopped_key` of its key, made when it opened: it is remembered by it once stopped
    stopped_key: int = 0


@dataclass(slots=True)
class _Stopped:
    """A session stopped and forgotten as closed, whose Start is remembered for LATE_COPY_MEMORY_S: a copy
    of it seen later is no new session (`SessionTracker._late_copy`).  What tells a copy, no more (a day
    of sessions is kept): kept packed (`SessionTracker._remember_stopped`: its fields in their order as
    eight signed 64-bit integers, None as the least; a tuple of them if one is out of that range), about 200
    bytes a session with its key."""

    # its place among the sessions remembered (an Accounting-On/Off voids the forms before it); -1: closed
    # when its client's Accounting-On/Off came (`_remember_stopped`)
    order: int
    stopped_at: int  # the Stop's packet time
    end_s: int  # its end (its start plus the Stop's Acct-Session-Time)
    start_event: int | None  # its Start's Event-Timestamp (as the NAS said it), None: none, or unseen
    start_s: int  # the session's start
    # its Start's `resend_form` and Acct-Delay-Time, its longest time between two requests (`_Session`)
    start_form: int | None
    start_delay: int
    longest: int

    @classmethod
    def unpack(cls, packed: bytes | tuple[int | None, ...]) -> _Stopped:
        values = _STOPPED.unpack(packed) if isinstance(packed, bytes) else packed
        order, stopped_at, end_s, event, start_s, form, delay, longest = values
        return cls(
            int(order or 0),
            int(stopped_at or 0),
            int(end_s or 0),
            None if event == _NONE else event,
            int(start_s or 0),
            None if form == _NONE else form,
            int(delay or 0),
            int(longest or 0),
        )


_STOPPED = struct.Struct("<8q")
_STOPPED_AT = struct.Struct("<8xq")  # (its `stopped_at` alone)
_DIGEST = hashlib.blake2b(digest_size=8)  # (copied for each key: quicker than one made)
_DIGEST_VALUE = struct.Struct("<q")
_NONE = -(1 << 63)
# entries of sessions no longer kept (their id taken again) let stay in `SessionTracker.stopped_keys`
# before they are dropped: this many, or a quarter of those kept (memory at most 1.25 times theirs)
_STALE_KEPT = 1024


def _stopped_key(key: tuple[object, str]) -> int:
    """What a stopped session is remembered by (`SessionTracker.stopped`): a 64-bit digest of its key, the
    same in every process (Python's `hash()` of a text changes with PYTHONHASHSEED: which sessions shared a
    memory, by chance, would change from one run to the next, and a capture read one way then another)."""
    digest = _DIGEST.copy()
    digest.update(repr(key).encode("utf-8", "surrogatepass"))
    return int(_DIGEST_VALUE.unpack(digest.digest())[0])


@dataclass(slots=True)
class _Possible:
    """A session stopped, forgotten as closed, whose Start copies (`relogged`) may each be a new session's
    Start: kept until `until` (packet time) for the new session's first Interim-Update or Stop."""

    state: _Session
    end_s: int  # its end (its start plus the Stop's Acct-Session-Time): a new session began after it
    until: int


@dataclass(slots=True)
class _NasClock:
    """What a NAS's Event-Timestamps said so far: whether it holds requests back (store and forward)."""

    on_time: int | None = None  # the Event-Timestamp of its last request, when that was on time
    held: int | None = None  # the Event-Timestamp of its last request held back, and when it was seen
    held_seen: int = 0
    held_from: int = 0  # when the first request of the queue was sent: the events it holds are before
    live: int | None = None  # the Event-Timestamp of its latest request on time, held ones sent since or not
    # its latest silence: the Event-Timestamps of two requests on time more than CLOCK_SLACK_S apart, none
    # between, and when the second was seen: a NAS cut off from its server, back at the second, holds what
    # happened in between, and sends it soon after (its live requests amid it)
    silent: tuple[int, int, int] | None = None


@dataclass(slots=True)
class _Reset:
    """An Accounting-On/Off of a client (`SessionTracker.resets`): what tells a copy of it (`_reset_copy`)."""

    status: int
    reset_id: str  # its Acct-Session-Id ('' when none)
    said: int | None  # its Event-Timestamp as its NAS wrote it, None: none
    right: bool  # that was read on a clock checked and right
    sent: int  # when it was sent: seen less Acct-Delay-Time
    latest: int  # when its latest copy was seen (packet time)


@dataclass(slots=True)
class _Held:
    """The records of a session's last Interim-Update or Stop, held until `until` (packet time): an
    Interim-Update between its bounds, delivered late, splits them."""

    start_s: int  # the session's start
    bounds: list[tuple[int, int, int]]  # (Acct-Session-Time, octets in, octets out) the records span
    causes: list[int]  # the cause each span closes with
    first_sequence: int | None  # the first record's sequence (None: a joined session)
    records: list[UsageRecord]
    until: int
    seen: set[tuple[object, ...]]  # its session's requests (a later session may reuse the id)


@dataclass(slots=True)
class _Ended:
    """A session an Accounting-On/Off (or a Start reusing its id) ended without a Stop: its requests sent
    before that (re-sent late, with Acct-Delay-Time) are still its own."""

    state: _Session
    when: int  # the end's event time: a request of the session is dated before it
    seen_at: int  # the end's packet time (kept CLOSED_MEMORY_S)


@dataclass(slots=True)
class _Orphan:
    """A Stop of a session never seen before, held: an Interim-Update of the session delivered late (the
    capture began between its first copy and the Stop) delimits its last record."""

    req: AcctRequest
    sig: tuple[object, ...]
    where: int
    file: str | None
    until: int


def _event_time(req: AcctRequest) -> int:
    """When the request's event happened: its Event-Timestamp, else when the client sent it (the time
    it was seen less Acct-Delay-Time: a request re-sent, or queued, is seen late)."""
    if req.event_time is not None:
        return req.event_time
    return req.time_s - (req.delay or 0)


def _said_time(req: AcctRequest) -> tuple[bool, int]:
    """When the request says its event was, and on which clock: its Event-Timestamp as its NAS wrote it
    (True: a clock that is wrong too), else when it was sent (False: the capture's clock, less
    Acct-Delay-Time).  Two times compare on the same clock only."""
    if req.event_said is not None:
        return True, req.event_said
    if req.event_time is not None and not req.event_placed:
        return True, req.event_time
    return False, _event_time(req)


def _copy_of_start(req: AcctRequest, sig: tuple[object, ...], seen: set[tuple[object, ...]]) -> bool:
    """A Start carrying the Event-Timestamp of the session's own Start: a copy of it, however late (its
    Acct-Delay-Time not updated, or the NAS's clock wrong: then dated when it was sent)."""
    said = sig[1]
    return req.status == STATUS_START and isinstance(said, int) and said >= CLOCK_FLOOR_S and sig in seen


def _new_start(req: AcctRequest, start_s: int, last_s: int) -> bool:
    """A Start for a session id already seen (started at `start_s`, last heard of at `last_s`: its last
    Interim-Update or its Stop) opens a new session: it happened at or after `last_s`, and more than
    RESEND_SLACK_S after the session's start (a copy of the session's own Start is dated at its start,
    to the second with Event-Timestamp, within RESEND_SLACK_S without)."""
    when = _event_time(req)
    return when >= last_s and when > start_s + RESEND_SLACK_S


def _same_start(state: _Session, req: AcctRequest) -> bool:
    """A Start whose attributes are the session's own Start's (`resend_form`), its Acct-Delay-Time the
    same or more (RFC 2866 5.2, RFC 5080 2.2.1: a re-sent request is the same but for its Identifier and
    Acct-Delay-Time): a copy of it, re-sent (by a proxy, with an Identifier of its own) or logged again,
    however late.  Without Event-Timestamp nothing else tells it from a new session's Start."""
    return _copy_of_form(req, state.start_form, state.start_delay)


def _copy_of_form(req: AcctRequest, start_form: int | None, start_delay: int) -> bool:
    """`_same_start`, of a Start whose `resend_form` and Acct-Delay-Time were these."""
    return (
        req.status == STATUS_START
        and req.resend_form is not None
        and req.resend_form == start_form
        and (req.delay or 0) >= start_delay
    )


def _keep_copy(state: _Session, req: AcctRequest) -> None:
    """Keep a copy of the session's Start seen after its Interim-Update or Stop (`_same_start`) as a
    possible new session's Start (`relogged`): not one sent within the client's retry window of the
    session's start (`within_retry`: a copy re-sent, its Acct-Delay-Time not updated, it is no other
    session's; an Interim-Update whose first copy went unseen, re-sent as late, began then too); one sent
    within RESEND_SLACK_S of a copy kept replaces it; the latest MAX_START_COPIES sent at different times
    are kept (a late copy seen after a restart's Start leaves it)."""
    when = _event_time(req)
    if within_retry(state.start_s, when):
        return
    kept = [copy for copy in state.relogged if abs(_event_time(copy) - when) > RESEND_SLACK_S]
    state.relogged = [*kept[len(kept) - MAX_START_COPIES + 1 :], req]


def _copy_at(state: _Session, begun: int) -> AcctRequest | None:
    """The copy of the session's Start kept (`relogged`) sent when a new session `begun`, if any."""
    return next((c for c in state.relogged if abs(_event_time(c) - begun) <= RESEND_SLACK_S), None)


def _drop_before(entries: dict[_K, _V], since: int, seen: Callable[[_V], int]) -> None:
    """Drop the entries, oldest first (in the order put in), whose time `seen` is before `since`."""
    while entries:
        oldest = next(iter(entries))
        if seen(entries[oldest]) >= since:
            break
        del entries[oldest]


def _signature(req: AcctRequest) -> tuple[object, ...]:
    if req.status == STATUS_START:  # (the NAS's own Event-Timestamp, even from a clock that is wrong)
        return (STATUS_START, req.event_time if req.event_said is None else req.event_said)
    return (req.status, req.session_time, req.in_lo, req.in_gw, req.out_lo, req.out_gw)


class SessionTracker:
    """Accounting sessions in flight; `request` returns the record a request closes."""

    def __init__(
        self,
        report: Rejects,
        *,
        hold_s: int = 0,
        check_clock: bool = False,
        late_copies_kept: int = LATE_COPY_KEPT,
    ) -> None:
        """`hold_s`: each session's latest records wait this long (packet time) before `request` gives
        them (all that wait are given by `finish`), so that an Interim-Update delivered after the next
        request (re-sent with Acct-Delay-Time) still closes its own record; 0: given at once.
        `check_clock`: an Event-Timestamp more than CLOCK_SLACK_S from when the request was sent (its
        `time_s` less Acct-Delay-Time), or before 2000, is a NAS clock that is wrong: the request is
        dated as one without it, and listed in the report (`clock_said`).  `late_copies_kept`: the stopped
        sessions whose Start is remembered (`_late_copy`) at most, the oldest forgotten first (counted)."""
        self.report = report
        self.hold_s = hold_s
        self.check_clock = check_clock
        # client -> session id -> its held records, oldest first; released by the client's own time (a
        # capture's interfaces, or captures concatenated, may put one client's packets far ahead)
        self.held: dict[object, dict[str, _Held]] = {}
        self.ready: list[UsageRecord] = []  # records whose hold is over
        self.sessions: dict[tuple[object, str], _Session] = {}
        # closed sessions, oldest first: (requests seen, time of the Stop, the session's start, its end
        # by Acct-Session-Time, the session), kept CLOSED_MEMORY_S
        self.closed: dict[tuple[object, str], tuple[set[tuple[object, ...]], int, int, int, _Session]] = {}
        self.zones = default_table()
        self.ended: list[str] = []  # sessions an Accounting-On/Off ended, never stopped
        # the same, kept CLOSED_MEMORY_S (oldest first): their requests re-sent after the end are theirs
        self.ended_states: dict[tuple[object, str], _Ended] = {}
        # client -> session id -> a Stop of a session never seen before, held (with `hold_s`)
        self.orphans: dict[object, dict[str, _Orphan]] = {}
        # sessions stopped and forgotten whose Start copies may be a new session's (`_Possible`), and when
        # each is due to be forgotten (a heap: (until, order, key))
        self.possible: dict[tuple[object, str], _Possible] = {}
        self.possible_until: list[tuple[int, int, tuple[object, str]]] = []
        self.possible_order = itertools.count()
        # sessions stopped and forgotten as closed, kept LATE_COPY_MEMORY_S, `late_copies_kept` at most
        # (`_Stopped`, packed), by a digest of their key, the same in every run (`_stopped_key`; no other
        # session's Start has its Event-Timestamp or its attributes); their keys and entries in the order put in (an entry no longer the key's: its
        # session reopened)
        self.stopped: dict[int, bytes | tuple[int | None, ...]] = {}
        self.stopped_keys: deque[int] = deque()
        self.stopped_entries: deque[bytes | tuple[int | None, ...]] = deque()
        self.stopped_count = 0
        # the `stopped_at` of the first entry in `stopped_entries`, while it is kept; else _NONE (not known):
        # `_forget_stopped` looks no further while it is not due, unpacking nothing
        self.stopped_first_at = _NONE
        # the latest key digested and its digest: a Start looks its key up (`_late_copy`), then opens it
        # (`_open`), the digest made once (`_stopped_digest`)
        self.stopped_digested: tuple[tuple[object, str], int] | None = None
        self.late_copies_kept = late_copies_kept
        # client name -> `stopped_count` at its latest Accounting-On/Off: the forms of the sessions remembered
        # before it tell no copy (a Start sent after it is a new session's)
        self.stopped_reset: dict[object, int] = {}
        # client name -> when its latest Accounting-On/Off was, and on which clock (`_said_time`): a Start
        # dated before it on that clock is from before the reboot, re-sent (by a proxy, a queue), a copy of a
        # session's then (`_before_reset`)
        self.reset_said: dict[object, tuple[bool, int]] = {}
        # accounting client -> its latest RESETS_KEPT Accounting-On/Offs (`_Reset`): a copy of one re-sent is
        # no restart (`_reset_copy`)
        self.resets: dict[object, deque[_Reset]] = {}
        self.forgotten_end: int | None = None  # the latest end of a session forgotten for `late_copies_kept`
        # the latest FORGOTTEN_FORMS_KEPT of those forgotten whose Start had no Event-Timestamp, by their
        # Start's `resend_form` and key (`_forgotten_copy`): their entries (`_Stopped`, packed)
        self.forgotten_forms: dict[int, bytes | tuple[int | None, ...]] = {}
        # their forms and entries in the order put in, the oldest dropped first in O(1) (a dict's first
        # entry, found past the ones deleted before it, took a scan as long as the dict)
        self.forgotten_order: deque[tuple[int, bytes | tuple[int | None, ...]]] = deque()
        # the names the requests gave together (NAS-IP-Address, NAS-Identifier, NAS-IPv6-Address by place,
        # RFC 2865 5.32, RFC 3162: a NAS is known by any), once each, so that an Accounting-On/Off by one
        # ends the sessions keyed by another
        self.named: set[tuple[object, ...]] = set()
        self.clock_timed = False  # a session was joined at an Interim-Update without Acct-Session-Time
        self.nas_clocks: dict[object, _NasClock] = {}  # accounting client -> what its clock said

    def request(self, req: AcctRequest, where: int) -> list[UsageRecord]:
        if req.time_s < CLOCK_FLOOR_S:  # the reader's own clock was not set: nothing checks the NAS's by it
            req.time_sure = False
            self.report.clock_unset_said(where, req.time_s, req.event_time)
        if (
            req.delay
            and req.time_s - req.delay < CLOCK_FLOOR_S
            and (req.time_s >= CLOCK_FLOOR_S or req.delay >= NEGATIVE_DELAY)
        ):
            # (seen before 2000 itself, the reader's clock was not set: nothing to judge the delay by but
            # its size, a negative number sent: a Start dated by it in 1833)
            # no delay: a session without Event-Timestamp was dated by it in 1889 (-1 read as 2^32 - 1 s)
            self.report.delay_said(where, req.session_id, req.delay)
            req.delay = None
        self._date(req, where)  # (once: `_request` may read the request again, `_reopen`)
        records = self._request(req, where)
        if not self.hold_s:
            return records
        self.ready += records  # (a session's previous records, final now)
        held = self.held.get(req.client)
        while held:  # (held in time order: each is put last when it is held again)
            oldest = next(iter(held))
            if held[oldest].until >= req.time_s:
                break
            self.ready += held.pop(oldest).records
        orphans = self.orphans.get(req.client)
        while orphans:
            oldest = next(iter(orphans))
            if orphans[oldest].until >= req.time_s:
                break
            self._orphan_rejected(orphans.pop(oldest))
        ready, self.ready = self.ready, []
        return ready

    def _orphan_rejected(self, orphan: _Orphan) -> None:
        """A held Stop of a session never seen before that nothing delimited: the reject it is."""
        report = self.report
        reading, report.current_file = report.current_file, orphan.file
        report.reject(
            orphan.where,
            "Stop of a session never seen before",
            f"{orphan.req.session_id!r}: no Start or Interim-Update delimits its last record",
        )
        report.current_file = reading

    def _date(self, req: AcctRequest, where: int) -> None:
        """With `check_clock`: an Event-Timestamp that is a NAS clock that is wrong is dropped (the request
        dated when it was sent), one of a request its NAS held is kept; either is listed in the report."""
        said = req.event_time
        if said is not None and self.check_clock and req.time_sure:
            sent = req.time_s - (req.delay or 0)
            clock = self.nas_clocks.get(req.client)
            if clock is None:
                clock = self.nas_clocks[req.client] = _NasClock()
            # (near the time it was seen, it is right, and Acct-Delay-Time wrong)
            if said >= CLOCK_FLOOR_S and min(abs(said - sent), abs(said - req.time_s)) <= CLOCK_SLACK_S:
                clock.on_time = said
                if clock.live is not None and said - clock.live > CLOCK_SLACK_S:
                    clock.silent = (clock.live, said, req.time_s)
                clock.live = said if clock.live is None else max(clock.live, said)
            elif (
                req.status == STATUS_START
                and said >= CLOCK_FLOOR_S
                and self._start_seen((req.client, req.session_id), said, req)
            ):
                pass  # a copy of the session's Start, re-sent as it was: the Start's time, no clock's
            elif req.status in (STATUS_ACCOUNTING_ON, STATUS_ACCOUNTING_OFF) and self._reset_copy(req):
                pass  # a copy of an Accounting-On/Off seen, re-sent late: its time, no clock's
            elif self._held_back(clock, req, said, sent):
                self.report.held_said(where, req.session_id, said, sent)
            else:
                self.report.clock_said(where, req.session_id, said, sent)
                req.event_time, req.event_said = None, said  # (dated when it was sent, as without it)
                clock.on_time = clock.held = clock.live = clock.silent = None

    def _request(self, req: AcctRequest, where: int) -> list[UsageRecord]:
        if req.status in (STATUS_ACCOUNTING_ON, STATUS_ACCOUNTING_OFF):
            if self._reset_copy(req):
                self.report.retransmissions += 1
                return []
            self._client_restarted(req)
            said = req.event_time if req.event_said is None else req.event_said
            # (a clock checked, `_date`: one unchecked may be a NAS's without a real-time clock, the same
            # Event-Timestamp at each boot)
            right = (
                self.check_clock
                and req.time_sure
                and req.event_time is not None
                and req.event_said is None
                and not req.event_placed
            )
            seen = self.resets.get(req.client)
            if seen is None:
                seen = self.resets[req.client] = deque(maxlen=RESETS_KEPT)
            seen.append(
                _Reset(req.status, req.reset_id, said, right, req.time_s - (req.delay or 0), req.time_s)
            )
            return []
        names = req.nas_names
        if names not in self.named and sum(name is not None for name in names) > 1:
            self.named.add(names)
        key = (req.client, req.session_id)
        state = self.sessions.get(key)
        if state is not None and state.start_s < CLOCK_FLOOR_S:
            self._redate(state, req)
        timed_by = None
        if req.status != STATUS_START and (req.session_time is None or self.clock_timed):
            timed_by = self._session_time_from_clock(key, req, where)
        sig = _signature(req)
        if timed_by is not None and any(
            (sig[0], (req.session_time or 0) + slack, *sig[2:]) in timed_by
            for slack in (-RESEND_SLACK_S, RESEND_SLACK_S)
        ):
            # a copy re-sent with Acct-Delay-Time: when it was sent, in whole seconds, may land a second off
            self.report.retransmissions += 1
            return []
        ended = self.ended_states.get(key)
        if ended is not None and _event_time(req) < ended.when:
            records = self._after_end(key, ended.state, req, sig, where)
            if records is not None:
                return records
        state = self.sessions.get(key)
        report = self.report
        if state is not None and _copy_of_start(req, sig, state.seen):
            report.retransmissions += 1
            self._keep_copy_sent(state, req)
            return []
        if state is not None and _same_start(state, req):
            report.retransmissions += 1
            _keep_copy(state, req)  # (a restart into the same attributes shows in its times: `_restarted`)
            return []
        if (
            state is not None
            and req.status == STATUS_START
            and (state.sequence or state.joined)
            and _new_start(req, state.start_s, state.start_s + state.last_time)
        ):
            # A Start after the session's Interim-Update: no client re-sends its Start once it has sent an
            # Interim, so the client restarted (without Accounting-On) and reused the id.  (Checked before
            # the retransmissions: without Event-Timestamp every Start of the id has the same signature.)
            self.end_without_stop(key[0], key[1], when=_event_time(req), seen_at=req.time_s)
            if self._line(req, where) is not None:
                self._open(key, req, sig, joined=False)
            return []
        if state is not None and sig in state.seen:
            report.retransmissions += 1
            return []
        if state is not None and req.status == STATUS_START and self._start_of_joined(state, req):
            return self._resent_start(state, req, sig, where)
        if state is None:
            self._forget_closed(req.time_s)
            closed_entry = self.closed.get(key)
            closed = closed_entry[0] if closed_entry is not None else None
            if (
                closed_entry is not None
                and req.status == STATUS_START
                and closed_entry[4].reset
                and sig in closed_entry[0]
                and self._before_reset(key[0], req)
            ):
                report.retransmissions += 1  # (the closed session's Start, sent before its NAS's reboot)
                return []
            if closed_entry is not None and req.status == STATUS_START and closed_entry[4].reset:
                # a Start after its client's Accounting-On/Off is a new session's, even with the closed
                # one's Event-Timestamp and attributes (a NAS without a real-time clock: `_stopped`)
                if self._line(req, where) is not None:
                    self._open(key, req, sig, joined=False)
                return []
            if (
                closed_entry is not None
                and sig in closed_entry[0]
                and not (req.status == STATUS_START and _new_start(req, closed_entry[2], closed_entry[3]))
            ) or (closed_entry is not None and _copy_of_start(req, sig, closed_entry[0])):
                report.retransmissions += 1
                self._keep_copy_sent(closed_entry[4], req)
                return []
            if closed_entry is not None and _same_start(closed_entry[4], req):
                report.retransmissions += 1
                _keep_copy(closed_entry[4], req)
                return []
            if closed_entry is None and req.status == STATUS_START and self._late_copy(key, req, sig, where):
                return []
            possible = self.possible.get(key) if closed_entry is None else None
            if possible is not None and _same_start(possible.state, req):
                report.retransmissions += 1
                _keep_copy(possible.state, req)
                self._keep_possible(key)
                return []
            if (
                closed_entry is not None
                and req.status == STATUS_START
                and self._start_of_joined(closed_entry[4], req)
            ):
                return self._resent_start(closed_entry[4], req, sig, where)
            if req.status == STATUS_START:
                said = sig[1] if isinstance(sig[1], int) else _event_time(req)  # (a wrong clock's too)
                if closed_entry is None and (
                    (self.forgotten_end is not None and said < self.forgotten_end)
                    or self._forgotten_copy(key, req)
                ):
                    # (dated before a session forgotten ended: maybe a late copy of one, `late_copies_kept`;
                    # or one, by its attributes)
                    report.after_forgotten_said(where, req.session_id)
                if self._line(req, where) is not None:
                    self._open(key, req, sig, joined=False)
                return []
            if closed is not None and closed_entry is not None:
                if self._late(key, req, sig, closed, where, None):
                    return []
                records = self._before_baseline(closed_entry[4], req, sig, where)
                if records is not None:
                    return records
                if self._restarted(closed_entry[4], req, closed_entry[3]):  # (a Stop's end, not its last)
                    del self.closed[key]
                    return self._reopen(key, closed_entry[4], req, where)
                if req.status == STATUS_STOP:  # (the one that closed it is kept)
                    report.reject(
                        where,
                        "request after the session's Stop",
                        f"session {req.session_id!r}: a second Stop, its Acct-Session-Time or counters not "
                        "those of the Stop that closed the session, which is kept",
                    )
                    return []
                report.reject(where, "request after the session's Stop", f"session {req.session_id!r}")
                return []
            if possible is not None and self._restarted(possible.state, req, possible.end_s):
                # the new session the client restarted into, begun when a copy of its Start was sent
                del self.possible[key]
                return self._reopen(key, possible.state, req, where)
            orphans = self.orphans.get(key[0], {})
            orphan = orphans.get(key[1])
            if req.status == STATUS_STOP and orphan is not None and orphan.sig == sig:
                report.retransmissions += 1  # (the held Stop re-sent)
                return []
            if orphan is not None:
                del orphans[key[1]]
            if req.status == STATUS_STOP:
                if orphan is not None:
                    self._orphan_rejected(orphan)
                orphan = _Orphan(req, sig, where, report.current_file, req.time_s + self.hold_s)
                if self.hold_s:  # an Interim-Update delivered late may yet delimit its record
                    self.orphans.setdefault(key[0], {})[key[1]] = orphan
                else:
                    self._orphan_rejected(orphan)
                return []
            clock_times = req.session_time is None
            if clock_times:
                # An Interim-Update without Acct-Session-Time (RFC 2866 5.7 names it for a Stop only) of a
                # session never seen: its start is unknown, so the session's times count from this one's
                # event (Event-Timestamp, else when it was sent), as every later request's do.
                req.session_time = 0
                sig = _signature(req)
                self.clock_timed = True
            self._join(key, req, sig, where, clock_times=clock_times)
            if orphan is not None:
                state = self.sessions.get(key)
                stop = orphan.req
                if state is not None and (state.clock_times or stop.session_time is None):
                    stop.session_time = _event_time(stop) - state.start_s  # (as a known session's)
                    orphan.sig = _signature(stop)
                if (
                    state is None
                    or stop.session_time is None
                    or req.session_time is None
                    or stop.session_time < req.session_time
                    or _event_time(req) > _event_time(stop)
                ):
                    self._orphan_rejected(orphan)  # (a Stop of an earlier session with the id)
                    return []
                # The capture began between this Interim-Update's first copy and the session's Stop: the
                # Interim, re-sent late, is the baseline the Stop's record starts from.
                reading, report.current_file = report.current_file, orphan.file
                records = self._usage(key, state, stop, orphan.sig, orphan.where)
                report.current_file = reading
                return records
            return []
        if req.status == STATUS_START:
            report.reject(where, "duplicate Start", f"session {req.session_id!r} is already open")
            return []
        return self._usage(key, state, req, sig, where)

    @staticmethod
    def _redate(state: _Session, req: AcctRequest) -> None:
        """A session dated before 2000 (its Start seen by a reader's clock not set yet, without
        Event-Timestamp) is dated by `req`, an Interim-Update or Stop seen once that clock was set (NTP
        reached part-way), as begun its Acct-Session-Time before it: its records were dated in 1970.
        Without Acct-Session-Time, the time between that clock's last request of the session and this
        one is not known: counted as none (its usage billed at this request, in a record of no time), where
        the session's time from 1970 made it, and every later request, a reject ('Acct-Session-Time ...
        would have it begun before 2000', a time the NAS never sent)."""
        if req.status == STATUS_START or not req.time_sure:
            return
        begun = _event_time(req) - (state.last_time if req.session_time is None else req.session_time)
        if begun >= CLOCK_FLOOR_S:
            state.start_s = begun
            state.start_on_nas_clock = req.event_time is not None and not req.event_placed

    def _start_seen(self, key: tuple[object, str], said: int, req: AcctRequest) -> bool:
        """The session `key` (open, ended, closed, or stopped and remembered) had a Start with this
        Event-Timestamp: a Start carrying it is a copy of that one (`_copy_of_start`, `_late_copy`).  Not
        once its client's Accounting-On/Off ended or closed it, unless the Start is dated before that
        (`_before_reset`): a NAS without a real-time clock dates each boot's sessions as the last boot's."""
        seen = (STATUS_START, said)
        state = self.sessions.get(key)
        ended = self.ended_states.get(key)
        closed = self.closed.get(key)
        stopped = self._stopped(key, req)
        return (
            (state is not None and seen in state.seen)
            or (
                ended is not None
                and seen in ended.state.seen
                and (not ended.state.reset or self._before_reset(key[0], req))  # (its NAS since reset)
            )
            or (closed is not None and not closed[4].reset and seen in closed[0])  # (its NAS since reset)
            or (stopped is not None and stopped.start_event == said)
        )

    def _keep_copy_sent(self, state: _Session, req: AcctRequest) -> None:
        """A copy of the session's Start by its Event-Timestamp (`_copy_of_start`), of a session dated when
        its Start was sent (its NAS's clock wrong): kept as a possible new session's Start dated when it was
        sent (`_keep_copy`), as a Start without Event-Timestamp is.  A NAS without a real-time clock that
        restarts without Accounting-On dates its new session's Start as the old one's, and gives it the old
        id: its next request, begun when that copy was sent, opens the new session from it
        (`_restarted`).  It was merged into the old session, dated there, its first record's octets lost."""
        if (
            self.check_clock
            and req.status == STATUS_START
            and not state.start_on_nas_clock
            and req.event_time is not None
        ):
            _keep_copy(state, replace(req, event_time=None, event_said=req.event_time))

    def _held_back(self, clock: _NasClock, req: AcctRequest, said: int, sent: int) -> bool:
        """A request whose Event-Timestamp `said` is more than CLOCK_SLACK_S before it was `sent`, and
        which its NAS held (store and forward, no Acct-Delay-Time saying so): the NAS's request before it
        was on time and no later than it (a NAS cut off queues its requests, and sends nothing meanwhile),
        or its event is in the NAS's latest silence and it comes within CLOCK_SLACK_S of its end
        (`_NasClock.silent`: back, the NAS sends its live requests as they come, and its queue amid them),
        or it follows such a request, no earlier, within CLOCK_SLACK_S (the queue sent in a burst, live
        requests between), its event from before the queue's first request was sent (the NAS was back
        then); an Interim-Update or Stop agrees, within HELD_AGREE_S, with its session's start and its
        Acct-Session-Time.  A clock set back gives a time before the NAS's last request (one that sends
        often), disagrees with its sessions', and is wrong from then on (until a request on time); set back
        while the NAS was quiet, its first Start cannot tell, nor its requests until their times pass when
        that Start was sent."""
        if said < CLOCK_FLOOR_S or said > sent:
            return False
        queued = (  # the queue goes on
            clock.held is not None
            and req.time_s - clock.held_seen <= CLOCK_SLACK_S
            and clock.held <= said <= clock.held_from
        )
        silent = (
            clock.silent is not None
            and clock.silent[0] <= said <= clock.silent[1]
            and req.time_s - clock.silent[2] <= CLOCK_SLACK_S
        )
        if not queued and not silent and (clock.on_time is None or said < clock.on_time):
            return False
        if req.status in (STATUS_INTERIM, STATUS_STOP) and req.session_time is not None:
            state = self.sessions.get((req.client, req.session_id))
            if (
                state is not None
                and not state.clock_times
                and abs(said - (state.start_s + req.session_time)) > HELD_AGREE_S
            ):
                return False
        if not queued:
            clock.held_from = sent
        clock.on_time, clock.held, clock.held_seen = None, said, req.time_s
        return True

    def _session_time_from_clock(
        self, key: tuple[object, str], req: AcctRequest, where: int
    ) -> set[tuple[object, ...]] | None:
        """An Interim-Update or Stop without Acct-Session-Time (RFC 2866 5.7 names it for a Stop only; a
        client may leave it out of its Interims) of a session known: its session time is the time of its
        event (Event-Timestamp, else when it was sent) less the session's start.  So is every request's
        of a session joined at an Interim-Update without it (its times count from that Interim's event:
        an Acct-Session-Time, from the unknown start, is not on that scale).  Returns the requests seen of
        the session whose time it gave, else None."""
        when = _event_time(req)
        ended = self.ended_states.get(key)
        state = ended.state if ended is not None and when < ended.when else self.sessions.get(key)
        closed = self.closed.get(key)
        if state is None and closed is not None:
            state = closed[4]
        if state is not None and state.clock_times:
            req.session_time = when - state.start_s  # (before the baseline: an Interim delivered late)
        elif req.session_time is None and state is not None:
            if req.event_time is not None and self._clock_went_back(state, req, when):
                sent = req.time_s - (req.delay or 0)
                self.report.clock_said(where, req.session_id, req.event_time, sent)
                req.event_time, req.event_said, when = None, req.event_time, sent
            req.session_time = max(0, when - state.start_s)
        else:
            return None
        return state.seen  # (the session's requests: a copy of one is dated within a second of it)

    def _clock_went_back(self, state: _Session, req: AcctRequest, when: int) -> bool:
        """With `check_clock`: an Interim-Update or Stop without Acct-Session-Time whose Event-Timestamp
        (`when`) is before its session's latest request, though it was sent (seen less Acct-Delay-Time) after
        that, its counters no lower: its NAS's clock was set back since (an NTP step), by less than
        CLOCK_SLACK_S.  Its time is no event's: an Interim delivered late was sent before (re-sent with
        Acct-Delay-Time), and counts less; one re-sent as it was is a copy of a request seen.  Taken for
        one, it cut the session's held records, its counters above the next request's a 32-bit wrap:
        4 GiB billed."""
        if not (self.check_clock and req.time_sure):
            return False
        latest = state.start_s + state.last_time
        if not when < latest < req.time_s - (req.delay or 0):
            return False
        at = when - state.start_s
        if any(
            (req.status, at + slack, req.in_lo, req.in_gw, req.out_lo, req.out_gw) in state.seen
            for slack in (-RESEND_SLACK_S, 0, RESEND_SLACK_S)
        ):
            return False  # a copy of a request seen, re-sent as it was (an idle session's: the same counters)
        for lo, gw, last in ((req.in_lo, req.in_gw, state.last_in), (req.out_lo, req.out_gw, state.last_out)):
            if lo is None or (lo + (gw << 32) < last if gw is not None else lo < last & 0xFFFFFFFF):
                return False
        return True

    def _reset_copy(self, req: AcctRequest) -> bool:
        """An Accounting-On/Off that is a copy of one its client sent (`resets`: RFC 2866 5.2, re-sent until
        answered, or again by a proxy or a store-and-forward queue): the same status, Acct-Session-Id and
        Event-Timestamp (as its NAS wrote it, or none), and either that Event-Timestamp was read on a clock
        that is right (no NAS restarts twice in a second), or it was sent (seen less Acct-Delay-Time)
        within RESEND_SLACK_S of that one, or it is seen within the client's retry window of that one's
        latest copy (`within_retry`: re-sent as it was, its Acct-Delay-Time not grown; the window runs from
        every copy told, by either rule).  A NAS without Event-Timestamp, or without a real-time clock (the same Event-Timestamp at
        each boot), sends the same Accounting-On at each restart, its Identifier counted afresh: its same
        octets seen again later than that are a restart, as a capture's reader takes them."""
        seen = self.resets.get(req.client)
        if not seen:
            return False
        said = req.event_time if req.event_said is None else req.event_said
        sent = req.time_s - (req.delay or 0)
        for reset in seen:
            if reset.status != req.status or reset.reset_id != req.reset_id or reset.said != said:
                continue
            if (
                (reset.right and said is not None)
                or abs(sent - reset.sent) <= RESEND_SLACK_S
                or within_retry(reset.latest, req.time_s)
            ):
                # (the window runs from the latest copy however it was told: one with Acct-Delay-Time grown,
                # re-sent as it was by a proxy, is a copy as a capture takes the same octets)
                reset.latest = max(reset.latest, req.time_s)
                return True
        return False

    def reset_copy_seen(self, req: AcctRequest) -> None:
        """A copy of an Accounting-On/Off its reader told by itself (a capture: the same octets on the same
        port and Identifier, not given to `request`): the client's retry window runs from it too
        (`_reset_copy`)."""
        self._reset_copy(req)

    def _client_restarted(self, req: AcctRequest) -> None:
        """Accounting-On/Off: the client's sessions opened before it are over, without a Stop (a request
        re-sent later, with its event's Event-Timestamp, leaves the sessions opened since alone).  The
        client is the one it names by NAS-IP-Address, NAS-Identifier or NAS-IPv6-Address, whichever its
        sessions were keyed by: one that names itself by NAS-Identifier alone ends those keyed by the
        NAS-IP-Address its requests gave with that NAS-Identifier.  A set of names is the NAS's when it
        shares one with the request and differs in none the request gives: two NAS sharing a
        NAS-Identifier, each with its own NAS-IP-Address, are told apart by the address."""
        when = _event_time(req)
        self._forget_closed(req.time_s)
        own = req.nas_names
        names = {req.client, *own} - {None}
        for known in self.named:
            pairs = [(mine, theirs) for mine, theirs in zip(own, known, strict=False) if mine is not None]
            if any(mine == theirs for mine, theirs in pairs) and all(
                theirs is None or mine == theirs for mine, theirs in pairs
            ):
                names.update(name for name in known if name is not None)
        for key in [k for k, s in self.sessions.items() if k[0] in names and s.start_s < when]:
            self.sessions[key].reset = True  # (a Start sent after this is no copy of its: `_start_seen`)
            self.end_without_stop(*key, when=when, seen_at=req.time_s)
        for key, entry in self.closed.items():  # a Start sent after this is no copy of theirs
            if key[0] in names:
                # (whatever its Event-Timestamp or attributes: `_stopped`; its Start's attributes kept, what
                # tells a copy sent before this, without Event-Timestamp, past the hour it is held closed)
                entry[4].reset = True
            if key[0] in names and entry[4].start_s < when:
                entry[4].relogged = [c for c in entry[4].relogged if _event_time(c) >= when]
        for name in names:  # a Start sent after this is a new session's (`_stopped`)
            self.stopped_reset[name] = self.stopped_count
            self.reset_said[name] = _said_time(req)
        for key in [k for k, p in self.possible.items() if k[0] in names]:  # (their sessions ended too)
            state = self.possible[key].state
            state.start_form = None
            state.relogged = [c for c in state.relogged if _event_time(c) >= when]

    def end_without_stop(
        self, client: object, session_id: str, *, when: int | None = None, seen_at: int = 0
    ) -> None:
        """The source says this session is over though no Stop will come (listed with the open ones, as
        a session without a Stop); a later Start with its id opens a new session.  `when`: the end's
        event time; the session's requests dated before it, seen later (re-sent, with
        Acct-Delay-Time), are still its own for CLOSED_MEMORY_S from `seen_at` (packet time)."""
        key = (client, session_id)
        state = self.sessions.pop(key, None)
        if state is not None:
            self.ended.append(state.session_id)
            if when is not None:
                self.ended_states.pop(key, None)
                self.ended_states[key] = _Ended(state, when, seen_at)

    def _after_end(
        self, key: tuple[object, str], state: _Session, req: AcctRequest, sig: tuple[object, ...], where: int
    ) -> list[UsageRecord] | None:
        """A request of a session an Accounting-On/Off ended (dated before it), seen after the end: a
        copy of one seen, an Interim-Update delivered late (it cuts the session's held records), or the
        rest of the session's accounting the client had queued (RFC 2866 5.2): the session's.  None: a
        Start, which is not the session's."""
        if sig in state.seen:
            self.report.retransmissions += 1
            return []
        if req.status == STATUS_START:
            return self._resent_start(state, req, sig, where) if self._start_of_joined(state, req) else None
        if state.stopped:
            if not self._late(key, req, sig, state.seen, where, state):
                self.report.reject(where, "request after the session's Stop", f"session {req.session_id!r}")
            return []
        return self._usage(key, state, req, sig, where)

    def _forget_closed(self, now_s: int) -> None:
        """Drop the sessions closed (or ended) more than CLOSED_MEMORY_S before `now_s` (memory stays
        bounded)."""
        closed = self.closed
        while closed:
            oldest = next(iter(closed))
            if closed[oldest][1] >= now_s - CLOSED_MEMORY_S:
                break
            seen, stopped_at, _start, end_s, state = closed.pop(oldest)
            # its Start remembered (a copy seen later is a late one)
            start_event = None
            for sig in seen:
                if sig[0] == STATUS_START and isinstance(sig[1], int):
                    start_event = sig[1]
                    break
            if start_event is not None or state.start_form is not None:
                self._remember_stopped(state, stopped_at, end_s, start_event)
            if not state.relogged:
                continue
            state.relogged = [c for c in state.relogged if _event_time(c) >= end_s - RESEND_SLACK_S]
            if state.relogged:  # a possible new session's Start: kept for its first Interim or Stop
                self.possible[oldest] = _Possible(state, end_s, 0)
                self._keep_possible(oldest)
        possible, due = self.possible, self.possible_until
        while due and due[0][0] < now_s:
            _until, _order, key = heapq.heappop(due)
            entry = possible.get(key)
            if entry is not None and entry.until < now_s:
                del possible[key]  # its copies were copies: counted as retransmissions
                self.report.start_copies_unanswered += len(entry.state.relogged)
        if self.stopped_first_at < now_s - LATE_COPY_MEMORY_S:  # (else none is due)
            self._forget_stopped(now_s - LATE_COPY_MEMORY_S)
        _drop_before(self.ended_states, now_s - CLOSED_MEMORY_S, lambda entry: entry.seen_at)

    def _remember_stopped(
        self, state: _Session, stopped_at: int, end_s: int, start_event: int | None
    ) -> None:
        """Remember a stopped session's Start (`_Stopped`: `state` stopped at `stopped_at`, its end `end_s`,
        its Start's Event-Timestamp `start_event`) for LATE_COPY_MEMORY_S; past `late_copies_kept` sessions,
        the oldest is forgotten (counted, and the latest end of those forgotten kept: a Start dated before
        it, opening a session, may be a late copy of one).  One closed when its client's Accounting-On/Off
        came (`_Session.reset`) is remembered as before it (`_stopped`: a copy of its Start is one dated
        before the Accounting-On/Off)."""
        order = self.stopped_count
        self.stopped_count = order + 1
        if state.reset:
            order = -1
        start_form = state.start_form
        try:
            packed: bytes | tuple[int | None, ...] = _STOPPED.pack(
                order,
                stopped_at,
                end_s,
                _NONE if start_event is None else start_event,
                state.start_s,
                _NONE if start_form is None else start_form,
                state.start_delay,
                state.longest,
            )
        except struct.error:
            packed = (
                order,
                stopped_at,
                end_s,
                start_event,
                state.start_s,
                start_form,
                state.start_delay,
                state.longest,
            )
        stopped, hashed = self.stopped, state.stopped_key
        kept = len(stopped)
        stopped[hashed] = packed
        if len(stopped) == kept:  # (a key with the same digest: the entry it replaced, maybe the first, void)
            self.stopped_first_at = _NONE
        self.stopped_keys.append(hashed)
        self.stopped_entries.append(packed)
        # the sessions kept are counted, not the entries: one whose id a new session took again (`_open`)
        # keeps no place, its entry left behind until passed, or dropped once such entries are many
        if len(stopped) > self.late_copies_kept:
            self._forget_oldest()
        stale = len(self.stopped_keys) - len(stopped)
        if stale > _STALE_KEPT and stale > len(stopped) // 4:
            live = [
                (k, e)
                for k, e in zip(self.stopped_keys, self.stopped_entries, strict=True)
                if stopped.get(k) is e
            ]
            self.stopped_keys = deque(k for k, _ in live)
            self.stopped_entries = deque(e for _, e in live)
            self.stopped_first_at = _NONE

    def _forget_oldest(self) -> None:
        """Forget the oldest stopped sessions' Starts past `late_copies_kept` (counted)."""
        self.stopped_first_at = _NONE
        while len(self.stopped) > max(0, self.late_copies_kept):
            hashed, packed = self.stopped_keys.popleft(), self.stopped_entries.popleft()
            if self.stopped.get(hashed) is packed:
                del self.stopped[hashed]
                self.report.late_copies_forgotten += 1
                forgotten = _Stopped.unpack(packed)
                end = forgotten.end_s
                self.forgotten_end = end if self.forgotten_end is None else max(self.forgotten_end, end)
                if forgotten.start_form is not None and forgotten.start_event is None:
                    forms, order = self.forgotten_forms, self.forgotten_order
                    form = forgotten.start_form ^ hashed
                    forms[form] = packed
                    order.append((form, packed))
                    while len(order) > min(max(0, self.late_copies_kept), FORGOTTEN_FORMS_KEPT):
                        oldest, entry = order.popleft()
                        if forms.get(oldest) is entry:  # (else dropped, a copy counted, or put again since)
                            del forms[oldest]

    def _forget_stopped(self, since: int) -> None:
        """Forget the stopped sessions' Starts (`_Stopped`) whose Stop was seen before `since`, in the order
        they were remembered (the first still kept, seen since, ends it)."""
        keys, entries, stopped = self.stopped_keys, self.stopped_entries, self.stopped
        self.stopped_first_at = _NONE
        while keys:
            packed = entries[0]
            live = stopped.get(keys[0]) is packed
            if live:
                at = _STOPPED_AT.unpack_from(packed)[0] if isinstance(packed, bytes) else int(packed[1] or 0)
                if at >= since:
                    self.stopped_first_at = at
                    break
                del stopped[keys[0]]
            keys.popleft()
            entries.popleft()

    def _stopped_digest(self, key: tuple[object, str]) -> int:
        """`_stopped_key(key)`, made once for the same key object looked up again in a request."""
        digested = self.stopped_digested
        if digested is not None and digested[0] is key:
            return digested[1]
        hashed = _stopped_key(key)
        self.stopped_digested = (key, hashed)
        return hashed

    def _stopped(self, key: tuple[object, str], req: AcctRequest) -> _Stopped | None:
        """The stopped session `key`'s Start remembered (`_Stopped`), if it is and its client's
        Accounting-On/Off did not come since (`stopped_reset`): a Start sent after that is a new
        session's, even with the Event-Timestamp of the stopped one's Start (a NAS without a real-time
        clock starts each boot at the same time, its ids from the same count), unless `req` is dated before
        it (`_before_reset`: sent before the reboot, re-sent after it)."""
        return self._unless_reset(self.stopped.get(self._stopped_digest(key)), key, req)

    def _unless_reset(
        self, packed: bytes | tuple[int | None, ...] | None, key: tuple[object, str], req: AcctRequest
    ) -> _Stopped | None:
        """The stopped session `key`'s entry `packed` (`_Stopped`), unless its client's Accounting-On/Off
        came since and `req` is not dated before it (`_stopped`)."""
        if packed is None:
            return None
        stopped = _Stopped.unpack(packed)
        if stopped.order < self.stopped_reset.get(key[0], 0) and not self._before_reset(key[0], req):
            return None
        return stopped

    def _forgotten_copy(self, key: tuple[object, str], req: AcctRequest) -> bool:
        """A Start with the attributes of the Start of a stopped session forgotten past `late_copies_kept`
        (`forgotten_forms`: without Event-Timestamp, dated when sent, a copy re-sent as it was is told by
        them alone), its Acct-Delay-Time not less, within LATE_COPY_MEMORY_S of the Stop and not after its
        client's Accounting-On/Off: a copy of that Start (forgotten: it has opened a session, counted).
        The session's entry is dropped (a copy counted once)."""
        if req.resend_form is None or not self.forgotten_forms:
            return False
        forgotten = req.resend_form ^ self._stopped_digest(key)
        stopped = self._unless_reset(self.forgotten_forms.get(forgotten), key, req)
        if (
            stopped is None
            or req.time_s - stopped.stopped_at > LATE_COPY_MEMORY_S
            or not _copy_of_form(req, stopped.start_form, stopped.start_delay)
        ):
            return False
        del self.forgotten_forms[forgotten]
        return True

    def _before_reset(self, client: object, req: AcctRequest) -> bool:
        """A request dated (`_said_time`) before its client's latest Accounting-On/Off, on the same clock:
        sent before the reboot, and re-sent after it (a proxy, a store-and-forward queue).  On two clocks
        (one of them with Event-Timestamp, the other without) nothing tells: a NAS clock behind the
        capture's (without a real-time clock, or set in another time zone) would date a new session's
        Start before the Accounting-On, and the session would be lost."""
        reset = self.reset_said.get(client)
        if reset is None:
            return False
        on_clock, said = _said_time(req)
        return on_clock == reset[0] and said < reset[1]

    def _late_copy(
        self, key: tuple[object, str], req: AcctRequest, sig: tuple[object, ...], where: int
    ) -> bool:
        """A Start of a session stopped and forgotten as closed (`_Stopped`) that is a copy of the session's
        Start (RFC 2866 5.2: re-sent, with Acct-Delay-Time grown, until answered; or sent again as it was
        by a proxy, a store-and-forward queue, a relay re-sending a detail file): it carries the
        Event-Timestamp of that Start (a new session's Start is dated by its own event, after the Stop), or
        its attributes (`_same_start`: without Event-Timestamp, or one a detail file's date placed).
        Counted as a retransmission and in `start_copies_late`, never a new session.  A copy without
        Event-Timestamp dated after the session's start (sent late, its Acct-Delay-Time not grown as much)
        may be a new session's Start, the NAS restarted into the same id and attributes: kept as such
        (`relogged`) for the new session's first Interim-Update or Stop (`_Possible`).  False: not such a
        copy."""
        packed = self.stopped.get(self._stopped_digest(key))
        if packed is None:  # (most Starts: no unpacking)
            return False
        stopped = self._unless_reset(packed, key, req)
        if stopped is None:
            return False
        said = sig[1]
        timed = isinstance(said, int) and said >= CLOCK_FLOOR_S
        if timed and said == stopped.start_event:
            pass
        elif not _copy_of_form(req, stopped.start_form, stopped.start_delay):
            return False  # (with an Event-Timestamp placed, not read, its text is the same: a copy)
        elif not timed and abs(_event_time(req) - stopped.start_s) > RESEND_SLACK_S:  # (a restart's, too)
            possible = self.possible.get(key)
            if possible is None:  # (the session as far as a new session's requests are told from it)
                state = _Session(
                    key[1], "", *(None,) * 8, stopped.start_s, None, False, longest=stopped.longest
                )
                state.start_form, state.start_delay = stopped.start_form, stopped.start_delay
                possible = self.possible[key] = _Possible(state, stopped.end_s, 0)
            state = possible.state
            _keep_copy(state, req)
            state.late_copies = tuple(
                c for c in (*state.late_copies, req) if any(c is r for r in state.relogged)
            )
            self._keep_possible(key)
        self.report.retransmissions += 1
        self.report.late_copy_said(where, req.session_id, req.time_s - stopped.stopped_at)
        return True

    def _keep_possible(self, key: tuple[object, str]) -> None:
        """A possible new session (`_Possible`) is kept, from when its latest Start copy was seen, as long
        as its old session's longest time between requests (its Interim interval; without Interims, its
        length) and CLOSED_MEMORY_S more (the new session's first request queued or re-sent)."""
        possible = self.possible[key]
        seen = max((copy.time_s for copy in possible.state.relogged), default=0)
        possible.until = seen + possible.state.longest + CLOSED_MEMORY_S
        heapq.heappush(self.possible_until, (possible.until, next(self.possible_order), key))

    def _line(self, req: AcctRequest, where: int) -> str | None:
        if not req.line:
            self.report.reject(
                where, "no line id", f"session {req.session_id!r}: neither Class nor Calling-Station-Id"
            )
            return None
        return req.line

    def _open(
        self, key: tuple[object, str], req: AcctRequest, sig: tuple[object, ...], *, joined: bool
    ) -> None:
        line = req.line or ""
        start = _event_time(req)
        if joined:
            start -= req.session_time or 0
        self.sessions[key] = state = _Session(
            session_id=req.session_id,
            line=line,
            imsi=req.imsi,
            imeisv=req.imeisv,
            apn=req.apn,
            charging_id=req.charging_id,
            serving_plmn=req.serving_plmn,
            sgsn=req.sgsn,
            rat=req.rat,
            ms_tz=req.ms_tz,
            start_s=start,
            opened_plmn=req.serving_plmn,
            joined=joined,
            seen={sig},
            start_form=req.resend_form if req.status == STATUS_START else None,
            start_delay=req.delay or 0,
            start_on_nas_clock=req.event_time is not None and not req.event_placed,
        )
        self.closed.pop(key, None)
        self.possible.pop(key, None)  # (its id taken by this session)
        state.stopped_key = hashed = self._stopped_digest(key)
        if self.stopped.pop(hashed, None) is not None:  # (maybe the first entry: void now)
            self.stopped_first_at = _NONE
        earlier = self.held.get(key[0], {}).pop(key[1], None)  # an earlier session's, same id: final
        if earlier is not None:
            self.ready += earlier.records
        self.report.sessions += 1

    def _join(
        self,
        key: tuple[object, str],
        req: AcctRequest,
        sig: tuple[object, ...],
        where: int,
        *,
        clock_times: bool = False,
    ) -> None:
        totals = self._totals(req, 0, 0, where)
        if totals is None or self._line(req, where) is None:
            return
        self._open(key, req, sig, joined=True)
        state = self.sessions[key]
        state.last_time, state.last_in, state.last_out, _wraps = totals
        state.base = totals[:3]
        state.base_event = _event_time(req)
        state.clock_times = clock_times
        state.joined_entry = {
            "session": req.session_id,
            "at": where,
            "session_time_s": None if state.clock_times else totals[0],
            "bytes_up_before": totals[1],
            "bytes_down_before": totals[2],
        }
        self.report.joined.append(state.joined_entry)

    @staticmethod
    def _start_of_joined(state: _Session, req: AcctRequest) -> bool:
        """A Start of a session joined mid-way (its Start unseen), dated no later than its baseline: the
        session's own Start, re-sent late (RFC 2866 5.2: the client re-sends it until answered), not a
        new session (one reusing the id starts after the old one's requests)."""
        return state.base is not None and _event_time(req) <= state.base_event

    def _resent_start(
        self, state: _Session, req: AcctRequest, sig: tuple[object, ...], where: int
    ) -> list[UsageRecord]:
        """The Start of a joined session, re-sent late (`_start_of_joined`): a retransmission, never a new
        session nor a 'duplicate Start'.  It says where the session began, with no octets: the record from
        it to the baseline (the baseline's counters count from it), and the session is no longer one
        whose first octets go unbilled."""
        self.report.retransmissions += 1
        # its session time: 0, the session's start (a session timed from its baseline's event: the
        # Start's event less that)
        at = _event_time(req) - state.start_s if state.clock_times else 0
        point = replace(req, status=STATUS_INTERIM, session_time=at, in_lo=0, in_gw=0, out_lo=0, out_gw=0)
        records = self._before_baseline(state, point, sig, where) or []
        state.seen.add(sig)
        if state.base is not None and state.base[1:] == (0, 0) and state.joined_entry is not None:
            self.report.joined.remove(state.joined_entry)  # (nothing of it goes unbilled now)
            state.joined_entry = None
        return records

    def _before_baseline(
        self, state: _Session, req: AcctRequest, sig: tuple[object, ...], where: int
    ) -> list[UsageRecord] | None:
        """An Interim-Update of a joined session from before its baseline, delivered late (the capture
        began between its first copy and the baseline): the record from it to the baseline, which is
        now the session's baseline.  None: not such a request."""
        base = state.base
        if (
            base is None
            or req.status != STATUS_INTERIM
            or req.session_time is None
            or req.session_time >= base[0]
            or _event_time(req) > state.base_event  # (sent after it: a later session with the id)
        ):
            return None
        totals = self._totals(req, 0, 0, where)  # (octets as the baseline's: 32-bit ones as they are)
        if totals is None:
            return []
        point = totals[:3]
        # a 32-bit counter (no Gigawords) above the baseline's wrapped in between: the session's are 2^32 more
        shift = [
            GIGAWORD if gw is None and point[j] > base[j] else 0
            for j, gw in ((1, req.in_gw), (2, req.out_gw))
        ]
        if point[1] > base[1] + shift[0] or point[2] > base[2] + shift[1]:
            return None
        if shift != [0, 0]:
            base = (base[0], base[1] + shift[0], base[2] + shift[1])
            state.last_in += shift[0]
            state.last_out += shift[1]
            self.report.counter_wraps += (shift[0] > 0) + (shift[1] > 0)
        opened = state.opened_plmn or req.serving_plmn
        template = UsageRecord(
            line=state.line,
            type=UsageType.DATA,
            start=_EPOCH,
            duration_s=0,
            zone=self.zones.zone(opened) if opened else Zone.FR,
            session=state.session_id,
            imsi=state.imsi,
            imeisv=state.imeisv,
            apn=state.apn,
            charging_id=state.charging_id,
            serving_plmn=req.serving_plmn or state.opened_plmn,
        )
        spans = [point, base]
        records = self._rebuild(
            _Held(state.start_s, spans, [int(ClosingCause.TIME_LIMIT)], None, [template], 0, state.seen)
        )
        state.base, state.base_event = point, _event_time(req)
        if state.joined_entry is not None:
            state.joined_entry["session_time_s"] = None if state.clock_times else point[0]
            state.joined_entry["bytes_up_before"] = point[1]
            state.joined_entry["bytes_down_before"] = point[2]
        state.seen.add(sig)
        self.report.records += len(records)
        return records

    def _totals(
        self, req: AcctRequest, last_in: int, last_out: int, where: int
    ) -> tuple[int, int, int, int] | None:
        """(session time, octets in, octets out, 32-bit wraps) of an Interim/Stop; None after a reject."""
        if req.session_time is None or req.in_lo is None or req.out_lo is None:
            missing = [
                name
                for name, value in (
                    ("Acct-Session-Time", req.session_time),
                    ("Acct-Input-Octets", req.in_lo),
                    ("Acct-Output-Octets", req.out_lo),
                )
                if value is None
            ]
            self.report.reject(where, "malformed Accounting-Request", f"missing {', '.join(missing)}")
            return None
        # (by when it was seen and by when it says it was: a NAS clock ahead, trusted, dates its events ahead)
        latest = max(req.time_s, _event_time(req))
        if latest >= CLOCK_FLOOR_S and latest - req.session_time < CLOCK_FLOOR_S:
            # no session's time (4294967295: a NAS sending -1), as an Acct-Delay-Time sending it before 2000:
            # it gave a record every 12 hours for 136 years from the session's Start, and a session joined
            # at it began in 1889, its later requests rejects ('counters went backwards')
            self.report.reject(
                where,
                "malformed Accounting-Request",
                f"session {req.session_id!r}: Acct-Session-Time {req.session_time} would have it begun "
                "before 2000 (a NAS sending -1, or damage)",
            )
            return None
        octets = []
        wraps = 0
        for name, lo, gw, last in (
            ("Acct-Input", req.in_lo, req.in_gw, last_in),
            ("Acct-Output", req.out_lo, req.out_gw, last_out),
        ):
            if gw is not None:
                total = lo + (gw << 32)
            else:
                prev_lo = last & 0xFFFFFFFF
                total = last - prev_lo + lo
                if lo < prev_lo:
                    total += GIGAWORD
                    wraps += 1
            if total > MAX_OCTETS:  # (no network counts 2^63 octets: a damaged or hostile request)
                said = f"-Gigawords {gw}" if gw is not None and gw > MAX_GIGAWORDS else "-Octets"
                self.report.reject(
                    where,
                    "malformed Accounting-Request",
                    f"{name}{said}: {total} octets is out of range (more than 2^63 - 1)",
                )
                return None
            octets.append(total)
        return req.session_time, octets[0], octets[1], wraps

    def _usage(
        self, key: tuple[object, str], state: _Session, req: AcctRequest, sig: tuple[object, ...], where: int
    ) -> list[UsageRecord]:
        if self.sessions.get(key) is state and self._restarted(state, req, state.start_s + state.last_time):
            # (before its counters are read: a new session's 32-bit ones below the old one's are no wrap)
            self.end_without_stop(
                key[0], key[1], when=_event_time(req) - (req.session_time or 0), seen_at=req.time_s
            )
            return self._reopen(key, state, req, where)
        totals = self._totals(req, state.last_in, state.last_out, where)
        if totals is None:
            return []
        session_time, octets_in, octets_out, wraps = totals
        d_in, d_out = octets_in - state.last_in, octets_out - state.last_out
        duration = session_time - state.last_time
        if d_in < 0 or d_out < 0 or duration < 0:
            if self._late(key, req, sig, state.seen, where, state):
                return []
            before = self._before_baseline(state, req, sig, where)
            if before is not None:
                return before
            self.report.reject(where, "counters went backwards", f"session {req.session_id!r}")
            return []
        if state.start_s + state.last_time < _FIRST_S or state.start_s + session_time > _LAST_S:
            self.report.reject(  # (a date written as text, in a log: a RADIUS time has 32 bits)
                where,
                "malformed Accounting-Request",
                f"session {req.session_id!r}: Acct-Session-Time {session_time} from its start "
                f"({state.start_s} s since 1970) is out of range (outside the years 1 to 9999)",
            )
            return []
        self.report.counter_wraps += wraps  # (those of a request refused above were never added)
        state.longest = max(state.longest, duration)
        stop = req.status == STATUS_STOP
        plmn = state.serving_plmn  # the network the usage happened in, before any move this request says
        if stop:
            cause = CLOSING_FOR_TERMINATE_CAUSE.get(req.terminate or 0, int(ClosingCause.ABNORMAL))
        else:
            cause = self._interim_cause(state, req)
        if state.opened_plmn is None:  # the first request of the session that says its network
            state.opened_plmn = state.serving_plmn or req.serving_plmn
        # the session's zone: where it was opened, whatever network it moved to since
        opened = state.opened_plmn
        zone = self.zones.zone(opened) if opened else Zone.FR  # no serving network said: the default
        state.seen.add(sig)
        # a record over the 12-hour record limit is cut at the session's 12-hour marks inside it
        first = state.last_time
        marks = range((first // INTERVAL_S + 1) * INTERVAL_S, session_time, INTERVAL_S)
        bounds = [first, *(marks if duration > INTERVAL_S else ()), session_time]
        records = []
        for lo, hi in pairwise(bounds):
            state.sequence += 1
            last = hi == session_time
            records.append(
                UsageRecord(
                    line=state.line,
                    type=UsageType.DATA,
                    start=_EPOCH + timedelta(seconds=state.start_s + lo),
                    duration_s=hi - lo,
                    bytes_up=record_bytes(d_in, lo - first, hi - first, duration),
                    bytes_down=record_bytes(d_out, lo - first, hi - first, duration),
                    zone=zone,
                    session=state.session_id,
                    imsi=state.imsi,
                    imeisv=state.imeisv,
                    apn=state.apn,
                    charging_id=state.charging_id,
                    serving_plmn=plmn,
                    cause=cause if last else int(ClosingCause.TIME_LIMIT),
                    sequence=None if state.joined else state.sequence,
                )
            )
        self.report.records += len(records)
        if self.hold_s:  # these wait; the session's previous ones are final
            client_held = self.held.setdefault(key[0], {})
            previous = client_held.pop(key[1], None)
            client_held[key[1]] = _Held(
                start_s=state.start_s,
                bounds=[(first, state.last_in, state.last_out), (session_time, octets_in, octets_out)],
                causes=[cause],
                first_sequence=None if state.joined else state.sequence - len(records) + 1,
                records=records,
                until=req.time_s + self.hold_s,
                seen=state.seen,
            )
            records = previous.records if previous is not None else []
        if stop and self.sessions.get(key) is state:
            self.closed[key] = (state.seen, req.time_s, state.start_s, state.start_s + session_time, state)
            del self.sessions[key]
        elif stop:  # a session an Accounting-On/Off ended: its Stop, queued by the client, came after all
            state.stopped = True
            self.ended.remove(state.session_id)
        else:
            state.last_time, state.last_in, state.last_out = session_time, octets_in, octets_out
        return records

    @staticmethod
    def _restarted(state: _Session, req: AcctRequest, last_s: int) -> bool:
        """An Interim-Update or Stop of a session that began (its event less its Acct-Session-Time) at or
        after the session's last request (`last_s`) and after its start: the client restarted without
        Accounting-On and gave the id to a new session, whose counters start again from 0 (below the
        old one's, or above: never a delta of them).  Its time is sure when its Event-Timestamp says it
        (a request re-sent late says its own, from before `last_s`), or when a copy of the session's
        Start, with the same attributes, was sent when it began (`relogged`: the new session's Start);
        without either, a request held and sent late without Acct-Delay-Time would look the same.  An
        Event-Timestamp tells it only against a start on the same clock (`start_on_nas_clock`)."""
        if req.session_time is None or state.clock_times or req.status == STATUS_START:
            return False
        begun = _event_time(req) - req.session_time
        if begun < last_s or begun <= state.start_s + RESEND_SLACK_S:
            return False
        if _copy_at(state, begun) is not None:
            return True
        # (once the session had an Interim-Update: a client whose Acct-Session-Time counts from a little
        # after its Start's Event-Timestamp has its first Interim seem to begin after the Start; and only
        # when the session's start is on the same clock: a Start without Event-Timestamp is dated by the
        # reader's, which a NAS clock minutes ahead, still taken as right, passes by an Interim interval)
        return (
            req.event_time is not None
            and not req.event_placed
            and state.start_on_nas_clock
            and bool(state.sequence or state.joined)
        )

    def _reopen(
        self, key: tuple[object, str], old: _Session, req: AcctRequest, where: int
    ) -> list[UsageRecord]:
        """The request of the new session a client restarted into (`_restarted`), the old one ended: it
        opens from the copy of its Start seen when it began, else it is the first seen of a session
        whose Start went unseen (joined at an Interim-Update; a Stop of it waits as one never seen)."""
        copy = _copy_at(old, _event_time(req) - (req.session_time or 0))
        if copy is not None:
            self.report.retransmissions -= 1  # (counted as one: it was the new session's Start)
            if any(c is copy for c in old.late_copies):
                self.report.start_copies_late -= 1
            self._open(key, copy, _signature(copy), joined=False)
        return self._request(req, where)

    def _late(
        self,
        key: tuple[object, str],
        req: AcctRequest,
        sig: tuple[object, ...],
        seen: set[tuple[object, ...]],
        where: int,
        state: _Session | None,
    ) -> bool:
        """An Interim-Update delivered late (RFC 2866 5.2: re-sent, with Acct-Delay-Time, after the
        session's next request went) whose Acct-Session-Time and counters fall inside the held records
        of its session (`seen` its requests; `state` it, unless closed): they are cut there, the first
        part closed by it (cause 17).  False: not such a request."""
        held = self.held.get(key[0], {}).get(key[1])
        if held is None or held.seen is not seen or req.status != STATUS_INTERIM or req.session_time is None:
            return False
        at = next((i for i, b in enumerate(held.bounds) if b[0] > req.session_time), None)
        if at is None or at == 0:
            return False
        lo, hi = held.bounds[at - 1], held.bounds[at]
        totals = self._totals(req, lo[1], lo[2], where)
        if totals is None:
            return True
        point = totals[:3]
        # A 32-bit counter (no Gigawords) above the next request's wrapped between the two: the next
        # request's count, and those after it, are 2^32 more than they were taken for.
        shift = [
            GIGAWORD if gw is None and point[j] > hi[j] and point[j] - GIGAWORD <= hi[j] else 0
            for j, gw in ((1, req.in_gw), (2, req.out_gw))
        ]
        if not (lo[1] <= point[1] <= hi[1] + shift[0] and lo[2] <= point[2] <= hi[2] + shift[1]):
            return False
        if shift != [0, 0]:
            bounds = held.bounds
            for i in range(at, len(bounds)):
                bounds[i] = (bounds[i][0], bounds[i][1] + shift[0], bounds[i][2] + shift[1])
            if state is not None:
                state.last_in += shift[0]
                state.last_out += shift[1]
            self.report.counter_wraps += (shift[0] > 0) + (shift[1] > 0)
        held.bounds.insert(at, point)
        held.causes.insert(at - 1, int(ClosingCause.TIME_LIMIT))
        records = self._rebuild(held)
        added = len(records) - len(held.records)
        held.records = records
        self.report.records += added
        if state is not None:
            state.sequence += added
        seen.add(sig)
        return True

    @staticmethod
    def _rebuild(held: _Held) -> list[UsageRecord]:
        """The held records again, one span per pair of bounds, each cut at the session's 12-hour marks."""
        template = held.records[0]
        records: list[UsageRecord] = []
        sequence = held.first_sequence
        for (first, in0, out0), (last, in1, out1), cause in zip(
            held.bounds, held.bounds[1:], held.causes, strict=False
        ):
            duration = last - first
            marks = range((first // INTERVAL_S + 1) * INTERVAL_S, last, INTERVAL_S)
            cuts = [first, *(marks if duration > INTERVAL_S else ()), last]
            for lo, hi in pairwise(cuts):
                records.append(
                    replace(
                        template,
                        start=_EPOCH + timedelta(seconds=held.start_s + lo),
                        duration_s=hi - lo,
                        bytes_up=record_bytes(in1 - in0, lo - first, hi - first, duration),
                        bytes_down=record_bytes(out1 - out0, lo - first, hi - first, duration),
                        cause=cause if hi == last else int(ClosingCause.TIME_LIMIT),
                        sequence=None if sequence is None else sequence + len(records),
                    )
                )
        return records

    @staticmethod
    def _interim_cause(state: _Session, req: AcctRequest) -> int:
        """The cause an Interim closes its record with; moves the session to the new serving network.

        The order of `gateway.network.mobility_cause` (the gateway's side): PLMN, SGSN, RAT, time
        zone; here an attribute a request leaves out changes nothing.
        """
        cause = int(ClosingCause.TIME_LIMIT)
        if req.ms_tz is not None and req.ms_tz != state.ms_tz:
            if state.ms_tz is not None:
                cause = int(ClosingCause.MS_TIME_ZONE_CHANGE)
            state.ms_tz = req.ms_tz
        if req.rat is not None and req.rat != state.rat:
            if state.rat is not None:
                cause = int(ClosingCause.RAT_CHANGE)
            state.rat = req.rat
        if req.sgsn is not None and req.sgsn != state.sgsn:
            if state.sgsn is not None:
                cause = int(ClosingCause.SERVING_NODE_CHANGE)
            state.sgsn = req.sgsn
        if req.serving_plmn is not None and req.serving_plmn != state.serving_plmn:
            if state.serving_plmn is not None:
                cause = int(ClosingCause.PLMN_CHANGE)
            state.serving_plmn = req.serving_plmn
        return cause

    def finish(self) -> list[UsageRecord]:
        """The end of the source: the sessions still open are listed; returns the records still held."""
        report = self.report
        report.start_copies_unanswered += sum(len(p.state.relogged) for p in self.possible.values())
        for _seen, _stopped_at, _start, end_s, state in self.closed.values():
            report.start_copies_unanswered += sum(
                _event_time(c) >= end_s - RESEND_SLACK_S for c in state.relogged
            )
        self.possible, self.possible_until = {}, []
        for orphans in self.orphans.values():
            for orphan in orphans.values():
                self._orphan_rejected(orphan)
        self.orphans = {}
        self.report.open_sessions = sorted([*self.ended, *(s.session_id for s in self.sessions.values())])
        records = [*self.ready, *(r for c in self.held.values() for held in c.values() for r in held.records)]
        self.ready, self.held = [], {}
        return records
