"""tshark, an independent dissector, decodes the capture: identities, counters, no malformed packet."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from netparts import EPOCH

from gateway.capture import PcapCapture
from gateway.capture.synthetic import drive, make_sessions

SECRET = "tshark-secret"
TSHARK = shutil.which("tshark")

if TSHARK is None:
    print("tshark is not installed (Debian package tshark; .ci/run installs it): tshark tests skipped")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (Debian package tshark)")


def tshark(path: Path, *args: str) -> list[list[str]]:
    assert TSHARK is not None
    done = subprocess.run(
        [
            TSHARK,
            "-n",
            "-r",
            str(path),
            "-o",
            f"radius.shared_secret:{SECRET}",
            "-o",
            "radius.validate_authenticator:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line.split("\t") for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:  # type: ignore[type-arg]
    sessions = make_sessions(12, seed=11, lines=6)
    path = tmp_path_factory.mktemp("tshark") / "fleet.pcap"
    with PcapCapture(path, EPOCH, SECRET, gtpu_sample_rate=1e-4, seed=2) as sink:
        drive(sink, sessions)
    return path, sessions


def test_tshark_reads_gtp_identities(capture: tuple[Path, list]) -> None:  # type: ignore[type-arg]
    path, sessions = capture
    rows = tshark(
        path,
        "-Y",
        "gtp.message == 16",
        "-T",
        "fields",
        "-e",
        "e212.imsi",
        "-e",
        "gtp.apn",
        "-e",
        "gtp.ext_imeisv",
        "-e",
        "e164.msisdn",
        "-e",
        "gtp.ext_rat_type",
    )
    got = {(r[0].split(",")[0], r[1], r[2], r[3], r[4]) for r in rows}
    rats = {"utran": "1", "geran": "2", "eutran": "6"}
    want = {(s.ctx.imsi, s.ctx.apn, s.ctx.imeisv, s.ctx.msisdn, rats[s.ctx.rat]) for s in sessions}
    assert got == want


def test_tshark_reads_radius_counters_and_valid_authenticators(capture: tuple[Path, list]) -> None:  # type: ignore[type-arg]
    path, sessions = capture
    rows = tshark(
        path,
        "-Y",
        "radius.code == 4 && radius.Acct_Status_Type == 2",
        "-T",
        "fields",
        "-e",
        "radius.Acct_Session_Id",
        "-e",
        "e212.imsi",
        "-e",
        "radius.Called_Station_Id",
        "-e",
        "radius.3GPP_IMEISV",
        "-e",
        "radius.Acct_Input_Octets",
        "-e",
        "radius.Acct_Input_Gigawords",
        "-e",
        "radius.Acct_Output_Octets",
        "-e",
        "radius.Acct_Output_Gigawords",
    )
    stops = {r[0]: r for r in rows}
    assert len(stops) == len(sessions)
    for s in sessions:
        row = stops[s.ctx.session_id]
        assert row[1:4] == [s.ctx.imsi, s.ctx.apn, s.ctx.imeisv]
        assert int(row[4]) + (int(row[5]) << 32) == s.bytes_up
        assert int(row[6]) + (int(row[7]) << 32) == s.bytes_down
    assert any(int(stops[s.ctx.session_id][7]) > 0 for s in sessions)  # a Gigawords counter is used
    verdicts = tshark(path, "-Y", "radius.code == 5", "-T", "fields", "-e", "radius.authenticator.valid")
    assert verdicts and all(v == ["1"] for v in verdicts)


def test_tshark_finds_no_malformed_packet_nor_warning(capture: tuple[Path, list]) -> None:  # type: ignore[type-arg]
    path, _sessions = capture
    total = tshark(path, "-T", "fields", "-e", "frame.number")
    assert len(total) > 50
    flagged = tshark(
        path,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning || radius.authenticator.invalid == 1",
        "-T",
        "fields",
        "-e",
        "frame.number",
        "-e",
        "_ws.expert.message",
    )
    assert flagged == []
    stacks = {r[0] for r in tshark(path, "-T", "fields", "-e", "frame.protocols")}
    # control, accounting, and user packets (inner IPv4/UDP in a G-PDU; their payload is not simulated)
    user = "eth:ethertype:ip:udp:gtp:ip:udp"
    assert {"eth:ethertype:ip:udp:gtp", "eth:ethertype:ip:udp:radius"} <= stacks
    assert any(s.startswith(user) for s in stacks)
    assert all(
        s in ("eth:ethertype:ip:udp:gtp", "eth:ethertype:ip:udp:radius") or s.startswith(user) for s in stacks
    )
