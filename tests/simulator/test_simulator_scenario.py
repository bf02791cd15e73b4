"""Scenario files: validation names the file, the key path and what was expected; overrides; shipped files."""

from __future__ import annotations

import copy
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzing import assert_cli_contract, run_cli

from m2msim.cli import main as m2msim
from m2msim.yamlio import YamlError
from simulator.scenario import ScenarioError, load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def base() -> dict[str, Any]:
    return {
        "name": "t",
        "seed": 5,
        "inventory": {
            "customer": "c",
            "month": "2026-03",
            "lines": [
                {
                    "id_prefix": "M",
                    "count": 12,
                    "offer": "business-m2m",
                    "plan": "forfait-2mo",
                    "commitment": 24,
                    "since": "2025-01-01",
                },
                {
                    "id": "33612345678",
                    "offer": "business-m2m-dtmf",
                    "plan": "compteur",
                    "commitment": 24,
                    "since": "2025-01-01",
                },
            ],
        },
        "groups": [
            {
                "name": "meters",
                "lines": "M",
                "schedule": {"period": "15min", "jitter": "tr37868-model1"},
                "application": {"profile": "mqtt-qos1"},
            },
            {
                "name": "panel",
                "lines": "33612345678",
                "sms": [{"kind": "heartbeat", "every": "1d", "dest": "0612345678"}],
            },
        ],
    }


def error_of(doc: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, "scen.yaml")
    return str(info.value)


def test_defaults_expand_lines_and_cover_the_billing_month() -> None:
    sc = parse_scenario(base(), "scen.yaml")
    assert sc.start == datetime(2026, 3, 1, tzinfo=UTC) and sc.end == datetime(2026, 4, 1, tzinfo=UTC)
    meters = sc.groups[0]
    assert meters.line_ids[0] == "M01" and meters.line_ids[-1] == "M12"  # counter as wide as the count
    assert sc.n_devices == 13
    assert meters.schedule is not None and meters.schedule.jitter_s == 60.0  # TR 37.868 Model 1: 60 s
    assert meters.apn == "orange.m2m.spec"
    assert sc.offers["33612345678"] == "business-m2m-dtmf"


