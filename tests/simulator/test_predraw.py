"""The first stretches drawn for a shard's devices together are those each device draws alone."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from simulator import batch as batch_module
from simulator import predraw
from simulator import rng as rngmod
from simulator.batch import SessionBatcher, Stretch
from simulator.engine import Shard, fleet
from simulator.predraw import FirstStretches
from simulator.profiles import builtin_profiles
from simulator.scenario import Application, Payload
from simulator.traffic import per_report_sessions, report_bytes, report_times
from tests.simulator.test_simulator_run import doc, sc_of

TRIP = {"plmn": "26201", "start": "2026-03-01T07:00:00Z", "end": "2026-03-01T09:00:00Z", "share": 0.5}


@pytest.fixture
def shard_of(tmp_path: Path) -> Iterator[Callable[[dict[str, Any]], Shard]]:
    """Shards of scenarios in `tmp_path`, their files closed at the test's end."""
    made: list[Shard] = []

    def make(d: dict[str, Any]) -> Shard:
        sc = sc_of(d)
        made.append(Shard(sc, 0, fleet(sc), tmp_path))
        return made[-1]

    yield make
    for shard in made:
        shard.close()


def _alone(dev: Any, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The device's first stretch [0, t1) as `Device.traffic` draws it alone, from a fresh stream."""
    rng = rngmod.device_rng(dev.seed, dev.ident.line, rngmod.TRAFFIC)
    sched, app = dev.group.schedule, dev.group.application
    assert sched is not None and app is not None and dev.profile is not None
    times = report_times(rng, sched, dev.period, dev.phase, 0, t1, late=True)
    late = times[times >= t1]
    s = per_report_sessions(rng, dev.profile, app, None, times[times < t1], dev.scan_stream, dev.T)
    return s.start, s.duration, s.up, s.down, late


@pytest.mark.parametrize(
    "group",
    [
        {},  # MQTT, a Pareto payload, TR 37.868 model 1
        {"schedule": {"mix": "tr45820"}, "application": {"profile": "https-tls13", "payload": {"fixed": 53}}},
        {"schedule": {"period": "5min", "jitter": "tr37868-model2"}, "mobility": {"trips": [TRIP]}},
        {"schedule": {"period": "1h", "jitter": "uniform", "jitter_s": "59min"}},  # late past the end
        # sizes of one to many segments (each report's bytes looked up by its size: acks down vary)
        {
            "application": {
                "profile": "https-tls13",
                "payload": {"pareto": {"alpha": 1.1, "min": 100, "max": 3000}},  # (fewer than the reports)
            }
        },
    ],
)
def test_first_stretches_drawn_together_are_each_devices_own(
    shard_of: Callable[[dict[str, Any]], Shard], group: dict[str, Any]
) -> None:
    shard = shard_of(doc(40, **group))
    firsts = shard.first_draws
    taken = 0
    for dev in shard.devices:
        dev.attached = True
        t1 = dev.decisions[0][0] if dev.decisions else dev.T
        got = firsts.take(dev, 0, t1, False)
        assert got is not None
        taken += 1
        start, duration, up, down, late = _alone(dev, t1)
        s = got.sessions
        for mine, theirs in ((s.start, start), (s.duration, duration), (s.up, up), (s.down, down)):
            assert mine.dtype == theirs.dtype and mine.tolist() == theirs.tolist()
        assert (got.late if got.late is not None else late[:0]).tolist() == late.tolist()
        n = len(start)
        assert got.charging.tolist() == list(range(dev.charging_base, dev.charging_base + n))
        # the stream goes on where the device's own would
        rest = rngmod.device_rng(dev.seed, dev.ident.line, rngmod.TRAFFIC)
        sched, app = dev.group.schedule, dev.group.application
        assert sched is not None and app is not None
        report_times(rest, sched, dev.period, dev.phase, 0, t1, late=True)
        if app.payload.fixed is None:
            rest.random(n)
        assert dev.rng_traffic.random() == rest.random()
    assert taken == 40


def test_a_device_that_takes_another_way_gets_its_stream_back(
    shard_of: Callable[[dict[str, Any]], Shard],
) -> None:
    shard = shard_of(doc(6))
    first, second = shard.devices[0], shard.devices[1]
    first.attached = second.attached = True
    assert shard.first_draws.take(first, 0, first.T, False) is not None  # draws the others' too
    fresh = rngmod.device_rng(second.seed, second.ident.line, rngmod.TRAFFIC)
    assert second.rng_traffic.random() != fresh.random()  # (drawn from already)
    second.attached = False  # its attach refused: it draws nothing in that stretch
    assert shard.first_draws.take(second, 0, second.T, False) is None
    fresh = rngmod.device_rng(second.seed, second.ident.line, rngmod.TRAFFIC)
    assert second.rng_traffic.random() == fresh.random()
    assert shard.first_draws.take(second, 0, second.T, False) is None  # (once only)


class _Columns:
    def __init__(self) -> None:
        self.batches: list[dict[str, Any]] = []

    def write_columns(self, columns: Any, length: int | None = None) -> None:
        self.batches.append(dict(columns))


def test_a_batch_of_consecutive_drawn_devices_is_written_from_their_block_uncopied(
    shard_of: Callable[[dict[str, Any]], Shard],
) -> None:
    shard = shard_of(doc(5))
    sink = _Columns()
    batcher = SessionBatcher(sink, 0, flush_sessions=1 << 20)
    firsts = shard.first_draws
    firsts.batcher = batcher
    total = 0
    block = None
    for dev in shard.devices:
        dev.attached = True
        got = firsts.take(dev, 0, dev.T, False)
        assert got is not None
        block = got.block
        s = got.sessions
        stretch = Stretch(dev.ident.line, dev.ident.imsi, "35000000000000001", "m2m", "FR", "20801")
        batcher.add(stretch, 0, s.start, s.duration, s.up, s.down, got.charging)
        total += len(s)
    batcher.flush()
    (batch,) = sink.batches
    assert block is not None and len(batch["charging_id"]) == total
    assert np.shares_memory(batch["charging_id"], block.charging)
    assert np.shares_memory(batch["duration_s"], block.duration)
    # a part handed as a copy is copied with the others, in its place
    dev = shard.devices[0]
    assert dev.profile is not None and dev.group.application is not None
    s = per_report_sessions(
        dev.rng_traffic, dev.profile, dev.group.application, None, np.array([5, 9]), dev.scan_stream
    )
    batcher.add(stretch, 0, s.start, s.duration, s.up, s.down, np.array([1, 2]))
    batcher.flush()
    assert sink.batches[1]["charging_id"].tolist() == [1, 2]


def test_a_block_whose_last_device_splits_its_sessions_is_released_at_the_flush(
    shard_of: Callable[[dict[str, Any]], Shard],
) -> None:
    shard = shard_of(doc(5))
    batcher = SessionBatcher(_Columns(), 0, flush_sessions=1 << 20)
    firsts = shard.first_draws
    firsts.batcher = batcher
    stretch = Stretch("33600000001", "208010000000001", "35000000000000001", "m2m", "FR", "20801")
    *others, last = shard.devices
    for dev in others:
        dev.attached = True
        got = firsts.take(dev, 0, dev.T, False)
        assert got is not None
        s = got.sessions
        batcher.add(stretch, 0, s.start, s.duration, s.up, s.down, got.charging)
    last.attached = True
    got = firsts.take(last, 0, last.T, False)
    assert got is not None and len(got.sessions) > 1
    block = weakref.ref(got.block.start)
    s, charging = got.sessions, got.charging
    half = len(s) // 2  # handed in two parts (as a device's reports cut at the period's end are)
    for part in (slice(None, half), slice(half, None)):
        batcher.add(stretch, 0, s.start[part], s.duration[part], s.up[part], s.down[part], charging[part])
    del got, s, charging
    batcher.flush()
    batcher.writer = _Columns()  # (the batches written keep views of the block)
    assert block() is None


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_a_reports_bytes_are_those_of_its_size_alone_for_every_profile(name: str) -> None:
    """The drawn block looks each report's bytes up by its size (`FirstStretches._bytes_by_size`),
    and a fixed payload's from one report: right only while `report_bytes` of a batch are those of
    each of its sizes alone (batches of one to many segments, a TLS certificate chain down)."""
    prof = builtin_profiles()[name]
    rnd = np.random.default_rng(7)
    firsts = FirstStretches([], SessionBatcher(_Columns(), 0))
    for payload in (Payload(alpha=2.5, lo=20, hi=200), Payload(alpha=1.1, lo=1, hi=1_000_000)):
        for chain in (0, 3000) if prof.tls else (0,):
            app = Application(name, "per-report", 0.0, payload, chain)
            sizes = rnd.integers(payload.lo, payload.hi + 1, 500).astype(np.int64)
            sizes[:4] = [payload.lo, payload.hi, min(1460, payload.hi), min(1461, payload.hi)]
            up, down = report_bytes(prof, app, sizes)
            alone = [report_bytes(prof, app, sizes[k : k + 1]) for k in range(0, 500, 7)]
            assert [(int(u[0]), int(d[0])) for u, d in alone] == list(
                zip(up[::7].tolist(), down[::7].tolist(), strict=True)
            )
            table = firsts._bytes_by_size(prof, app, 1 << 30)
            assert table is not None
            assert table[0][sizes].tolist() == up.tolist()
            by_size = np.broadcast_to(table[1], sizes.shape) if isinstance(table[1], int) else table[1][sizes]
            assert by_size.tolist() == down.tolist()


@pytest.mark.parametrize(
    ("group", "flush", "per_shard"),
    [
        ({}, 1, 1),  # a flush at each device's add
        ({}, 97, 7),  # flushes in the middle of a block's devices, by size
        (  # reports of one to many segments, a TLS certificate chain
            {
                "application": {
                    "profile": "https-tls13",
                    "certificate_chain": 2500,
                    "payload": {"pareto": {"alpha": 1.1, "min": 100, "max": 3000}},
                },
                "schedule": {"period": "1min"},
            },
            5000,
            13,
        ),
        ({"schedule": {"period": "1h", "jitter": "uniform", "jitter_s": "59min"}}, 1 << 20, 40),  # late
        ({"schedule": {"period": "5min"}, "mobility": {"trips": [TRIP]}}, 300, 11),  # stretches cut
    ],
)
def test_a_shards_files_are_the_same_with_first_stretches_drawn_together_or_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: dict[str, Any], flush: int, per_shard: int
) -> None:
    """Drawn together, the first stretches are written from their blocks (their session ids too,
    from each run's first and last id): the usage files and statistics are byte for byte those of
    each device drawing its own, whatever the flushes' size and the shards'."""
    d = doc(40, **group)
    d["period"]["days"] = 0.25
    sc = sc_of(d)
    devices = fleet(sc)
    following: list[bool] = []
    real = batch_module.session_ids

    def spy(*args: Any, **kw: Any) -> Any:
        following.append(bool(kw.get("following", args[4] if len(args) > 4 else False)))
        return real(*args, **kw)

    monkeypatch.setattr(batch_module, "session_ids", spy)

    def run(out: Path) -> list[tuple[Any, bytes, bytes]]:
        got = []
        for k, at in enumerate(range(0, len(devices), per_shard)):
            (out / f"{k}").mkdir(parents=True)
            shard = Shard(sc, k, devices[at : at + per_shard], out / f"{k}", csv=True, flush_sessions=flush)
            stats = [s.as_dict() for s in shard.run()]
            usage = out / f"{k}" / "usage" / f"part-{k:05d}.parquet"
            got.append(
                (stats, usage.read_bytes(), (out / f"{k}" / "usage-csv" / f"part-{k:05d}.csv").read_bytes())
            )
        return got

    together = run(tmp_path / "together")
    assert any(following)  # (some flushes were all of drawn blocks)
    monkeypatch.setattr(predraw, "first_end", lambda device: None)  # each device draws its own
    following.clear()
    alone = run(tmp_path / "alone")
    assert not any(following)
    assert together == alone


