"""Several modems at once: four pty-served modems run one script concurrently, each with its own
transcript; one table; a JUnit XML file of the common shape whose test cases are the modems."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ptys import served_ptys_sync

from hil.bench import run_bench
from hil.fakemodem import AnsweringTransport
from hil.rack import RackModem, RackRow, junit_xml, load_rack, modem_id, rack_of
from m2msim.cli import main
from m2msim.yamlio import YamlError

# The JUnit XML shape CI systems read (the common schema of Ant / Jenkins / GitLab / GitHub: Jenkins
# xUnit's junit-10.xsd, whose <testsuites> has no `skipped`, unlike <testsuite>):
# element -> (required attributes, optional attributes, allowed children)
JUNIT: dict[str, tuple[set[str], set[str], set[str]]] = {
    "testsuites": (
        set(),
        {"name", "tests", "failures", "errors", "time", "disabled"},
        {"testsuite"},
    ),
    "testsuite": (
        {"name", "tests", "failures", "errors"},
        {"skipped", "time", "timestamp", "hostname", "id", "package", "disabled"},
        {"testcase", "properties", "system-out", "system-err"},
    ),
    "testcase": (
        {"name", "classname"},
        {"time", "assertions", "status"},
        {"failure", "error", "skipped", "system-out", "system-err"},
    ),
    "failure": (set(), {"message", "type"}, set()),
    "error": (set(), {"message", "type"}, set()),
    "skipped": (set(), {"message"}, set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}


def check_junit(element: ET.Element) -> None:
    """Raise AssertionError unless `element` and everything under it has the JUnit shape."""
    required, optional, children = JUNIT[element.tag]
    attrs = set(element.attrib)
    assert required <= attrs, f"<{element.tag}> lacks {required - attrs}"
    assert attrs <= required | optional, f"<{element.tag}> has unknown {attrs - required - optional}"
    for name in ("tests", "failures", "errors", "skipped"):
        if name in element.attrib:
            assert element.attrib[name].isdigit(), (element.tag, name)
    if "time" in element.attrib:
        assert float(element.attrib["time"]) >= 0
    for child in element:
        assert child.tag in children, f"<{child.tag}> inside <{element.tag}>"
        check_junit(child)
    if element.tag == "testsuite":
        cases = element.findall("testcase")
        assert int(element.attrib["tests"]) == len(cases)
        assert int(element.attrib["failures"]) == sum(1 for c in cases if c.find("failure") is not None)
        assert int(element.attrib["errors"]) == sum(1 for c in cases if c.find("error") is not None)


def test_four_modems_in_parallel_with_a_junit_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with served_ptys_sync("simcom-sim800", count=4, seed=11) as ptys:
        args = ["bench", "register", "--profile", "simcom-sim800", "--out", str(tmp_path / "out"),
                "--junit", str(tmp_path / "ci" / "bench.xml"), "--param", "timeout=60"]  # fmt: skip
        for pty in ptys:
            args += ["--modem-url", pty]
        (tmp_path / "ci").mkdir()
        code = main(args)
    printed = capsys.readouterr().out
    assert code == 0, printed
    names = [m.name for m in rack_of(ptys)]
    # one row per modem in the summary
    for name in names:
        assert any(line.lstrip().startswith(name) and "PASSED" in line for line in printed.splitlines()), (
            printed
        )
    assert "4 passed" in printed
    # each modem its own transcript, with its own device in it
    for name, pty in zip(names, ptys, strict=True):
        transcript = tmp_path / "out" / name / "transcript.jsonl"
        assert transcript.is_file() and f'"url": "{pty}"' in transcript.read_text(encoding="utf-8")
        assert (tmp_path / "out" / name / "report.json").is_file()
    # the JUnit file: the common shape, one test case per modem, all passed
    root = ET.parse(tmp_path / "ci" / "bench.xml").getroot()
    assert root.tag == "testsuites"
    check_junit(root)
    [suite] = root.findall("testsuite")
    assert suite.attrib["name"] == "bench.register"
    cases = suite.findall("testcase")
    assert [c.attrib["name"] for c in cases] == names
    assert all(c.attrib["classname"] == "bench.register" for c in cases)
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    assert all("PASSED" in (c.findtext("system-out") or "") for c in cases)
    assert not [p for p in (tmp_path / "ci").iterdir() if p.name != "bench.xml"]  # written atomically


def test_a_failing_and_an_unopenable_modem_are_their_own_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    examples = Path(__file__).resolve().parents[2] / "hil" / "examples"
    recording = examples / "transcripts" / "register-simcom-sim800.jsonl"
    rack = tmp_path / "rack.yaml"
    rack.write_text(
        "modems:\n"
        "  - url: virtual://generic?seed=1\n    name: good\n"
        f"  - url: replay://{recording}?scale=0\n    name: recorded\n"
        "  - url: socket://127.0.0.1:1\n    name: unplugged\n",
        encoding="utf-8",
    )
    junit = tmp_path / "bench.xml"
    code = main(
        [
            "bench",
            str(examples / "my_check.py"),
            "--rack",
            str(rack),
            "--out",
            str(tmp_path / "out"),
            "--junit",
            str(junit),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 1, printed
    root = ET.parse(junit).getroot()
    check_junit(root)
    cases = {c.attrib["name"]: c for c in root.iter("testcase")}
    assert list(cases) == ["good", "recorded", "unplugged"]
    assert cases["good"].find("failure") is None
    failure = cases["recorded"].find("failure")
    assert failure is not None and failure.attrib["type"] == "UnmatchedCommand"
    error = cases["unplugged"].find("error")
    assert error is not None and "socket://127.0.0.1:1: cannot connect" in error.attrib["message"]
    assert root.attrib["failures"] == "1" and root.attrib["errors"] == "1"
    assert "1 passed, 1 failed, 1 error" in printed


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("modems: []\n", "rack.yaml:1: modems: no modems"),
        ("modems:\n  - uri: /dev/ttyUSB0\n", "rack.yaml:2: modems[0].uri: unknown key (did you mean 'url'?)"),
        (
            "modems:\n  - url: /dev/ttyUSB0\n  - url: /dev/ttyUSB0\n",
            "rack.yaml:3: modems[1].name: 'dev-ttyUSB0' is already",
        ),
        ("modems:\n  - url: /dev/ttyUSB0\n    name: a/b\n", "rack.yaml:3: modems[0].name: letters, digits"),
        # the name is the modem's folder under --out: `..` wrote the modem's files beside --out
        ("modems:\n  - url: /dev/ttyUSB0\n    name: '..'\n", "rack.yaml:3: modems[0].name: letters, digits"),
        ("modems:\n  - url: /dev/ttyUSB0\n    name: .\n", "rack.yaml:3: modems[0].name: letters, digits"),
        # a folder name past 255 bytes ended the bench with OSError: File name too long
        (
            f"modems:\n  - url: /dev/ttyUSB0\n    name: {'x' * 300}\n",
            "rack.yaml:3: modems[0].name: 300 characters: at most 100",
        ),
    ],
)
def test_a_bad_rack_file(tmp_path: Path, text: str, error: str) -> None:
    rack = tmp_path / "rack.yaml"
    rack.write_text(text, encoding="utf-8")
    with pytest.raises(YamlError) as caught:
        load_rack(rack)
    assert str(caught.value).startswith(f"{tmp_path}/{error}"), str(caught.value)


def test_a_name_made_from_a_long_or_dotted_url_is_a_usable_folder_name() -> None:
    assert len(modem_id("socket://" + "h" * 400 + ":1")) == 100
    assert modem_id("/dev/..") == "dev-.."
    assert modem_id("socket://..") == "modem"


def _rack(folder: Path, url: str, name: str = "bad-url.yaml") -> Path:
    path = folder / name
    path.write_text(f"modems:\n  - url: virtual://generic?seed=1\n  - url: {url}\n", encoding="utf-8")
    return path


def test_bad_rack_options_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dir.xml").mkdir()
    for args, error in (
        (["bench", "register"], "give --modem-url URL (repeatable) or --rack FILE"),
        (["bench", "register", "--modem-url", "virtual://generic", "--probe"], "--probe is an option of"),
        (
            ["bench", "register", "--modem-url", "virtual://generic", "--junit", str(tmp_path / "dir.xml")],
            "is a folder",
        ),
        (
            [
                "bench",
                "register",
                "--modem-url",
                "virtual://generic",
                "--junit",
                str(tmp_path / "no" / "x.xml"),
            ],
            "no such folder",
        ),
        (["bench", "register", "--rack", str(tmp_path / "none.yaml")], "none.yaml"),
        # a modem's URL that cannot be used names the rack file and its line, not only the URL
        (
            ["bench", "register", "--rack", str(_rack(tmp_path, "virtual://generic?colour=red"))],
            f"{tmp_path}/bad-url.yaml:3: modems[1]: virtual://generic?colour=red: unknown query key",
        ),
        (
            [
                "bench",
                "register",
                "--rack",
                str(_rack(tmp_path, f"replay://{tmp_path}/none.jsonl", "bad-replay.yaml")),
            ],
            f"{tmp_path}/bad-replay.yaml:3: modems[1]: {tmp_path}/none.jsonl: no such transcript",
        ),
    ):
        code = main([*args, "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and error in err and "Traceback" not in err, err


async def test_junit_of_a_modem_answering_line_noise_is_well_formed() -> None:
    """A modem at the wrong baud rate, or reset mid-answer, answers control bytes; they reach the
    failure's message and the system-out, and the file must still parse (Jenkins, GitLab)."""
    fake = AnsweringTransport({"AT+CPIN?": "+CPIN: \x00\x1bNOT READY\x07"}, url="/dev/ttyS9")
    result = await run_bench("register", fake.url, transport=fake)
    assert result.status == "failed"
    xml = junit_xml("register", [RackRow(RackModem(fake.url, "slot-1"), result)])
    root = ET.fromstring(xml.encode())
    check_junit(root)
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.attrib["message"] == "SIM not ready: \\x00\\x1bNOT READY"
    assert "\\x1bNOT READY" in (root.findtext("testsuite/testcase/system-out") or "")


