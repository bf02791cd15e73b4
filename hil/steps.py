"""Declarative bench scripts: a YAML list of steps, validated with `file:line: key: reason` errors.

    # signal_check.yaml
    name: signal_check
    description: the modem registers and hears the network well enough
    params:                          # --param KEY=VALUE overrides; ${KEY} in any text of a step
      min_rssi: {default: 10, help: lowest acceptable AT+CSQ rssi}
    steps:
      - send: AT+CPIN?
        expect: '\\+CPIN: READY'      # a regular expression searched in the answer's lines
      - register: {timeout: 60}      # registration URCs on, wait until registered (home or roaming)
      - send: AT+CSQ
        expect: '\\+CSQ: (?P<rssi>\\d+),(?P<ber>\\d+)'   # named groups become measures
      - assert: rssi
        min: ${min_rssi}
        max: 31
      - wait_urc: '\\+CREG: [15]'    # a URC seen since the script began (or coming within timeout)
        timeout: 30
      - sms: {to: "+33612345678", text: hello}   # allow-list rules as for the built-ins
      - sms: {text: hi, report: yes, timeout: 60}  # and wait for each part's status report
      - dial: {to: "+33612345678", digits: "12#", hold: 2}
      - attach: {apn: orange.m2m.spec}           # vendor TCP stack, else a PDP context
      - socket: {host: tcpbin.com, port: 4242, send: hello, expect: hello, timeout: 10}
      - detach: {}
      - sleep: 1.5

A step is a mapping with exactly one action key (`send`, `register`, `wait_urc`, `sms`, `dial`,
`attach`, `socket`, `detach`, `sleep`, `assert`) and its options, plus an optional `name` (the step's
name in the transcript; its duration becomes the measure `NAME.seconds`).  A `send` that should fail
gives `final:` (a regular expression of the final result, e.g. `'\\+CME ERROR: 10'`).  An `sms` or
`dial` step without `to` uses `--param to=`, else the allow-list's first number for that action,
else on the virtual modem its own number (SMS) or the virtual far end (calls).
"""

from __future__ import annotations

import asyncio
import re
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.delivery import StatusReports, note_not_routed
from hil.errors import HilError, ScriptFileError
from hil.scripts import BenchScript, Param
from hil.usage import CallUse, DataUse, send_in_pieces, timed_exchange
from m2msim.yamlio import (
    LocatedDict,
    YamlError,
    check_keys,
    int_field,
    load_yaml,
    mapping,
    number_field,
    sequence,
    text_field,
)
from modem import patterns, safety
from modem.at.errors import CommandError, ModemError
from modem.at.parser import Urc

if TYPE_CHECKING:
    from hil.bench import BenchContext

ACTIONS: dict[str, set[str]] = {  # action -> the options it takes (besides `name`)
    "send": {"expect", "final", "timeout"},
    "register": {"timeout"},
    "wait_urc": {"timeout"},
    "sms": {"to", "text", "report", "timeout"},
    "dial": {"to", "digits", "hold", "poll", "timeout"},
    "attach": {"apn"},
    "socket": {"host", "port", "send", "expect", "timeout"},
    "detach": set(),
    "sleep": set(),
    "assert": {"min", "max", "equals"},
}
_TOP_KEYS = {"name", "description", "params", "steps"}
_PARAM_KEYS = {"default", "help", "choices"}
_YES_NO = {"yes": True, "no": False, "true": True, "false": False}  # (YAML 1.1 reads yes as true)
_NUMBER_OPTIONS = {"timeout", "hold", "poll", "min", "max", "equals"}
_SECONDS_OPTIONS = {"timeout", "hold", "poll"}
_MAX_SECONDS = 24 * 3600.0  # any duration of a step: `sleep`, `timeout`, `hold`, `poll`


class StepFailed(HilError):
    """A declarative step whose expectation was not met: names the script file and the step's line."""


class ScriptYamlError(YamlError, ScriptFileError):
    """A YAML script that cannot be used: `file:line: key: reason`."""

    def __init__(self, source: str, line: int | None, key: str, reason: str) -> None:
        YamlError.__init__(self, source, line, key, reason)