@pytest.mark.parametrize("seed", range(4))
def test_session_ids_of_runs_that_follow_on_are_those_of_any_runs(seed: int) -> None:
    """Runs of ids one after another (a drawn block's devices), written from each run's first and
    last id: the strings found by the general way, across powers of ten and multiples of 10,000,
    for runs of one row to thousands, lines of any length."""
    rnd = np.random.default_rng(seed)
    k = int(rnd.integers(1, 12))
    lengths = rnd.integers(1, 3000, k)
    lengths[0] = 64 * k  # (long enough for the blocks to be written as such)
    firsts = rnd.choice([0, 7, 9_990, 99_950, 999_999, 1 << 31, 10**12 - 5], k) + rnd.integers(0, 30, k)
    lines = [f"L{'9' * int(rnd.integers(0, 14))}{i}" for i in range(k)]
    rsi = np.repeat(np.arange(k, dtype=np.int64), lengths)
    charging = np.concatenate(
        [np.arange(f, f + n, dtype=np.int64) for f, n in zip(firsts, lengths, strict=True)]
    )
    runs = np.concatenate(([0], np.cumsum(lengths[:-1]))).astype(np.int64)
    want = [f"{lines[s]}-{c}" for s, c in zip(rsi.tolist(), charging.tolist(), strict=True)]
    assert batch_module.session_ids(lines, rsi, charging, runs, following=True).to_pylist() == want


