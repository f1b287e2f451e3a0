"""The README's layer example is complete and conformant, verified as the README says."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.children import python_module

ROOT = Path(__file__).resolve().parent.parent


def _readme_layer() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Verify your own MaxPool") : readme.index("## How to choose")]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    return code


def test_the_readme_layer_verifies_from_where_it_lies(tmp_path):
    (tmp_path / "mypool.py").write_text(_readme_layer(), encoding="utf-8")
    report_path = tmp_path / "report.json"
    result = subprocess.run(
        # The README's command, from the directory that holds the file.
        python_module("impls", "verify", "mypool.py:maxpool", "--budget", "20",
                      "--json", str(report_path)),
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert (report["verdict"], report["forward"], report["backward"]) == ("conformant",) * 3
    assert report["implementation"] == "mypool.py:maxpool"
