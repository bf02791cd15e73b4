"""A bench run's usage as usage records, and what it costs through the accounting API."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounting.records import Dest, UsageRecord, UsageType, Zone
from accounting.wire import HEADER, MSS, SYN
from hil.report import OfferError, check_offer, estimate_cost, records_table
from hil.result import BenchResult
from hil.transcript import Transcript
from hil.usage import BenchUsage, CallUse, DataUse, SmsUse, usage_records, wire_bytes

WHEN = datetime(2026, 3, 10, 9, 30, 15, 250000, tzinfo=UTC)


def usage(sms: int = 0, call_s: float = 0.0, sent: int = 0, received: int = 0) -> BenchUsage:
    u = BenchUsage()
    if sent or received:
        u.data.append(DataUse(WHEN, 4.2, sent, received, connections=1))
    if sms:
        u.sms.append(SmsUse(WHEN, "+33612345678", Dest.FR_MOBILE, sms))
    if call_s:
        u.calls.append(CallUse(WHEN, "+33612345678", Dest.FR_MOBILE, call_s, "12#"))
    return u


def test_wire_bytes_model() -> None:
    """The network's TCP/IP model (`accounting.wire`): an echo answered at once carries the ACKs."""
    assert wire_bytes(0, 0, 0) == (0, 0)
    up, down = wire_bytes(1000, 1000)
    # SYN (options) + ACK, the data, its FIN alone (the echo came after the send), the last ACK
    assert (up, down) == (SYN + HEADER + 1000 + HEADER + HEADER + HEADER, SYN + 1000 + HEADER + HEADER)
    up2, _ = wire_bytes(MSS + 1, 0)
    assert up2 - (MSS + 1) == SYN + HEADER + 2 * HEADER + 2 * HEADER


def test_records_one_per_session_sms_part_and_call() -> None:
    records = usage_records(usage(sms=3, call_s=12.2, sent=500, received=400), "L1", Zone.EU)
    kinds = [r.type for r in records]
    assert kinds.count(UsageType.DATA) == 1 and kinds.count(UsageType.SMS) == 3
    assert kinds.count(UsageType.VOICE) == 1
    data = next(r for r in records if r.type is UsageType.DATA)
    assert (data.bytes_up, data.bytes_down) == wire_bytes(500, 400)
    assert data.duration_s == 5 and data.start == WHEN.replace(microsecond=0)
    call = next(r for r in records if r.type is UsageType.VOICE)
    assert call.duration_s == 13 and call.dest is Dest.FR_MOBILE
    assert {r.zone for r in records} == {Zone.EU} and {r.line for r in records} == {"L1"}
    assert records_table(records).num_rows == 5


def test_no_usage_costs_nothing_beyond_the_subscription() -> None:
    est = estimate_cost([], line="L1", when=WHEN)
    assert est.usage_amount == Decimal("0.00")
    assert est.month_total == est.subscription_total > 0
    assert est.month == "2026-03" and est.records == 0


def test_sms_are_priced_by_the_catalog_per_message() -> None:
    one = estimate_cost(usage_records(usage(sms=1), "L1"))
    three = estimate_cost(usage_records(usage(sms=3), "L1"))
    assert one.usage_amount > 0
    assert three.usage_amount == 3 * one.usage_amount
    assert [i["quantity"] for i in three.items if i["code"] == "sms"] == ["3"]


def test_voice_needs_a_dtmf_offer() -> None:
    records = usage_records(usage(call_s=30.0), "L1")
    plain = estimate_cost(records)
    assert plain.usage_amount == 0 and any("voice is not part of business-m2m" in r for r in plain.rejects)
    dtmf = estimate_cost(records, offer="business-m2m-dtmf")
    assert dtmf.rejects == [] and dtmf.usage_amount > 0
    assert [i["quantity"] for i in dtmf.items if i["code"] == "voice"] == ["30"]


def test_data_inside_the_allowance_is_free_and_beyond_it_is_not() -> None:
    small = estimate_cost(usage_records(usage(sent=10_000, received=10_000), "L1"))
    assert small.usage_amount == 0
    bundle = [i for i in small.items if i["code"] == "data-fr-bundle"]
    up, down = wire_bytes(10_000, 10_000)
    assert [int(i["quantity"]) for i in bundle] == [math.ceil((up + down) / 1024)]
    big = estimate_cost(usage_records(usage(sent=3_000_000), "L1"))
    assert big.usage_amount > 0
    assert any(i["code"] == "data-fr-over" for i in big.items)


