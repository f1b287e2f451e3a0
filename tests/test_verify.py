"""``maxpool verify``: verdicts, reports, crashes, exit statuses, as a user sees them."""

from __future__ import annotations

import importlib.util
import json
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
    result = verify("tests.targets.crashing:ExitsOnThreeAxes", "--json", str(report_path))
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
    from impls.conformance.verify import _wait

    Recorder(tmp_path).start("tests::old_check")
    events = next(tmp_path.glob("events-*.jsonl"))
    stale = json.loads(events.read_text())
    stale["time"] -= 1000
    events.write_text(json.dumps(stale) + "\n")
    assert "tests::old_check" in read(tmp_path).unfinished()
    launched = time.time()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1)"])
    assert _wait(child, tmp_path, 5.0, lambda nodeid, outcome: None, since=launched) is None
    assert child.returncode == 0
