"""``maxpool verify`` (and ``maxpool bench``) survive hostile targets (issue 16).

Each test runs the command as a user would, on a target that misbehaves as a
process: it exits or hangs while imported, is killed by a signal mid-run,
leaves threads, ``atexit`` hooks, forks or daemons behind, lives under a path
with non-ASCII characters, deletes files around it, or hangs on every call.
Every run must end with the right exit status, the right rows blamed, and no
process or temporary directory left behind.

Every process the command starts inherits ``MAXPOOL_TEST_RUN``, a token unique
to the test, so that `survivors` finds any of them still running afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.children import python_module

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = "tests.targets.hostile"
LINUX = sys.platform.startswith("linux")
XDIST = importlib.util.find_spec("xdist") is not None

needs_linux = pytest.mark.skipif(not LINUX, reason="finds processes through /proc")


def survivors(token: str) -> list[int]:
    """Running processes (zombies excepted) whose environment holds ``token``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_bytes().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if f"MAXPOOL_TEST_RUN={token}".encode() in environ.split(b"\0") and state != b"Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != b"Z"


def wait_until(condition, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


class Command:
    """A ``maxpool`` command started as a user would, with its own TMPDIR and token."""

    def __init__(self, tmp_path: Path, *args: str, cwd: Path = ROOT) -> None:
        self.token = uuid.uuid4().hex
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.pids = tmp_path / "pids.txt"
        env = dict(os.environ)
        env.update(
            MAXPOOL_TEST_RUN=self.token, MAXPOOL_TEST_PIDS=str(self.pids), TMPDIR=str(self.tmp)
        )
        # From any directory the targets under tests/ import (the checkout last, after the rest).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
        self.process = subprocess.Popen(
            python_module("impls", *args),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def noted(self) -> list[int]:
        """The pids the target noted (see `tests.targets.hostile.note_pid`)."""
        if not self.pids.exists():
            return []
        return [int(line) for line in self.pids.read_text().split()]

    def finish(self, timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            out, err = self.process.communicate()
            pytest.fail(f"the command ran for more than {timeout} s:\n{out}\n{err}")
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)

    def leftovers(self) -> list[str]:
        """Processes still running, and temporary directories left behind, after the command."""
        found = []
        if LINUX and not wait_until(lambda: not survivors(self.token)):
            found += [f"process {pid}" for pid in survivors(self.token)]
        found += [f"pid {pid}" for pid in self.noted() if LINUX and alive(pid)]
        found += [f"directory {p.name}" for p in self.tmp.iterdir() if "maxpool" in p.name]
        return found


def verify(tmp_path: Path, *args: str, cwd: Path = ROOT, timeout: float = 300) -> tuple:
    command = Command(tmp_path, "verify", "--quiet", *args, cwd=cwd)
    return command.finish(timeout), command


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


# -- Targets that cannot be loaded: one line, exit status 2, before anything else runs.

IMPORT_TIME = {
    "sys.exit(0)": ("import sys\nsys.exit(0)\n", "raised SystemExit(0)"),
    "sys.exit(5)": ("import sys\nsys.exit(5)\n", "raised SystemExit(5)"),
    "os._exit(0)": ("import os\nos._exit(0)\n", "exited with status 0 while loading it"),
    "KeyboardInterrupt": ("raise KeyboardInterrupt\n", "raised KeyboardInterrupt"),
    "SIGSEGV": ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n", "died with SIGSEGV"),
    "syntax error": ("def broken(:\n    pass\n", "raised SyntaxError"),
    "raises": ("1 / 0\n", "raised ZeroDivisionError: division by zero"),
    "missing attribute": ("x = 1\n", "has no attribute 'maxpool'"),
}


@pytest.mark.parametrize("case", IMPORT_TIME, ids=str)
def test_a_target_that_cannot_be_loaded_is_one_line_and_exit_2(case, tmp_path):
    source, message = IMPORT_TIME[case]
    (tmp_path / "pool.py").write_text(source)
    report = tmp_path / "report.json"
    result, command = verify(tmp_path, f"{tmp_path / 'pool.py'}:maxpool", "--json", str(report))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in one_line_error(result)
    assert result.stdout == ""
    assert not report.exists()
    assert command.leftovers() == []


def test_a_missing_file_and_an_uncallable_method_are_named(tmp_path):
    result, _ = verify(tmp_path, "no_such_file.py:maxpool")
    assert result.returncode == 2
    assert "no such file 'no_such_file.py'" in one_line_error(result)
    (tmp_path / "pool.py").write_text(
        "class P:\n    name = 'p'\n    forward = 3\n    backward = 4\n"
    )
    result, _ = verify(tmp_path, f"{tmp_path / 'pool.py'}:P")
    assert result.returncode == 2
    assert "its forward is not callable (it is a int)" in one_line_error(result)


def test_an_import_that_hangs_is_stopped_and_named(tmp_path):
    source = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n"
    source += (
        "from tests.targets.hostile import note_pid\nnote_pid()\nimport time\ntime.sleep(3600)\n"
    )
    (tmp_path / "pool.py").write_text(source)
    result, command = verify(
        tmp_path, f"{tmp_path / 'pool.py'}:maxpool", "--timeout", "3", timeout=120
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "loading it took more than 20 s" in one_line_error(result)
    assert command.noted()
    assert command.leftovers() == []


@pytest.mark.parametrize("subcommand", ["bench", "recommend"])
@pytest.mark.parametrize("case", ["sys.exit(0)", "os._exit(0)"])
def test_bench_and_recommend_refuse_a_target_that_exits_on_import(subcommand, case, tmp_path):
    (tmp_path / "pool.py").write_text(IMPORT_TIME[case][0])
    command = Command(
        tmp_path, subcommand, "--impl", f"{tmp_path / 'pool.py'}:maxpool", "--shape", "2,3,8,8",
        "--kernel", "2", "--only", "strided", "--repeats", "1", "--quiet",
    )  # fmt: skip
    result = command.finish(120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert IMPORT_TIME[case][1] in one_line_error(result)
    assert "argument --impl" in result.stderr


def test_a_target_that_pytest_cannot_load_is_not_judged(tmp_path):
    # Loads alone, fails inside pytest: the checks cannot run, and exit status 2 says so.
    (tmp_path / "pool.py").write_text(
        "import sys\nimport impls\n"
        "if 'pytest' in sys.modules:\n    raise RuntimeError('not under pytest')\n"
        "maxpool = impls.get('strided')\n"
    )
    result, command = verify(tmp_path, f"{tmp_path / 'pool.py'}:maxpool", "--json", "-")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "could not judge" in result.stderr
    assert "not under pytest" in result.stderr
    assert "Traceback" not in result.stderr
    statuses = {row["status"] for row in json.loads(result.stdout)["properties"]}
    assert statuses == {"not run"}
    assert command.leftovers() == []


# -- Signals: every process ended, temporary directories removed, one line, 128 + N.

SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


@needs_linux
@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_mid_run_ends_every_process(signum, tmp_path):
    processes = ["-n", "2"] if XDIST else []
    command = Command(
        tmp_path, "verify", "--quiet", f"{HOSTILE}:LeavesADaemonAndHangs", "--timeout", "300",
        *processes,
    )  # fmt: skip
    # Running: the daemon and at least one hanging call have noted their pids.
    assert wait_until(lambda: len(command.noted()) >= 2, 120), command.noted()
    command.process.send_signal(signum)
    result = command.finish(60)
    assert result.returncode == 128 + signum
    assert one_line_error(result).startswith(
        f"maxpool verify: stopped by {signal.Signals(signum).name}"
    )
    assert command.leftovers() == []


@needs_linux
def test_the_checks_die_with_the_command_even_by_sigkill(tmp_path):
    # No handler runs on SIGKILL: the children die by the parent-death signal.
    processes = ["-n", "2"] if XDIST else []
    command = Command(
        tmp_path, "verify", "--quiet", f"{HOSTILE}:HangsOnEveryCall", "--timeout", "300",
        *processes,
    )  # fmt: skip
    assert wait_until(lambda: command.noted(), 120)
    command.process.kill()
    command.finish(60)
    assert wait_until(lambda: not survivors(command.token)), survivors(command.token)


@needs_linux
def test_bench_ends_its_candidate_on_sigterm(tmp_path):
    command = Command(
        tmp_path, "bench", "--impl", f"{HOSTILE}:HangsOnEveryCall", "--shape", "2,3,8,8",
        "--kernel", "2", "--only", "strided", "--no-references", "--repeats", "1", "--quiet",
    )  # fmt: skip
    assert wait_until(lambda: command.noted(), 120)
    command.process.send_signal(signal.SIGTERM)
    result = command.finish(60)
    assert result.returncode == 128 + signal.SIGTERM
    assert one_line_error(result) == "maxpool bench: stopped by SIGTERM\n"
    assert command.leftovers() == []


# -- What a target leaves behind never outlives the command, nor hangs it.


@pytest.mark.parametrize(
    "target", ["LeavesAThread", "LeavesAnAtexitHook", "LeavesADaemon", "ForksAndRunsOn"]
)
def test_what_a_target_leaves_behind_is_ended_after_the_report(target, tmp_path):
    result, command = verify(tmp_path, f"{HOSTILE}:{target}", "--json", "-", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["verdict"] == "conformant"
    assert "harness error" not in result.stdout
    assert command.leftovers() == []


def test_a_target_that_forks_on_import_is_judged_once(tmp_path):
    (tmp_path / "pool.py").write_text(
        f"import os, sys\nsys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.targets.hostile import note_pid\n"
        "import impls\npid = os.fork()\nnote_pid(pid or None)\n"
        "maxpool = impls.get('strided')\n"
    )
    result, command = verify(tmp_path, f"{tmp_path / 'pool.py'}:maxpool", "--json", "-")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["verdict"] == "conformant"
    assert command.noted()
    assert command.leftovers() == []


def test_a_target_that_deletes_its_working_directory_spoils_nothing(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine\n")
    result, command = verify(
        tmp_path, f"{HOSTILE}:DeletesItsWorkingDirectory", "--json", "report.json", cwd=user
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads((user / "report.json").read_text())["properties"]
    assert {row["status"] for row in rows} <= {"passed", "skipped", "not claimed"}
    assert (user / "notes.txt").read_text() == "mine\n"
    assert command.leftovers() == []


def test_a_target_that_hangs_on_every_call_ends_within_a_bound(tmp_path):
    # --timeout 3: two hung checks in a row, then the rest is not run (bounded well within 90 s).
    result, command = verify(
        tmp_path, f"{HOSTILE}:HangsOnEveryCall", "--timeout", "3", "--json", "-", timeout=90
    )
    assert result.returncode == 1, result.stdout + result.stderr
    rows = json.loads(result.stdout)["properties"]
    crashed = [row for row in rows if row["status"] == "crashed"]
    not_run = [row for row in rows if row["status"] == "not run"]
    assert crashed
    assert all("ran for more than 3 s" in row["message"] for row in crashed)
    assert len(not_run) >= 15
    assert all("hung on 2 checks in a row" in row["message"] for row in not_run)
    assert command.leftovers() == []


# -- Targets as the user names them: any path, relative to where the user is.

CORRECT_FILE = "import impls\n\nmaxpool = impls.get('strided')\n"


def test_any_path_gives_matching_rows(tmp_path):
    place = tmp_path / "josé dir\twith tab\x01 and [brackets]"
    place.mkdir()
    (place / "pool.py").write_text(CORRECT_FILE)
    target = f"{place / 'pool.py'}:maxpool"
    result, _ = verify(tmp_path, target, "--json", "-")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["implementation"] == target
    assert {row["status"] for row in report["properties"]} <= {"passed", "skipped", "not claimed"}


@pytest.mark.parametrize(
    ("target", "where"),
    [
        ("pool.py:maxpool", "repo"),
        ("./pool.py:maxpool", "repo"),
        ("../repo/pool.py:maxpool", "other"),
    ],
)
def test_a_relative_path_is_relative_to_the_users_directory(target, where, tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "repo" / "pool.py").write_text(CORRECT_FILE)
    result, _ = verify(tmp_path, target, "--json", "-", cwd=tmp_path / where)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["verdict"] == "conformant"