@dataclass(frozen=True)
class Step:
    action: str
    value: Any  # the action key's value: a command line, a pattern, a measure name, seconds, a mapping
    options: Mapping[str, Any]
    name: str
    line: int
    where: str  # `file:line` for messages

    def text(self, key: str, params: Mapping[str, Any], default: str = "") -> str:
        raw = self.options.get(key, default)
        return _subst(str(raw), params) if raw is not None else default

    def number(self, key: str, params: Mapping[str, Any], default: float) -> float:
        raw = self.options.get(key)
        if raw is None:
            return default
        value = _subst(str(raw), params) if isinstance(raw, str) else raw
        try:
            number = float(value)
        except ValueError:
            raise StepFailed(f"{self.where}: {key}={value!r}: expected a number") from None
        if key in _SECONDS_OPTIONS and not 0 <= number <= _MAX_SECONDS:  # nan too: a `${param}` given
            raise StepFailed(f"{self.where}: {key}={value!r}: expected seconds within 0..{_MAX_SECONDS:g}")
        return number


def _subst(text: str, params: Mapping[str, Any]) -> str:
    return string.Template(text).safe_substitute({k: str(v) for k, v in params.items()})


# -- loading ----------------------------------------------------------------------------------------


def load_steps_script(path: str | Path) -> BenchScript:
    """Read and validate a YAML bench script; `ScriptYamlError` names the file, the line and the key."""
    source = str(path)
    try:
        data = load_yaml(path, source=source)
    except YamlError as exc:
        raise ScriptYamlError(exc.source, exc.line, exc.key, exc.reason) from None
    try:
        return parse_steps_script(data, source)
    except ScriptYamlError:
        raise
    except YamlError as exc:
        raise ScriptYamlError(exc.source, exc.line, exc.key, exc.reason) from None


def parse_steps_script(data: Any, source: str) -> BenchScript:
    top = mapping(data, source, "", 1)
    check_keys(top, _TOP_KEYS, source, "", required=("steps",))
    name = text_field(top, "name", source, "", default=Path(source).stem, what="a script name")
    assert name is not None
    description = text_field(top, "description", source, "", default=f"YAML script {source}")
    assert description is not None
    params = _params(top, source)
    items = sequence(top["steps"], source, "steps", top.line_of("steps"))
    if not items:
        raise ScriptYamlError(source, top.line_of("steps"), "steps", "no steps: list at least one")
    defaults = {k: p.default for k, p in params.items()}
    steps = [_step(items, i, source, defaults) for i in range(len(items))]
    needs = frozenset(
        {"sms" for s in steps if s.action == "sms"} | {"call" for s in steps if s.action == "dial"}
    )
    runner = _runner(steps, source)
    return BenchScript(
        name=name,
        description=description,
        run=runner,
        needs=needs,
        params=params,
        network_offer="business-m2m-dtmf" if "call" in needs else "business-m2m",
    )


def _params(top: LocatedDict, source: str) -> dict[str, Param]:
    out: dict[str, Param] = {}
    if top.get("params") is None:
        return out
    given = mapping(top["params"], source, "params", top.line_of("params"))
    for key in given:
        path = f"params.{key}"
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
            raise ScriptYamlError(source, given.line_of(key), path, "a parameter name is letters, digits, _")
        spec = given[key]
        if not isinstance(spec, dict):  # `name: default` shorthand
            spec = LocatedDict({"default": spec})
            spec.line = given.line_of(key)
            spec.key_lines["default"] = given.line_of(key) or 0
        entry = mapping(spec, source, path, given.line_of(key))
        check_keys(entry, _PARAM_KEYS, source, path, required=("default",))
        default = entry["default"]
        if default is None or isinstance(default, list | dict):
            raise ScriptYamlError(
                source, entry.line_of("default"), f"{path}.default", "expected text, a number or true/false"
            )
        help_text = text_field(entry, "help", source, path, default="")
        choices: tuple[str, ...] = ()
        if entry.get("choices") is not None:
            seq = sequence(entry["choices"], source, f"{path}.choices", entry.line_of("choices"))
            choices = tuple(str(c) for c in seq)
            if str(default) not in choices:
                raise ScriptYamlError(
                    source,
                    entry.line_of("default"),
                    f"{path}.default",
                    f"{default!r} is not one of {choices}",
                )
        out[str(key)] = Param(default, help_text or "", choices)
    return out


