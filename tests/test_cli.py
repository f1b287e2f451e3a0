"""The ``maxpool`` command: option parsing, errors, and the JSON documents.

Tiny shapes and one repeat keep these fast; nothing here asserts a speed.
"""

from __future__ import annotations

import json

import pytest

import impls
from impls import PoolSpec
from impls.tools import bench
from impls.tools.cli import build_parser, case_from_args, main, parse_padding, parse_shape
from impls.tools.quickcheck import CheckResult
from impls.tools.timing import Timing

FAST = ["--only", "strided", "--repeats", "1", "--warmup", "0", "--quiet"]


def case_for(*argv):
    parser = build_parser()
    args = parser.parse_args(["bench", *argv])
    return case_from_args(args, args.command_parser)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("0", 0),
        ("1,2", (1, 2)),
        ("0:1,1:0", ((0, 1), (1, 0))),
        ("1,0:1", (1, (0, 1))),
        ("2:3", ((2, 3),)),
        ("valid", "valid"),
        ("same", "same"),
        ("same_lower", "same_lower"),
    ],
)
def test_padding_syntax(text, expected):
    assert parse_padding(text) == expected


@pytest.mark.parametrize(
    ("argv", "spec"),
    [
        (["--kernel", "3", "--stride", "2", "--padding", "1"], PoolSpec((3, 3), 2, 1)),
        (["--kernel", "3,3", "--padding", "1,0"], PoolSpec((3, 3), padding=(1, 0))),
        (["--kernel", "2", "--padding", "0:1"], PoolSpec((2, 2), padding=((0, 1),) * 2)),
        (
            ["--kernel", "2,3", "--padding", "0:1,1", "--dilation", "1,2", "--ceil-mode"],
            PoolSpec((2, 3), padding=((0, 1), 1), dilation=(1, 2), ceil_mode=True),
        ),
        (["--kernel", "3", "--padding", "same"], PoolSpec((3, 3), padding="same")),
        (["--kernel", "3", "--padding", "same_lower"], PoolSpec((3, 3), padding="same_lower")),
        (["--kernel", "3", "--padding", "valid"], PoolSpec((3, 3), padding="valid")),
        (["--kernel", "3", "--ndim", "1", "--stride", "1"], PoolSpec((3,), stride=1)),
    ],
)
def test_pooling_options_build_the_spec(argv, spec):
    case = case_for("--shape", "2,3,12,12", *argv)
    assert case.spec == spec
    assert case.input_shape == (2, 3, 12, 12)


def test_shape_decides_the_pooled_axes_like_pytorch():
    assert case_for("--shape", "32,64,16000", "--kernel", "4").spec == PoolSpec((4,))
    three_d = case_for("--shape", "4x64x16x56x56", "--kernel", "2", "--stride", "2")
    assert three_d.spec == PoolSpec((2, 2, 2), 2)
    assert three_d.input_shape == (4, 64, 16, 56, 56)
    assert case_for("--shape", "28,28", "--kernel", "2", "--ndim", "2").spec == PoolSpec((2, 2))


