"""Several modems at once: one script on each modem of a rack, concurrently on one event loop.

    m2msim bench register --modem-url /dev/ttyUSB2 --modem-url /dev/ttyUSB6 --junit bench.xml
    m2msim bench register --rack rack.yaml --out runs/bench/rack-1

Each modem has its own transcript and report in `OUT/<modem id>/`; the summary has one row per
modem; `junit_xml` gives the JUnit XML report CI systems read (one `testcase` per modem in one
`testsuite` per script).  A rack file lists the modems:

    # rack.yaml
    modems:
      - url: /dev/ttyUSB2
        profile: simcom-sim800        # driver profile (default: --profile, else the URL's)
        name: slot-1                  # the row's name and folder (default: from the URL)
      - url: virtual://quectel-bg96?seed=3
"""

from __future__ import annotations

import asyncio
import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hil.result import BenchResult
from m2msim.outputs import atomic_write_text, head_matches
from m2msim.yamlio import YamlError, check_keys, load_yaml, mapping, sequence, text_field

_ENTRY_KEYS = {"url", "profile", "name"}


@dataclass(frozen=True)
class RackModem:
    url: str
    name: str
    profile: str | None = None
    where: str | None = None  # `rack.yaml:LINE: modems[i]` of a modem a rack file lists


@dataclass
class RackRow:
    """One modem's outcome: its result, or the error that kept the script from running on it."""

    modem: RackModem
    result: BenchResult | None = None
    error: str | None = None
    error_type: str | None = None
    unwritten: str | None = None  # why the run's reports could not be written (its verdict stands)

    @property
    def status(self) -> str:
        return self.result.status if self.result is not None else "error"


MAX_NAME = 100  # a modem's name is its output folder's: far below a file name's 255 bytes


def modem_id(url: str) -> str:
    """A file-name-safe id of a modem URL: `virtual://quectel-bg96?seed=1` -> `quectel-bg96-seed-1`."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", url.split("://", 1)[-1]).strip("-")[:MAX_NAME]
    return name if name.strip(".") else "modem"


def rack_of(urls: Sequence[str], profiles: Sequence[str | None] | None = None) -> list[RackModem]:
    """The modems of the given URLs, each with a distinct name (`-2`, `-3` for repeats)."""
    out: list[RackModem] = []
    seen: set[str] = set()
    for i, url in enumerate(urls):
        base = modem_id(url)
        name, n = base, 1
        while name in seen:
            n += 1
            name = f"{base}-{n}"
        seen.add(name)
        out.append(RackModem(url, name, profiles[i] if profiles else None))
    return out


def load_rack(path: str | Path) -> list[RackModem]:
    """The modems of a rack file; `YamlError` names the file, the line and the key."""
    source = str(path)
    data = load_yaml(path, source=source)
    top = mapping(data, source, "", 1)
    check_keys(top, {"modems"}, source, "", required=("modems",))
    items = sequence(top["modems"], source, "modems", top.line_of("modems"))
    if not items:
        raise YamlError(source, top.line_of("modems"), "modems", "no modems: list at least one")
    modems: list[RackModem] = []
    names: dict[str, int] = {}
    for i in range(len(items)):
        path_i = f"modems[{i}]"
        entry = mapping(items[i], source, path_i, items.line_of(i))
        check_keys(entry, _ENTRY_KEYS, source, path_i, required=("url",))
        url = text_field(entry, "url", source, path_i, what="a modem URL")
        assert url is not None
        name = text_field(entry, "name", source, path_i, default=modem_id(url), what="a name")
        assert name is not None
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not name.strip("."):
            # the name is the modem's folder under --out: `..` would write beside it
            raise YamlError(
                source,
                entry.line_of("name"),
                f"{path_i}.name",
                "letters, digits, '.', '_', '-' only, not only dots",
            )
        if len(name) > MAX_NAME:
            raise YamlError(
                source, entry.line_of("name"), f"{path_i}.name", f"{len(name)} characters: at most {MAX_NAME}"
            )
        if name in names:
            raise YamlError(
                source,
                entry.line_of("name") or entry.line,
                f"{path_i}.name",
                f"{name!r} is already a modem of the rack (line {names[name]}): give each a `name`",
            )
        names[name] = entry.line or 0
        profile = text_field(entry, "profile", source, path_i, required=False, what="a driver profile")
        where = f"{source}:{entry.line or entry.line_of('url')}: {path_i}"
        modems.append(RackModem(url, name, profile, where))
    return modems


async def run_rack(
    modems: Sequence[RackModem], run_one: Callable[[RackModem], Awaitable[BenchResult]]
) -> list[RackRow]:
    """`run_one` on every modem at once; a modem whose run raises (it cannot be opened) gets an error
    row and the others go on.  A cancellation (SIGINT / SIGTERM) cancels every run, each of which
    releases its own modem."""

    async def one(modem: RackModem) -> RackRow:
        try:
            return RackRow(modem, await run_one(modem))
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # this modem only: the rack's other rows stand
            return RackRow(modem, None, str(exc) or type(exc).__name__, type(exc).__name__)

    return list(await asyncio.gather(*(one(m) for m in modems)))


def render_table(script: str, rows: Sequence[RackRow]) -> str:
    """One line per modem: name, status, seconds, AT commands (errors), the reason."""
    header = ("modem", "url", "status", "seconds", "AT (err)", "reason")
    table: list[tuple[str, ...]] = [header]
    for row in rows:
        r = row.result
        if r is None:
            table.append((row.modem.name, row.modem.url, "ERROR", "-", "-", row.error or ""))
            continue
        s = r.summary()
        table.append(
            (
                row.modem.name,
                row.modem.url,
                r.status.upper(),
                f"{s['duration_s']:.2f}",
                f"{s['at_commands']} ({s['at_errors']})",
                "; ".join(filter(None, [r.error, row.unwritten and f"report not written: {row.unwritten}"])),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    lines = [f"bench {script} on {len(rows)} modems"]
    for line in table:
        cells = [c.ljust(w) for c, w in zip(line, widths, strict=False)]
        lines.append("  " + "  ".join([*cells, line[-1]]).rstrip())
    counts = {
        s: sum(1 for r in rows if r.status == s) for s in ("passed", "failed", "refused", "skipped", "error")
    }
    lines.append("  " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(lines) + "\n"


# What XML 1.0 cannot carry, even escaped: C0 controls but tab, LF and CR; surrogates; U+FFFE/FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` with what XML 1.0 cannot hold written as an escape (`\\x1b`): a modem's line noise
    (a wrong baud rate, a reset mid-answer) in an error message must not make the JUnit file one a
    CI system cannot read."""
    return _NOT_XML.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )


