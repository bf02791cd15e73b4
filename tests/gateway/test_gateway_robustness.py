"""Bad input never crashes the network: random call sequences raise only typed errors, lose no bytes,
and a capture of the run gives back the records the gateway wrote."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netparts import EPOCH, RecordSink

from accounting.records import UsageRecord, UsageType
from gateway.api import Subscriber
from gateway.capture import PcapCapture, records_from_pcap
from gateway.errors import GatewayError
from gateway.network import Network, NetworkConfig

LINES = ("L0", "L1", "ghost")


times = st.one_of(
    st.integers(-10, 200_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, -1e300, 2e10]),
)
volumes = st.one_of(st.integers(-5, 10**9), st.just(10**15), st.floats(0, 10))
session_ids = st.one_of(
    st.sampled_from(["S000000001", "S000000002", "S000000003", "S999999999", ""]), st.text(max_size=5)
)
actions = st.one_of(
    st.tuples(
        st.just("attach"),
        times,
        st.sampled_from(LINES),
        st.sampled_from(["3569380356438091", "356938035643809", "123", "35693803564380x1"]),
        st.sampled_from(["20801", "20610", "31041", "2080", ""]),
    ),
    st.tuples(st.just("detach"), times, st.sampled_from(LINES)),
    st.tuples(
        st.just("open"),
        times,
        st.sampled_from(LINES),
        st.sampled_from(["orange.m2m", "orange.m2m.spec", "orange-mib", "", "x"]),
    ),
    st.tuples(st.just("transfer"), times, session_ids, volumes, volumes),
    st.tuples(st.just("close"), times, session_ids, st.booleans()),
    st.tuples(
        st.just("sms"),
        times,
        st.sampled_from(LINES),
        st.sampled_from(["0612345678", "+447700900123", "36180", "abc", ""]),
        st.integers(-1, 200),
    ),
    st.tuples(
        st.just("call"),
        times,
        st.sampled_from(LINES),
        st.sampled_from(["0145678901", "1"]),
        st.sampled_from(["voice", "csd", "fax", "video"]),
    ),
    st.tuples(st.just("hangup"), times, st.sampled_from(["C000000001", "C000000002", "nope"])),
    st.tuples(st.just("pending"), times, st.sampled_from(LINES)),
    st.tuples(st.just("flush"), times, st.booleans()),
)


def _apply(net: Network, action: tuple[object, ...]) -> None:
    name, now, *args = action
    t = float(now)  # type: ignore[arg-type]
    if name == "attach":
        net.attach(t, *args)  # type: ignore[arg-type]
    elif name == "detach":
        net.detach(t, args[0])  # type: ignore[arg-type]
    elif name == "open":
        net.open_session(t, *args)  # type: ignore[arg-type]
    elif name == "transfer":
        net.transfer(t, *args)  # type: ignore[arg-type]
    elif name == "close":
        net.close_session(t, *args)  # type: ignore[arg-type]
    elif name == "sms":
        net.send_sms(t, *args)  # type: ignore[arg-type]
    elif name == "call":
        net.place_call(t, args[0], args[1], args[2])  # type: ignore[arg-type]
    elif name == "hangup":
        net.hang_up(t, args[0])  # type: ignore[arg-type]
    elif name == "pending":
        net.pending_sms(t, args[0])  # type: ignore[arg-type]
    else:
        net.flush(t, close=bool(args[0]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, max_size=40))
def test_random_calls_raise_only_typed_errors(steps: list[tuple[object, ...]]) -> None:
    sink = RecordSink()
    net = Network(NetworkConfig(epoch=EPOCH, scan_rate_per_hour=0, seed=1), sink)
    net.register_subscriber(Subscriber("L0", "208011234567890", "33612345678", "business-m2m-dtmf"))
    net.register_subscriber(Subscriber("L1", "208011234567891", "33612345679", "intense"))
    counted = 0
    errors = 0
    for step in steps:
        before = sum(r.bytes_up + r.bytes_down for r in sink.records)
        try:
            _apply(net, step)
        except GatewayError:
            errors += 1
            assert sum(r.bytes_up + r.bytes_down for r in sink.records) == before  # a refusal writes nothing
            continue
        if step[0] == "transfer":
            counted += int(step[3]) + int(step[4])  # type: ignore[call-overload]
    try:
        net.flush(10**7)
    except GatewayError:
        errors += 1
    else:
        assert net.open_sessions() == []
        billed = sum(r.bytes_up + r.bytes_down for r in sink.records if r.type == UsageType.DATA)
        dropped = net.counters["incident:released-session"]
        assert billed == counted or dropped > 0
    # every typed error left a trace
    assert sum(v for k, v in net.counters.items() if k.startswith("incident:")) >= errors


def test_a_capture_of_a_run_gives_back_the_records(tmp_path: Path) -> None:
    sink = RecordSink()
    path = tmp_path / "run.pcap"
    with PcapCapture(path, EPOCH, gtpu_sample_rate=0.05) as capture:
        net = Network(NetworkConfig(epoch=EPOCH, seed=2, scan_rate_per_hour=5.0), sink, capture=capture)
        for i in range(4):
            net.register_subscriber(
                Subscriber(f"L{i}", f"20801000000000{i}", f"3361234567{i}", "business-m2m")
            )
            net.attach(0, f"L{i}", "3569380356438091", "20801" if i % 2 else "20610")
        net.open_session(1, "L0", "no.such.apn")
        sessions = [
            net.open_session(5 + i, f"L{i}", ("orange.m2m", "orange.m2m.spec")[i % 2]) for i in range(4)
        ]
        for k in range(1, 25):
            for s in sessions:
                assert s.session_id
                net.transfer(k * 7_000, s.session_id, 100 * k, 3_000)
        assert sessions[0].session_id
        net.close_session(170_000, sessions[0].session_id, abnormal=True)
        net.send_sms(170_001, "L1", "0612345678")
        net.flush(200_000)
    data = [r for r in sink.records if r.type == UsageType.DATA]
    back = list(records_from_pcap(path))

    def key(r: UsageRecord) -> tuple[str, int]:
        return (r.session or "", r.sequence or 0)

    assert sorted(back, key=key) == sorted(data, key=key)
    assert len(data) > 4 * 4