@pytest.mark.parametrize(
    ("mutate", "path", "expected"),
    [
        (
            lambda d: d["groups"][0]["schedule"].update(period="often"),
            "groups[0].schedule.period",
            "a duration",
        ),
        (
            lambda d: d["groups"][0]["application"].update(profile="mqtt-5"),
            "groups[0].application.profile",
            "one of coap",
        ),
        (lambda d: d["groups"][0].update(lines="X"), "groups[0].lines", "an inventory id_prefix or line id"),
        (lambda d: d["groups"][0].update(colour="red"), "groups[0].colour", "unknown key (allowed: alarms"),
        (lambda d: d["groups"][0].update(shedule={}), "groups[0].shedule", "did you mean 'schedule'"),
        (lambda d: d["groups"][0].update(apn="nowhere"), "groups[0].apn", "an APN of the network"),
        (
            lambda d: d["groups"][1]["sms"][0].update(kind="spam"),
            "groups[1].sms[0].kind",
            "one of heartbeat, alarm",
        ),
        (
            lambda d: d.update(network={"gateway": {"partial_interval": "6h"}}),
            "network.gateway",
            "unknown key (allowed: alarms, apns, default_apn)",
        ),
        (
            lambda d: d.update(
                events={"outages": [{"kind": "server", "start": "2026-04-12T02:00:00Z", "duration": "2h"}]}
            ),
            "events.outages[0]",
            "a time within the billing month 2026-03",
        ),
        (
            lambda d: d["groups"][0].update(
                mobility={"trips": [{"start": "2026-02-01", "end": "2026-02-20", "plmn": "26201"}]}
            ),
            "groups[0].mobility.trips[0]",
            "a time within the billing month 2026-03",
        ),
        (
            lambda d: d["groups"][0].update(sim_swaps=[{"at": "2026-04-02T10:00:00Z", "share": 0.1}]),
            "groups[0].sim_swaps[0].at",
            "a time within the billing month 2026-03",
        ),
        (lambda d: d.update(period={"days": 0.000000001}), "period", "a period of at least one second"),
        (
            lambda d: d["groups"][1]["sms"][0].update(duration="20s"),
            "groups[1].sms[0].duration",
            "unknown key (allowed: dest, every, kind, rate_per_day, size)",
        ),
        (
            lambda d: d["groups"][1].update(
                calls=[{"kind": "voice", "rate_per_day": 1, "dest": "0140000000", "size": 32}]
            ),
            "groups[1].calls[0].size",
            "unknown key (allowed: dest, duration, every, kind, rate_per_day)",
        ),
        (
            lambda d: d["groups"][0]["application"].update(keepalive="5min"),
            "groups[0].application.keepalive",
            "only a persistent session sends keep-alives",
        ),
        (
            lambda d: d["groups"][0].update(application={"profile": "coap", "certificate_chain": "6kB"}),
            "groups[0].application.certificate_chain",
            "profile 'coap' has no TLS handshake",
        ),
        (
            lambda d: d.update(
                events={
                    "outages": [
                        {
                            "kind": "apn",
                            "apn": "orange.m2m.spec",
                            "start": "2026-03-02",
                            "duration": "1h",
                            "groups": ["meters"],
                        }
                    ]
                }
            ),
            "events.outages[0].groups",
            "an apn outage hits every group on that APN",
        ),
        (
            lambda d: d.update(
                events={
                    "outages": [
                        {"kind": "server", "apn": "orange.m2m.spec", "start": "2026-03-02", "duration": "1h"}
                    ]
                }
            ),
            "events.outages[0].apn",
            "only an apn outage names an APN",
        ),
        (
            lambda d: d.update(
                events={
                    "outages": [
                        {"kind": "server", "start": "2026-03-02", "duration": "1h", "recovery": "uniform"}
                    ]
                }
            ),
            "events.outages[0].recovery",
            "only an area outage has a synchronised come-back",
        ),
        (
            lambda d: d.update(
                events={
                    "outages": [
                        {"kind": "area", "start": "2026-03-02", "duration": "1h", "answer": "unreachable"}
                    ]
                }
            ),
            "events.outages[0].answer",
            "an area outage has no network to answer the device",
        ),
        (
            lambda d: d.update(
                events={
                    "outages": [{"kind": "server", "start": "2026-03-02", "duration": "1h", "answer": "rst"}]
                }
            ),
            "events.outages[0].answer",
            "one of none, unreachable",
        ),
        (
            lambda d: d["groups"][0].update(network_search="2h"),
            "groups[0].network_search",
            "at most 3600",
        ),
        (
            lambda d: d["groups"][0].update(reconnect={"policy": "immediate", "delay": "30s"}),
            "groups[0].reconnect.delay",
            "the immediate policy has no delay (only fixed and exponential)",
        ),
        (
            lambda d: d["groups"][0].update(reconnect={"policy": "fixed", "delay": "30s", "max": "30min"}),
            "groups[0].reconnect.max",
            "the fixed policy has no max (only exponential)",
        ),
        (
            lambda d: d["groups"][0].update(
                schedule={"mix": "tr45820", "jitter": "uniform", "jitter_s": "1d"}
            ),
            "groups[0].schedule.jitter_s",
            "a spread shorter than the mix's shortest period (1800 s)",
        ),
        (lambda d: d.update(seed=-1), "seed", "an integer in [0"),
        (lambda d: d.update(period={"start": "2026-04-02"}), "period", "within the billing month 2026-03"),
        (lambda d: d["inventory"].update(month="March"), "inventory.month", "YYYY-MM"),
        # a month or a period past the year 9999: `run` ended in a traceback (OverflowError)
        (lambda d: d["inventory"].update(month="9999-12"), "inventory.month", "YYYY-MM"),
        (
            lambda d: d.update(period={"start": "9999-12-31", "days": 1}),
            "period",
            "within the billing month 2026-03",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"eu_share": 0.8, "world_share": 0.5}),
            "groups[0].mobility",
            "<= 1",
        ),
        (
            lambda d: d.update(
                events={"outages": [{"kind": "flood", "start": "2026-03-02", "duration": "1h"}]}
            ),
            "events.outages[0].kind",
            "one of area, apn, server",
        ),
        (
            lambda d: d["groups"][0].update(application={"profile": "coap", "session": "persistent"}),
            "groups[0].application.profile",
            "a profile with persistent figures",
        ),
        (
            lambda d: d["groups"][0].update(alarms={"period": {"hours": ["9-5"]}}),
            "groups[0].alarms.period.hours",
            "is not HH:MM",
        ),
        (
            lambda d: d.update(network={"alarms": {"timezone": "Mars/Olympus"}}),
            "network.alarms.timezone",
            "an IANA time zone",
        ),
        (
            lambda d: d["groups"][0]["schedule"].update(jitter="none", jitter_s="5s"),
            "groups[0].schedule.jitter_s",
            "the traffic model 'none' takes no spread",
        ),
        (
            lambda d: d["groups"][0]["schedule"].update(jitter="poisson"),
            "groups[0].schedule.jitter",
            "one of none, uniform, tr37868-model1, tr37868-model2",
        ),
        (
            lambda d: d.update(
                events={
                    "outages": [
                        {"kind": "area", "start": "2026-03-02", "duration": "1h", "recovery": "tr37868-model"}
                    ]
                }
            ),
            "events.outages[0].recovery",
            "got 'tr37868-model' (did you mean 'tr37868-model",
        ),
        (
            lambda d: d["groups"][0]["schedule"].update(period=float("nan")),
            "groups[0].schedule.period",
            "nan",
        ),
        (
            lambda d: d["groups"][1]["sms"][0].update(rate_per_day=float("inf")),
            "groups[1].sms[0]",
            "exactly one of 'every'",
        ),
        (lambda d: d.update(name="../elsewhere"), "name", "cannot place files elsewhere"),
        (lambda d: d.update(name=".hidden"), "name", "a leading dot"),
        (lambda d: d.update(name="a\x00b"), "name", "a NUL character"),
        # a key that another one would make ignored, or a value that would leave a silent default
        (
            lambda d: d.update(period={"end": "2026-03-10", "days": 2}),
            "period.days",
            "an end or a number of days, not both",
        ),
        (
            lambda d: d.update(
                events={
                    "outages": [
                        {"kind": "server", "start": "2026-03-02", "duration": "1h", "end": "2026-03-03"}
                    ]
                }
            ),
            "events.outages[0].duration",
            "an end or a duration, not both",
        ),
        (
            lambda d: d["groups"][0]["application"].update(payload={"fixed": 50, "pareto": {"min": 20}}),
            "groups[0].application.payload",
            "exactly one of 'fixed' (bytes) or 'pareto'",
        ),
        (
            lambda d: d["groups"][0]["application"].update(payload={}),
            "groups[0].application.payload",
            "exactly one of 'fixed' (bytes) or 'pareto'",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"eu_share": 0.3, "eu_plmns": []}),
            "groups[0].mobility.eu_plmns",
            "at least one network for the eu_share of 0.3, got []",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"world_share": 0.1, "world_plmns": []}),
            "groups[0].mobility.world_plmns",
            "at least one network for the world_share of 0.1",
        ),
        (
            lambda d: d["groups"][0].update(
                reconnect={"policy": "exponential", "delay": "1h", "max": "1min"}
            ),
            "groups[0].reconnect.max",
            "a cap at least the first delay (3600 s), got '1min'",
        ),
        (lambda d: d["groups"][1]["sms"][0].update(dest=""), "groups[1].sms[0].dest", "a number to send"),
        (
            lambda d: d["groups"][1].update(sms=[{"kind": "alarm", "rate_per_day": 0, "dest": "0612345678"}]),
            "groups[1].sms[0].rate_per_day",
            "expected a number in (0, 86400] (for no events, remove the stream), got 0",
        ),
        (
            lambda d: d["groups"][1].update(mt_sms={"rate_per_day": 0}),
            "groups[1].mt_sms.rate_per_day",
            "expected a number in (0, 86400]",
        ),
        (
            lambda d: d["groups"][1].update(
                calls=[{"kind": "voice", "rate_per_day": 1, "dest": "0140000000", "duration": 0}]
            ),
            "groups[1].calls[0].duration",
            "expected a duration such as 30s, 15min, 2h, 1d (or a number of seconds), got 0",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"eu_share": 0.2, "eu_plmns": ["26201", "20801"]}),
            "groups[0].mobility.eu_plmns[1]",
            "expected a network of the eu zone (MCC 208: France, zone fr), got '20801'",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"world_share": 0.2, "world_plmns": ["21407"]}),
            "groups[0].mobility.world_plmns[0]",
            "expected a network of the world zone (MCC 214: Spain, zone eu), got '21407'",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"eu_share": "30%"}),
            "groups[0].mobility.eu_share",
            "expected a share from 0 to 1, such as 0.3 for 30 %, got '30%'",
        ),
        (
            lambda d: d["groups"][0].update(sim_swaps=[{"at": "2026-03-02", "share": 5}]),
            "groups[0].sim_swaps[0].share",
            "expected a share from 0 to 1, such as 0.05 for 5 %, got 5",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"eu_share": "150%"}),
            "groups[0].mobility.eu_share",
            "expected a share from 0 to 1 (a number, not a percentage), got '150%'",
        ),
        (
            lambda d: d.update(
                network={
                    "apns": {
                        "internet-entreprise": {"scan_per_hour": 10},
                        "Internet-Entreprise": {"scan_per_hour": 99},
                    }
                }
            ),
            "network.apns.Internet-Entreprise",
            "the APN 'internet-entreprise' again (APN names are read without case): keep one",
        ),
        (
            lambda d: (
                d["inventory"]["lines"].extend(
                    {
                        "id": f"3361000{n:04d}",
                        "offer": "business-m2m",
                        "plan": "compteur",
                        "commitment": 24,
                        "since": "2025-01-01",
                    }
                    for n in range(500)
                )
                or d["groups"][0].update(lines="X")
            ),
            "groups[0].lines",
            "an inventory id_prefix or line id (33610000000, 33610000001, 33610000002, 33610000003, "
            "33610000004, 33610000005, 33610000006, 33610000007, 33610000008, 33610000009, ... "
            "(502 in all)), got 'X'",  # not the 502 names
        ),
        (
            lambda d: d["groups"][1]["sms"][0].update(dest="0612 34 56"),
            "groups[1].sms[0].dest",
            "expected a number to send to or call, got '0612 34 56': a national number has 9 digits",
        ),
        (
            lambda d: d["groups"][1].update(
                calls=[{"kind": "voice", "rate_per_day": 1, "dest": "monitoring"}]
            ),
            "groups[1].calls[0].dest",
            "got 'monitoring': not a number (digits, with an optional leading '+')",
        ),
        *(
            (
                lambda d, zone=zone: d.update(network={"alarms": {"timezone": zone}}),
                "network.alarms.timezone",
                f"'{zone}' is the machine's setting, not a place's time zone",
            )
            for zone in ("localtime", "posixrules", "right/Europe/Paris")  # the machine's, not a place's
        ),
        (
            lambda d: d["groups"][0]["schedule"].update(period="500ms", jitter="none"),
            "groups[0].schedule.period",
            "a period of at least 1s (one report a second at most), got '500ms'",
        ),
        (
            lambda d: d["groups"][1]["sms"][0].update(every=0.5),
            "groups[1].sms[0].every",
            "a period of at least 1s (one event a second at most), got 0.5",
        ),
        (
            lambda d: d.update(period={"start": "2026-03-01T10:00:00.500Z", "days": 1}),
            "period.start",
            "a time on a whole second (the run counts whole seconds), got 2026-03-01T10:00:00.500000+00:00",
        ),
        (
            lambda d: d.update(period={"end": "2026-03-02T00:00:00.250Z"}),
            "period.end",
            "a time on a whole second",
        ),
        (
            lambda d: d["groups"][1].update(mobility={"home_plmn": "20810"}),
            "groups[1].mobility.home_plmn",
            "the fleet's home network 20801 (groups[0]'s: the operator's, one for every group), got '20810'",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"home_plmn": "26201"}),
            "groups[0].mobility.home_plmn",
            "expected a network of the fr zone, France métropolitaine (MCC 262: Germany, zone eu), got '26201'",
        ),
        (
            lambda d: d["groups"][0].update(
                mobility={"trips": [{"start": "2026-03-02", "end": "2026-03-05", "plmn": "99901"}]}
            ),
            "groups[0].mobility.trips[0].plmn",
            "MCC 999 of '99901' is not an assigned mobile country code (ITU-T E.212",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"eu_share": 0.2, "eu_plmns": ["26201", "28967"]}),
            "groups[0].mobility.eu_plmns[1]",
            "MCC 289 of '28967' is not an assigned mobile country code",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"world_share": 0.2, "world_plmns": ["00101"]}),
            "groups[0].mobility.world_plmns[0]",
            "MCC 001 of '00101' is not an assigned mobile country code",
        ),
        (
            lambda d: d["groups"][0].update(mobility={"home_plmn": "64400"}),
            "groups[0].mobility.home_plmn",
            "MCC 644 of '64400' is not an assigned mobile country code",
        ),
        (lambda d: d.update(groups=[]), "groups", "at least one device group"),
        (lambda d: d.update(description={"a": 1}), "description", "expected text"),
        (
            lambda d: d["inventory"]["lines"][1].update(offer="business-m2m-dmtf"),
            "inventory.lines[1].offer",
            "an offer of the catalog (business-m2m, business-m2m-dtmf, europe, europe-dtmf, intense, "
            "intense-dtmf), got 'business-m2m-dmtf' (did you mean 'business-m2m-dtmf'?)",
        ),
        (
            lambda d: d["groups"][0].update(
                mobility={"trips": [{"start": date(2026, 3, 5), "end": date(2026, 3, 2), "plmn": "26201"}]}
            ),
            "groups[0].mobility.trips[0].end",
            "expected a date after start, got 2026-03-02",  # as written, not datetime.date(...)
        ),
    ],
)
def test_errors_name_file_key_path_and_expectation(mutate: Any, path: str, expected: str) -> None:
    doc = copy.deepcopy(base())
    mutate(doc)
    text = error_of(doc)
    assert text.startswith(f"scen.yaml: {path}: "), text
    assert expected in text