class Silent(AnsweringTransport):
    """Nothing answers on this port."""

    def _reply(self, line: str) -> None:
        pass


async def test_a_modem_that_never_answered_is_a_junit_error_not_a_failure() -> None:
    """Off, on another port or at another baud rate: the bench could not test it (CI's "error"),
    unlike a modem that answered and failed the script (a "failure")."""
    silent = Silent({}, url="/dev/ttyS8")
    dead = await run_bench("register", silent.url, transport=silent, timeout=0.1)
    refusing = AnsweringTransport({"AT+CPIN?": "+CPIN: SIM PIN"}, url="/dev/ttyS9")
    failed = await run_bench("register", refusing.url, transport=refusing)
    assert dead.status == failed.status == "failed"
    rows = [RackRow(RackModem(dead.url, "slot-1"), dead), RackRow(RackModem(failed.url, "slot-2"), failed)]
    root = ET.fromstring(junit_xml("register", rows).encode())
    check_junit(root)
    cases = {c.attrib["name"]: c for c in root.iter("testcase")}
    error = cases["slot-1"].find("error")
    assert error is not None and error.attrib["type"] == "ModemNotAnswering"
    assert cases["slot-1"].find("failure") is None
    assert cases["slot-2"].find("failure") is not None and cases["slot-2"].find("error") is None
    assert (root.attrib["failures"], root.attrib["errors"]) == ("1", "1")


