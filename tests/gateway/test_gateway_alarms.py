"""Autodiagnostic alarms: each rule fires, and the cases that must not fire do not."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from accounting.records import UsageRecord, Zone
from gateway.alarms import (
    Alarm,
    AlarmEngine,
    JsonLinesAlarmSink,
    Use,
    UseKind,
    load_alarm_config,
    parse_alarm_config,
)
from gateway.api import CallKind, Subscriber
from gateway.errors import ConfigError
from gateway.network import Network, NetworkConfig
from gateway.switch import SwitchConfig

EPOCH = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DEVICE = "3569380356438091"  # IMEI 35693803564380, software version 91
SAME_DEVICE_NEW_FIRMWARE = "3569380356438092"
OTHER_DEVICE = "3569380356438199"


class Alarms:
    def __init__(self) -> None:
        self.alarms: list[Alarm] = []

    def write(self, alarm: Alarm) -> None:
        self.alarms.append(alarm)

    def rules(self) -> list[str]:
        return [a.rule for a in self.alarms]


class Records:
    def write(self, record: UsageRecord) -> None:
        pass


def make(
    group: dict[str, object], watched: tuple[str, ...] = ("L1",), **extra: object
) -> tuple[Network, Alarms]:
    sink = Alarms()
    config = parse_alarm_config(
        {
            "timezone": "UTC",
            "holdoff_s": 0,
            "groups": [{"name": "g", "lines": ["L1", "L2"], **group}],
            **extra,
        }
    )
    engine = config.engine(set(watched), sink)
    net = Network(
        NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0, calls=SwitchConfig(p_answered=1.0, p_busy=0.0)),
        Records(),
        alarms=engine,
    )
    net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m-dtmf"))
    net.register_subscriber(Subscriber("L2", "208011234567891", "33612345679", "business-m2m-dtmf"))
    return net, sink


def test_geography_fires_outside_the_allow_list_only() -> None:
    net, sink = make({"geography": {"countries": ["FR", "BE"], "operators": ["26201"]}})
    net.attach(0, "L1", DEVICE, "20801")  # France
    net.attach(10, "L1", DEVICE, "20610")  # Belgium
    net.attach(20, "L1", DEVICE, "26201")  # Germany, but an allowed operator
    assert sink.alarms == []
    net.attach(30, "L1", DEVICE, "26202")  # Germany, another operator
    net.attach(40, "L1", DEVICE, "31041")
    assert sink.rules() == ["geography", "geography"]
    assert sink.alarms[0].details["country"] == "DE"
    assert sink.alarms[1].details["serving_plmn"] == "31041"


def test_operator_only_allow_list() -> None:
    net, sink = make({"geography": {"operators": ["20801"]}})
    net.attach(0, "L1", DEVICE, "20801")
    net.attach(1, "L1", DEVICE, "20810")  # France, but not the allowed operator
    assert sink.rules() == ["geography"]


def test_imei_change_compares_the_14_digit_imei() -> None:
    net, sink = make({"imei_change": True})
    net.attach(0, "L1", DEVICE, "20801")  # first sight: the reference
    net.attach(10, "L1", SAME_DEVICE_NEW_FIRMWARE, "20801")  # IMEISV-only change: a firmware update
    net.attach(20, "L1", "356938035643809", "20801")  # the same IMEI written with its check digit
    assert sink.alarms == []
    net.attach(30, "L1", OTHER_DEVICE, "20801")
    (alarm,) = sink.alarms
    assert alarm.rule == "imei-change"
    assert alarm.details == {"previous_imei": "35693803564380", "imei": "35693803564381"}


def test_period_allows_the_edges_of_the_window() -> None:
    net, sink = make({"period": {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["08:00-20:00"]}})
    net.attach(8 * 3600, "L1", DEVICE, "20801")  # Monday 08:00:00: the window's first second
    net.send_sms(20 * 3600, "L1", "0612000000")  # Monday 20:00:00: its last second
    assert sink.alarms == []
    net.send_sms(20 * 3600 + 1, "L1", "0612000000")  # 20:00:01
    net.send_sms(5 * 86_400 + 12 * 3600, "L1", "0612000000")  # Saturday noon
    assert sink.rules() == ["period", "period"]
    assert sink.alarms[0].details == {"use": "sms", "local_time": "2026-03-02T20:00:01+00:00"}


def test_period_in_local_time_and_dates() -> None:
    net, sink = make(
        {"period": {"hours": ["08:00-20:00"], "from": "2026-03-02", "until": "2026-03-02"}},
        timezone="Europe/Paris",
    )
    net.attach(7 * 3600, "L1", DEVICE, "20801")  # 08:00 in Paris (UTC+1): allowed
    net.send_sms(19 * 3600 + 1, "L1", "0612000000")  # 20:00:01 in Paris
    net.send_sms(86_400 + 9 * 3600, "L1", "0612000000")  # the next day: outside the dates
    assert sink.rules() == ["period", "period"]


def test_communication_type() -> None:
    net, sink = make({"allowed_types": ["data", "sms"]})
    net.attach(0, "L1", DEVICE, "20801")
    s = net.open_session(1, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(2, s.session_id, 10, 10)
    net.close_session(3, s.session_id)
    net.send_sms(4, "L1", "0612000000")
    assert sink.alarms == []
    call = net.place_call(5, "L1", "0145678901", CallKind.VOICE)
    assert call.call_id
    net.hang_up(6, call.call_id)
    net.place_call(7, "L1", "0145678901", CallKind.CSD)  # refused by the offer, still an attempt
    net.attach(8, "L1", DEVICE, "20610")
    net.open_session(9, "L1", "orange.m2m.spec")  # data abroad
    assert [a.details["type"] for a in sink.alarms] == ["voice", "csd", "roaming-data"]


def test_data_carried_abroad_in_a_context_opened_at_home_is_roaming_data() -> None:
    """The record stays in the zone where its session was opened (`fr`); the alarm is about where the
    device was: data carried in Belgium is roaming data."""
    net, sink = make({"allowed_types": ["data", "sms"]})
    net.attach(0, "L1", DEVICE, "20801")
    s = net.open_session(1, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(2, s.session_id, 10, 10)
    net.move(3, "L1", "20610")
    assert sink.alarms == []
    net.transfer(4, s.session_id, 10, 10)
    assert [(a.details["type"], a.details["serving_plmn"]) for a in sink.alarms] == [
        ("roaming-data", "20610")
    ]


def test_threshold_volume_fires_once_a_month() -> None:
    net, sink = make({"threshold": {"bytes": 1_000}})
    net.attach(0, "L1", DEVICE, "20801")
    s = net.open_session(1, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(2, s.session_id, 500, 500)  # exactly at the limit: not over it
    assert sink.alarms == []
    net.transfer(3, s.session_id, 1, 0)
    net.transfer(4, s.session_id, 5_000, 0)
    assert sink.rules() == ["threshold"]
    assert sink.alarms[0].details == {"month": "2026-03", "measure": "bytes", "limit": 1_000, "value": 1_001}
    net.transfer(31 * 86_400, s.session_id, 1_001, 0)  # April: counted afresh
    assert sink.rules() == ["threshold", "threshold"]


def test_threshold_amount_from_unit_prices() -> None:
    net, sink = make({"threshold": {"amount": "0.20", "prices": {"per_sms": "0.07", "per_call_s": "0.0025"}}})
    net.attach(0, "L1", DEVICE, "20801")
    net.send_sms(1, "L1", "0612000000")
    net.send_sms(2, "L1", "0612000000")
    assert sink.alarms == []  # 0.14
    call = net.place_call(3, "L1", "0145678901", CallKind.VOICE)
    assert call.call_id
    net.hang_up(3 + 24, call.call_id)  # 0.14 + 0.06 = 0.20: not over
    assert sink.alarms == []
    net.send_sms(30, "L1", "0612000000")
    assert sink.alarms[0].details["value"] == "0.27"


def test_only_lines_with_the_option_are_watched() -> None:
    net, sink = make({"geography": {"countries": ["FR"]}, "imei_change": True}, watched=("L1",))
    net.attach(0, "L2", DEVICE, "31041")
    net.attach(1, "L2", OTHER_DEVICE, "31041")
    assert sink.alarms == []
    net.attach(2, "L1", DEVICE, "31041")
    assert [a.line for a in sink.alarms] == ["L1"]


def test_holdoff_suppresses_repeats_and_counts_them() -> None:
    net, sink = make({"period": {"hours": ["08:00-09:00"]}}, holdoff_s=3600)
    net.attach(0, "L1", DEVICE, "20801")
    for k in range(1, 5):
        net.send_sms(k * 600, "L1", "0612000000")
    net.send_sms(3600, "L1", "0612000000")
    assert len(sink.alarms) == 2
    assert net.alarms is not None and net.alarms.suppressed["period"] == 4


def test_alarms_are_json_lines(tmp_path: Path) -> None:
    stream = io.StringIO()
    config_file = tmp_path / "alarms.yaml"
    config_file.write_text(
        "timezone: Europe/Paris\ngroups:\n  - name: meters\n    line_prefix: M\n    geography: {countries: [FR]}\n",
        encoding="utf-8",
    )
    engine = load_alarm_config(config_file).engine(lambda line: True, JsonLinesAlarmSink(stream))
    net = Network(NetworkConfig(epoch=EPOCH), Records(), alarms=engine)
    net.register_subscriber(Subscriber("M001", "208011234567892", "33612345670", "intense"))
    net.attach(90.5, "M001", DEVICE, "23415")
    (line,) = stream.getvalue().splitlines()
    doc = json.loads(line)
    assert doc["time"] == "2026-03-02T00:01:30.500000+00:00"
    assert (doc["line"], doc["rule"], doc["details"]["country"]) == ("M001", "geography", "GB")


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "list 'groups'"),
        ({"groups": [{"lines": ["L1"]}]}, "with a 'name'"),
        ({"groups": [{"name": "g", "colour": "red"}]}, r"groups\[0\] \(g\)\.colour: unknown key"),
        ({"groups": [], "timezon": "UTC"}, "timezon: unknown key \\(did you mean 'timezone'\\?\\)"),
        ({"groups": [{"name": "g", "periode": {}}]}, "did you mean 'period'"),
        ({"groups": [{"name": "g", "period": {"hour": ["08:00-09:00"]}}]}, "did you mean 'hours'"),
        ({"groups": [], "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (
            {"groups": [], "timezone": "localtime"},
            "'localtime' is the machine's setting, not a place's time zone",
        ),
        ({"groups": [], "timezone": "right/UTC"}, "'right/UTC' is the machine's setting"),
        (
            {"groups": [{"name": "g", "period": {"from": "2026-05-01", "until": "2026-04-01"}}]},
            "period.until: 2026-04-01 is before from: 2026-05-01",
        ),
        (
            {"groups": [{"name": "g", "lines": ["L1"]}, {"name": "g", "lines": ["L2"]}]},
            r"groups\[1\]\.name: duplicate group name 'g'",
        ),
        # a group that names no line watches nothing: its rules never ran, silently
        ({"groups": [{"name": "g", "imei_change": True}]}, r"groups\[0\] \(g\): names no line"),
        ({"groups": [{"name": "g", "lines": [], "imei_change": True}]}, r"groups\[0\] \(g\): names no line"),
        (
            {"groups": [{"name": "g", "line_prefix": [], "imei_change": True}]},
            r"groups\[0\] \(g\): names no line",
        ),
        (
            {"groups": [{"name": "g", "lines": [" "], "imei_change": True}]},
            r"groups\[0\] \(g\)\.lines\[0\]: empty: a line id expected",
        ),
        ({"groups": [{"name": "g", "lines": [33612345678]}]}, "expected a line id"),
        ({"groups": [{"name": "g", "period": {"days": ["lun"]}}]}, "period.days: unknown"),
        ({"groups": [{"name": "g", "period": {"hours": ["22:00-00:00"]}}]}, "24:00 at its end"),
        ({"groups": [{"name": "g", "period": {"hours": ["24:00-06:00"]}}]}, "00:00 at a window's start"),
        ({"groups": [{"name": "g", "period": {"hours": ["8h-9h"]}}]}, "not HH:MM"),
        ({"groups": [{"name": "g", "allowed_types": ["telex"]}]}, "allowed_types: unknown"),
        (
            {"groups": [{"name": "g", "geography": {"countries": ["France"]}}]},
            r"geography.countries\[0\]: 'France' is not an ISO 3166-1 alpha-2 country code",
        ),
        ({"groups": [{"name": "g", "geography": {"countries": ["FR", "FRA"]}}]}, r"countries\[1\]: 'FRA'"),
        ({"groups": [{"name": "g", "threshold": {"amount": "lots"}}]}, "threshold.amount"),
        ({"groups": [{"name": "g", "threshold": {"amount": "10.00"}}]}, "threshold.amount: .* never fire"),
        (
            {"groups": [{"name": "g", "threshold": {"amount": "10", "prices": {"per_mo": "0"}}}]},
            "threshold.amount: .* never fire",
        ),
        ({"groups": [{"name": "g", "threshold": {"bytes": -5}}]}, "threshold.bytes"),
        ({"groups": [{"name": "g", "threshold": {}}]}, r"groups\[0\] \(g\)\.threshold: .* never fire"),
        ({"groups": [{"name": "g", "threshold": None}]}, r"\.threshold: a threshold needs a limit"),
        (
            {"groups": [{"name": "g", "threshold": {"prices": {"per_mo": "1"}}}]},
            r"\.threshold: a threshold needs a limit",
        ),
        ({"groups": [{"name": "g", "period": {}}]}, r"groups\[0\] \(g\)\.period: .* never fire"),
        # an empty list allows nothing: every use raised the alarm (accepted before)
        ({"groups": [{"name": "g", "allowed_types": []}]}, r"\.allowed_types: an empty list allows no"),
        ({"groups": [{"name": "g", "period": {"days": []}}]}, r"\.period\.days: an empty list allows no day"),
        ({"groups": [{"name": "g", "period": {"hours": []}}]}, r"\.period\.hours: an empty list allows no"),
        ({"groups": [{"name": "g", "geography": {}}]}, r"\.geography: a geography needs countries or"),
        ({"groups": [{"name": "g", "geography": None}]}, r"\.geography: a geography needs countries or"),
        (
            {"groups": [{"name": "g", "geography": {"countries": [], "operators": []}}]},
            r"\.geography: a geography needs countries or operators",
        ),
    ],
)
def test_bad_alarm_configs_name_the_key(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_alarm_config(doc, "alarms.yaml")


def test_unknown_timezone() -> None:
    with pytest.raises(ConfigError, match="time zone"):
        AlarmEngine([], (), Alarms(), timezone="Mars/Olympus")


PARIS = ZoneInfo("Europe/Paris")


def engine(group: dict[str, object], **extra: object) -> tuple[AlarmEngine, Alarms]:
    sink = Alarms()
    config = parse_alarm_config({"groups": [{"name": "g", "lines": ["L1"], **group}], **extra})
    return config.engine({"L1"}, sink, watched_from=None), sink


def data(time: datetime, nbytes: int = 0, plmn: str = "20801") -> Use:
    return Use(time, "L1", UseKind.DATA, plmn, Zone.FR if plmn.startswith("208") else Zone.EU, bytes=nbytes)


def test_times_given_in_another_zone_are_counted_in_utc() -> None:
    """The month of the threshold is UTC's (the billing month): 01:30 in Paris on 1 April is 31 March
    23:30 UTC, and adds to March."""
    eng, sink = engine({"threshold": {"bytes": 100}}, holdoff_s=0)
    eng.observe(data(datetime(2026, 3, 31, 23, 0, tzinfo=UTC), 80))
    eng.observe(data(datetime(2026, 4, 1, 1, 30, tzinfo=PARIS), 80))
    assert [(a.details["month"], a.details["value"]) for a in sink.alarms] == [("2026-03", 160)]
    assert sink.alarms[0].time == datetime(2026, 3, 31, 23, 30, tzinfo=UTC)


def test_holdoff_counts_real_time_across_the_autumn_clock_change() -> None:
    """25 October 2026 in Paris: 02:30 CEST then 02:45 CET are 75 minutes apart, past a 1-hour holdoff."""
    eng, sink = engine({"period": {"hours": ["08:00-09:00"]}}, holdoff_s=3600, timezone="Europe/Paris")
    sms = [
        Use(datetime(2026, 10, 25, 2, 30, tzinfo=PARIS), "L1", UseKind.SMS, "20801", Zone.FR, count=1),
        Use(
            datetime(2026, 10, 25, 2, 45, fold=1, tzinfo=PARIS), "L1", UseKind.SMS, "20801", Zone.FR, count=1
        ),
    ]
    for use in sms:
        eng.observe(use)
    assert [a.details["local_time"] for a in sink.alarms] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:45:00+01:00",
    ]
    assert eng.suppressed["period"] == 0


def test_threshold_crossed_before_the_option_starts_fires_at_the_first_use_after() -> None:
    """The option starts on 10 March: the month's volume crossed the limit on the 5th (no alarm then);
    the line's first use once watched raises the alarm, with the month's whole volume."""
    sink = Alarms()
    config = parse_alarm_config({"groups": [{"name": "g", "lines": ["L1"], "threshold": {"bytes": 100}}]})
    eng = config.engine({"L1"}, sink, watched_from={"L1": datetime(2026, 3, 10, tzinfo=UTC)})
    eng.observe(data(datetime(2026, 3, 5, tzinfo=UTC), 150))
    eng.observe(data(datetime(2026, 3, 9, 23, 59, tzinfo=UTC), 10))
    assert sink.alarms == []
    eng.observe(data(datetime(2026, 3, 10, 0, 5, tzinfo=UTC), 1))
    eng.observe(data(datetime(2026, 3, 11, tzinfo=UTC), 1))
    assert [(a.time.day, a.details["value"]) for a in sink.alarms] == [(10, 161)]


def test_a_night_window_runs_past_midnight_on_the_day_it_started() -> None:
    """Weeknights 22:00-06:00 in Paris: Friday night's 03:00 (a Saturday) is allowed, Sunday night's
    is not; both ends are allowed; the `until` day's night runs into the next morning."""
    night = {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["22:00-06:00"], "until": "2026-03-06"}
    eng, sink = engine({"period": night}, holdoff_s=0, timezone="Europe/Paris")

    def sms(day: int, hour: int, minute: int = 0, second: int = 0) -> None:
        t = datetime(2026, 3, day, hour, minute, second, tzinfo=PARIS)
        eng.observe(Use(t, "L1", UseKind.SMS, "20801", Zone.FR, count=1))

    sms(2, 22)  # Monday 22:00:00
    sms(3, 5, 59)  # Tuesday 05:59, Monday night
    sms(3, 6)  # Tuesday 06:00:00, the window's last second
    sms(7, 3)  # Saturday 03:00, Friday night (Friday is the `until` day)
    assert sink.alarms == []
    sms(2, 3)  # Monday 03:00: Sunday night
    sms(2, 21, 59, 59)  # Monday before the night
    sms(3, 6, 0, 1)  # Tuesday 06:00:01
    sms(8, 3)  # Sunday 03:00: Saturday night
    assert [a.details["local_time"][:19] for a in sink.alarms] == [
        "2026-03-02T03:00:00",
        "2026-03-02T21:59:59",
        "2026-03-03T06:00:01",
        "2026-03-08T03:00:00",
    ]


