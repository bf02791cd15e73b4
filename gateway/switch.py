"""The call switch (MSC): voice on DTMF offers, CSD on data offers, with seeded outcomes.

Policy comes from the offers' `calls` list in `data/apns.yaml`: a DTMF offer
connects voice (DTMF signalling) only, a data offer CSD only; fax is in no
offer.  A call the offer does not allow is refused with Q.850 cause 57 (bearer
capability not authorized) and gives no record.

An allowed call is answered, busy or not answered, drawn with the configured
probabilities from a generator seeded by the run's seed, the line and the line's
call number (so a line's calls do not depend on the other lines the switch
serves, nor on how a fleet is sharded), or forced by the dialled
number (`SwitchConfig.forced`, for tests and scripted benches).  Answered calls
stay up until `hang_up`; their record's duration is the whole seconds between
answer and release, rounded up (times are floats; a whole-second run stores
the exact difference).  Busy and unanswered calls give a record of 0 s, which
costs nothing.

Alerting (`place_call(..., alerting=True)`, the virtual modem's calls): a call that is neither refused
nor busy first alerts the called party.  A line of this network whose device takes its calls
(`serve_calls`, a virtual modem) rings there until that device answers, declines (the caller hears
busy) or `no_answer_s` passes (no answer); a line in a call, or whose device has one, is busy; a
line not attached is absent (refused, 20).  Any other number (a far end outside the simulation)
rings for `ring_s`, then is answered, or rings `no_answer_s` unanswered, as its drawn or forced
outcome says.  The record is the same either way: the answered time only, from the answer.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from accounting.records import Dest, Zone
from gateway.api import CallKind, CallOutcome

# Q.850 causes given in refusals
Q850_UNALLOCATED_NUMBER = "1 unallocated (unassigned) number"
Q850_NO_CIRCUIT = "34 no circuit/channel available"
Q850_BEARER_NOT_AUTHORIZED = "57 bearer capability not authorized"
Q850_INVALID_NUMBER_FORMAT = "28 invalid number format (address incomplete)"
Q850_SUBSCRIBER_ABSENT = "20 subscriber absent"
Q850_USER_BUSY = "17 user busy"
Q850_NO_ANSWER = "19 no answer from user (user alerted)"
Q850_NORMAL_CLEARING = "16 normal call clearing"


@dataclass(frozen=True, slots=True)
class SwitchConfig:
    p_answered: float = 0.85
    p_busy: float = 0.05  # the rest is no answer
    forced: Mapping[str, CallOutcome] = field(default_factory=dict)  # dialled number -> outcome
    # Alerting calls: a far end outside the simulation that answers does so after `ring_s` (one
    # ring cycle of ETSI ES 201 970's 1 s on / 4 s off ringback tone); an unanswered call is
    # released after `no_answer_s` (the MSC's no-reply timer; 3GPP TS 24.082's call forwarding on
    # no reply waits 5-30 s).
    ring_s: float = 5.0
    no_answer_s: float = 30.0

    def __post_init__(self) -> None:
        if not (0 <= self.ring_s <= self.no_answer_s < float("inf")):
            raise ValueError(
                f"ring_s and no_answer_s must be 0 <= ring_s <= no_answer_s (finite): "
                f"{self.ring_s}, {self.no_answer_s}"
            )
        if not (0 <= self.p_answered <= 1 and 0 <= self.p_busy <= 1 and self.p_answered + self.p_busy <= 1):
            raise ValueError(
                f"call outcome probabilities must be in [0, 1] and sum to at most 1: "
                f"answered {self.p_answered}, busy {self.p_busy}"
            )
        for number, outcome in self.forced.items():
            if CallOutcome(outcome) == CallOutcome.REFUSED:
                raise ValueError(
                    f"forced outcome for {number}: refusals come from the offer, not the dial plan"
                )
            if CallOutcome(outcome) == CallOutcome.ALERTING:
                raise ValueError(f"forced outcome for {number}: alerting is a state, not an outcome")


@dataclass(slots=True)
class ActiveCall:
    call_id: str
    line_id: str
    kind: CallKind
    dest: Dest
    zone: Zone
    serving_plmn: str | None
    answered_at: float  # while alerting: when the call was placed
    callee: str | None = None  # the called line, when a device of this network takes its calls


@dataclass(slots=True)
class AlertingCall:
    """A call alerting its called party (placed with `alerting`), until answered or released."""

    call: ActiveCall
    outcome: CallOutcome  # what happens at `until` unanswered: ANSWERED (a far end) or NO_ANSWER
    until: float


class CallSwitch:
    def __init__(self, config: SwitchConfig, seed: int) -> None:
        self.config = config
        self._seed = seed
        self.active: dict[str, ActiveCall] = {}
        self.alerting: dict[str, AlertingCall] = {}
        self.ended: set[str] = set()
        self.outcomes: dict[CallOutcome, int] = dict.fromkeys(CallOutcome, 0)

    def force_outcome(self, numbers: Iterable[str], outcome: CallOutcome | str) -> None:
        """From now on, calls to `numbers` (as dialled, or E.164 digits) end as `outcome`."""
        forced = {**self.config.forced, **dict.fromkeys(numbers, CallOutcome(outcome))}
        self.config = replace(self.config, forced=forced)

    def outcome(self, dialled: str, e164: str | None, line_id: str, number: int) -> CallOutcome:
        """The outcome of call `number` (1, 2, ...) of `line_id`."""
        forced = self.config.forced.get(dialled)
        if forced is None and e164 is not None:
            forced = self.config.forced.get(e164)
        if forced is not None:
            return CallOutcome(forced)
        line_key = zlib.crc32(line_id.encode())
        u = float(np.random.default_rng([self._seed, 0x5C, line_key, number]).random())
        if u < self.config.p_answered:
            return CallOutcome.ANSWERED
        if u < self.config.p_answered + self.config.p_busy:
            return CallOutcome.BUSY
        return CallOutcome.NO_ANSWER

    @staticmethod
    def call_id(line_id: str, number: int) -> str:
        """Call `number` of a line: `<line>-C<number>`, unique in the switch (and in a run's records)."""
        return f"{line_id}-C{number:09d}"