def test_without_shape_the_standard_workloads_run():
    assert case_for() is None
    assert parse_shape("1x2,3") == (1, 2, 3)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--shape", "2,3,8,8", "--kernel", "0"], "argument --kernel: "),
        (["bench", "--shape", "2,a,8", "--kernel", "2"], "argument --shape: "),
        (["bench", "--shape", "2,3,8,8", "--kernel", "2", "--padding", "1:2:3"], "--padding"),
        (["bench", "--shape", "2,3,8,8", "--kernel", "2", "--padding", "-1"], "--padding"),
        (["bench", "--shape", "2,3,8,8", "--kernel", "2", "--padding", "1,1,1"], "--padding"),
        (["bench", "--shape", "2,3,8,8", "--kernel", "2", "--stride", "1,1,1"], "--stride"),
        (["bench", "--shape", "2,3,8,8", "--kernel", "2,2", "--ndim", "3"], "--ndim"),
        (["bench", "--shape", "8,8", "--kernel", "2"], "--kernel: cannot tell"),
        (["bench", "--kernel", "2"], "argument --kernel: needs --shape"),
        (["bench", "--shape", "2,3,8,8"], "argument --kernel: required"),
        (["bench", "--shape", "2,3,4,4", "--kernel", "9"], "do not fit --shape 2,3,4,4"),
        (["bench", "--shape", "2,3,8,8", "--kernel", "2", "--dtype", "bool"], "--dtype"),
        (["bench", "--shape", "2,3,8,8", "--kernel", "2", "--impl", "nope:X"], "--impl"),
        (["bench", "--only", "fastest"], "argument --only: unknown implementation"),
        (["bench", "--workload", "alexnet"], "--workload"),
        (["bench", "--budget", "0"], "--budget"),
        (["bench", "--warmup-seconds", "-1"], "--warmup-seconds: must be finite and >= 0"),
        (["bench", "--warmup-seconds", "nan"], "--warmup-seconds"),
        (["recommend", "--goal", "speed"], "--goal"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_options_give_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("maxpool")
    assert message in captured.err


BENCH_ROW_KEYS = {
    "workload",
    "description",
    "input_shape",
    "dtype",
    "spec",
    "output_shape",
    "output_bytes",
    "implementation",
    "impl",
    "reference",
    "check",
    "first_call_ms",
    "forward_ms",
    "forward_samples_ms",
    "forward_calls_per_sample",
    "backward_ms",
    "backward_samples_ms",
    "backward_calls_per_sample",
    "peak_extra_bytes",
    "note",
}


def test_bench_json_schema(capsys):
    argv = ["bench", "--shape", "2,3,9,9", "--kernel", "3", "--stride", "2", "--padding", "1"]
    assert main([*argv, "--json", "--impl", "impls.naive:NaiveMaxPool", *FAST]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "maxpool-bench/1"
    assert {"date", "cpu", "cpu_count", "numpy", "thread_env"} <= set(document["environment"])
    assert "median" in document["methodology"]
    rows = document["rows"]
    names = [row["implementation"] for row in rows if not row["reference"]]
    assert names == ["strided", "impls.naive:NaiveMaxPool"]
    for row in rows:
        assert set(row) == BENCH_ROW_KEYS
        assert row["input_shape"] == [2, 3, 9, 9]
        assert row["output_shape"] == [2, 3, 5, 5]
        assert row["spec"] == {
            "kernel_size": [3, 3],
            "stride": [2, 2],
            "padding": [[1, 1], [1, 1]],
            "dilation": [1, 1],
            "ceil_mode": False,
        }
        assert row["check"]["status"] == "pass"
        assert row["forward_ms"] > 0
    strided = rows[0]
    assert strided["impl"] == "strided"
    assert strided["backward_ms"] > 0
    assert strided["peak_extra_bytes"] >= strided["output_bytes"]


def test_bench_text_table(capsys):
    assert main(["bench", "--workload", "lenet5", "--no-references", *FAST]) == 0
    out = capsys.readouterr().out
    assert "method: Each time is the median" in out
    header = next(line for line in out.splitlines() if line.startswith("workload"))
    assert header.split()[:4] == ["workload", "input", "pooling", "implementation"]
    assert header.index("implementation") < header.index("first call ms") < header.index("forward")
    assert "lenet5    64x6x28x28 float32  k2x2 s2  strided" in out


def test_progress_goes_to_stderr(capsys):
    argv = ["bench", "--shape", "2,8", "--kernel", "2", "--ndim", "1", "--only", "strided"]
    assert main([*argv, "--repeats", "1", "--no-references"]) == 0
    captured = capsys.readouterr()
    assert "[1/1] custom: strided" in captured.err
    assert "[1/1]" not in captured.out


def test_recommend_json_schema(capsys):
    argv = ["recommend", "--shape", "2,3,9,9", "--kernel", "3", "--padding", "same", "--json"]
    assert main([*argv, *FAST]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["schema"] == "maxpool-recommend/1"
    (case,) = document["cases"]
    assert case["goal"] == "training"
    assert case["recommended"] == "strided"
    assert case["code"] == 'impls.MaxPool((3, 3), padding="same", impl="strided")'
    (entry,) = case["ranking"]
    assert entry["relative_to_best"] == 1.0
    assert entry["module_lines"] > 10
    assert entry["summary"].startswith("Strided max pooling")
    assert not any(row["reference"] for row in case["ranking"])


def test_recommend_picks_the_fastest_passing_implementation(monkeypatch, capsys):
    # Injected timings and check results: naive is fastest but fails its check.
    fake = {"naive": (0.001, "fail"), "im2col": (0.003, "pass"), "strided": (0.002, "pass")}

    def fake_measure(case, candidate, settings, x):
        seconds, status = fake[candidate.label]
        timing = Timing((seconds,), 1)
        return bench.Row(case, candidate, CheckResult(status), timing, timing, 1000)

    monkeypatch.setattr(bench, "measure", fake_measure)
    argv = ["recommend", "--shape", "2,4,4", "--kernel", "2", "--quiet", "--json"]
    argv += ["--only", "naive", "--only", "im2col", "--only", "strided"]
    assert main(argv) == 0
    (case,) = json.loads(capsys.readouterr().out)["cases"]
    assert case["recommended"] == "strided"
    assert [e["implementation"] for e in case["ranking"]] == ["strided", "im2col", "naive"]
    assert [e["cost_ms"] for e in case["ranking"]] == [4.0, 6.0, 2.0]


def test_recommend_text_shows_the_code_and_trade_offs(capsys):
    argv = ["recommend", "--shape", "2,3,9,9", "--kernel", "3", "--stride", "2"]
    assert main([*argv, "--padding", "1", *FAST]) == 0
    out = capsys.readouterr().out
    assert "recommended: strided" in out
    assert '    impls.MaxPool((3, 3), stride=2, padding=1, impl="strided")' in out
    assert "module lines" in out
    assert "vs best" in out


class FailsOnLargeInputs:
    """Correct on the reduced check input, out of memory on the real one."""

    name = "fragile"

    def forward(self, x, spec):
        if x.size > 1000:
            raise MemoryError("cannot allocate")
        return impls.get("strided").forward(x, spec)

    def backward(self, grad_out, indices, input_shape, spec):
        return impls.get("strided").backward(grad_out, indices, input_shape, spec)


def test_bench_reports_an_implementation_that_fails_on_the_full_input():
    case = bench.BenchCase.custom((4, 8, 32, 32), PoolSpec((2, 2)), "float32")
    candidate = bench.Candidate("fragile", FailsOnLargeInputs(), "tests:FailsOnLargeInputs")
    row = bench.measure(case, candidate, bench.Settings(repeats=1), case.make_input())
    assert row.check.passed
    assert row.forward is None
    assert row.note == "not timed: MemoryError: cannot allocate"


@pytest.mark.parametrize("command", ["bench", "recommend"])
def test_json_with_a_path_writes_the_file_and_keeps_the_tables(command, tmp_path, capsys):
    path = tmp_path / "out.json"
    argv = [command, "--shape", "2,3,9,9", "--kernel", "3", "--json", str(path), *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out
    schema = json.loads(path.read_text())["schema"]
    assert schema == f"maxpool-{command}/1"
    assert "strided" in out
    assert not out.lstrip().startswith("{")
    # `--json -` is `--json` alone: the document on stdout, no table.
    assert main([command, "--shape", "2,3,9,9", "--kernel", "3", "--json", "-", *FAST]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == schema


def test_bench_times_before_it_checks_and_drops_the_times_of_a_failed_check(monkeypatch):
    # The check's small calls run on one thread; timed after them, a threaded call may
    # find its two threads kept on one CPU (docs/benchmarks.md): the check comes last.
    case = bench.BenchCase.custom((2, 3, 8, 8), PoolSpec((2, 2)), "float32")
    candidate = bench.Candidate("strided", impls.get("strided"), "strided")
    steps: list[str] = []
    real_time, real_check = bench._time, bench._check

    def timed(*args):
        steps.append("time")
        return real_time(*args)

    def checked(*args):
        steps.append("check")
        return real_check(*args)

    monkeypatch.setattr(bench, "_time", timed)
    monkeypatch.setattr(bench, "_check", checked)
    row = bench.measure(case, candidate, bench.Settings(warmup=0, repeats=1), case.make_input())
    assert steps == ["time", "check"]
    assert row.check.passed
    assert row.forward is not None

    failed = bench.CheckResult("error", "wrong indices")
    monkeypatch.setattr(bench, "_check", lambda *args: failed)
    row = bench.measure(case, candidate, bench.Settings(warmup=0, repeats=1), case.make_input())
    assert row.forward is None
    assert row.backward is None
    assert row.note == "not timed: error: wrong indices"
