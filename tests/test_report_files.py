"""Report files (``--json PATH``, ``--markdown PATH``): checked first, written whole, text kept.

Issue 16 items 5 and 6: a path that cannot be written is a usage error before
the run; ``--markdown`` only ever rewrites the text between one pair of
markers, and never drops a byte of the user's text; line endings are kept;
a failed write (a full disk) leaves the old file as it was.
"""

from __future__ import annotations

import errno
import os

import pytest

from impls.tools import loadcheck, outputs
from impls.tools.cli import main
from impls.tools.verify_command import MARKERS, check_markdown, replace_section

BEGIN, END = MARKERS
SECTION = "| property | verdict |\n|---|---|\n"


def test_text_without_markers_keeps_every_byte_and_gets_the_section_appended():
    notes = "# My notes\n\nNothing about `<!-- begin maxpool verify -->` here.  \n"
    result = replace_section(notes, SECTION)
    assert result.startswith(notes)
    assert result[len(notes) :] == f"\n{BEGIN}\n{SECTION}{END}\n"
    # Run again: the section is replaced, not appended twice.
    assert replace_section(result, "new\n") == notes + f"\n{BEGIN}\nnew\n{END}\n"


def test_a_last_line_without_newline_is_kept():
    assert replace_section("notes", "x\n") == f"notes\n\n{BEGIN}\nx\n{END}\n"
    assert replace_section("", "x\n") == f"{BEGIN}\nx\n{END}\n"


def test_only_the_text_between_the_markers_changes():
    before = "intro\n\n  " + BEGIN + "  \n"  # indented, trailing spaces: still a marker
    after = END + "\t\nafter \u00e9\n\nno newline at the end"
    result = replace_section(before + "old\nlines\n" + after, SECTION)
    assert result == before + SECTION + after


def test_crlf_line_endings_are_kept():
    page = f"notes\r\n{BEGIN}\r\nold\r\n{END}\r\ntail\r\n"
    assert replace_section(page, SECTION) == (
        f"notes\r\n{BEGIN}\r\n| property | verdict |\r\n|---|---|\r\n{END}\r\ntail\r\n"
    )
    appended = replace_section("notes\r\n", "x\n")
    assert appended == f"notes\r\n\r\n{BEGIN}\r\nx\r\n{END}\r\n"


@pytest.mark.parametrize(
    ("page", "message"),
    [
        (f"notes\n{BEGIN}\nold\n", "begin marker on line 2"),
        (f"notes\nold\n{END}\n", "end marker on line 3"),
        (f"{END}\nold\n{BEGIN}\n", "begin marker on line 3; end marker on line 1"),
        (f"{BEGIN}\n{END}\n{BEGIN}\n{END}\n", "begin markers on line 1, 3"),
    ],
)
def test_markers_that_do_not_pair_are_refused(page, message):
    with pytest.raises(ValueError, match="do not form one pair") as error:
        replace_section(page, SECTION)
    assert message in str(error.value)