def test_errors_in_a_file_name_its_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    text = yaml.safe_dump(base(), sort_keys=False).replace("dest: 0612345678", "dest: 0612345670")
    text = text.replace("schedule:", "shedule:", 1)
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    with pytest.raises(YamlError) as info:
        load_scenario(path)
    line = next(i for i, t in enumerate(lines, 1) if "shedule" in t)
    assert str(info.value) == f"{path}:{line}: groups[0].shedule: unknown key (did you mean 'schedule'?)"
    path.write_text(text.replace("shedule:", "schedule:"), encoding="utf-8")
    with pytest.raises(YamlError) as info:
        load_scenario(path)
    line = next(i for i, t in enumerate(lines, 1) if "0612345670" in t)
    assert str(info.value) == (
        f"{path}:{line}: groups[1].sms[0].dest: 0612345670 is read by YAML as a number (103402424), "
        'expected text: quote it ("0612345670")'
    )


@pytest.mark.parametrize(("written", "read_as"), [("12:00", "720"), ("1:30", "90"), ("2:00:00", "7200")])
def test_a_duration_yaml_reads_in_base_60_is_refused(tmp_path: Path, written: str, read_as: str) -> None:
    """`period: 12:00` is 720 seconds to YAML 1.1, whoever meant twelve hours or twelve minutes."""
    path = tmp_path / "s.yaml"
    text = yaml.safe_dump(base(), sort_keys=False).replace("period: 15min", f"period: {written}")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlError) as info:
        load_scenario(path)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if f"period: {written}" in t)
    assert str(info.value).startswith(
        f"{path}:{line}: groups[0].schedule.period: {written} is read by YAML as {read_as} seconds"
    )
    assert "with a unit" in info.value.reason
    path.write_text(text.replace(f"period: {written}", "period: 720"), encoding="utf-8")
    schedule = load_scenario(path).groups[0].schedule
    assert schedule is not None and schedule.period_s == 720.0


