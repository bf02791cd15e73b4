"""A Python bench script cannot widen the bench's allow-list in place: the policy the command guard
checks (`hil.allowlist.ActionAllowLists`, its `modem.safety.AllowList`s) and the guard's own rules
are read-only once built, so a script that tries is refused and nothing goes to the modem."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.allowlist import allow_list_from_numbers, load_allow_list
from hil.bench import run_bench
from hil.fakemodem import REGISTERED, AnsweringTransport
from modem.safety import AllowList, CommandGuard, ReadOnlyPolicy, SafetyError

OFF_LIST = "+33699999999"

SCRIPT = """
from hil.scripts import BenchScript
from modem.safety import AllowList

class Everyone:
    def check(self, number, action): pass

async def run(bench):
    guard = bench.modem.client.guard
    {mutation}
    await bench.modem.client.command("ATD+33699999999;")
    return {{}}

SCRIPT = BenchScript(name="widen", description="the allow-list widened in place", run=run)
"""

MUTATIONS = {
    "list-numbers-set": 'bench.policy.lists["call"].numbers = frozenset({"+33699999999"})',
    "list-numbers-widened": 'bench.policy.lists["call"].numbers |= {"+33699999999"}',
    "list-home-only-set": 'bench.policy.lists["call"].home_only = frozenset({"+33699999999"})',
    "list-actions-set": 'bench.policy.lists["sms"].actions = frozenset({"sms", "call"})',
    "lists-item-set": 'bench.policy.lists["call"] = AllowList(["+33699999999"])',
    "lists-item-deleted": 'del bench.policy.lists["call"]',
    "lists-replaced": 'bench.policy.lists = {"call": AllowList(["+33699999999"])}',
    "guard-policy-set": "guard.policy = Everyone()",
    "guard-enforcing-off": "guard.enforcing = False",
    "guard-policy-slot-set": "guard._policy = Everyone()",
    "guard-policy-deleted": "del guard.policy",
}


async def _run(tmp_path: Path, mutation: str) -> tuple[str, str, AnsweringTransport]:
    script = tmp_path / "widen.py"
    script.write_text(SCRIPT.format(mutation=mutation), encoding="utf-8")
    fake = AnsweringTransport(REGISTERED, url="/dev/ttyUSB9")  # a serial device: a physical modem
    allow = allow_list_from_numbers({"+33612345678": "bench phone"})
    # (the guard's own check of the number, not the hold until the SIM's call forwarding is read)
    result = await run_bench(str(script), fake.url, transport=fake, allow_list=allow, check_forwarding=False)
    return result.status, f"{result.error_type}: {result.error}", fake


@pytest.mark.parametrize("mutation", list(MUTATIONS.values()), ids=list(MUTATIONS))
async def test_a_python_script_cannot_widen_the_allow_list_in_place(tmp_path: Path, mutation: str) -> None:
    # each of these once let the dial below through to the physical modem: the guard checked the
    # very objects the script had changed
    status, error, fake = await _run(tmp_path, mutation)
    assert status == "refused", error
    assert "ReadOnlyPolicy" in error and "read-only" in error
    assert b"ATD" not in fake.written and OFF_LIST.encode() not in fake.written


async def test_a_script_cannot_turn_the_guard_lax_to_write_past_it(tmp_path: Path) -> None:
    # guard.strict = False once made the client hand out its transport as is: raw bytes to any number
    mutation = 'guard.strict = False\n    await bench.modem.client.transport.write(b"ATD+33699999999;\\r")'
    status, error, fake = await _run(tmp_path, mutation)
    assert status == "refused" and "read-only" in error, error
    assert b"ATD" not in fake.written


async def test_a_script_cannot_say_the_bench_expects_calls_in(tmp_path: Path) -> None:
    # incoming_calls set on the policy once let ATS0=1 (auto-answer) through on a physical modem
    mutation = 'bench.policy.incoming_calls = True\n    await bench.modem.client.command("ATS0=1")'
    status, error, fake = await _run(tmp_path, mutation)
    assert status == "refused" and "read-only" in error, error
    assert b"ATS0=1" not in fake.written and b"ATD" not in fake.written


@pytest.mark.parametrize(
    "mutation",
    [
        "bench.policy = Everyone()",
        'bench.modem.calls.policy = Everyone()\n    await bench.modem.calls.dial("+33699999999")',
    ],
    ids=["context-policy", "driver-policy"],
)
async def test_a_script_replacing_its_own_reference_to_the_policy_still_meets_the_guard(
    tmp_path: Path, mutation: str
) -> None:
    # the context's (and a driver part's) reference is the script's to replace, but the guard keeps
    # the policy it was built with
    status, error, fake = await _run(tmp_path, mutation)
    assert status == "refused" and "NumberNotAllowed" in error, error
    assert b"ATD" not in fake.written


def test_the_loaded_policy_and_the_guard_are_read_only(tmp_path: Path) -> None:
    path = tmp_path / "bench.yaml"
    path.write_text(
        'numbers:\n  - number: "+33 6 12 34 56 78"\n    allow: [sms]\nallow_commands: [AT+QENG]\n',
        encoding="utf-8",
    )
    policy = load_allow_list(path).policy()
    assert policy.allow_commands == ("+QENG",) and set(policy.lists) == {"sms", "call", "csd"}
    assert "+33612345678" in policy.lists["sms"].numbers
    with pytest.raises(ReadOnlyPolicy):
        policy.allow_commands = ("D",)
    for frozen in (policy, policy.lists, policy.lists["sms"]):
        with pytest.raises(TypeError):  # no __dict__ to write into past the check
            vars(frozen)
    guard = CommandGuard("/dev/ttyUSB9", policy, policy.allow_commands)
    for name in ("policy", "url", "strict", "enforcing", "allow_commands"):
        with pytest.raises(ReadOnlyPolicy, match="read-only"):
            setattr(guard, name, None)
    for name, value in (("sms_format", "text"), ("registration", {"+CREG": 1}), ("charset", "IRA")):
        with pytest.raises(ReadOnlyPolicy, match="read-only"):  # learnt from the modem's answers alone
            setattr(guard, name, value)
    with pytest.raises(ReadOnlyPolicy):
        guard.registration["+CREG"] = 1  # type: ignore[index]
    with pytest.raises(SafetyError):
        guard.check("ATD+33699999999;")
    listed = AllowList(["0612345678"], actions=["call"])
    with pytest.raises(ReadOnlyPolicy):
        listed.numbers = frozenset({OFF_LIST})
    with pytest.raises(ReadOnlyPolicy):
        del listed.actions


ROAMING_NATIONAL = """
from hil.scripts import BenchScript