def _step(items: Any, i: int, source: str, params: Mapping[str, Any]) -> Step:
    path = f"steps[{i}]"
    line = items.line_of(i) or 0
    entry = mapping(items[i], source, path, line)
    actions = [k for k in entry if k in ACTIONS]
    if len(actions) != 1:
        keys = [k for k in entry if k != "name"]
        if not actions and keys:  # a misspelt action: check_keys names the nearest one
            check_keys(entry, set(ACTIONS) | {"name"}, source, path)
        what = "none" if not actions else ", ".join(actions)
        raise ScriptYamlError(
            source,
            entry.line or line,
            path,
            f"a step has exactly one action of {', '.join(ACTIONS)} (got {what})",
        )
    action = actions[0]
    line = entry.line_of(action) or line
    value = entry[action]
    options = LocatedDict()
    options.line = entry.line
    allowed = ACTIONS[action]
    # Options are written next to the action (`send: AT`, `expect: OK`) or, for the actions whose
    # value is a mapping, inside it (`sms: {to: ..., text: ...}`).
    if isinstance(value, dict):
        inner = mapping(value, source, f"{path}.{action}", line)
        check_keys(inner, allowed, source, f"{path}.{action}")
        for k in inner:
            options[k] = inner[k]
            options.key_lines[k] = inner.line_of(k) or line
            if inner.raw(k) is not None:
                options.raw_text[k] = inner.raw(k) or ""
        value = None
    check_keys(entry, allowed | {action, "name"}, source, path)
    for k in entry:
        if k in allowed:
            options[k] = entry[k]
            options.key_lines[k] = entry.line_of(k) or line
            raw = entry.raw(k)
            if raw is not None:
                options.raw_text[k] = raw
    opath = f"{path}.{action}" if entry.get(action) is not None and isinstance(entry[action], dict) else path
    _check_options(action, value, options, source, opath, line, params, entry)
    name = text_field(entry, "name", source, path, default=f"{i + 1}-{action}", what="a step name")
    assert name is not None
    return Step(action, value, dict(options), name, line, f"{source}:{line}")


def _check_options(
    action: str,
    value: Any,
    options: LocatedDict,
    source: str,
    path: str,
    line: int,
    params: Mapping[str, Any],
    entry: LocatedDict,
) -> None:
    def fail(key: str, reason: str) -> ScriptYamlError:
        return ScriptYamlError(source, options.line_of(key) or line, f"{path}.{key}", reason)

    def templated(key: str, text: str) -> None:
        for ident in string.Template(text).get_identifiers():
            if ident not in params:
                known = ", ".join(sorted(params)) or "none"
                raise fail(key, f"${{{ident}}} is not a parameter of the script (params: {known})")

    for key in list(options):
        raw = options[key]
        if isinstance(raw, str) and "${" in raw:
            templated(key, raw)
            continue
        if key in _SECONDS_OPTIONS:
            number_field(options, key, source, path, minimum=0, maximum=_MAX_SECONDS, unit="s")
        elif key in _NUMBER_OPTIONS:
            number_field(options, key, source, path, minimum=-1e12)
        elif key == "port":
            int_field(options, key, source, path, minimum=1, maximum=65535)
        elif key == "report" and str(raw).lower() not in _YES_NO:
            raise fail(key, f"{raw!r}: expected yes or no (ask for a status report of each part)")
        elif key in ("to", "text", "apn", "host", "digits", "send", "expect", "final"):
            text_field(options, key, source, path, what="text")
    for key in ("expect", "final"):
        if action == "send" and isinstance(options.get(key), str):
            _regex(options[key], source, options.line_of(key) or line, f"{path}.{key}")
    where = f"{path}.{action}"
    if action == "send":
        command = text_field(entry, action, source, path, what="an AT command")
        assert command is not None
        templated(action, command)
        if not command.upper().startswith("AT"):
            raise ScriptYamlError(source, line, where, f"{command!r}: a command line begins with AT")
        why = costly(_subst(command, params))  # with the parameters' defaults; again when run
        if why:
            raise ScriptYamlError(
                source,
                line,
                where,
                f"{command!r}: texting and dialling go through the `sms` and `dial` steps, "
                f"which check the bench allow-list ({why})",
            )
    elif action == "wait_urc":
        pattern = text_field(entry, action, source, path, what="a URC pattern")
        assert pattern is not None
        _regex(pattern, source, line, where)
    elif action == "assert":
        measure = text_field(entry, action, source, path, what="a measure name")
        assert measure is not None
        if not {"min", "max", "equals"} & set(options):
            raise ScriptYamlError(source, line, where, "give min, max or equals")
    elif action == "sleep":
        number_field(entry, action, source, path, minimum=0, maximum=_MAX_SECONDS, unit="s")
    elif action == "socket":
        for key in ("host", "port"):
            if key not in options:
                raise ScriptYamlError(source, line, f"{path}.{key}", "missing (required)")
    elif action in ("sms", "register", "dial", "attach", "detach") and value is not None:
        raise ScriptYamlError(
            source,
            line,
            where,
            f"expected a mapping of options ({', '.join(sorted(ACTIONS[action])) or 'none'})",
        )


