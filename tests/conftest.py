"""The project's self-tests load the conformance plug-in (``--impl``, profiles, ``target``).

Without ``--impl``, the conformance suite runs on this package's built-in
implementations; entry points that installed packages register are left to
``--impl`` and ``maxpool verify``, so they never make these tests fail.
"""

pytest_plugins = ["impls.conformance.plugin"]