def test_no_size_table_larger_than_the_blocks_reports_is_made(
    shard_of: Callable[[dict[str, Any]], Shard], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table of every size to a Pareto maximum of a million costs 28 ms of CPU to make, a shard:
    a block of a few hundred reports (shards of one device, say) looked them up in it at 3.5 times
    the CPU of working out their own bytes (60 one-device shards: 2.3-2.7 s against 0.6-0.8)."""
    made: list[int] = []
    real = predraw.report_bytes

    def spy(prof: Any, app: Any, sizes: np.ndarray) -> Any:
        made.append(int(sizes.shape[0]))
        return real(prof, app, sizes)

    monkeypatch.setattr(predraw, "report_bytes", spy)
    payload = {"pareto": {"alpha": 1.1, "min": 20, "max": 1_000_000}}
    shard = shard_of(doc(3, application={"profile": "https-tls13", "payload": payload}))
    dev = shard.devices[0]
    dev.attached = True
    got = shard.first_draws.take(dev, 0, dev.T, False)
    assert got is not None and 0 < len(got.sessions) < 1000
    assert made and max(made) < 1000  # (each report's bytes worked out from its own size)
    _, _, up, down, _ = _alone(dev, dev.T)
    assert (got.sessions.up.tolist(), got.sessions.down.tolist()) == (up.tolist(), down.tolist())
