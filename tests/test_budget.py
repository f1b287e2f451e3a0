"""The time budget: a slow layer gets a verdict within it, each row saying how far it got."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from tests.children import python_module

ROOT = Path(__file__).resolve().parent.parent
BUDGET = 20.0


def test_a_slow_loop_layer_is_judged_within_the_budget(tmp_path):
    report_path = tmp_path / "slow.json"
    started = time.monotonic()
    result = subprocess.run(
        python_module(
            "impls", "verify", "tests/targets/slow_layer.py:slow",
            "--budget", str(BUDGET), "--json", str(report_path),
        ),
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["verdict"] == "conformant"
    assert (report["forward"], report["backward"]) == ("conformant", "conformant")
    ran = [row for row in report["properties"] if row["status"] == "passed"]
    assert all(row["cases"] >= 1 for row in ran)
    # At about 50 ms a call, the profile's 20 cases a row would take minutes: the budget
    # stopped rows early, and said so.
    assert any(row["budget_reached"] for row in report["properties"])
    # Loose on purpose (start-up, loading, the last case of each row): without the
    # budget, this layer takes well over a minute (86 s, measured once under load).
    assert elapsed < BUDGET + 60, elapsed