def test_outage_recovery_spread_is_the_models_default() -> None:
    doc = copy.deepcopy(base())
    doc["events"] = {
        "outages": [
            {"kind": "area", "start": "2026-03-02", "duration": "1h"},
            {"kind": "area", "start": "2026-03-03", "duration": "1h", "recovery": "uniform"},
            {"kind": "area", "start": "2026-03-04", "duration": "1h", "recovery": "tr37868-model1"},
            {
                "kind": "area",
                "start": "2026-03-05",
                "duration": "1h",
                "recovery": "uniform",
                "recovery_s": "5s",
            },
        ]
    }
    spreads = [(o.recovery, o.recovery_s) for o in parse_scenario(doc, "scen.yaml").outages]
    assert spreads == [
        ("tr37868-model2", 10.0),
        ("uniform", 60.0),
        ("tr37868-model1", 60.0),
        ("uniform", 5.0),
    ]


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(YamlError, match=r"missing\.yaml: cannot read: no such file"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ngroups: [\n", encoding="utf-8")
    with pytest.raises(YamlError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_scenario(bad)


def test_overrides_are_kept_in_the_copy_that_replays(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(base()), encoding="utf-8")
    sc = load_scenario(path, seed=99, days=2, max_lines=3)
    assert sc.seed == 99 and sc.duration_s == 2 * 86_400 and sc.groups[0].line_ids == ("M1", "M2", "M3")
    again = parse_scenario(yaml.safe_load(sc.to_yaml()), "copy")
    assert (again.seed, again.start, again.end, again.groups[0].line_ids) == (
        99,
        sc.start,
        sc.end,
        sc.groups[0].line_ids,
    )


@pytest.mark.parametrize("days", [1.00001, 1.5, 2.0])
def test_a_period_of_days_ends_on_the_last_whole_second_the_run_simulates(days: float) -> None:
    """The run counts whole seconds: `--days 1.00001` simulated 86,400 s, while the invoice's and the
    summary's `usage_covers` ended at 00:00:00.864."""
    sc = parse_scenario(base(), "scen.yaml", days=days)
    assert sc.end == sc.start + timedelta(seconds=sc.duration_s) and sc.end.microsecond == 0
    assert sc.duration_s == int(days * 86_400)


def test_a_scenario_named_by_its_file_keeps_its_name_in_the_copy_that_replays(tmp_path: Path) -> None:
    """Without `name`, a scenario is named after its file: the run's copy is `scenario.yaml`, so the
    replay was named "scenario" (its summary's first line, and its default folder runs/scenario)."""
    doc = base()
    del doc["name"]
    path = tmp_path / "meters-march.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    sc = load_scenario(path)
    copy_path = tmp_path / "run" / "scenario.yaml"
    copy_path.parent.mkdir()
    copy_path.write_text(sc.to_yaml(), encoding="utf-8")
    again = load_scenario(copy_path)
    assert sc.name == again.name == "meters-march"
    assert again.to_yaml() == sc.to_yaml()


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_load(path: Path) -> None:
    sc = load_scenario(path)
    assert sc.n_devices > 0 and sc.description
    assert sc.start.month == 3 and sc.duration_s == 31 * 86_400


def test_events_that_touch_the_billing_month_are_kept() -> None:
    """An outage or a trip running into the month, a SIM swap before it: each changes the run."""
    doc = base()
    doc["events"] = {"outages": [{"kind": "server", "start": "2026-02-28T22:00:00Z", "duration": "6h"}]}
    doc["groups"][0]["mobility"] = {"trips": [{"start": "2026-02-20", "end": "2026-03-02", "plmn": "26201"}]}
    doc["groups"][0]["sim_swaps"] = [{"at": "2026-02-15T10:00:00Z", "share": 0.5}]
    sc = parse_scenario(doc, "scen.yaml")
    assert len(sc.outages) == 1 and len(sc.groups[0].mobility.trips) == 1 and len(sc.groups[0].sim_swaps) == 1


def test_an_alarm_setting_the_gateway_refuses_is_named_once_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    doc = base()
    doc["groups"][0]["alarms"] = {"threshold": {"bytes": -5}}
    text = yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(YamlError) as info:
        load_scenario(path)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "bytes: -5" in t)
    # was "groups[0].alarms: groups[0] (meters).threshold.bytes: ...": the gateway's path pasted on ours
    assert str(info.value).startswith(f"{path}:{line}: groups[0].alarms.threshold.bytes: -5 is out of range")


@pytest.mark.parametrize(
    ("key", "value", "option"),
    [
        ("period", "soon", ["--days", "1"]),
        ("period", [1, 2], ["--days", "1"]),
        ("run", "fast", ["--shard-devices", "2"]),
    ],
)
def test_an_option_overriding_a_key_that_is_no_mapping_exits_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: Any, option: list[str]
) -> None:
    """`--days` writes into `period`, `--shard-devices` into `run`: a scalar or a list there was a
    traceback (dict() of a string), not the line that names the key."""
    path = tmp_path / "s.yaml"
    doc = base()
    doc[key] = value
    text = yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    assert m2msim(["run", str(path), *option, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith(f"{key}:"))
    assert (
        err.startswith(f"m2msim run: {path}:{line}: {key}: expected a mapping, got ") and err.count("\n") == 1
    )
    assert not (tmp_path / "o").exists()


def test_a_scenario_named_by_a_file_name_that_is_not_utf8_is_refused_before_running(tmp_path: Path) -> None:
    """Without `name`, the file's name names the run: bytes of it that are not UTF-8 made a run that
    simulated, then failed on its own parts (DuckDB opens UTF-8 paths only) naming a temporary folder."""
    doc = base()
    del doc["name"]
    path = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"caf\xe9.yaml")))
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    out = tmp_path / "o"
    result = run_cli(["run", str(path), "--days", "0.01", "--out", str(out)])
    assert_cli_contract(result)
    where = str(path).encode("utf-8", "backslashreplace").decode()  # as stderr writes it
    assert result.rc == 2 and result.err.startswith(
        f"m2msim run: {where}:1: name: 'caf\\udce9' has bytes that are not UTF-8 (the file's name)"
    ), result
    assert "set name: in the scenario" in result.err
    assert not out.exists()
    doc["name"] = "cafe"  # named in the file: the file's own name does not matter
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert load_scenario(path).name == "cafe"


