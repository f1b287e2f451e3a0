"""``maxpool verify``: verdicts, reports, crashes, exit statuses, as a user sees them."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from impls.conformance.verify import row_names
from tests.children import python_module

ROOT = Path(__file__).resolve().parent.parent


def verify(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        python_module("impls", "verify", "--quiet", *args),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def rows(report: dict) -> dict[str, dict]:
    return {row["name"]: row for row in report["properties"]}


@pytest.mark.parametrize("example", ["loop_layer", "im2col_layer"])
def test_a_correct_textbook_layer_is_conformant(example, tmp_path):
    report_path = tmp_path / "report.json"
    result = verify(f"examples.{example}:maxpool", "--profile", "ci", "--json", str(report_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["verdict"] == "conformant"
    statuses = {row["status"] for row in report["properties"]}
    assert statuses <= {"passed", "skipped", "not claimed"}
    assert rows(report)["matches_naive_forward"]["status"] == "passed"
    assert "argument validation (not claimed)" in report["left_out"]


def test_the_buggy_layer_is_rejected_for_its_bug(tmp_path):
    report_path = tmp_path / "report.json"
    # The ci profile is derandomized: the same cases every run.
    result = verify(
        "examples.strided_layer:maxpool", "--profile", "ci", "--json", str(report_path)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["verdict"] == "not conformant"
    accumulate = rows(report)["overlapping_windows_accumulate"]
    assert accumulate["status"] == "failed"
    assert (
        "overlapping windows overwrite the gradient instead of adding it"
        in (accumulate["message"])
    )
    # Rejected for its one bug only: lost gradients are put down to overwriting.
    for row in report["properties"]:
        if row["status"] == "failed":
            assert "overwrite the gradient instead of adding it" in row["message"], row
            assert "no input element" not in row["message"], row
    # Forward is right: the rows about values alone pass.
    for name in ("agrees_with_scipy_maximum_filter", "pooling_is_separable"):
        assert rows(report)[name]["status"] == "passed", rows(report)[name]
    # The example is runnable Python that shows the bug again.
    namespace: dict[str, object] = {}
    with pytest.raises(AssertionError, match="overwrite"):
        exec(accumulate["example"], namespace)
    assert "smallest failing case:" in result.stdout


def test_a_segfault_is_a_crashed_row_and_the_report_is_complete(tmp_path):
    report_path = tmp_path / "report.json"
    # The ci profile is derandomized: the same cases, so the same crash, every run.
    result = verify(
        "tests.targets.crashing:SegfaultsOnBadIndex", "--profile", "ci", "--json", str(report_path)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    by_name = rows(report)
    assert len(by_name) == len(row_names())
    assert by_name["raises_the_documented_error"]["status"] == "crashed"
    assert "SIGSEGV" in by_name["raises_the_documented_error"]["message"]
    assert by_name["raises_the_documented_error"]["example"].count("impl.backward(") == 1
    assert by_name["matches_naive_forward"]["status"] == "passed"
    assert by_name["layouts_and_purity"]["status"] == "passed"


def test_a_hard_exit_is_a_crashed_row(tmp_path):
    report_path = tmp_path / "report.json"
    # The ci profile: derandomized, and time enough for each row to draw a 3-D case.
    result = verify(
        "tests.targets.crashing:ExitsOnThreeAxes", "--profile", "ci", "--json", str(report_path)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    by_name = rows(json.loads(report_path.read_text()))
    assert by_name["matches_naive_forward"]["status"] == "crashed"
    assert "exited with status 3" in by_name["matches_naive_forward"]["message"]


@pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist")
def test_several_processes_give_the_same_verdicts(tmp_path):
    report_path = tmp_path / "report.json"
    result = verify(
        "strided", "tests.targets.crashing:SegfaultsOnBadIndex", "-n", "2", "--profile", "ci",
        "--json", str(report_path),
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    strided, crashing = json.loads(report_path.read_text())
    assert strided["verdict"] == "conformant"
    assert rows(crashing)["raises_the_documented_error"]["status"] == "crashed"
    assert rows(crashing)["matches_naive_forward"]["status"] == "passed"


def test_markdown_between_markers_and_nothing_in_the_working_directory(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n<!-- begin maxpool verify -->\nold\n<!-- end maxpool verify -->\n\nkept\n"
    )
    result = verify("naive", "strided", "--markdown", str(page), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = page.read_text()
    assert text.startswith("# Title\n")
    assert text.endswith("\nkept\n")
    assert "old" not in text
    assert "| property | `naive` | `strided` |" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.md"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["no-such-target"], "unknown implementation 'no-such-target'"),
        (["tests.test_capabilities:BadlyDeclared"], "must be an impls.Capabilities"),
        (["caffe"], "unknown implementation 'caffe'"),
        (["naive", "--profile", "fast"], "invalid choice: 'fast'"),
        (["naive", "-n", "0"], "must be >= 1"),
        (["naive", "--timeout", "nan"], "must be finite and > 0"),
        ([], "the following arguments are required: TARGET"),
    ],
)
def test_usage_errors_exit_2_with_one_line(arguments, message):
    result = verify(*arguments)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_check_left_unfinished_by_an_earlier_child_stops_no_later_one(tmp_path):
    # A timed-out (or crashed) check stays unfinished in the record; the next
    # child, started long after, must not be stopped for it.
    from impls.conformance.record import Recorder, read
    from impls.conformance.verify import _Run
    from impls.tools.processes import Subreaper

    with Subreaper() as reaper:
        run = _Run(
            "strided", "strided", tmp_path, profile="dev", processes=1, timeout=5.0,
            deadline=None, startup_limit=60.0, progress=None, stop=None, reaper=reaper,
        )  # fmt: skip
        Recorder(run.record).start("tests::old_check", "matches_naive_forward")
        events = next(run.record.glob("events-*.jsonl"))
        stale = json.loads(events.read_text())
        stale["time"] -= 1000
        events.write_text(json.dumps(stale) + "\n")
        assert "tests::old_check" in read(run.record).unfinished()
        launched = time.time()
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
        assert run._watch(child, launched) == ("exited", None)
        assert child.wait() == 0


def test_every_child_gets_the_same_absolute_deadline(tmp_path):
    from impls.conformance.verify import _Run
    from impls.tools.processes import Subreaper

    with Subreaper() as reaper:
        run = _Run(
            "strided", "strided", tmp_path, profile="dev", processes=1, timeout=5.0,
            deadline=1234.5, startup_limit=60.0, progress=None, stop=None, reaper=reaper,
        )  # fmt: skip
        first, restarted = run._command(tmp_path / "done-0"), run._command(tmp_path / "done-1")
    assert "--maxpool-deadline=1234.5" in first
    assert "--maxpool-deadline=1234.5" in restarted


@pytest.mark.parametrize(
    ("argv", "budget"),
    [
        ([], 45.0),  # the dev profile's (impls.conformance.profiles.BUDGETS)
        (["--profile", "ci"], 270.0),
        (["--profile", "thorough"], None),
        (["--budget", "7.5"], 7.5),
    ],
)
def test_the_budget_is_the_profiles_unless_given(argv, budget, monkeypatch, capsys):
    from impls.conformance import verify as verify_module
    from impls.conformance.runner import Outcome
    from impls.tools import loadcheck
    from impls.tools.cli import main

    seen = {}

    def fake_verify(target, **options):
        seen.update(options)
        return verify_module.Report(target, "dev", [Outcome("x", "passed")], ())

    monkeypatch.setattr(loadcheck, "check_target", lambda t, **k: loadcheck.LoadCheck(t, t))
    monkeypatch.setattr(verify_module, "verify_target", fake_verify)
    assert main(["verify", "strided", "--quiet", *argv]) == 0
    assert seen["budget"] == budget


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0", "soon"])
def test_a_bad_budget_is_a_usage_error_naming_the_value(value):
    result = verify("naive", "--budget", value)
    assert result.returncode == 2
    assert "argument --budget: must be" in result.stderr
    assert repr(value) in result.stderr


def test_the_plugin_passes_each_check_its_share_of_the_deadline(tmp_path):
    # A plug-in that spies on what the suite passes to the runner.
    (tmp_path / "deadline_spy.py").write_text(
        "import json, os\n"
        "from impls.conformance import suite\n"
        "def spy(real):\n"
        "    def call(*args, **kwargs):\n"
        "        with open(os.environ['SPY'], 'a') as file:\n"
        "            file.write(json.dumps(kwargs.get('deadline')) + '\\n')\n"
        "        return real(*args, **kwargs)\n"
        "    return call\n"
        "suite.run_property = spy(suite.run_property)\n"
        "suite.run_checks = spy(suite.run_checks)\n"
    )
    spied = tmp_path / "deadlines.txt"
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, SPY=str(spied), PYTHONPATH=path)
    result = subprocess.run(
        python_module(
            "pytest", "-p", "deadline_spy", "-p", "impls.conformance.plugin", "-p",
            "no:cacheprovider", "--pyargs", "impls.conformance.suite", "--impl=strided",
            "--maxpool-deadline=4102444800.5", "-k", "kernel_one or worked", "-q",
        ),
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # kernel_one_is_identity, worked_examples, worked_gradients: each row gets its share of
    # what is left (a third, a half, all of it), so the last one ends with the run.
    deadlines = [float(line) for line in spied.read_text().split()]
    assert len(deadlines) == 3
    assert deadlines[0] < deadlines[1] < deadlines[2] == 4102444800.5


def test_json_alone_prints_the_document_and_nothing_else_on_stdout():
    result = verify("strided", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["verdict"] == "conformant"