def could_not_run(row: RackRow) -> bool:
    """The bench could not test this modem: it could not be opened, or it never answered a command
    (off, another port, another baud rate): an `<error>` for CI, not a `<failure>` of the modem."""
    r = row.result
    if r is None:
        return True
    return r.status == "failed" and not any("final" in c for c in r.transcript.commands)


def junit_xml(script: str, rows: Sequence[RackRow], started: datetime | None = None) -> str:
    """The JUnit XML report: `testsuites` > one `testsuite` (the script) > one `testcase` per modem,
    with `failure` (failed or refused), `error` (could not run: `could_not_run`), `skipped`, and `system-out` (the
    run's summary and where its transcript is)."""
    when = (started or datetime.now(UTC)).isoformat(timespec="seconds")
    errors = sum(1 for r in rows if could_not_run(r))
    failures = sum(1 for r in rows if r.status in ("failed", "refused") and not could_not_run(r))
    skipped = sum(1 for r in rows if r.status == "skipped")
    total = sum(r.result.duration_s for r in rows if r.result is not None)
    counts = {
        "tests": str(len(rows)),
        "failures": str(failures),
        "errors": str(errors),
        "time": f"{total:.3f}",
    }
    # (junit-10.xsd, the schema Jenkins validates against, has `skipped` on <testsuite> only)
    suites = ET.Element("testsuites", {"name": "m2msim bench", **counts})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": f"bench.{script}",
            **counts,
            "skipped": str(skipped),
            "timestamp": when,
            "hostname": socket.gethostname(),
        },
    )
    for row in rows:
        r = row.result
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"bench.{script}",
                "name": row.modem.name,
                "time": f"{r.duration_s:.3f}" if r is not None else "0.000",
            },
        )
        if r is None:
            ET.SubElement(
                case, "error", {"message": xml_text(row.error or ""), "type": row.error_type or "Error"}
            ).text = xml_text(f"{row.modem.url}: {row.error}")
            continue
        if could_not_run(row):
            ET.SubElement(
                case, "error", {"message": xml_text(r.error or r.status), "type": r.error_type or "Error"}
            ).text = xml_text(f"{r.url}: the modem never answered: {r.error}")
        elif r.status in ("failed", "refused"):
            ET.SubElement(
                case, "failure", {"message": xml_text(r.error or r.status), "type": r.error_type or r.status}
            ).text = xml_text(f"{r.url}: {r.status}: {r.error}")
        elif r.status == "skipped":
            ET.SubElement(case, "skipped", {"message": xml_text(r.error or "skipped")})
        out = r.render_text()
        if r.transcript.path is not None:
            out += f"transcript: {r.transcript.path}\n"
        if row.unwritten is not None:
            out += f"report not written: {row.unwritten}\n"
        ET.SubElement(case, "system-out").text = xml_text(out)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


# A JUnit file m2msim wrote (any version): its root is the `testsuites` `junit_xml` names.
is_junit = head_matches(rb'<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="m2msim bench"')


def write_junit(
    path: str | Path,
    script: str,
    rows: Sequence[RackRow],
    started: datetime | None = None,
    *,
    force: bool = False,
) -> Path:
    """`junit_xml` written atomically to `path`, never over a file m2msim did not write (unless
    `force`; m2msim.outputs)."""
    target = Path(path)
    atomic_write_text(target, junit_xml(script, rows, started), own=is_junit, force=force, option="--junit")
    return target


def summary_dict(script: str, rows: Sequence[RackRow]) -> dict[str, Any]:
    return {
        "script": script,
        "modems": [
            {
                "name": row.modem.name,
                "url": row.modem.url,
                "status": row.status,
                "error": row.result.error if row.result is not None else row.error,
                "unwritten": row.unwritten,
                "summary": row.result.summary() if row.result is not None else None,
            }
            for row in rows
        ],
    }
