"""The SMSC: MO classification and billing, MT store-and-forward, validity, delivery reports."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from netparts import EPOCH, IMEISV, RecordSink

from accounting.records import Dest, UsageType, Zone
from gateway.api import TP_ST_DELETED_BY_SC, SmsStatus, Subscriber
from gateway.network import Network, NetworkConfig
from gateway.smsc import (
    RP_INVALID_MANDATORY_INFORMATION,
    RP_UNASSIGNED_NUMBER,
    RP_UNIDENTIFIED_SUBSCRIBER,
    SmscConfig,
)


def make(**config: object) -> tuple[Network, RecordSink]:
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, **config), sink)  # type: ignore[arg-type]
    net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m"))
    net.register_subscriber(Subscriber("L2", "208011234567891", "33612345679", "business-m2m"))
    net.attach(0, "L1", IMEISV, "20801")
    return net, sink


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        ("+33612000000", Dest.FR_MOBILE),
        ("0712000000", Dest.FR_MOBILE),
        ("0112000000", Dest.FR_FIXED),
        ("0912000000", Dest.FR_FIXED),
        ("0812000000", Dest.FR_PREMIUM),
        ("36179", Dest.FR_PREMIUM),
        ("+447700900123", Dest.INTL),
    ],
)
def test_mo_sms_is_classified_and_billed(dest: str, expected: Dest) -> None:
    net, sink = make()
    result = net.send_sms(5, "L1", dest, 20)
    assert result.status == SmsStatus.ACCEPTED and result.dest == expected
    (rec,) = sink.records
    assert (rec.type, rec.dest, rec.zone, rec.line) == (UsageType.SMS, expected, Zone.FR, "L1")
    assert rec.start == datetime(2026, 3, 1, 0, 0, 5, tzinfo=UTC)


def test_mo_sms_zone_is_the_senders_and_message_refs_count_up() -> None:
    net, sink = make()
    net.attach(10, "L1", IMEISV, "22801")
    refs = [net.send_sms(11 + k, "L1", "0612000000").message_ref for k in range(3)]
    assert refs == [0, 1, 2]
    assert {r.zone for r in sink.records} == {Zone.EU}


def test_mo_sms_refusals_have_causes_and_no_record() -> None:
    net, sink = make()
    assert net.send_sms(1, "L1", "06 12").cause == RP_UNASSIGNED_NUMBER
    assert net.send_sms(1, "L1", "0612000000", 161).cause == RP_INVALID_MANDATORY_INFORMATION
    assert net.send_sms(1, "L1", "0612000000", -1).cause == RP_INVALID_MANDATORY_INFORMATION
    assert net.send_sms(1, "L2", "0612000000").cause == RP_UNIDENTIFIED_SUBSCRIBER  # not attached
    assert net.send_sms(1, "ghost", "0612000000").cause == RP_UNIDENTIFIED_SUBSCRIBER
    assert sink.records == []
    assert net.counters["sms-refused"] == 5
    assert {i.kind for i in net.incidents} == {"bad-number", "bad-sms", "unknown-line"}


def test_mt_sms_waits_for_the_device_and_is_not_billed() -> None:
    net, sink = make()
    stored = net.submit_sms(0, "33612345679", "33600000000", "wake up", status_report=True)
    assert stored.status == SmsStatus.STORED
    assert net.pending_sms(10, "L2") == []  # L2 is not attached: kept
    net.attach(20, "L2", IMEISV, "20801")
    (sms,) = net.pending_sms(30, "L2")
    assert (sms.sender, sms.text, sms.message_ref) == ("33600000000", "wake up", stored.message_ref)
    assert net.pending_sms(31, "L2") == []  # taken out of the store
    (report,) = net.smsc.reports
    assert (report.status, report.line_id, report.completed_at) == (SmsStatus.ACCEPTED, "L2", 30)
    assert sink.records == []


def test_mt_sms_expires_after_its_validity_and_is_counted() -> None:
    net, _ = make(sms=SmscConfig(validity_s=3_600))
    net.submit_sms(0, "L2", "33600000000", "first", status_report=True)
    net.submit_sms(0, "L2", "33600000000", "second", validity_s=7_200)
    net.attach(3_600, "L2", IMEISV, "20801")
    assert [m.text for m in net.pending_sms(3_600, "L2")] == ["first", "second"]  # at the edge: still valid
    net.detach(3_601, "L2")
    net.submit_sms(4_000, "L2", "33600000000", "third", status_report=True)
    net.flush(4_000 + 3_601)
    assert net.smsc.expired == 1
    assert net.smsc.reports[-1].status == SmsStatus.EXPIRED
    assert net.smsc.reports[-1].completed_at == 4_000 + 3_600


def test_mo_sms_to_another_line_is_delivered_to_it() -> None:
    net, sink = make()
    net.attach(1, "L2", IMEISV, "20801")
    net.send_sms(2, "L1", "0612345679", text="ping")
    (sms,) = net.pending_sms(3, "L2")
    assert (sms.sender, sms.text) == ("33612345678", "ping")
    assert len(sink.records) == 1  # only the sent SMS is billed


def test_mt_store_is_bounded() -> None:
    net, _ = make(sms=SmscConfig(max_stored_per_line=2))
    assert [net.submit_sms(0, "L2", "3360", "x").status for _ in range(3)] == [
        SmsStatus.STORED,
        SmsStatus.STORED,
        SmsStatus.REFUSED,
    ]
    assert net.submit_sms(0, "nobody", "3360", "x").cause == RP_UNIDENTIFIED_SUBSCRIBER


def test_an_mo_sms_the_smsc_cannot_keep_for_its_recipient_gets_a_permanent_error_report() -> None:
    """An MO SMS with TP-SRR for a line whose store at the SMSC was full was accepted and dropped
    without a word: its sender waited for a status report that never came."""
    net, _ = make(sms=SmscConfig(max_stored_per_line=1))
    for ref in (5, 6):
        result = net.send_sms(2, "L1", "0612345679", text="ping", status_report=True, message_ref=ref)
        assert result.status is SmsStatus.ACCEPTED
    (dropped,) = net.pending_reports(3, "L1")
    assert (dropped.message_ref, dropped.recipient, dropped.status) == (6, "33612345679", SmsStatus.REFUSED)
    assert dropped.st == TP_ST_DELETED_BY_SC == 0x48 and dropped.completed_at == 2
    assert net.smsc.stored("L2") == 1 and net.smsc.refused == 1
    net.attach(4, "L2", IMEISV, "20801")
    assert [m.text for m in net.pending_sms(5, "L2")] == ["ping"]
    (delivered,) = net.pending_reports(6, "L1")
    assert (delivered.message_ref, delivered.st) == (5, 0)


def test_the_smsc_relays_the_header_elements_of_a_part_to_another_line() -> None:
    net, _ = make()
    net.attach(1, "L2", IMEISV, "20801")
    concat = bytes([0x00, 0x03, 0x2A, 0x02, 0x01])  # part 1 of 2, reference 42
    net.send_sms(2, "L1", "0612345679", text="part one", udh=concat)
    net.send_sms(2, "L1", "0612345679", text="plain")
    first, second = net.pending_sms(3, "L2")
    assert (first.text, first.udh) == ("part one", concat)
    assert (second.text, second.udh) == ("plain", b"")


def test_status_reports_go_back_to_the_sending_line_with_its_message_reference() -> None:
    net, _ = make()
    # to another line, reachable later: delivered when it takes the message
    net.send_sms(2, "L1", "0612345679", text="ping", status_report=True, message_ref=41)
    assert net.pending_reports(3, "L1") == []  # L2 has not taken it yet
    net.attach(4, "L2", IMEISV, "20801")
    assert [m.text for m in net.pending_sms(5, "L2")] == ["ping"]
    (delivered,) = net.pending_reports(6, "L1")
    assert (delivered.message_ref, delivered.recipient, delivered.status) == (
        41,
        "33612345679",
        SmsStatus.ACCEPTED,
    )
    assert (delivered.submitted_at, delivered.completed_at) == (2, 5)
    # outside the network: reported delivered at once; without TP-SRR: no report
    net.send_sms(7, "L1", "+447700900123", text="x", status_report=True, message_ref=42)
    net.send_sms(8, "L1", "+447700900123", text="y")
    (far,) = net.pending_reports(9, "L1")
    assert (far.message_ref, far.recipient, far.status) == (42, "447700900123", SmsStatus.ACCEPTED)
    assert net.pending_reports(10, "L1") == [] and net.smsc.reports == []


def test_a_status_report_says_expired_when_the_recipient_never_takes_the_message() -> None:
    net, _ = make()
    net.send_sms(1, "L1", "0612345679", text="ping", status_report=True, message_ref=7)
    validity = net.smsc.config.validity_s
    assert net.pending_reports(validity, "L1") == []
    (expired,) = net.pending_reports(validity + 2, "L1")
    assert (expired.message_ref, expired.status, expired.completed_at) == (7, SmsStatus.EXPIRED, 1 + validity)


def test_a_device_without_room_is_not_delivered_to_and_the_report_waits_for_the_delivery() -> None:
    """`pending_sms` handed every message over and reported it delivered, whatever room the device had."""
    net, _ = make()
    net.attach(0, "L2", IMEISV, "20801")
    for ref in (1, 2):
        net.send_sms(1, "L1", "+33612345679", text=f"m{ref}", status_report=True, message_ref=ref)
    assert net.pending_sms(2, "L2", room=0) == []  # memory capacity exceeded: nothing taken
    assert net.pending_reports(2, "L1") == [] and net.smsc.stored("L2") == 2
    (first,) = net.pending_sms(3, "L2", room=1)
    assert first.text == "m1"
    (report,) = net.pending_reports(3, "L1")
    assert (report.message_ref, report.status, report.completed_at) == (1, SmsStatus.ACCEPTED, 3)
    net.flush(1 + 3 * 86_400 + 1, close=False)  # the SMSC's default validity ends for the second
    (expired,) = net.pending_reports(1 + 3 * 86_400 + 1, "L1")
    assert (expired.message_ref, expired.status) == (2, SmsStatus.EXPIRED)