def test_a_modem_whose_report_cannot_be_written_keeps_its_verdict_and_the_others_theirs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One modem's folder stops taking files during the run (here its report.json turns into a
    folder; on a bench, a full disk or a pulled USB stick): its row keeps its verdict and says why
    the report is missing, the other modem's stands, and the command exits 2 as with one modem."""
    script = tmp_path / "fill_up.py"
    script.write_text(
        "from pathlib import Path\n\nfrom hil.scripts import BenchScript\n\n\n"
        "async def run(bench):\n"
        "    if 'seed=2' in bench.url:\n"
        "        (Path(bench.transcript.path).parent / 'report.json').mkdir()\n"
        "    return {}\n\n\n"
        "SCRIPT = BenchScript(name='fill_up', description='a folder that stops taking files', run=run)\n",
        encoding="utf-8",
    )
    junit = tmp_path / "bench.xml"
    code = main(
        ["bench", str(script), "--modem-url", "virtual://generic?seed=1", "--modem-url",
         "virtual://generic?seed=2", "--out", str(tmp_path / "out"), "--junit", str(junit)]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    rows = {line.split()[0]: line for line in captured.out.splitlines()[2:4]}
    assert " PASSED " in rows["generic-seed-1"] and " PASSED " in rows["generic-seed-2"]
    assert "report not written" in rows["generic-seed-2"]
    assert "generic-seed-2" in captured.err and "cannot write the report" in captured.err
    root = ET.parse(junit).getroot()
    check_junit(root)
    assert (root.attrib["failures"], root.attrib["errors"]) == ("0", "0")
    assert (tmp_path / "out" / "generic-seed-1" / "report.json").is_file()
