"""The call switch: offer policy, outcomes, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from netparts import EPOCH, IMEISV, RecordSink

from accounting.records import Dest, UsageType
from gateway.api import CallKind, CallOutcome, Subscriber
from gateway.errors import InvalidRequest, OutOfOrder, UnknownCall
from gateway.network import Network, NetworkConfig
from gateway.switch import (
    Q850_BEARER_NOT_AUTHORIZED,
    Q850_INVALID_NUMBER_FORMAT,
    Q850_NO_CIRCUIT,
    SwitchConfig,
)


def make(offer: str, calls: SwitchConfig | None = None, seed: int = 0) -> tuple[Network, RecordSink]:
    sink = RecordSink()
    config = NetworkConfig(epoch=EPOCH, seed=seed, calls=calls or SwitchConfig(p_answered=1.0, p_busy=0.0))
    net = Network(config, sink)
    net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", offer))
    net.attach(0, "L1", IMEISV, "20801")
    return net, sink


@pytest.mark.parametrize(
    ("offer", "allowed", "refused"),
    [
        ("business-m2m-dtmf", CallKind.VOICE, (CallKind.CSD, CallKind.FAX)),
        ("intense-dtmf", CallKind.VOICE, (CallKind.CSD, CallKind.FAX)),
        ("business-m2m", CallKind.CSD, (CallKind.VOICE, CallKind.FAX)),
        ("europe", CallKind.CSD, (CallKind.VOICE, CallKind.FAX)),
    ],
)
def test_offer_decides_the_bearer(offer: str, allowed: CallKind, refused: tuple[CallKind, ...]) -> None:
    net, sink = make(offer)
    for kind in refused:
        result = net.place_call(1, "L1", "0145678901", kind)
        assert result.outcome == CallOutcome.REFUSED and result.cause == Q850_BEARER_NOT_AUTHORIZED
    assert sink.records == []
    call = net.place_call(2, "L1", "0145678901", allowed)
    assert call.outcome == CallOutcome.ANSWERED and call.call_id
    net.hang_up(65, call.call_id)
    (rec,) = sink.records
    assert rec.type == (UsageType.VOICE if allowed == CallKind.VOICE else UsageType.CSD)
    assert (rec.duration_s, rec.dest, rec.session) == (63, Dest.FR_FIXED, call.call_id)


def test_durations_are_whole_seconds_rounded_up() -> None:
    net, sink = make("business-m2m-dtmf")
    call = net.place_call(10.25, "L1", "0612000000", CallKind.VOICE)
    assert call.call_id
    net.hang_up(40.5, call.call_id)
    assert sink.records[0].duration_s == 31
    assert sink.records[0].start == datetime(2026, 3, 1, 0, 0, 10, tzinfo=UTC)


def test_a_whole_number_of_seconds_is_not_rounded_up_by_floating_point() -> None:
    """A call answered at a fractional time and held a whole number of seconds (the simulator's
    calls) lasts that number: 1.3 + 7 - 1.3 is 7.000000000000001 in floating point, billed 8 s."""
    net, sink = make("business-m2m-dtmf")
    holds = [(1.3, 7), (100.1, 3), (86_399.7, 13)]
    for answered, hold in holds:
        call = net.place_call(answered, "L1", "0612000000", CallKind.VOICE)
        assert call.call_id
        net.hang_up(answered + hold, call.call_id)
    assert [r.duration_s for r in sink.records] == [hold for _, hold in holds]


def test_forced_outcomes_by_destination() -> None:
    forced = {"0600000001": CallOutcome.BUSY, "33600000002": CallOutcome.NO_ANSWER}
    net, sink = make("business-m2m-dtmf", SwitchConfig(forced=forced))
    busy = net.place_call(1, "L1", "0600000001", CallKind.VOICE)
    quiet = net.place_call(2, "L1", "+33600000002", CallKind.VOICE)  # matched on its E.164 form
    assert (busy.outcome, busy.call_id) == (CallOutcome.BUSY, None)
    assert quiet.outcome == CallOutcome.NO_ANSWER
    assert [(r.duration_s, r.dest) for r in sink.records] == [(0, Dest.FR_MOBILE), (0, Dest.FR_MOBILE)]


def test_outcomes_forced_at_run_time_and_refusal_not_forceable() -> None:
    net, _ = make("business-m2m-dtmf", SwitchConfig(p_answered=0.0, p_busy=1.0))
    assert net.place_call(1, "L1", "0600000001", CallKind.VOICE).outcome == CallOutcome.BUSY
    net.switch.force_outcome(["33600000001"], "answered")  # E.164 digits match any spelling dialled
    answered = net.place_call(2, "L1", "0600000001", CallKind.VOICE)
    assert answered.outcome == CallOutcome.ANSWERED and answered.call_id is not None
    net.hang_up(3, answered.call_id)
    assert net.place_call(4, "L1", "0600000009", CallKind.VOICE).outcome == CallOutcome.BUSY
    with pytest.raises(ValueError, match="refusals come from the offer"):
        net.switch.force_outcome(["0600000009"], CallOutcome.REFUSED)


def test_seeded_outcomes_follow_the_probabilities_and_replay() -> None:
    def outcomes(seed: int) -> list[CallOutcome]:
        net, _ = make("business-m2m-dtmf", SwitchConfig(p_answered=0.6, p_busy=0.3), seed=seed)
        out = []
        for k in range(2_000):
            result = net.place_call(k, "L1", "0145678901", CallKind.VOICE)
            out.append(result.outcome)
            if result.call_id:
                net.hang_up(k + 0.5, result.call_id)
        return out

    first = outcomes(4)
    assert first == outcomes(4)
    share = {o: first.count(o) / len(first) for o in CallOutcome}
    assert abs(share[CallOutcome.ANSWERED] - 0.6) < 0.05
    assert abs(share[CallOutcome.BUSY] - 0.3) < 0.05
    assert abs(share[CallOutcome.NO_ANSWER] - 0.1) < 0.03


def test_one_call_at_a_time_and_detach_hangs_up() -> None:
    net, sink = make("business-m2m-dtmf")
    call = net.place_call(1, "L1", "0145678901", CallKind.VOICE)
    assert net.place_call(2, "L1", "0145678901", CallKind.VOICE).cause == Q850_NO_CIRCUIT
    net.detach(100, "L1")
    assert sink.records[0].duration_s == 99
    assert call.call_id
    net.hang_up(101, call.call_id)  # already released: ignored with a trace
    assert net.incidents[-1].kind == "released-call"


def test_bad_call_requests() -> None:
    net, _ = make("business-m2m-dtmf")
    with pytest.raises(UnknownCall):
        net.hang_up(1, "C999999999")
    with pytest.raises(InvalidRequest):
        net.place_call(1, "L1", "0145678901", "video")  # type: ignore[arg-type]
    assert net.place_call(1, "L1", "01", CallKind.VOICE).cause == Q850_INVALID_NUMBER_FORMAT
    short = net.place_call(1, "L1", "3620", CallKind.VOICE)  # a short code: premium, connected
    assert short.outcome == CallOutcome.ANSWERED and short.call_id
    net.hang_up(2, short.call_id)
    call = net.place_call(5, "L2", "0145678901", CallKind.VOICE)
    assert call.outcome == CallOutcome.REFUSED
    net2, _ = make("business-m2m-dtmf")
    c = net2.place_call(10, "L1", "0145678901", CallKind.VOICE)
    assert c.call_id
    with pytest.raises(OutOfOrder):
        net2.hang_up(9, c.call_id)
    bad = net2.place_call(11, "L1", "++33", CallKind.VOICE)
    assert bad.outcome == CallOutcome.REFUSED


def test_invalid_probabilities_are_refused() -> None:
    with pytest.raises(ValueError, match="probabilities"):
        SwitchConfig(p_answered=0.9, p_busy=0.2)


def test_an_alerting_call_to_a_far_end_is_answered_after_the_ring_time_and_billed_from_then() -> None:
    net, sink = make("business-m2m-dtmf", SwitchConfig(p_answered=1.0, p_busy=0.0, ring_s=5.0))
    call = net.place_call(10, "L1", "0145678901", CallKind.VOICE, alerting=True)
    assert (call.outcome, call.until) == (CallOutcome.ALERTING, 15.0) and call.call_id
    assert net.call_progress(12, call.call_id).outcome == CallOutcome.ALERTING
    assert net.place_call(13, "L1", "0145678902", CallKind.VOICE, alerting=True).cause == Q850_NO_CIRCUIT
    assert net.call_progress(16, call.call_id).outcome == CallOutcome.ANSWERED
    net.hang_up(75, call.call_id)
    (rec,) = sink.records
    assert rec.start == EPOCH + timedelta(seconds=15) and rec.duration_s == 60


def test_an_alerting_call_nobody_answers_is_released_after_the_no_answer_time() -> None:
    config = SwitchConfig(p_answered=0.0, p_busy=0.0, no_answer_s=20.0)
    net, sink = make("business-m2m-dtmf", config)
    call = net.place_call(10, "L1", "0145678901", CallKind.VOICE, alerting=True)
    assert call.until == 30.0 and call.call_id
    result = net.call_progress(31, call.call_id)
    assert result.outcome == CallOutcome.NO_ANSWER
    (rec,) = sink.records
    assert rec.duration_s == 0
    assert (
        net.place_call(32, "L1", "0145678901", CallKind.VOICE).outcome == CallOutcome.NO_ANSWER
    )  # line free


def test_alerting_is_no_outcome_to_force_and_the_ring_times_are_checked() -> None:
    with pytest.raises(ValueError, match="alerting is a state"):
        SwitchConfig(forced={"0145678901": CallOutcome.ALERTING})
    with pytest.raises(ValueError, match="ring_s and no_answer_s"):
        SwitchConfig(ring_s=40.0, no_answer_s=30.0)


@pytest.mark.parametrize("number", ["112", "911", "08", "15"])
def test_an_emergency_call_is_connected_on_any_offer_unregistered_and_recorded_as_emergency(
    number: str,
) -> None:
    """112 was classed a premium short code: a call to it on a data offer was refused (bearer not
    authorized) and on a DTMF offer it gave a record that rating rejected as not priced."""
    net, sink = make("business-m2m")  # a data offer: no voice
    net.detach(1, "L1")
    call = net.place_call(2, "L1", number, CallKind.VOICE)
    assert call.outcome == CallOutcome.ANSWERED and call.call_id
    net.hang_up(62, call.call_id)
    (rec,) = sink.records
    assert (rec.type, rec.dest, rec.duration_s) == (UsageType.VOICE, Dest.EMERGENCY, 60)
    assert net.counters["emergency-calls"] == 1 and net.is_emergency(number)
    assert not net.is_emergency("0145678901")
