"""The outcome of a bench run: status, transcript, usage, the script's findings and the cost estimate.

`BenchResult.write(dir)` stores `transcript.jsonl`, `report.json`, `report.txt` and `report.html`;
`summary()` is the short account the command prints (durations, AT commands, bytes, SMS, calls).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from accounting.records import UsageRecord, UsageType
from hil.report import CostEstimate
from hil.transcript import Transcript
from hil.usage import BenchUsage
from m2msim.outputs import OutputSet, Recogniser, head_matches
from reports.page import is_page

STATUSES = ("passed", "failed", "refused", "skipped")

# The reports `write` puts beside the transcript, and how each is known as m2msim's (any version):
# a bench replaces its own earlier reports, and no other file (m2msim.outputs).
REPORT_FILES: dict[str, Recogniser] = {
    "report.json": head_matches(rb'\{\n  "summary": \{\n    "script": '),
    "report.txt": head_matches(rb"bench [^\n]* on [^\n]*: [A-Z]+\n"),
    "report.html": is_page,
}


@dataclass
class BenchResult:
    script: str
    url: str
    profile: str
    status: str
    started: datetime
    duration_s: float
    transcript: Transcript
    usage: BenchUsage
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    allow_list: str | None = None
    line: str = "bench"
    records: list[UsageRecord] = field(default_factory=list)  # the run's usage as records
    network_records: list[UsageRecord] | None = None  # what the virtual network recorded
    estimate: CostEstimate | None = None
    network_estimate: CostEstimate | None = None
    recoveries: int = 0
    time_scale: float = 1.0  # a virtual modem's speed: its (and its network's) seconds per host second

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def summary(self) -> dict[str, Any]:
        cmds = self.transcript.commands
        return {
            "script": self.script,
            "url": self.url,
            "profile": self.profile,
            "status": self.status,
            "error": self.error,
            "started": self.started.isoformat(timespec="seconds"),
            "duration_s": round(self.duration_s, 3),
            "steps": self.transcript.step_durations(),
            "at_commands": len(cmds),
            "at_errors": sum(1 for c in cmds if "error" in c),
            "at_time_s": round(sum(float(c["duration_s"]) for c in cmds), 6),
            "urcs": len(self.transcript.of_kind("urc")),
            "refused": len(self.transcript.of_kind("refused")),
            "watchdog_recoveries": self.recoveries,
            **self.usage.summary(),
        }

    def network_summary(self) -> dict[str, Any] | None:
        """What the virtual network counted (IP bytes, SMS, call seconds), or None on a device."""
        if self.network_records is None:
            return None
        recs = self.network_records
        return {
            "records": len(recs),
            "ip_bytes_up": sum(r.bytes_up for r in recs if r.type is UsageType.DATA),
            "ip_bytes_down": sum(r.bytes_down for r in recs if r.type is UsageType.DATA),
            "sms": sum(1 for r in recs if r.type is UsageType.SMS),
            "call_seconds": sum(r.duration_s for r in recs if r.type in (UsageType.VOICE, UsageType.CSD)),
            "time_scale": self.time_scale,
        }

    def network_notes(self) -> list[str]:
        """Why the network's count differs from the bench's, where it does."""
        net = self.network_summary()
        if net is None:
            return []
        s = self.usage.summary()
        notes: list[str] = []
        if self.time_scale != 1 and net["call_seconds"]:  # (the report shows no other duration)
            notes.append(
                f"the virtual modem runs at speed {self.time_scale:g}: the network's seconds are the modem's "
                f"simulated seconds, {self.time_scale:g} for each second of the bench's clock"
            )
        if net["call_seconds"] != s["call_seconds_billed"]:
            notes.append(
                f"call seconds: the network counted {net['call_seconds']} s from its answer to its release, "
                f"the bench {s['call_seconds']:.1f} s from when it saw the call active (its AT+CLCC poll) to "
                f"its hang-up, billed {s['call_seconds_billed']} s; each call is rounded up to a whole second"
            )
        if (net["ip_bytes_up"], net["ip_bytes_down"]) != (s["ip_bytes_up"], s["ip_bytes_down"]):
            notes.append(
                "IP bytes: the bench's are its connections played on the network's TCP/IP model at the "
                "times it saw (docs/bench.md); the network's are the packets it carried, at theirs"
            )
        return notes

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": self.summary(),
            "params": self.params,
            "allow_list": self.allow_list,
            "details": self.details,
            "usage": self.usage.to_dict(),
            "line": self.line,
            "estimate": self.estimate.to_dict() if self.estimate else None,
        }
        if self.network_records is not None:
            out["network"] = self.network_summary()
            out["network_notes"] = self.network_notes()
            out["network_records"] = [_record_dict(r) for r in self.network_records]
            out["network_estimate"] = self.network_estimate.to_dict() if self.network_estimate else None
        return out

    def render_text(self) -> str:
        return render_text(self)

    def write(self, out: str | Path, *, force: bool = False) -> dict[str, Path]:
        """Write transcript.jsonl, report.json, report.txt and report.html under `out` (created if
        needed): the three reports whole or none of them (`OutputSet`; the transcript a bench
        streamed there is already complete); a report file there that m2msim did not write is kept
        (`OutputError`) unless `force`."""
        directory = Path(out)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {
            "transcript": self.transcript.write(directory / "transcript.jsonl"),
            "report": directory / "report.json",
            "text": directory / "report.txt",
        }
        from reports.bench_report import render_bench_page  # (the page's modules: when written)

        paths["html"] = directory / "report.html"
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
        page = render_bench_page(directory, json.loads(text))  # (as it reads report.json back)
        # the three reports are put in place together: a full disk, or a signal, at the page left
        # report.json and report.txt without it
        with OutputSet() as reports:
            for key, name, data in (
                ("report", "report.json", text),
                ("text", "report.txt", self.render_text()),
                ("html", "report.html", page),
            ):
                encoded = data.encode("utf-8", errors="backslashreplace")
                reports.stage(paths[key], encoded, own=REPORT_FILES[name], force=force)
            reports.commit()
        return paths


def _record_dict(r: UsageRecord) -> dict[str, Any]:
    row = r.as_row()
    row["start"] = r.start.isoformat()
    return row


def render_text(result: BenchResult) -> str:
    """A short human summary: status, timings, usage and the cost estimate."""
    s = result.summary()
    lines = [
        f"bench {result.script} on {result.url} ({result.profile}): {result.status.upper()}",
    ]
    if result.error:
        lines.append(f"  reason: {result.error}")
    lines.append(
        f"  {s['duration_s']:.2f} s, {s['at_commands']} AT commands ({s['at_errors']} errors), "
        f"{s['urcs']} URCs, {s['refused']} refused"
    )
    for name, seconds in s["steps"].items():
        lines.append(f"  step {name:<18} {seconds:8.3f} s")
    lines.append(
        f"  usage: {s['bytes_sent']} B sent, {s['bytes_received']} B received "
        f"(~{s['ip_bytes_up']} / {s['ip_bytes_down']} IP bytes), {s['sms_sent']} SMS sent, "
        f"{s['sms_received']} received, {s['calls']} calls ({s['call_seconds']:.1f} s"
        + (f", billed {s['call_seconds_billed']} s" if s["calls"] else "")
        + ")"
    )
    net = result.network_summary()
    if net is not None:
        lines.append(
            f"  network counted: {net['ip_bytes_up']} / {net['ip_bytes_down']} IP bytes, {net['sms']} SMS, "
            f"{net['call_seconds']} call seconds ({net['records']} records)"
        )
        lines.extend(f"    {note}" for note in result.network_notes())
    for label, est in (("cost", result.estimate), ("network-counted cost", result.network_estimate)):
        if est is None:
            continue
        lines.append(
            f"  {label} on {est.offer} {est.plan} {est.commitment} m: {est.usage_amount:.2f} {est.currency} "
            f"for the usage ({est.month_total:.2f} with the month's subscription)"
        )
        lines.extend(f"    not priced: {r}" for r in est.rejects)
        if (
            est.cheapest is not None
            and est.cheapest_total is not None
            and est.cheapest_total < est.month_total
        ):
            lines.append(
                f"    cheapest for this usage: {est.cheapest}, {est.cheapest_total:.2f} {est.currency} the month"
            )
    return "\n".join(lines) + "\n"
