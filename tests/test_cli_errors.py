"""The ``maxpool`` command refuses impossible cases in one line (issue 9, item 13)."""

from __future__ import annotations

import subprocess

import pytest

import impls
from impls.tools.cli import main
from tests.children import python_module


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--shape", "100000,100000,1000", "--kernel", "2"], "more than this machine"),
        (["bench", "--shape", "1,1,99999999999999999999", "--kernel", "2"], "would need"),
        (
            ["recommend", "--shape", "1,1,8", "--kernel", str(2**40), "--stride", "1"]
            + ["--padding", str(2**40 - 1)],
            "the values and int64 indices, of shape (1, 1, 1099511627783)",
        ),
        (["bench", "--budget", "nan"], "argument --budget: must be finite and > 0, got 'nan'"),
        (["bench", "--budget", "inf"], "argument --budget: must be finite and > 0"),
        (["bench", "--budget", "-1"], "argument --budget: must be finite and > 0"),
        (["bench", "--time-limit", "inf"], "argument --time-limit: must be finite"),
        (["bench", "--time-limit", "soon"], "argument --time-limit: must be a number of seconds"),
        (
            ["bench", "--shape", "2,3,8,8", "--kernel", "2", "--padding", "bogus"],
            "valid, same, same_lower",
        ),
        (
            ["bench", "--shape", "2,3,8,8", "--kernel", "2", "--padding", "1,x"],
            "valid, same, same_lower",
        ),
    ],
)
def test_impossible_cases_give_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert message in captured.err


def test_the_memory_error_names_the_input_and_its_size(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--shape", "100000,100000,1000", "--kernel", "2"])
    err = capsys.readouterr().err
    assert "the float32 input, of shape (100000, 100000, 1000), would need 36.4 TiB" in err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"maxpool {impls.__version__}\n"


def test_the_installed_command_prints_one_line_without_a_traceback():
    result = subprocess.run(
        python_module("impls", "bench", "--shape", "1,1,99999999999999999999", "--kernel", "2"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
