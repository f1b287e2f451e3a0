"""``maxpool verify``: parse-level checks, running the harness, and writing the reports.

Kept apart from `impls.tools.cli` so that ``maxpool bench`` never imports the
harness (which needs the ``conformance`` extra).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

__all__ = ["MARKERS", "run_verify", "write_markdown"]

MARKERS = ("<!-- begin maxpool verify -->", "<!-- end maxpool verify -->")


def write_markdown(path: Path, content: str) -> None:
    """Write ``content`` to ``path``, only between the `MARKERS` if the file has them."""
    if path.exists():
        existing = path.read_text(encoding="utf-8")
        begin, end = (re.escape(marker) for marker in MARKERS)
        pattern = re.compile(f"({begin}\\n).*?(\\n?{end})", re.DOTALL)
        if pattern.search(existing):
            replaced = pattern.sub(lambda m: m.group(1) + content.rstrip("\n") + "\n" + MARKERS[1],
                                   existing, count=1)  # fmt: skip
            path.write_text(replaced, encoding="utf-8")
            return
    path.write_text(content, encoding="utf-8")


def run_verify(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run ``maxpool verify``; return the exit status (0, 1, or 2 through ``parser.error``)."""
    missing = [m for m in ("hypothesis", "pytest", "scipy") if importlib.util.find_spec(m) is None]
    if missing:
        parser.error(
            f'verify needs {", ".join(missing)}: pip install "maxpool-impls[conformance]"'
        )
    if args.processes > 1 and importlib.util.find_spec("xdist") is None:
        parser.error("argument -n: needs pytest-xdist: pip install pytest-xdist")
    from ..conformance import report
    from ..conformance.targets import load_target
    from ..conformance.verify import verify_target
    from ..protocol import Capabilities

    for target in args.targets:
        try:
            Capabilities.of(load_target(target))
        except Exception as error:  # any failure to load the target is a usage error
            parser.error(f"argument TARGET: {target}: {error}")

    def progress(line: str) -> None:
        if not args.quiet:
            print(line, file=sys.stderr, flush=True)

    reports = []
    for target in args.targets:
        progress(f"verifying {target} (profile {args.profile}) ...")
        reports.append(
            verify_target(
                target,
                profile=args.profile,
                processes=args.processes,
                timeout=args.timeout,
                progress=progress,
            )
        )
    print(report.text(reports))
    if args.json_path:
        Path(args.json_path).write_text(report.json_document(reports) + "\n", encoding="utf-8")
    if args.markdown_path:
        write_markdown(Path(args.markdown_path), report.markdown(reports))
    return 0 if all(r.verdict == "conformant" for r in reports) else 1