def test_threshold_amount_prices_the_billable_ko_of_each_record() -> None:
    """Data is billed per record rounded up to a whole ko: a 12-hour cut makes two records of one
    session, each rounded. 1,000 B then 100 B across the cut are 1,090 B and 10 B: 2 + 1 ko, 3 EUR at
    1 EUR/ko, over 2.50 (the raw 1,100 B are 1.07 EUR, the session rounded as one 2 EUR)."""

    class Kept:
        def __init__(self) -> None:
            self.records: list[UsageRecord] = []

        def write(self, record: UsageRecord) -> None:
            self.records.append(record)

    kept, sink = Kept(), Alarms()
    threshold = {"amount": "2.50", "prices": {"per_mo": "1024"}}
    config = parse_alarm_config({"groups": [{"name": "g", "lines": ["L1"], "threshold": threshold}]})
    net = Network(NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0), kept, alarms=config.engine({"L1"}, sink))
    net.register_subscriber(Subscriber("L1", "208011234567890", "33612345678", "business-m2m"))
    net.attach(0, "L1", DEVICE, "20801")
    s = net.open_session(1, "L1", "orange.m2m.spec")
    assert s.session_id
    net.transfer(3600, s.session_id, 600, 400)
    net.transfer(13 * 3600, s.session_id, 50, 50)  # the cut at 12:00:01 closes the first record
    net.close_session(13 * 3600 + 10, s.session_id)
    assert [r.bytes_up + r.bytes_down for r in kept.records] == [1090, 10]
    assert [(a.time, a.details["value"]) for a in sink.alarms] == [
        (datetime(2026, 3, 2, 13, tzinfo=UTC), "3.00")
    ]


