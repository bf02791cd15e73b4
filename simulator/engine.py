"""One shard of a run: a SimPy environment, the gateway, and the devices of a slice of the fleet.

Devices never interact inside the model, so the fleet is cut into shards of
`run.shard_devices` consecutive devices (in scenario order).  A shard writes
its own part files (`usage/part-NNNNN.parquet`, `alarms/part-NNNNN.jsonl`,
`capture/part-NNNNN.pcap`) and returns its statistics; the shard layout does not
depend on the number of workers, so neither do the outputs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import simpy

from accounting.records import (
    RETRY_BIT,
    USAGE_SCHEMA,
    ClosingCause,
    UsageRecord,
    UsageType,
    Zone,
    charging_block_bits,
    is_failed_session,
)
from accounting.usage_parts import PartAggregate, PartSums, aggregate_part
from accounting.usage_writer import UsageWriter
from gateway.api import (
    AlarmEngine,
    BulkNetworkAPI,
    JsonLinesAlarmSink,
    PartialRecords,
    Subscriber,
    Use,
    UseKind,
    build_network,
    default_table,
    time_zone_changes,
    zone_of,
)
from m2msim.gcpause import paused_gc
from reports.hourly import HourlyUsage
from simulator.batch import SessionBatcher, Stretch
from simulator.device import Device, Identity
from simulator.imei import plan_of
from simulator.predraw import FirstStretches
from simulator.profiles import Profile, builtin_profiles
from simulator.rng import SETUP, TRAFFIC, device_rngs
from simulator.scenario import Scenario
from simulator.stats import GroupStats

log = logging.getLogger(__name__)

I64 = npt.NDArray[np.int64]
# What the rating of a month needs to aggregate a usage part: the month [start, end) and the
# catalog's first periods (`accounting.usage_parts.aggregate_part`).
RatingSpec = tuple[datetime, datetime, tuple[int, ...]]
# String columns of few distinct values per batch: handed to the Parquet writer as dictionaries.
DICTIONARY_COLUMNS = ("line", "type", "zone", "dest", "imsi", "imeisv", "apn", "serving_plmn")
# How the part files are encoded (measured on a month of MQTT meters, 2.9 M records a shard:
# 0.43-0.45 CPU-s to encode instead of 1.0-1.5 s with pyarrow's defaults, a third of the bytes).
# Dictionary pages where values repeat (the string columns above, duration and volumes); the
# increasing times and charging ids as deltas (DELTA_BINARY_PACKED); the session ids (line +
# charging id) as DELTA_BYTE_ARRAY (each id as the digits it changed from the one before), made
# from the charging ids by `accounting.parquet_runs` (the batch hands them over as a
# `NumberedText`: no string made, no prefix searched; 0.12 CPU-s a shard for their strings and
# pyarrow's PLAIN and zstd before, a fifth of the part's bytes); the closing cause and sequence
# number PLAIN (zstd makes them small: cheaper than dictionaries, which cost a hash a value); min/max
# statistics only on the columns a reader filters on (line, type, start) and on those whose
# ranges the rating checks (duration, volumes, delivered: the statistics settle the checks, and
# the rating scan then makes none row by row).  zstd at level 1 only on the columns it makes
# smaller by more than its cost (each compressed page makes a zstd context): the columns of one
# or a few values per batch go uncompressed (their dictionary codes are runs already), and so
# does `start` (its deltas barely compress).
# Columns every usage record has (`UsageRecord`'s fields that cannot be None): stored REQUIRED.
REQUIRED_COLUMNS = ("line", "type", "start", "duration_s", "bytes_up", "bytes_down", "zone")
_ZSTD_COLUMNS = ("line", "imsi", "imeisv", "bytes_up", "session", "charging_id", "cause", "sequence")
# The columns of few runs (the line, its IMSI, the type, zone, APN, ...: no nulls, a value changing at
# most once every 64 records) encoded from their runs, and those of nulls alone, by
# `accounting.parquet_runs`; the others by pyarrow with the options below: the same values and
# statistics, about 0.1 CPU-s less a 2.9 M-record shard.
RUN_COLUMNS = True
PART_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": {c: "zstd" if c in _ZSTD_COLUMNS else "none" for c in USAGE_SCHEMA.names},
    "compression_level": dict.fromkeys(_ZSTD_COLUMNS, 1),
    "use_dictionary": [*DICTIONARY_COLUMNS, "duration_s", "bytes_up", "bytes_down"],
    "column_encoding": {
        "start": "DELTA_BINARY_PACKED",
        "charging_id": "DELTA_BINARY_PACKED",
        "session": "DELTA_BYTE_ARRAY",
        "cause": "PLAIN",
        "sequence": "PLAIN",
    },
    "write_statistics": ["line", "type", "start", "duration_s", "bytes_up", "bytes_down", "delivered"],
    # values handed to the column writers 64 Ki at a time (pyarrow's default 1,024): the writers'
    # work per handful of values (a dictionary column's statistics find the distinct codes of each
    # handful by a hash table of their own) was a sixth of the encoding; the same pages and bytes
    "write_batch_size": 1 << 16,
}


@dataclass(frozen=True, slots=True)
class ShardResult:
    """What a shard reports back: per-group counters, the gateway's incidents by kind, its
    records' sums per hour and group index (`reports.hourly`, for the run's report), and the
    rating's aggregates of its usage part (`accounting.usage_parts`) when the run rates them."""

    groups: list[dict[str, int]]
    incidents: dict[str, int]
    hourly: HourlyUsage = field(default_factory=HourlyUsage)
    usage: PartAggregate | None = None  # the rating's aggregates of its usage part, when asked