async def run(bench):
    guard = bench.modem.client.guard
    await bench.modem.client.command("AT+CREG?")
    {mutation}
    await bench.modem.client.command("ATD0612345678;")
    return {{}}

SCRIPT = BenchScript(name="home", description="the guard told it is at home", run=run)
"""


@pytest.mark.parametrize(
    "mutation",
    ['guard.registration["+CREG"] = 1', 'guard.registration = {"+CREG": 1}'],
    ids=["registration-item", "registration-set"],
)
async def test_a_script_cannot_tell_the_guard_a_roaming_modem_is_at_home(
    tmp_path: Path, mutation: str
) -> None:
    # the national spelling of a listed +33 number reaches that subscriber only on the home network;
    # abroad it is a number of the visited country.  Writing "home" into the guard's registration
    # once had ATD0612345678; go out on a roaming modem
    script = tmp_path / "home.py"
    script.write_text(ROAMING_NATIONAL.format(mutation=mutation), encoding="utf-8")
    roaming = {**REGISTERED, "AT+CREG?": "+CREG: 0,5", "AT+CGREG?": "+CGREG: 0,5"}
    fake = AnsweringTransport(roaming, url="/dev/ttyUSB9")
    allow = allow_list_from_numbers({"+33612345678": "bench phone"})
    result = await run_bench(str(script), fake.url, transport=fake, allow_list=allow)
    assert result.status == "refused" and result.error_type == "ReadOnlyPolicy", result.error
    assert b"ATD" not in fake.written
