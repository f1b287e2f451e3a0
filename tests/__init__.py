"""The project's self-tests, and the conformance checks on its implementations."""
