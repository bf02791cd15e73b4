"""Mobility as a core handles it: a routing area update keeps the PDP context, with a partial record."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from netparts import EPOCH

from accounting.records import ClosingCause, UsageRecord, Zone
from gateway.api import Subscriber
from gateway.capture import PcapCapture, ReadReport, radius, records_from_pcap
from gateway.network import Network, NetworkConfig

TSHARK = shutil.which("tshark")


class Records:
    def __init__(self) -> None:
        self.rows: list[UsageRecord] = []

    def write(self, record: UsageRecord) -> None:
        self.rows.append(record)


def network(capture: PcapCapture | None = None) -> tuple[Network, Records]:
    records = Records()
    net = Network(NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0.0), records, capture=capture)
    net.register_subscriber(Subscriber("L1", "208010000000001", "33612345678", "europe"))
    net.attach(0, "L1", "3533281100000401", "20801")
    return net, records


def test_plmn_change_cuts_a_partial_record_and_the_context_goes_on() -> None:
    net, records = network()
    s = net.open_session(100, "L1", "orange.m2m.spec", charging_id=4242)
    assert s.session_id == "L1-4242"
    net.transfer(1_000, s.session_id, 900, 300)
    net.move(1_000, "L1", "26201")
    assert net.session_open(s.session_id)
    net.transfer(2_000, s.session_id, 500, 100)
    net.close_session(2_000, s.session_id)
    first, last = records.rows
    assert (first.cause, first.zone, first.serving_plmn) == (int(ClosingCause.PLMN_CHANGE), Zone.FR, "20801")
    assert (first.duration_s, first.bytes_up, first.bytes_down, first.sequence) == (900, 900, 300, 1)
    # carried in Germany, rated in France where the session was opened
    assert (last.cause, last.zone, last.serving_plmn) == (int(ClosingCause.NORMAL), Zone.FR, "26201")
    assert (last.duration_s, last.bytes_up, last.bytes_down, last.sequence) == (1_000, 500, 100, 2)
    assert first.charging_id == last.charging_id == 4242 and first.session == last.session


def test_context_opened_in_france_and_moved_to_belgium_stays_in_zone_fr() -> None:
    """A session belongs to the zone where it was opened (docs/tariff.md): the partial record at the
    move (cause 24) and the records after it, carried in Belgium, are rated in `fr`; `serving_plmn`
    is the network each was carried in.  A context opened in Belgium is `eu`."""
    net, records = network()
    s = net.open_session(100, "L1", "orange.m2m.spec", charging_id=7)
    assert s.session_id is not None
    net.transfer(1_000, s.session_id, 900, 300)
    assert net.move(1_000, "L1", "20610").zone == Zone.EU  # the line is in Belgium now
    net.transfer(2_000, s.session_id, 500, 100)
    net.time_zone_change(28 * 86_400 + 3_600, "L1")  # Belgium's clocks go forward too: cause 23
    abroad = net.open_session(28 * 86_400 + 3_700, "L1", "orange.m2m.spec", charging_id=8)
    assert abroad.session_id is not None
    net.close_session(28 * 86_400 + 4_000, abroad.session_id)
    net.close_session(28 * 86_400 + 4_000, s.session_id)
    moved = [r for r in records.rows if r.session == s.session_id]
    assert [(r.cause, r.zone, r.serving_plmn) for r in moved[:2]] == [
        (int(ClosingCause.PLMN_CHANGE), Zone.FR, "20801"),
        (int(ClosingCause.TIME_LIMIT), Zone.FR, "20610"),
    ]
    assert {r.zone for r in moved} == {Zone.FR}
    assert {r.serving_plmn for r in moved[1:]} == {"20610"}
    assert int(ClosingCause.MS_TIME_ZONE_CHANGE) in [r.cause for r in moved]
    (opened_abroad,) = [r for r in records.rows if r.session == abroad.session_id]
    assert (opened_abroad.zone, opened_abroad.serving_plmn) == (Zone.EU, "20610")


def test_rat_change_and_time_zone_change_have_their_causes() -> None:
    net, records = network()
    s = net.open_session(0, "L1", "orange.m2m.spec")
    assert s.session_id is not None
    net.move(600, "L1", "20801", rat="utran")  # same network, 3G instead of 2G
    net.move(700, "L1", "20801", rat="utran")  # nothing billed changed: no record
    # 29 March 2026, 01:00 UTC: France goes to summer time; the next update reports it
    net.move(28 * 86_400 + 3_600, "L1", "20801", rat="utran")
    net.close_session(28 * 86_400 + 4_000, s.session_id)
    causes = [r.cause for r in records.rows]
    limits = [c for c in causes if c == int(ClosingCause.TIME_LIMIT)]
    assert [c for c in causes if c != int(ClosingCause.TIME_LIMIT)] == [
        int(ClosingCause.RAT_CHANGE),
        int(ClosingCause.MS_TIME_ZONE_CHANGE),
        int(ClosingCause.NORMAL),
    ]
    assert len(limits) == (28 * 86_400 + 3_600) // 43_200  # the 12-hour cuts still run from the start
    assert [r.sequence for r in records.rows] == list(range(1, len(records.rows) + 1))


def test_move_of_a_line_without_contexts_writes_nothing() -> None:
    net, records = network()
    assert net.move(10, "L1", "26201").zone == Zone.EU
    assert records.rows == []
    assert net.counters["routing-area-update"] == 1


def pcap_with_a_move(path: Path) -> list[UsageRecord]:
    with PcapCapture(path, EPOCH) as capture:
        net, records = network(capture)
        s = net.open_session(100, "L1", "orange.m2m.spec", charging_id=77)
        assert s.session_id is not None
        net.transfer(1_000, s.session_id, 900, 300)
        net.move(1_000, "L1", "26201")
        net.transfer(2_000, s.session_id, 500, 100)
        net.close_session(2_000, s.session_id)
    return records.rows


def test_capture_of_a_move_gives_the_records_back_with_their_causes(tmp_path: Path) -> None:
    path = tmp_path / "move.pcap"
    expected = pcap_with_a_move(path)
    report = ReadReport()
    rebuilt = list(records_from_pcap(path, report=report))
    assert report.rejected == 0
    assert [r.as_row() for r in rebuilt] == [r.as_row() for r in expected]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")
def test_tshark_decodes_the_update_and_the_interim_with_the_new_location(tmp_path: Path) -> None:
    assert TSHARK is not None
    path = tmp_path / "move.pcap"
    pcap_with_a_move(path)

    def fields(display: str, *names: str) -> list[list[str]]:
        args = [TSHARK, "-2", "-n", "-r", str(path), "-Y", display, "-T", "fields"]
        for name in names:
            args += ["-e", name]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    assert fields("_ws.malformed || _ws.expert.severity >= warning", "frame.number") == []
    update = fields("gtp.message == 18", "ip.src", "gtp.response_in", "gtp.nsapi", "e212.rai.mcc")
    assert len(update) == 1
    source, response, nsapi, mcc = update[0]
    assert (source, nsapi, mcc) == ("203.0.113.2", "5", "262") and response != ""  # from the visited SGSN
    assert fields("gtp.message == 19 && gtp.cause == 128", "frame.number") != []
    interim = fields(
        f"radius.Acct_Status_Type == {radius.STATUS_INTERIM}",
        "radius.3GPP_SGSN_MCC_MNC",
        "radius.3GPP_GGSN_MCC_MNC",
        "radius.3GPP_SGSN_Address",
    )
    assert interim == [["26201", "20801", "203.0.113.2"]]


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")
def test_tshark_decodes_the_pco_dns_pap_and_chap_of_both_write_paths(tmp_path: Path) -> None:
    assert TSHARK is not None
    from gateway.capture.bulk import drive_records
    from gateway.events import ContextInfo
    from gateway.partial import cut_sessions

    base = dict(
        line_id="L1",
        imsi="208010000000001",
        msisdn="33612345678",
        imeisv="3533281100000401",
        ip_address="10.128.0.9",
        sgsn_address="192.0.2.2",
        ggsn_address="192.0.2.1",
        serving_plmn="20801",
        rat="geran",
    )
    contexts = [
        ContextInfo(session_id="L1-1", apn="orange.m2m.spec", charging_id=1, **base),  # type: ignore[arg-type]
        ContextInfo(  # type: ignore[arg-type]
            session_id="L1-2",
            apn="internet-entreprise",
            charging_id=2,
            authentication="pap",
            password="pw",
            **base,
        ),
        ContextInfo(  # type: ignore[arg-type]
            session_id="L1-3", apn="orange-mib", charging_id=3, authentication="chap", password="pw", **base
        ),
    ]
    records = cut_sessions([0, 10, 20], [5, 5, 5], [100, 100, 100], [50, 50, 50])
    bulk, event = tmp_path / "bulk.pcap", tmp_path / "event.pcap"
    with PcapCapture(bulk, EPOCH) as capture:
        capture.write_sessions(contexts, records)
    with PcapCapture(event, EPOCH) as capture:
        drive_records(capture, contexts, records)
    assert bulk.read_bytes() == event.read_bytes()  # the two write paths agree byte for byte

    def fields(display: str, *names: str) -> list[list[str]]:
        args = [TSHARK, "-n", "-r", str(bulk), "-Y", display, "-T", "fields"]
        for name in names:
            args += ["-e", name]
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
        return [line.split("\t") for line in done.stdout.splitlines() if line]

    assert fields("_ws.malformed || _ws.expert.severity >= warning", "frame.number") == []
    assert fields("gtp.message == 16", "gsm_a.gm.sm.pco_pid") == [
        ["0x000d"],
        ["0xc023,0x000d"],
        ["0xc223,0xc223,0x000d"],
    ]
    assert fields("gtp.message == 17", "gsm_a.gm.sm.pco_pid") == [
        ["0x000d,0x000d"],
        ["0xc023,0x000d,0x000d"],
        ["0xc223,0x000d,0x000d"],
    ]
    assert fields("gtp.message == 17", "gsm_a.gm.sm.pco.dns.ipv4")[0] == ["192.0.2.53,192.0.2.54"]
    assert fields("pap.code == 1", "pap.peer_id", "pap.password") == [["33612345678", "pw"]]
    assert fields("chap.code", "chap.code") == [["1,2"], ["3"]]  # Challenge + Response, then Success


def test_apn_authentication_settings_are_checked() -> None:
    from gateway.apn import ApnCatalog
    from gateway.errors import ConfigError

    def catalog(**apn: object) -> ApnCatalog:
        item = {"m2m": True, "addressing": "private", "pool": "10.0.0.0/24", **apn}
        return ApnCatalog.from_dict({"apns": {"m2m.x": item}, "offers": {"o": {"apns": "any"}}}, "apns.yaml")

    assert catalog(authentication="chap", password="s3cret").apns["m2m.x"].authentication == "chap"
    assert catalog().apns["m2m.x"].authentication == ""
    with pytest.raises(ConfigError, match=r"apns.yaml: apns.m2m.x.authentication: must be none, pap or chap"):
        catalog(authentication="eap")
    with pytest.raises(ConfigError, match=r"apns.m2m.x.password: pap authentication needs one"):
        catalog(authentication="pap")
    with pytest.raises(ConfigError, match=r"apns.m2m.x.password: a text"):
        catalog(authentication="pap", password=1234)