def test_a_use_observed_late_is_held_off_only_by_earlier_alarms() -> None:
    """The simulator's bulk data reaches the engine after the SMS of the same days: an SMS alarm on
    the 6th must not hold off the data alarms of the 2nd, which came first."""
    eng, sink = engine({"period": {"hours": ["08:00-09:00"]}}, holdoff_s=3600)

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2026, 3, day, hour, minute, tzinfo=UTC)

    eng.observe(Use(at(6, 12), "L1", UseKind.SMS, "20801", Zone.FR, count=1))
    eng.observe(data(at(2, 12), 100))  # observed late: the first alarm of the 2nd
    eng.observe(data(at(2, 12, 30), 100))  # 30 minutes after it: held off
    eng.observe(data(at(6, 12, 30), 100))  # 30 minutes after the SMS alarm: held off
    eng.observe(data(at(6, 13, 0), 100))  # an hour after it: written
    assert [a.time for a in sink.alarms] == [at(6, 12), at(2, 12), at(6, 13)]
    assert eng.suppressed["period"] == 2


def test_a_month_observed_late_keeps_its_own_threshold_count() -> None:
    eng, sink = engine({"threshold": {"bytes": 100}}, holdoff_s=0)
    eng.observe(data(datetime(2026, 3, 31, 20, tzinfo=UTC), 60))
    eng.observe(data(datetime(2026, 4, 1, 1, tzinfo=UTC), 60))
    eng.observe(data(datetime(2026, 3, 31, 22, tzinfo=UTC), 60))  # March, observed after April's
    assert [(a.details["month"], a.details["value"]) for a in sink.alarms] == [("2026-03", 120)]