def test_a_write_that_fails_leaves_the_old_file_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "report.md"
    path.write_bytes(b"old text\r\n")

    def full_disk(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(outputs.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        outputs.write_whole(path, b"new text")
    assert path.read_bytes() == b"old text\r\n"
    assert os.listdir(tmp_path) == ["report.md"]


def test_a_rewrite_keeps_the_files_permissions_and_writes_through_a_link(tmp_path):
    real = tmp_path / "real.md"
    real.write_text("x\n")
    real.chmod(0o640)
    link = tmp_path / "link.md"
    link.symlink_to(real)
    outputs.write_whole(link, b"y\n")
    assert link.is_symlink()
    assert real.read_text() == "y\n"
    assert real.stat().st_mode & 0o777 == 0o640


@pytest.fixture
def no_run(monkeypatch):
    """Loading a target fails the test: these errors must come before anything runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("the run started")

    monkeypatch.setattr(loadcheck, "check_target", refuse)


def usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    return captured.err


@pytest.mark.parametrize(
    ("option", "make", "message"),
    [
        ("--json", lambda d: d, "is a directory"),
        ("--markdown", lambda d: d, "is a directory"),
        ("--json", lambda d: d / "missing" / "r.json", "no such directory"),
        ("--markdown", lambda d: d / "missing" / "r.md", "no such directory"),
        ("--json", lambda d: d / "", "is a directory"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_refused_first(
    option, make, message, tmp_path, capsys, no_run
):
    err = usage_error(["verify", "strided", option, str(make(tmp_path))], capsys)
    assert f"argument {option}: " in err
    assert message in err


def test_a_markdown_file_that_is_not_utf8_is_refused_and_kept(tmp_path, capsys, no_run):
    page = tmp_path / "page.md"
    page.write_bytes(b"caf\xe9\n")
    err = usage_error(["verify", "strided", "--markdown", str(page)], capsys)
    assert "is not UTF-8 text" in err
    assert page.read_bytes() == b"caf\xe9\n"


def test_a_lone_marker_is_refused_before_the_run(tmp_path, capsys, no_run):
    page = tmp_path / "page.md"
    page.write_text(f"notes\n{BEGIN}\nmore notes\n")
    err = usage_error(["verify", "strided", "--markdown", str(page)], capsys)
    assert "do not form one pair" in err
    assert page.read_text() == f"notes\n{BEGIN}\nmore notes\n"


def test_one_path_for_two_formats_is_refused(tmp_path, capsys, no_run):
    path = str(tmp_path / "report")
    err = usage_error(["verify", "strided", "--json", path, "--markdown", path], capsys)
    assert "give each format its own file" in err
    err = usage_error(["verify", "strided", "--json", "-", "--markdown", "-"], capsys)
    assert "give each format its own file" in err


def test_the_targets_own_file_is_not_an_output(tmp_path, capsys, no_run):
    target = tmp_path / "pool.py"
    target.write_text("x = 1\n")
    err = usage_error(["verify", f"{target}:x", "--markdown", str(target)], capsys)
    assert "is the target's own file" in err
    assert target.read_text() == "x = 1\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_file_is_refused(tmp_path, capsys, no_run):
    path = tmp_path / "r.json"
    path.write_text("{}")
    path.chmod(0o444)
    assert "is not writable" in usage_error(["verify", "strided", "--json", str(path)], capsys)


def test_bench_checks_its_json_path_first(tmp_path, capsys, monkeypatch):
    from impls.tools import bench

    monkeypatch.setattr(bench, "run", lambda *args, **kwargs: pytest.fail("the run started"))
    err = usage_error(["bench", "--json", str(tmp_path / "no" / "b.json")], capsys)
    assert "argument --json: " in err
    assert "no such directory" in err


def test_check_markdown_accepts_a_new_file_and_a_marked_one(tmp_path):
    check_markdown(str(tmp_path / "new.md"))
    page = tmp_path / "page.md"
    page.write_text(f"a\n{BEGIN}\n{END}\n")
    check_markdown(str(page))


@pytest.fixture
def quick_verify(monkeypatch):
    """``maxpool verify`` in this process, with a made-up report: only the writing is real."""
    from impls.conformance import verify as verify_module
    from impls.conformance.runner import Outcome

    monkeypatch.setattr(loadcheck, "check_target", lambda t, **k: loadcheck.LoadCheck(t, t))
    monkeypatch.setattr(
        verify_module,
        "verify_target",
        lambda target, **options: verify_module.Report(
            target, "dev", [Outcome("matches_naive_forward", "passed")], ()
        ),
    )


def test_the_command_appends_to_notes_and_keeps_crlf(tmp_path, quick_verify, capsys):
    page = tmp_path / "notes.md"
    notes = b"# Notes\r\n\r\nmine, no newline at the end"
    page.write_bytes(notes)
    assert main(["verify", "strided", "--quiet", "--markdown", str(page)]) == 0
    written = page.read_bytes()
    assert written.startswith(notes + b"\r\n\r\n" + BEGIN.encode() + b"\r\n")
    assert written.endswith(END.encode() + b"\r\n")
    assert b"\n" not in written.replace(b"\r\n", b"")
    # Again: the section is replaced in place, the notes untouched.
    assert main(["verify", "strided", "--quiet", "--markdown", str(page)]) == 0
    assert page.read_bytes() == written
    assert os.listdir(tmp_path) == ["notes.md"]


def test_a_failed_write_is_one_line_exit_2_and_the_old_file(tmp_path, quick_verify, capsys):
    path = tmp_path / "report.json"
    path.write_text("old")

    def full_disk(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(outputs.os, "fsync", full_disk)
        assert main(["verify", "strided", "--quiet", "--json", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "could not write --json" in err
    assert "No space left on device" in err
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["report.json"]