def test_an_unassigned_mcc_is_refused_naming_file_line_and_key(tmp_path: Path) -> None:
    """A roaming network whose MCC E.212 does not assign (267: Germany's is 262) was rated `world`
    without a word."""
    doc = base()
    doc["groups"][0]["mobility"] = {"trips": [{"start": "2026-03-02", "end": "2026-03-05", "plmn": "26701"}]}
    path = tmp_path / "s.yaml"
    text = yaml.safe_dump(doc, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "26701" in t)
    out = tmp_path / "o"
    result = run_cli(["run", str(path), "--days", "0.01", "--out", str(out)])
    assert_cli_contract(result)
    assert result.rc == 2 and result.err.startswith(
        f"m2msim run: {path}:{line}: groups[0].mobility.trips[0].plmn: MCC 267 of '26701' is not an assigned"
    ), result
    assert not out.exists()


def test_parts_of_one_scenario_cut_into_other_shards_are_not_one_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A device's records do not depend on its shard: the scenario run again with other
    `--shard-devices` writes them in another shard's part.  Both parts' footers named the run by the
    scenario's name and seed alone, so a part of each given together was taken for two shards of one
    run, not searched for duplicates, and every record of the second billed twice."""
    import json

    import pyarrow.parquet as pq

    doc = base()
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(doc["inventory"], sort_keys=False), encoding="utf-8")
    for devices in (13, 7, 13):
        out = tmp_path / f"run{devices}" if not (tmp_path / f"run{devices}").exists() else tmp_path / "again"
        args = ["run", str(path), "--days", "1", "--shard-devices", str(devices), "--no-invoice"]
        assert m2msim([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    # (the same scenario run again writes the same bytes, its footers too)
    part = Path("usage") / "part-00000.parquet"
    assert (tmp_path / "again" / part).read_bytes() == (tmp_path / "run13" / part).read_bytes()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "part-00000.parquet").write_bytes((tmp_path / "run13" / part).read_bytes())
    second = tmp_path / "run7" / "usage" / "part-00001.parquet"
    (mixed / "part-00001.parquet").write_bytes(second.read_bytes())

    def rate(usage: Path) -> dict[str, Any]:
        assert m2msim(["rate", str(inventory), str(usage), "--json"]) == 0
        rated: dict[str, Any] = json.loads(capsys.readouterr().out)
        return rated

    whole, mix = rate(tmp_path / "run13" / "usage"), rate(mixed)
    copies = pq.read_metadata(second).num_rows
    assert copies and mix["rows_read"] == whole["rows_read"] + copies
    assert len(mix["rejects"]) == copies
    assert {r["reason"].split(":")[0] for r in mix["rejects"]} == {"duplicate record"}
    assert mix["total_ht"] == whole["total_ht"]
