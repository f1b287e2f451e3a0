"""The Hypothesis profiles of the harness, and where its example database lives.

- ``dev``: 20 examples per property, the default: quick feedback;
- ``ci``: 100, derandomized (every run tests the same cases), no database;
  chosen when the ``CI`` environment variable is set;
- ``thorough``: 1000, by hand or nightly.

No profile has a deadline: timing belongs to the benchmarks. The database of
failing examples goes to a cache directory (``$MAXPOOL_CACHE_DIR``, else
``$XDG_CACHE_HOME/maxpool-impls``, else ``~/.cache/maxpool-impls``), never
into the working directory.

Examples
--------
>>> PROFILES["ci"]["max_examples"]
100
>>> default_profile({"CI": "true"}), default_profile({}), default_profile({"CI": "0"})
('ci', 'dev', 'dev')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

__all__ = ["BUDGETS", "PROFILES", "cache_dir", "default_profile", "register"]

PROFILES: dict[str, dict[str, Any]] = {
    "dev": {"max_examples": 20},
    "ci": {"max_examples": 100, "derandomize": True, "print_blob": True},
    "thorough": {"max_examples": 1000},
}


# Seconds a whole ``maxpool verify`` run of one target may spend checking, by profile
# (None: no limit). Properties share it: examples per property adapt to it, so that a
# slow layer (Python loops, about 50 ms a call) gets a verdict in about a minute at ``dev``.
BUDGETS: dict[str, float | None] = {"dev": 45.0, "ci": 270.0, "thorough": None}


def cache_dir() -> Path:
    """The directory for the harness's cache (created on first use)."""
    base = os.environ.get("MAXPOOL_CACHE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "maxpool-impls"


def default_profile(environ: Mapping[str, str] = os.environ) -> str:
    """``HYPOTHESIS_PROFILE`` if set, else ``ci`` under CI, else ``dev``."""
    chosen = environ.get("HYPOTHESIS_PROFILE")
    if chosen:
        return chosen
    ci = environ.get("CI", "").strip().lower()
    return "ci" if ci not in ("", "0", "false", "no") else "dev"


def register() -> None:
    """Register the profiles with Hypothesis (idempotent), and move its storage to the cache.

    Hypothesis keeps more than examples in its storage directory (a cache of
    Unicode data, for one), which defaults to ``.hypothesis`` in the working
    directory; unless ``HYPOTHESIS_STORAGE_DIRECTORY`` says otherwise, it
    goes to the cache directory too.
    """
    home = cache_dir() / "hypothesis"
    if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        set_hypothesis_home_dir(str(home))
    database = DirectoryBasedExampleDatabase(home / "examples")
    for name, options in PROFILES.items():
        kept = None if options.get("derandomize") else database
        settings.register_profile(name, deadline=None, database=kept, **options)