@dataclass(frozen=True, slots=True)
class DeviceRef:
    group_index: int
    line: str
    gidx: int  # the device's index in the fleet (scenario order)


def fleet(scenario: Scenario, start: int = 0, end: int | None = None) -> list[DeviceRef]:
    """The devices [start, end) of the scenario, in order: groups in file order, lines in inventory order.

    Only the slice's devices are made (a shard of 1,000 devices in a fleet of 100,000 makes 1,000).
    """
    stop = scenario.n_devices if end is None else min(end, scenario.n_devices)
    out: list[DeviceRef] = []
    first = 0  # fleet index of the group's first line
    for gi, g in enumerate(scenario.groups):
        lo, hi = max(start - first, 0), min(stop - first, len(g.line_ids))
        if lo < hi:
            out.extend(DeviceRef(gi, line, first + k) for k, line in enumerate(g.line_ids[lo:hi], lo))
        first += len(g.line_ids)
    return out


def part_name(index: int) -> str:
    """The stem of shard `index`'s files (`usage/part-00000.parquet`, `alarms/part-00000.jsonl`, ...)."""
    return f"part-{index:05d}"


def part_path(out_dir: Path, index: int) -> Path:
    """The usage part file of shard `index`."""
    return out_dir / "usage" / f"{part_name(index)}.parquet"


def shard_ranges(scenario: Scenario) -> list[tuple[int, int]]:
    """[start, end) device index ranges of the shards."""
    n, size = scenario.n_devices, scenario.shard_devices
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def msisdn_of(line: str, gidx: int) -> str:
    """The line's MSISDN: its id when that is an E.164 number, else one of the 337 range from its index."""
    if line.isdigit() and 8 <= len(line) <= 15 and line[0] != "0":
        return line
    return f"337{gidx:08d}"


def imsi_of(home_plmn: str, gidx: int) -> str:
    """A 15-digit IMSI of the home network, MSIN from the device index."""
    return f"{home_plmn}{gidx:0{15 - len(home_plmn)}d}"


class TeeWriter:
    """A usage sink writing to one or several `UsageWriter`s (Parquet, and CSV when asked)."""

    def __init__(self, writers: Sequence[UsageWriter]) -> None:
        self.writers = list(writers)

    def write(self, record: UsageRecord) -> None:
        for w in self.writers:
            w.write(record)

    def write_columns(self, columns: Mapping[str, Any], length: int | None = None) -> None:
        for w in self.writers:
            w.write_columns(columns, length)

    @property
    def rows_written(self) -> int:
        return self.writers[0].rows_written

    def close(self) -> None:
        for w in self.writers:
            w.close()