def test_estimate_to_dict_has_amounts_as_strings() -> None:
    d = estimate_cost(usage_records(usage(sms=2), "L1")).to_dict()
    assert d["offer"] == "business-m2m" and d["plan"] == "forfait-2mo" and d["commitment"] == 24
    assert all(
        isinstance(d[k], str) and len(d[k].split(".")[1]) == 2 for k in ("usage_amount", "month_total")
    )


def test_check_offer_names_what_the_catalog_has() -> None:
    check_offer("business-m2m-dtmf", "forfait-5mo", 36)
    with pytest.raises(OfferError, match=r"unknown offer 'gold'.*business-m2m"):
        check_offer("gold", "forfait-2mo", 24)
    with pytest.raises(OfferError, match="no plan 'forfait-9mo'"):
        check_offer("business-m2m", "forfait-9mo", 24)
    with pytest.raises(OfferError, match="no 12-month commitment"):
        check_offer("business-m2m", "forfait-2mo", 12)


def test_the_cheapest_offer_for_the_usage_is_named() -> None:
    records = usage_records(usage(call_s=30.0, sms=2), "L1")
    est = estimate_cost(records)
    # only the DTMF offers price voice calls: the cheapest choice must be one of them
    assert est.cheapest is not None and "-dtmf " in est.cheapest
    assert est.cheapest_total is not None
    for plan in ("forfait-2mo", "forfait-5mo", "compteur"):
        for commitment in (24, 36):
            priced = estimate_cost(records, offer="business-m2m-dtmf", plan=plan, commitment=commitment)
            assert est.cheapest_total <= priced.month_total
    assert estimate_cost(records, compare_offers=False).cheapest is None


def _call_result(measured_s: float, network_s: int, time_scale: float = 1.0) -> BenchResult:
    u = usage(call_s=measured_s)
    net = [
        UsageRecord(line="L1", type=UsageType.VOICE, start=WHEN, duration_s=network_s, dest=Dest.FR_MOBILE)
    ]
    return BenchResult(
        script="dtmf_call", url="virtual://generic", profile="generic", status="passed", started=WHEN,
        duration_s=5.0, transcript=Transcript(started=WHEN), usage=u, network_records=net,
        records=usage_records(u, "L1"), time_scale=time_scale,
    )  # fmt: skip


def test_call_seconds_show_what_is_billed_beside_what_was_measured() -> None:
    same = _call_result(2.003, 3)
    text = same.render_text()
    assert "1 calls (2.0 s, billed 3 s)" in text  # 2.003 s is billed 3 s, as the network's record
    assert same.summary()["call_seconds_billed"] == 3 and same.records[-1].duration_s == 3
    assert "call seconds:" not in text and same.to_dict()["network_notes"] == []


def test_a_network_count_unlike_the_bench_s_is_explained() -> None:
    later = _call_result(2.003, 4)  # the network answered before the bench's poll saw it
    [note] = later.network_notes()
    assert note.startswith("call seconds: the network counted 4 s from its answer to its release")
    assert note in later.render_text() and later.to_dict()["network_notes"] == [note]
    fast = _call_result(2.003, 50, time_scale=20)
    assert "runs at speed 20: the network's seconds are the modem's simulated seconds" in fast.render_text()
    assert fast.to_dict()["network"]["time_scale"] == 20
    data_only = _call_result(0.0, 0, time_scale=20)  # no seconds in the report: nothing to explain
    assert data_only.network_notes() == []


def test_a_call_of_whole_seconds_in_floating_point_is_not_billed_a_second_more() -> None:
    # 1.3 + 7 - 1.3 is 7.000000000000001 s: billed 7 s, as the network's record is
    [call] = usage_records(usage(call_s=1.3 + 7 - 1.3), "L1")
    assert call.duration_s == 7


async def test_a_virtual_modem_s_speed_comes_with_its_network_count() -> None:
    from hil.bench import run_bench

    result = await run_bench("register", "virtual://generic?seed=1&speed=20")
    assert result.status == "passed", result.error
    assert result.time_scale == 20 and result.network_summary() is not None
    assert result.to_dict()["network"]["time_scale"] == 20