# Besides what `modem.safety.costly_command` refuses: writing a message (sent by AT+CMSS), data
# calls and call-hold services go through the driver only.
_DRIVER_ONLY = re.compile(r"[+](CMGW|CGDATA|CHLD)\b")


def costly(command: str, restarts: tuple[str, ...] = ()) -> str | None:
    """Why a `send` step's command line may not go (it texts, calls, forwards, or cannot be read for
    sure: `modem.safety.costly_command`, with the driver profile's `restarts` once it is known),
    else None."""
    why = safety.costly_command(command, restarts=restarts)
    if why is None:
        m = _DRIVER_ONLY.search(command.upper())
        why = f"AT{m.group(0)} goes through the driver only" if m else None
    return why


def _regex(pattern: str, source: str, line: int, where: str) -> None:
    """A pattern that is not a regular expression, or backtracks exponentially, is refused at load
    (`modem.patterns`); one holding a parameter (`${...}`) is checked once it is filled in."""
    if "${" in pattern:
        return
    try:
        patterns.compile_pattern(pattern)
    except patterns.PatternError as exc:
        raise ScriptYamlError(source, line, where, str(exc)) from None


def _pattern(step: Step, key: str, pattern: str) -> re.Pattern[str]:
    """A step's pattern with its parameters filled in: one that became unusable fails the step."""
    try:
        return patterns.compile_pattern(pattern)
    except patterns.PatternError as exc:
        raise StepFailed(f"{step.where}: {key}: {exc}") from None


# -- running ----------------------------------------------------------------------------------------


@dataclass
class _State:
    measures: dict[str, Any] = field(default_factory=dict)
    urcs: list[Urc] = field(default_factory=list)
    seen: int = 0  # URCs before this index were consumed by a wait_urc
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    conn: int | None = None
    attached: bool = False
    session: DataUse | None = None  # the data session from `attach` to `detach`
    session_t0: float = 0.0  # its opening, on the monotonic clock

    def session_ended(self) -> None:
        if self.session is not None:
            self.session.seconds = time.monotonic() - self.session_t0


def _runner(steps: list[Step], source: str) -> Callable[[BenchContext], Any]:
    async def run(bench: BenchContext) -> dict[str, Any]:
        state = _State()

        def on_urc(urc: Urc) -> None:
            state.urcs.append(urc)
            state.arrived.set()

        sub = bench.modem.client.subscribe(on_urc)
        try:
            for step in steps:
                t0 = time.monotonic()
                with bench.step(step.name, action=step.action, line=step.line) as info:
                    await _run_step(bench, step, state, info)
                state.measures[f"{step.name}.seconds"] = round(time.monotonic() - t0, 6)
        finally:
            sub.cancel()
            if state.attached and bench.modem.profile.tcp.stack != "none":
                await _release_socket(bench, state)
            if state.attached:
                state.session_ended()  # released by the run's clean-up, or left open by the script
        return {"script_file": source, "steps": len(steps), "measures": state.measures}

    return run


async def _release_socket(bench: BenchContext, state: _State) -> None:
    tcp = bench.modem.tcp
    try:
        if state.conn is not None:
            await tcp.close(state.conn)
        await tcp.detach()
    except (ModemError, TimeoutError) as exc:
        bench.note(f"clean-up after the steps: {type(exc).__name__}: {exc}")


def _search(rx: re.Pattern[str], lines: list[str]) -> re.Match[str] | None:
    """The first line `rx` is found in, else the lines joined (a pattern over several lines); each
    text on its first `modem.patterns.MAX_MATCHED` characters."""
    for line in lines:
        m = patterns.search(rx, line)
        if m is not None:
            return m
    return patterns.search(rx, "\n".join(lines))