class CountingSink:
    """The gateway's record sink: counts the per-call records per group, and per hour (`hourly`).

    Session and call ids need nothing: they are `<line>-<charging id>` and `<line>-C<n>` already.
    """

    def __init__(
        self, out: TeeWriter, group_of: Mapping[str, int], stats: list[GroupStats], hourly: HourlyUsage
    ) -> None:
        self.out = out
        self.group_of = group_of
        self.stats = stats
        self.hourly = hourly

    def write(self, record: UsageRecord) -> None:
        group = self.group_of[record.line]
        volume = record.bytes_up + record.bytes_down
        ko = -(-volume // 1024)
        if record.type == UsageType.DATA:
            st = self.stats[group]
            st.data_records += 1
            st.bytes_up += record.bytes_up
            st.bytes_down += record.bytes_down
            st.billable_ko += ko
        self.hourly.add(
            int(record.start.timestamp()) // 3600,
            group,
            record.type.value,
            records=1,
            volume=volume,
            ko=ko,
            first=int(record.sequence is None or record.sequence <= 1),
            failed=int(is_failed_session(record.cause, record.charging_id)),
            seconds=record.duration_s,
            roaming=volume if volume and carried_abroad(record) else 0,
        )
        self.out.write(record)


def carried_abroad(record: UsageRecord) -> bool:
    """Whether a record was carried in a network outside France, the report's roaming: its serving
    network's zone, not the record's (a session opened at home and going on abroad stays in `fr`),
    else its zone when it names no network."""
    if record.serving_plmn:
        return default_table().zone(record.serving_plmn) != Zone.FR
    return record.zone != Zone.FR


def run_name(scenario: Scenario) -> str:
    """The run its parts' footers name: the scenario's name and seed, and the run's id."""
    name = f"{scenario.name} seed {scenario.seed}"
    return f"{name} run {scenario.run_id}" if scenario.run_id else name


class Shard:
    """The state shared by the devices of one shard."""

    def __init__(
        self,
        scenario: Scenario,
        index: int,
        devices: Sequence[DeviceRef],
        out_dir: Path,
        *,
        csv: bool = False,
        capture: bool = False,
        flush_sessions: int = 1 << 20,
        sums: bool = False,
    ) -> None:
        self.scenario = scenario
        self.index = index
        self.env = simpy.Environment()
        self.epoch_unix = int(scenario.start.timestamp())
        self.charging_block_bits = charging_block_bits(scenario.n_devices)
        # every device's IMEI unique in the fleet, a swapped-in one's too (`simulator.imei`)
        self.imeis = plan_of(((g.tac, len(g.sim_swaps)) for g in scenario.groups), scenario.n_devices)
        self.profiles: dict[str, Profile] = builtin_profiles()
        self.stats = [GroupStats() for _ in scenario.groups]
        self.hourly = HourlyUsage()  # the records' sums per hour and group index (the run's report)
        self.per_call = False  # data sessions go in bulk, to the capture too (`_capture_sessions`)
        self._zones: dict[str, str] = {}
        self._tz_changes: dict[str, tuple[int, ...]] = {}
        self._apns: dict[str, frozenset[str]] = {}
        name = part_name(index)
        # The shard's folders are made in the run's folder, never the run's folder itself: a run
        # interrupted while a shard on a Dask cluster starts has removed its folder, and a folder
        # made again with its parents took the shard's files on to the end, beside the output
        # (FileNotFoundError here instead: the shard stops, `simulator.run._cluster_shard_task`).
        for folder in ("usage", "alarms", *(["usage-csv"] if csv else []), *(["capture"] if capture else [])):
            (out_dir / folder).mkdir(exist_ok=True)
        # `sums`: the rating's sums of the usage part, kept as its batches are written
        self.part_sums = PartSums() if sums else None
        self.part_path = part_path(out_dir, index)
        writers = [
            UsageWriter(
                self.part_path,
                dictionary_columns=DICTIONARY_COLUMNS,
                parquet_options=PART_PARQUET_OPTIONS,
                required_columns=REQUIRED_COLUMNS,
                # The footer names the run and shard: the rating then trusts the records to be
                # unique (a session's charging id and sequence number make each data record so),
                # among one run's parts: the run's own id, as another run of the same scenario and
                # seed cut into other shards repeats the records under other shard numbers.
                origin={"run": run_name(scenario), "shard": index},
                tally=None if self.part_sums is None else self.part_sums.add,
                parents=False,
                run_columns=RUN_COLUMNS,
            )
        ]
        if csv:
            writers.append(UsageWriter(out_dir / "usage-csv" / f"{name}.csv", parents=False))
        self.usage = TeeWriter(writers)
        group_of = {d.line: d.group_index for d in devices}
        self.group_of = group_of
        self.sink = CountingSink(self.usage, group_of, self.stats, self.hourly)
        alarm_path = out_dir / "alarms" / f"{name}.jsonl"
        self._alarm_file = alarm_path.open("w", encoding="utf-8")
        self.alarm_sink = JsonLinesAlarmSink(self._alarm_file)
        self.alarms: AlarmEngine | None = None
        if scenario.alarms.groups:
            # the threshold counts a line's uses in time order: its bulk data reaches the engine at a
            # batch's flush, before or after the SMS and calls of the same days
            self.alarms = scenario.alarms.engine(
                scenario.autodiagnostic,
                self.alarm_sink,
                watched_from=scenario.autodiagnostic_from,
                hold_threshold=True,
            )
        self.capture: Any = None
        if capture:
            from gateway.api import PcapCapture

            # in place: the run's folder is itself written under a temporary name and swapped in whole
            try:
                self.capture = PcapCapture(
                    out_dir / "capture" / f"{name}.pcap",
                    scenario.start,
                    seed=scenario.seed,
                    endpoint=index,
                    in_place=True,
                    parents=False,
                )
            except BaseException:
                self.close()  # the files opened so far (the run's folder went away, say)
                raise
        home = scenario.groups[0].mobility.home_plmn if scenario.groups else "20801"
        # no scan settings: the devices draw a report's scans themselves (`simulator.traffic`), and
        # give a persistent connection's context its own (`context_scans`)
        self.network: BulkNetworkAPI = build_network(
            scenario.start,
            self.sink,
            scenario.seed,
            capture=self.capture,
            alarms=self.alarms,
            home_plmn=home,
        )
        # the failed attempts each device in an outage holds until it hands them over (by the list)
        self.failed_attempts: dict[int, list[int]] = {}
        self.batcher = SessionBatcher(
            self.usage,
            self.epoch_unix,
            flush_sessions,
            self._on_bulk_records,
            on_cut=self._capture_sessions if capture else None,
        )
        self.devices: list[Device] = []
        # the devices' traffic and set-up streams, their seed sequences mixed for all at once
        ids = [ref.line for ref in devices]
        streams = zip(
            device_rngs(scenario.seed, ids, TRAFFIC), device_rngs(scenario.seed, ids, SETUP), strict=True
        )
        for ref, rngs in zip(devices, streams, strict=True):
            group = scenario.groups[ref.group_index]
            offer = scenario.offers[ref.line]
            ident = Identity(ref.line, imsi_of(home, ref.gidx), msisdn_of(ref.line, ref.gidx), offer)
            # a fixed address per line (its fleet index), so shards never hand out the same one
            sub = Subscriber(ref.line, ident.imsi, ident.msisdn, offer, static_address=ref.gidx)
            self.network.register_subscriber(sub)
            self.devices.append(Device(self, ref.group_index, group, ident, ref.gidx, rngs))
        self.first_draws = FirstStretches(self.devices, self.batcher)

    def tz_changes(self, plmn: str) -> tuple[int, ...]:
        """Seconds into the run at which `plmn`'s country changes its clocks (cached per shard)."""
        found = self._tz_changes.get(plmn)
        if found is None:
            sc = self.scenario
            end = sc.start + timedelta(seconds=sc.duration_s)
            found = tuple(int((c - sc.start).total_seconds()) for c in time_zone_changes(plmn, sc.start, end))
            self._tz_changes[plmn] = found
        return found

    def zone_of(self, plmn: str) -> str:
        """The tariff zone of a serving network (the gateway's MCC table), cached per shard."""
        zone = self._zones.get(plmn)
        if zone is None:
            zone = self._zones[plmn] = str(zone_of(plmn).value)
        return zone

    def allowed_apns(self, offer: str) -> frozenset[str]:
        """The APNs the gateway's policy lets a line of `offer` use."""
        apns = self._apns.get(offer)
        if apns is None:
            apns = self._apns[offer] = self.network.allowed_apns(offer)
        return apns

    def _capture_sessions(
        self, stretches: list[Stretch], sidx: I64, charging: I64, rec: PartialRecords
    ) -> None:
        """Bulk data sessions into the capture (`PcapCapture.write_sessions`): one context per session,
        as the network gives it (`BulkNetworkAPI.bulk_context`: session and charging ids as in the
        usage records, the line's fixed address, its RAT at the flush)."""
        context = self.network.bulk_context
        contexts = []
        for si, c in zip(sidx.tolist(), charging.tolist(), strict=True):
            s = stretches[si]
            contexts.append(context(s.line, c, s.apn, s.serving_plmn, s.imeisv))
        self.capture.write_sessions(contexts, rec)

    def _on_bulk_records(
        self, stretches: list[Stretch], rsi: I64, groups: I64, charging: I64, rec: PartialRecords
    ) -> None:
        up, down = rec.bytes_up, rec.bytes_down
        total = up + down
        ko = total + 1023
        ko >>= 10  # each record rounded up to a whole ko (volumes are never negative), in one array
        one_group = len(self.stats) == 1 or int(groups.min()) == int(groups.max())
        if one_group:  # one group in the batch (the usual case): no masks
            st = self.stats[int(groups[0])]
            st.data_records += int(groups.shape[0])
            st.bytes_up += int(up.sum())
            st.bytes_down += int(down.sum())
            st.billable_ko += int(ko.sum())
        else:
            for g in np.unique(groups).tolist():
                st, sel = self.stats[g], groups == g
                st.data_records += int(np.count_nonzero(sel))
                st.bytes_up += int(up[sel].sum())
                st.bytes_down += int(down[sel].sum())
                st.billable_ko += int(ko[sel].sum())
        self._tally_bulk(stretches, rsi, groups, charging, rec, total, ko)
        if self.alarms is not None:
            self._observe_bulk(stretches, rsi, rec.start_s, rec.start_s + rec.duration_s, total, ko)
            self.alarms.release(self.known_until(self.env.now))

    def _tally_bulk(
        self,
        stretches: list[Stretch],
        rsi: I64,
        groups: I64,
        charging: I64,
        rec: PartialRecords,
        total: I64,
        ko: I64,
    ) -> None:
        """The bulk data records into `hourly`: their sums per hour and group (`reports.hourly`)."""
        h0 = (int(rec.start_s.min()) + self.epoch_unix) // 3600  # the earliest record's hour
        cell = rec.start_s + (self.epoch_unix - h0 * 3600)
        cell //= 3600  # each record's hour after h0
        n_groups = len(self.stats)
        if n_groups > 1:
            cell *= n_groups
            cell += groups
        cells = int(cell.max()) + 1
        records = np.bincount(cell, minlength=cells)
        first = (
            records if int(rec.sequence.max()) <= 1 else np.bincount(cell[rec.sequence <= 1], minlength=cells)
        )
        # failed sessions (`is_failed_session`): contexts lost, and attempts their devices released
        # (each looked for only where the batch's greatest cause or charging id can hold one)
        abnormal = (
            rec.cause == int(ClosingCause.ABNORMAL) if int(rec.cause.max()) >= ClosingCause.ABNORMAL else None
        )
        if int(charging.max()) >= RETRY_BIT:
            released = (rec.cause == int(ClosingCause.NORMAL)) & (charging >= RETRY_BIT)
            abnormal = released if abnormal is None else abnormal | released
        failed = None
        if abnormal is not None and abnormal.any():
            failed = np.bincount(cell[abnormal], minlength=cells)
        # where the bytes were carried (a context opened at home is rated at home abroad too)
        abroad = np.array([self.zone_of(s.serving_plmn) != Zone.FR.value for s in stretches], dtype=bool)
        sums = {"volume": total, "ko": ko}
        if abroad.any():
            sums["roaming"] = np.where(abroad[rsi], total, 0)
        totals = {k: _bin_sums(cell, v, cells) for k, v in sums.items()}
        for c in np.flatnonzero(records).tolist():
            self.hourly.add(
                h0 + c // n_groups,
                c % n_groups,
                UsageType.DATA.value,
                records=int(records[c]),
                volume=totals["volume"][c],
                ko=totals["ko"][c],
                first=int(first[c]),
                failed=0 if failed is None else int(failed[c]),
                roaming=totals["roaming"][c] if "roaming" in totals else 0,
            )

    def _observe_bulk(
        self, stretches: list[Stretch], rsi: I64, start: I64, end: I64, total: I64, ko: I64
    ) -> None:
        """Tell the alarm engine about bulk data of watched lines, per stretch and day: its first
        record (every rule), its records' ends, volumes and ko (the threshold, dated at the record
        that crosses it: `AlarmEngine.observe_records`), and the day's first record outside the
        group's period when that is a later one (else the period alarm saw only the first record of
        each day)."""
        assert self.alarms is not None
        group_of = [self.alarms.group_of(s.line) for s in stretches]
        watched = np.array([g is not None for g in group_of], dtype=bool)
        mask = watched[rsi]
        if not mask.any():
            return
        day = start[mask] // 86_400
        key = rsi[mask] * 100_000 + day
        order = np.lexsort((start[mask], key))
        k_sorted = key[order]
        first = np.flatnonzero(np.concatenate(([True], k_sorted[1:] != k_sorted[:-1])))
        ends = end[mask][order] + self.epoch_unix
        volumes = total[mask][order]
        kos = ko[mask][order]
        times = start[mask][order][first]
        stops = np.append(first[1:], len(order)).tolist()
        never = np.iinfo(np.int64).max
        outside_at = np.full(len(first), never, dtype=np.int64)
        periods = {id(g): g for g in group_of if g is not None and g.period is not None}
        if periods:
            stretch_of = rsi[mask][order]
            starts = start[mask][order]
            outside = np.zeros(len(starts), dtype=bool)
            for g in periods.values():
                assert g.period is not None
                sel = np.array([x is g for x in group_of], dtype=bool)[stretch_of]
                outside[sel] = self.alarms.outside_period(g.period, starts[sel] + self.epoch_unix)
            outside_at = np.minimum.reduceat(np.where(outside, starts, never), first)
        for k, t, lo, hi, o in zip(
            k_sorted[first].tolist(),
            times.tolist(),
            first.tolist(),
            stops,
            outside_at.tolist(),
            strict=True,
        ):
            s = stretches[k // 100_000]
            zone = Zone(self.zone_of(s.serving_plmn))
            self.alarms.observe_records(
                Use(self.scenario.start + timedelta(seconds=t), s.line, UseKind.DATA, s.serving_plmn, zone),
                ends[lo:hi],
                volumes[lo:hi],
                kos[lo:hi],
            )
            if t < o < never:
                when = self.scenario.start + timedelta(seconds=o)
                self.alarms.observe(Use(when, s.line, UseKind.DATA, s.serving_plmn, zone, period_only=True))

    def run(self, progress: Callable[[float], None] | None = None, step_s: int = 86_400) -> list[GroupStats]:
        for d in self.devices:
            d.start(self.env.process)
        T = self.scenario.duration_s
        t = 0
        while t < T:
            t = min(t + step_s, T)
            self.env.run(until=t)
            if self.alarms is not None:
                self.alarms.release(self.known_until(t))
            if progress is not None:
                progress(t / T)
        self.env.run()  # anything dated exactly at the end (hang-ups, last records)
        self.batcher.flush()
        self.network.flush(max(float(T), float(self.env.now)))
        if self.alarms is not None:
            self.alarms.release()
        self.close()
        return self.stats

    def known_until(self, now: float) -> datetime:
        """The time before which every use of the shard's lines has reached the alarm engine: the
        gateway has seen those before `now`, and a stretch's sessions are drawn at its start, so
        that only the sessions waiting in the batcher and the failed attempts a device holds until
        an outage's decision or end can still bring earlier ones."""
        known = now
        pending = self.batcher.pending_from
        if pending is not None:
            known = min(known, pending)
        for failed in self.failed_attempts.values():
            if failed:
                known = min(known, failed[0])
        return self.scenario.start + timedelta(seconds=known)

    def close(self) -> None:
        self.usage.close()
        self._alarm_file.close()
        if self.capture is not None:
            self.capture.close()


def _bin_sums(cell: I64, values: I64, cells: int) -> list[int]:
    """Exact sums of integer `values` per cell index (as int64: a shard's sums are far below
    2^63).  `np.add.at` on int64: `np.bincount` with integer weights converted each one to a
    float by a slow path (21 ms for a batch of a million records, against 3)."""
    out = np.zeros(cells, dtype=np.int64)
    np.add.at(out, cell, values)
    return [int(v) for v in out.tolist()]


def run_shard(
    scenario: Scenario,
    index: int,
    start: int,
    end: int,
    out_dir: Path,
    *,
    csv: bool = False,
    capture: bool = False,
    progress: Callable[[float], None] | None = None,
    rating: RatingSpec | None = None,
) -> ShardResult:
    """Simulate devices [start, end) of the fleet as shard `index`; returns its statistics.

    `rating`: the usage part is also aggregated for the rating (`ShardResult.usage`), from the
    sums kept as its records were written (`accounting.usage_parts.PartSums`).
    """
    devices = fleet(scenario, start, end)
    # The shard's objects (devices, their processes, the gateway's lines) live until it ends and
    # are freed by reference counting: the cyclic collector, paused, would walk them for nothing.
    with paused_gc():
        shard = Shard(scenario, index, devices, out_dir, csv=csv, capture=capture, sums=rating is not None)
        stats = shard.run(progress)
    incidents = shard.network.incident_counts()
    usage = None
    if rating is not None:
        usage = aggregate_part(shard.part_path, *rating, sums=shard.part_sums)
    return ShardResult([s.as_dict() for s in stats], dict(sorted(incidents.items())), shard.hourly, usage)