@pytest.mark.parametrize(
    "period",
    [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "hours": ["08:00-20:00"]},
        {"days": ["fri", "sat"], "hours": ["22:00-06:00", "12:00-12:30"], "from": "2026-03-27"},
        {"hours": ["01:30-02:30"], "until": "2026-10-25"},
    ],
)
def test_the_period_of_many_uses_at_once_is_the_period_of_each(period: dict[str, object]) -> None:
    """The simulator's bulk records are checked at once (numpy); across both clock changes of Paris."""
    eng, _ = engine({"period": period}, timezone="Europe/Paris")
    rule = eng.groups[0].period
    assert rule is not None
    times = [
        int(datetime(2026, month, day, tzinfo=UTC).timestamp()) + k * 353
        for month, days in ((3, range(26, 31)), (10, range(23, 28)))
        for day in days
        for k in range(0, 86_400 // 353)
    ]
    many = eng.outside_period(rule, np.array(times, dtype=np.int64)).tolist()
    one = [not rule.allows(datetime.fromtimestamp(t, PARIS)) for t in times]
    assert many == one and any(one) and not all(one)


def test_a_line_abroad_when_its_option_starts_raises_the_geography_alarm_at_its_first_use() -> None:
    """Registered in Germany on the 5th, the option from the 10th: the attach raised nothing (not
    watched yet); the first use once watched is a use from a country not listed, and raises it."""
    sink = Alarms()
    config = parse_alarm_config(
        {"groups": [{"name": "g", "lines": ["L1"], "geography": {"countries": ["FR"]}}]}
    )
    eng = config.engine({"L1"}, sink, watched_from={"L1": datetime(2026, 3, 10, tzinfo=UTC)})
    eng.observe(Use(datetime(2026, 3, 5, tzinfo=UTC), "L1", UseKind.ATTACH, "26201", Zone.EU))
    eng.observe(data(datetime(2026, 3, 9, tzinfo=UTC), 10, plmn="26201"))
    assert sink.alarms == []
    eng.observe(data(datetime(2026, 3, 10, 6, tzinfo=UTC), 10, plmn="26201"))
    eng.observe(data(datetime(2026, 3, 12, tzinfo=UTC), 10, plmn="26201"))  # once, as for an attach
    assert [(a.rule, a.time.day, a.details["country"]) for a in sink.alarms] == [("geography", 10, "DE")]


def test_a_call_hung_up_the_second_it_was_answered_is_one_use() -> None:
    """The call is checked when placed; its end only adds its seconds. A call of 0 s (answered and
    hung up in the same second) was checked a second time at its end: two alarms for one call."""
    net, sink = make({"allowed_types": ["data", "sms"], "period": {"hours": ["08:00-20:00"]}})
    net.attach(8 * 3600, "L1", DEVICE, "20801")
    call = net.place_call(21 * 3600, "L1", "0145678901", CallKind.VOICE)
    assert call.call_id
    net.hang_up(21 * 3600, call.call_id)
    assert sorted(sink.rules()) == ["communication-type", "period"]


@pytest.mark.parametrize("watched_from", [None, datetime(2026, 3, 31, 23, 30, tzinfo=UTC)])
def test_records_observed_at_once_raise_the_threshold_at_the_crossing_record(
    watched_from: datetime | None,
) -> None:
    """A day's records given at once (`observe_records`) raise the threshold alarms of the same
    records observed one by one at their ends: dated at the record that takes the month over the
    limit, with the month's total then (it was dated at the day's first record, with the day's
    total); a day running into the next month counts each record in the month of its end."""
    group = {"threshold": {"bytes": 5000, "amount": "3", "prices": {"per_mo": "100", "per_sms": "1"}}}
    config = parse_alarm_config({"groups": [{"name": "g", "lines": ["L1"], **group}], "holdoff_s": 0})
    watched = None if watched_from is None else {"L1": watched_from}
    rng = np.random.default_rng(7)
    start = int(datetime(2026, 3, 31, 12, tzinfo=UTC).timestamp())
    ends = np.sort(start + rng.integers(0, 86_400, size=200)).astype(np.int64)
    volumes = rng.integers(0, 120, size=200).astype(np.int64)
    ko = (volumes + 1023) >> 10
    sinks = []
    for at_once in (True, False):
        sink = Alarms()
        eng = config.engine({"L1"}, sink, watched_from=watched)
        sms = datetime(2026, 3, 31, 13, tzinfo=UTC)
        eng.observe(Use(sms, "L1", UseKind.SMS, "20801", Zone.FR, count=1))
        if at_once:
            eng.observe_records(data(datetime.fromtimestamp(start, UTC)), ends, volumes, ko)
        else:
            for t, b, k in zip(ends.tolist(), volumes.tolist(), ko.tolist(), strict=True):
                eng.observe(replace(data(datetime.fromtimestamp(t, UTC), b), ko=k))
        sinks.append([(a.time, a.details) for a in sink.alarms])
    assert sinks[0] == sinks[1]
    assert {(d["month"], d["measure"]) for _, d in sinks[0]} == {
        (m, x) for m in ("2026-03", "2026-04") for x in ("bytes", "amount")
    }
    for time, details in sinks[0]:
        if details["measure"] == "bytes":
            month = [
                e for e in ends.tolist() if details["month"] == f"{datetime.fromtimestamp(e, UTC):%Y-%m}"
            ]
            crossing = next(e for e in month if volumes[(ends >= month[0]) & (ends <= e)].sum() > 5000)
            due = max(crossing, int((watched_from or EPOCH).timestamp()))
            assert time == datetime.fromtimestamp(min(e for e in month if e >= due), UTC)


def test_the_amount_is_written_to_the_cent_as_the_invoice_rounds_it() -> None:
    """Five SMS at 0.025 are 0.125: over 0.10, written 0.13 as the invoice rounds (half-up); it was
    written 0.12 (the decimal context's half-even)."""
    eng, sink = engine({"threshold": {"amount": "0.10", "prices": {"per_sms": "0.025"}}}, holdoff_s=0)
    for k in range(5):
        eng.observe(Use(datetime(2026, 3, 2, k, tzinfo=UTC), "L1", UseKind.SMS, "20801", Zone.FR, count=1))
    assert [(a.time.hour, a.details["value"]) for a in sink.alarms] == [(4, "0.13")]


@pytest.mark.parametrize("empty_at", ["first", "last"])
def test_records_at_once_of_no_bytes_raise_no_threshold_alarm(empty_at: str) -> None:
    """The month went over the limit before the line was watched (10 March): one by one, the alarm
    comes at the first record once watched that adds to the month; a record of no bytes adds
    nothing and is not checked.  Given at once, an empty record at or after the start of the
    watch raised the alarm (at the first watched record, or at the day's last record however
    empty): at 01:00 with the month's total before the usage of 02:00, or when no record after
    the start added anything."""
    at = [datetime(2026, 3, 10, h, tzinfo=UTC) for h in (1, 2)]
    volumes = [0, 10] if empty_at == "first" else [10, 0]
    if empty_at == "last":
        at[0] = datetime(2026, 3, 9, 23, tzinfo=UTC)
    sinks = []
    for at_once in (True, False):
        sink = Alarms()
        config = parse_alarm_config({"groups": [{"name": "g", "lines": ["L1"], "threshold": {"bytes": 100}}]})
        eng = config.engine({"L1"}, sink, watched_from={"L1": datetime(2026, 3, 10, tzinfo=UTC)})
        eng.observe(data(datetime(2026, 3, 5, tzinfo=UTC), 150))
        ends = np.array([int(t.timestamp()) for t in at], dtype=np.int64)
        nbytes = np.array(volumes, dtype=np.int64)
        if at_once:
            eng.observe_records(data(at[0] - timedelta(minutes=5)), ends, nbytes, (nbytes + 1023) >> 10)
        else:
            eng.observe(data(at[0] - timedelta(minutes=5)))
            for t, b in zip(at, volumes, strict=True):
                eng.observe(replace(data(t, b), ko=(b + 1023) >> 10))
        sinks.append([(a.time, a.details["value"]) for a in sink.alarms])
    want = [(at[1], 160)] if empty_at == "first" else []
    assert sinks == [want, want]
