"""The control console's commands on in-process served modems (the serve's loop is the test's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accounting.records import ClosingCause, UsageRecord, UsageType
from gateway.network import Network, NetworkConfig
from modem.sms import Direction, SmsDeliver, decode_pdu, encode_deliver
from modem.virtual.control import ControlError, JournalError, load_journal, parse_request, replay
from modem.virtual.scenario import ServeScenario, provision
from tests.modem.console_bench import ANSWERING, EPOCH, ConsoleBench, Kept


async def test_list_finds_modems_by_index_imei_msisdn_and_path(console_bench: ConsoleBench) -> None:
    m1 = console_bench.modem(1).identity
    for key in ("1", m1.imei, "+" + m1.msisdn, m1.msisdn, "/dev/pts/test1", m1.line_id):
        (row,) = await console_bench.ctl(f"list {key}")
        assert row["index"] == 1 and row["imei"] == m1.imei and row["registration"] == 1
    assert [r["index"] for r in await console_bench.ctl("list")] == [0, 1]
    assert [r["index"] for r in await console_bench.ctl("list 1,0")] == [1, 0]
    assert "no modem '7'" in await console_bench.refused("list 7")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("bogus 0", "unknown command 'bogus'"),
        ("", "empty command"),
        ("sms 0", "usage: sms TARGET"),
        ("sms 0 notanumber hi", "FROM 'notanumber': not a phone number"),
        ("sms 0 --pdu=ZZ", "--pdu: not an SMS-DELIVER PDU"),
        ("sms 0 +331 hi --bogus", "unknown option --bogus"),
        ("coverage 0 mars", "coverage 'mars'"),
        ("csq 0 40", "csq RSSI '40'"),
        ("rat 0 5g", "rat '5g'"),
        ("refuse-pdp 0 sunspots", "refuse-pdp cause 'sunspots'"),
        ("fault 0 nosuch=1", "unknown fault 'nosuch'"),
        ("fault 0 drop=2", "a probability is between 0 and 1"),
        ("wait 0 asleep", "unknown state 'asleep'"),
        ("wait 0 registered nan", "wait timeout 'nan'"),
        ("outcome 0140000000 refused", "outcome 'refused'"),
        ('sms 0 "unclosed', "cannot split the command"),
        ('["sms", 1]', "a JSON request is an array of strings"),
        ("[oops", "not a JSON array of strings"),
    ],
)
async def test_bad_requests_get_one_line_and_the_console_goes_on(
    console_bench: ConsoleBench, line: str, words: str
) -> None:
    assert words in await console_bench.refused(line)
    assert len(await console_bench.ctl("list")) == 2
    assert console_bench.console.journal == []  # refused commands change nothing, so nothing is journaled


async def test_mt_sms_through_the_smsc_is_stored_and_announced(console_bench: ConsoleBench) -> None:
    result = await console_bench.ctl('sms 0 +33698765432 "Open valve 3"')
    assert result["submitted"][0]["status"] in ("accepted", "stored")
    got = await console_bench.expect(0, '+CMTI: "SM",1')
    assert "+CMTI" in got
    stored = console_bench.modem(0).sms.stores["SM"][1]
    assert stored.text == "Open valve 3" and stored.number == "+33698765432"
    assert console_bench.modem(1).sms.stored_count() == 0


async def test_long_mt_sms_arrives_as_concatenated_parts(console_bench: ConsoleBench) -> None:
    text = "".join(f"{i:03d}-" for i in range(60))  # 240 characters: two parts
    await console_bench.ctl(f"sms 0 +33698765432 {text}")
    await console_bench.expect(0, '+CMTI: "SM",2')
    parts = [
        decode_pdu(s.pdu, Direction.MT) for _, s in sorted(console_bench.modem(0).sms.stores["SM"].items())
    ]
    assert all(isinstance(p, SmsDeliver) for p in parts)
    concat = [p.concat for p in parts if isinstance(p, SmsDeliver)]
    assert [(c.sequence, c.total) for c in concat if c] == [(1, 2), (2, 2)]
    assert "".join(p.text or "" for p in parts) == text


async def test_flash_sms_is_class_0_with_a_report_request(console_bench: ConsoleBench) -> None:
    await console_bench.ctl("sms all +33698765432 Alarm --flash --report")
    for i in (0, 1):
        await console_bench.expect(i, "+CMTI:")
        stored = console_bench.modem(i).sms.stores["SM"][1]
        msg = decode_pdu(stored.pdu, Direction.MT)
        assert isinstance(msg, SmsDeliver)
        assert msg.dcs.message_class == 0
        assert msg.status_report_indication
        assert msg.text == "Alarm"


async def test_pdu_sms_is_delivered_as_given_and_shown_by_cnmi_2_2(console_bench: ConsoleBench) -> None:
    (part,) = encode_deliver("raw pdu", "+33611112222", EPOCH, smsc="+33689004000")
    await console_bench.at(0, "AT+CNMI=2,2,0,0,0")
    await console_bench.ctl(f"sms 0 --pdu={part.hex}")
    got = await console_bench.expect(0, part.hex)
    assert f"+CMT: ,{part.tpdu_length}" in got


async def test_incoming_call_rings_is_answered_then_the_far_end_hangs_up(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CLIP=1")
    await console_bench.ctl("call 0 +33655555555")
    got = await console_bench.expect(0, ",0\r\n")  # the end of +CLIP: "+33655555555",145,"",0,"",0
    assert "RING" in got and '"+33655555555"' in got
    assert (await console_bench.ctl("list 0"))[0]["calls"][0]["stat"] == 4
    await console_bench.at(0, "ATA")
    assert (await console_bench.ctl("wait 0 call-active 5"))["state"] == "call-active"
    assert (await console_bench.ctl("hangup 0"))["hung_up"] == [0]
    await console_bench.expect(0, "NO CARRIER")
    await console_bench.ctl("wait 0 idle 5")


async def test_csd_call_rings_as_rel_async_and_answers_with_connect(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CRC=1")
    await console_bench.ctl("call 0 +33655555555 --data")
    await console_bench.expect(0, "+CRING: REL ASYNC")
    await console_bench.at(0, "ATA", "CONNECT 9600")
    assert console_bench.modem(0).in_data_mode
    assert (await console_bench.ctl("dtr 0 off"))["dtr_off"] == [0]  # AT&D2, the default: hang up
    await console_bench.expect(0, "NO CARRIER")
    assert not console_bench.modem(0).in_data_mode and not console_bench.modem(0).calls.calls


async def test_outgoing_calls_answered_or_refused_by_rule(console_bench: ConsoleBench) -> None:
    await console_bench.ctl("outcome 0612345678 busy")
    await console_bench.at(0, "ATD0612345678;")
    await console_bench.expect(0, "BUSY")
    await console_bench.ctl("outcome 0612345678 answered")
    await console_bench.at(0, "ATD0612345678;")
    await console_bench.ctl("wait 0 call-active 5")
    await console_bench.at(0, "ATH")
    voice = [r for r in console_bench.kept.records if r.type == UsageType.VOICE]
    assert len(voice) == 2  # the busy attempt and the answered call, as the gateway records both


async def test_coverage_none_home_and_roaming_with_creg_urcs(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CREG=1")
    await console_bench.ctl("coverage 0 none")
    await console_bench.expect(0, "+CREG: 2")
    await console_bench.ctl("wait 0 searching 5")
    assert (await console_bench.ctl("list 0"))[0]["csq"] == [99, 99]
    await console_bench.ctl("coverage 0 20610")  # Belgium: roaming
    await console_bench.expect(0, "+CREG: 5")
    await console_bench.ctl("coverage 0 home")
    await console_bench.expect(0, "+CREG: 1")  # a routing area update: home at once, not searching first
    assert console_bench.modem(1).net.stat == 1  # the other modem did not move


async def test_csq_and_rat(console_bench: ConsoleBench) -> None:
    await console_bench.ctl("csq 0 9 2")
    assert "+CSQ: 9,2" in await console_bench.at(0, "AT+CSQ")
    await console_bench.at(0, "AT+CREG=2")
    await console_bench.ctl("rat 0 utran")
    got = await console_bench.expect(0, ",2\r\n")  # +CREG: 1,"lac","ci",2 (UTRAN)
    assert "+CREG: 1," in got
    assert '"Orange F",2' in await console_bench.at(0, "AT+COPS?")
    assert (await console_bench.ctl("list 0"))[0]["rat"] == "utran"


async def test_detach_ends_the_context_and_the_modem_attaches_again(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, 'AT+CGDCONT=1,"IP","orange.m2m.spec"')
    await console_bench.at(0, "AT+CGACT=1,1")
    await console_bench.ctl("wait 0 context-active 1")
    await console_bench.at(0, "AT+CGREG=1")
    await console_bench.ctl("detach 0")
    await console_bench.expect(0, "+CGREG: 2")
    await console_bench.expect(0, "+CGREG: 1")
    assert (await console_bench.ctl("list 0"))[0]["contexts"] == []
    data = [r for r in console_bench.kept.records if r.type == UsageType.DATA]
    assert len(data) == 1


async def test_a_detach_by_the_network_is_billed_as_the_gateway_bills_an_operators_release(
    console_bench: ConsoleBench,
) -> None:
    """The console's `detach` is the operator's: the context's record closes with cause 20
    (management intervention, TS 32.298), as the gateway closes it for any device the network
    detaches (`NetworkAPI.detach(by_network=True)`), not 4 (abnormal: coverage lost)."""
    modem = console_bench.modem(0)
    await console_bench.at(0, 'AT+CGDCONT=1,"IP","orange.m2m.spec"')
    await console_bench.at(0, "AT+CGACT=1,1")
    await console_bench.ctl("wait 0 context-active 1")
    await console_bench.ctl("detach 0")
    (served,) = [r for r in console_bench.kept.records if r.type == UsageType.DATA]
    # the same on a network of its own, driven through the gateway API as the simulator drives it
    kept = Kept()
    net = Network(NetworkConfig(epoch=EPOCH, seed=1), kept)
    provision(net, modem, ServeScenario())
    opened = (served.start - EPOCH).total_seconds()
    ident = modem.identity
    assert net.attach(opened, ident.line_id, ident.imeisv, served.serving_plmn, modem.net.rat).accepted
    assert net.open_session(opened, ident.line_id, "orange.m2m.spec").accepted
    net.detach(opened + served.duration_s, ident.line_id, by_network=True)
    (simulated,) = [r for r in kept.records if r.type == UsageType.DATA]

    def billed(r: UsageRecord) -> tuple[object, ...]:
        return (
            r.start,
            r.duration_s,
            r.bytes_up,
            r.bytes_down,
            r.zone,
            r.serving_plmn,
            r.apn,
            r.sequence,
            r.cause,
        )

    assert billed(served) == billed(simulated)
    assert served.cause == ClosingCause.MANAGEMENT_INTERVENTION


async def test_refuse_pdp_refuses_the_next_activation_only(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CMEE=1")
    await console_bench.at(0, 'AT+CGDCONT=1,"IP","orange.m2m.spec"')
    await console_bench.ctl("refuse-pdp 0 missing-or-unknown-apn")
    await console_bench.at(0, "AT+CGACT=1,1", "+CME ERROR: 533")
    await console_bench.at(0, "AT+CGACT=1,1")
    await console_bench.ctl("wait 0 context-active 1")


async def test_fault_keys_apply_to_a_running_modem(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CMEE=1")
    await console_bench.ctl("fault 0 fail=+CSQ:cme:100 sim_busy=1")
    await console_bench.at(0, "AT+CIMI", "+CME ERROR: 14")
    await console_bench.at(0, "AT+CSQ", "+CME ERROR: 100")
    assert "+CSQ:" in await console_bench.at(1, "AT+CSQ")


async def test_coverage_on_an_unassigned_mcc_is_refused(console_bench: ConsoleBench) -> None:
    """A network of an MCC E.212 does not assign was served, its data rated `world` without a word."""
    error = await console_bench.refused("coverage 0 99901")
    assert error.startswith("coverage '99901': MCC 999 of '99901' is not an assigned mobile country code")
    await console_bench.ctl("coverage 0 26201")


async def test_wait_times_out_with_one_line(console_bench: ConsoleBench) -> None:
    error = await console_bench.refused("wait 0 call-active 0.05")
    assert error == "timeout: call-active not reached in 0.05 s by modem(s) 0"


async def test_usage_equals_the_gateways_records_and_is_priced(console_bench: ConsoleBench) -> None:
    await console_bench.at(0, "AT+CMGF=1")
    await console_bench.at(0, 'AT+CMGS="+33612345678"', "> ")
    console_bench.served[0].runner.feed(b"meter 42\x1a")
    await console_bench.expect(0, "OK")
    await console_bench.at(0, f"ATD{ANSWERING};")
    await console_bench.ctl("wait 0 call-active 5")
    await console_bench.at(0, "ATH")
    (usage,) = await console_bench.ctl("usage 0")
    mine = [r for r in console_bench.kept.records if r.line == console_bench.modem(0).identity.line_id]
    assert usage["records"] == len(mine) == 2
    assert usage["sms_records"] == 1 and usage["voice_records"] == 1
    assert usage["duration_s"] == sum(r.duration_s for r in mine)
    assert usage["month"] == "2026-03" and usage["currency"] == "EUR"
    assert usage["offer"] == "business-m2m-dtmf"
    from decimal import Decimal

    assert Decimal(usage["usage_amount"]) >= 0
    assert Decimal(usage["month_total"]) >= Decimal(usage["usage_amount"])
    (other,) = await console_bench.ctl("usage 1")
    assert other["records"] == 0 and Decimal(other["usage_amount"]) == 0


async def test_journal_has_simulated_times_and_replays(console_bench: ConsoleBench, tmp_path: Path) -> None:
    await console_bench.ctl(f"csq {console_bench.modem(1).identity.imei} 7 1")
    await console_bench.ctl("list")  # reads are not journaled
    await console_bench.ctl("coverage all none")
    text = console_bench.console.journal_text()
    path = tmp_path / "journal.jsonl"
    path.write_text(text)
    header, entries = load_journal(path)
    assert header["m2msim"] == "console-journal"
    assert [w for _, w in entries] == [["csq", "1", "7", "1"], ["coverage", "all", "none"]]
    assert entries[0][0] <= entries[1][0]
    # a second serve replays it: same commands at the same simulated times
    again = ConsoleBench()
    try:
        await replay(again.console, entries)
        assert again.modem(0).net.plmn == "" and again.modem(1).net.plmn == ""
        assert again.modem(1).radio.csq == (7, 1)
        assert [e["cmd"] for e in again.console.journal] == [w for _, w in entries]
        assert all(e["t"] >= t for e, (t, _) in zip(again.console.journal, entries, strict=True))
    finally:
        again.close()


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("", "empty"),
        ('{"m2msim": "other"}\n', "not a console journal"),
        ('{"m2msim": "console-journal"}\n{"t": -1, "cmd": ["csq", "0", "5"]}\n', ':2: expected {"t"'),
        ('{"m2msim": "console-journal"}\n{"t": 1, "cmd": ["list"]}\n', ":2: cmd: 'list' is not a command"),
        ('{"m2msim": "console-journal"}\nnot json\n', ":2: not JSON"),
    ],
)
def test_bad_journals_name_the_line(tmp_path: Path, content: str, error: str) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(content)
    with pytest.raises(JournalError, match=error.replace("{", r"\{").replace("(", r"\(")):
        load_journal(path)


def test_requests_as_words_or_json() -> None:
    assert parse_request('sms 0 +331 "two words"') == ["sms", "0", "+331", "two words"]
    assert parse_request(json.dumps(["sms", "0", "+331", 'a "quote"'])) == ["sms", "0", "+331", 'a "quote"']


def test_a_request_or_journal_nested_too_deep_is_refused_not_a_traceback(tmp_path: Path) -> None:
    """Arrays nested 10^5 deep (a client's request, a journal line) raised RecursionError out of the
    parser: the request's handler, or `modem serve --replay`, ended in a traceback."""
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(ControlError, match="nested too deep"):
        parse_request(deep)
    path = tmp_path / "j.jsonl"
    path.write_text(deep + "\n")
    with pytest.raises(JournalError, match=r"j\.jsonl:1: not JSON: nested too deep"):
        load_journal(path)


async def test_network_speed_delay_and_loss_change_the_link(console_bench: ConsoleBench) -> None:
    assert (await console_bench.ctl("list 0"))[0]["net"].startswith("gprs:")
    result = await console_bench.ctl("net 0 edge")
    assert result["conditions"].startswith("edge:")
    assert console_bench.modem(0).link.conditions.name == "edge"
    await console_bench.ctl("speed 0 64:256")
    await console_bench.ctl("delay 0 100:300")
    await console_bench.ctl("loss 0 5")
    c = console_bench.modem(0).link.conditions
    assert (c.up_bps, c.down_bps, c.rtt_min, c.rtt_max, c.loss) == (64_000, 256_000, 0.1, 0.3, 0.05)
    assert console_bench.modem(1).link.conditions.name == "gprs"
    assert "netspeed" in await console_bench.refused("speed 0 warp")
    await console_bench.ctl("rat 1 eutran")
    assert console_bench.modem(1).link.conditions.name == "lte"