def _keep_groups(m: re.Match[str], state: _State, info: dict[str, Any]) -> None:
    for key, value in m.groupdict().items():
        if value is not None:
            state.measures[key] = value
            info[key] = value


async def _run_step(bench: BenchContext, step: Step, state: _State, info: dict[str, Any]) -> None:
    p = bench.params
    handler = _HANDLERS[step.action]
    await handler(bench, step, state, info, p)


async def _send(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    command = _subst(str(step.value), p)
    # the parameters given may make a command that texts or calls
    why = costly(command, bench.modem.profile.restarts)
    if why:
        bench.transcript.record("refused", action="send", command=command, reason=why)
        raise safety.SafetyError(f"{step.where}: {command!r} refused: {why}")
    timeout = step.number("timeout", p, 0.0) if "timeout" in step.options else None
    final_text, expect_text = step.text("final", p), step.text("expect", p)
    final_rx = _pattern(step, "final", final_text) if final_text else None
    expect = _pattern(step, "expect", expect_text) if expect_text else None
    try:
        reply = await bench.modem.client.command(command, timeout=timeout)
        lines, final = list(reply.lines), reply.final.line
    except CommandError as exc:
        if not final_rx:
            raise StepFailed(f"{step.where}: {command}: {exc}") from None
        lines, final = list(getattr(exc, "lines", ()) or ()), exc.final
    info["final"] = final
    if final_rx and not patterns.search(final_rx, final):
        raise StepFailed(
            f"{step.where}: {command}: final result {final!r} does not match {final_rx.pattern!r}"
        )
    if expect:
        m = _search(expect, lines)
        if m is None:
            raise StepFailed(
                f"{step.where}: {command}: no answer line matches {expect.pattern!r} (got {lines!r})"
            )
        _keep_groups(m, state, info)


async def _register(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    reg = await bench.registered(step.number("timeout", p, 60.0))
    info.update(registration=reg.kind, state=reg.state)
    state.measures["registration"] = reg.state


async def _wait_urc(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    rx = _pattern(step, "wait_urc", _subst(str(step.value), p))
    timeout = step.number("timeout", p, 60.0)
    try:
        async with asyncio.timeout(timeout):
            while True:
                for i in range(state.seen, len(state.urcs)):
                    m = patterns.search(rx, state.urcs[i].line)
                    if m is not None:
                        state.seen = i + 1
                        info["urc"] = state.urcs[i].line
                        _keep_groups(m, state, info)
                        return
                state.seen = len(state.urcs)
                state.arrived.clear()
                await state.arrived.wait()
    except TimeoutError:
        raise StepFailed(f"{step.where}: no URC matching {rx.pattern!r} within {timeout:g} s") from None


async def _sms(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    number = step.text("to", p) or bench.target("sms")
    text = step.text("text", p, "m2msim bench")
    bench.check(number, "sms")
    info["number"] = number
    report = step.text("report", p, "no").lower()
    if report not in _YES_NO:
        raise StepFailed(f"{step.where}: report={report!r}: expected yes or no")
    timeout = step.number("timeout", p, 60.0)
    zone = await bench.serving_zone()
    routed = await bench.modem.sms.configure(status_reports=_YES_NO[report])
    if _YES_NO[report] and not routed:
        note_not_routed(bench)
    watch = StatusReports(bench.modem.sms) if routed else None
    try:
        refs = await bench.send_sms(number, text, status_report=routed, zone=zone, reports=watch)
        info["references"] = refs
        if watch is not None:
            info["delivery"] = await watch.delivery(bench, refs, timeout)
    finally:
        if watch is not None:
            watch.close()


async def _dial(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    number = step.text("to", p) or bench.target("call")
    digits = step.text("digits", p)
    hold = step.number("hold", p, 0.0)
    bench.check(number, "call")
    await bench.stored_settings()  # (a script that texts or calls without a registration step)
    info["number"] = number
    zone = await bench.serving_zone()
    calls = bench.modem.calls
    try:
        await calls.dial(number, timeout=step.number("timeout", p, 60.0), poll=step.number("poll", p, 0.5))
        answered, started = time.monotonic(), bench.now()
        if digits:
            await calls.send_dtmf(digits)
        await asyncio.sleep(hold)
    finally:
        await calls.hang_up()
    seconds = time.monotonic() - answered
    state.measures["call_seconds"] = round(seconds, 3)
    bench.usage.calls.append(CallUse(started, number, bench.dest_of(number), seconds, digits, zone))


async def _attach(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    apn = step.text("apn", p, "orange.m2m.spec")
    zone = await bench.serving_zone()
    state.session, state.session_t0 = DataUse(bench.now(), zone=zone), time.monotonic()
    bench.usage.data.append(state.session)
    if bench.modem.profile.tcp.stack == "none":
        network = bench.modem.network
        await network.define_context(1, apn)
        await network.activate(1)
        address = await network.pdp_address(1)
    else:
        address = await bench.modem.tcp.attach(apn)
    state.attached = True
    info["address"] = address
    state.measures["address"] = address


async def _socket(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    host, port = step.text("host", p), int(step.number("port", p, 0))
    payload = step.text("send", p).encode()
    expect = step.text("expect", p).encode()
    timeout = step.number("timeout", p, 10.0)
    if not state.attached:
        raise StepFailed(f"{step.where}: a socket needs an `attach` step before it")
    tcp = bench.modem.tcp
    use = state.session
    assert use is not None  # made by the `attach` step
    asked = bench.since(state.session_t0)  # for the TCP/IP model: times on the network's clock
    state.conn = await tcp.open(host, port)
    use.connections += 1
    opened = bench.since(state.session_t0)
    writes: list[tuple[float, int]] = []  # each AT send's (time, bytes)
    reads: list[tuple[float, int]] = []  # each read's
    got = bytearray()
    try:
        conn = state.conn
        await send_in_pieces(
            lambda piece: tcp.send(conn, piece),
            payload,
            bench.modem.profile.tcp.max_send,
            lambda: bench.since(state.session_t0),
            writes,
            use,
        )
        if expect:
            try:
                async with asyncio.timeout(timeout):
                    while len(got) < len(expect):
                        chunk = await tcp.receive(state.conn)
                        if not chunk:
                            break
                        got += chunk
                        reads.append((bench.since(state.session_t0), len(chunk)))
            except TimeoutError:
                pass
        await tcp.close(state.conn)
        state.conn = None
    finally:
        closed = bench.since(state.session_t0)
        waits = bench.modem.profile.tcp.send_waits_ack
        use.exchanges.append(timed_exchange(opened, writes, reads, closed, (opened - asked) / 2, waits))
        use.received += len(got)
    info.update(sent=len(payload), received=len(got))
    state.measures["bytes_received"] = len(got)
    if expect and bytes(got) != expect:
        raise StepFailed(f"{step.where}: expected {expect!r} back from {host}:{port}, got {bytes(got)!r}")


async def _detach(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    if bench.modem.profile.tcp.stack == "none":
        await bench.modem.network.activate(1, False)
    else:
        await bench.modem.tcp.detach()
    state.attached = False
    state.session_ended()


async def _sleep(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    seconds = float(_subst(str(step.value), p))
    await asyncio.sleep(seconds)


async def _assert(bench: BenchContext, step: Step, state: _State, info: dict[str, Any], p: Any) -> None:
    name = _subst(str(step.value), p)
    if name not in state.measures:
        known = ", ".join(sorted(state.measures)) or "none yet"
        raise StepFailed(f"{step.where}: no measure {name!r} (measures so far: {known})")
    value = state.measures[name]
    info["value"] = value
    if "equals" in step.options:
        wanted = step.text("equals", p)
        if str(value) != wanted and _as_number(value) != _as_number(wanted):
            raise StepFailed(f"{step.where}: {name} = {value!r}, expected {wanted!r}")
        return
    number = _as_number(value)
    if number is None:
        raise StepFailed(f"{step.where}: {name} = {value!r} is not a number")
    low, high = step.number("min", p, float("-inf")), step.number("max", p, float("inf"))
    if not low <= number <= high:
        raise StepFailed(f"{step.where}: {name} = {number:g}, expected within [{low:g}, {high:g}]")


def _as_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


_Handler = Callable[["BenchContext", Step, _State, dict[str, Any], Any], Any]
_HANDLERS: dict[str, _Handler] = {
    "send": _send,
    "register": _register,
    "wait_urc": _wait_urc,
    "sms": _sms,
    "dial": _dial,
    "attach": _attach,
    "socket": _socket,
    "detach": _detach,
    "sleep": _sleep,
    "assert": _assert,
}
